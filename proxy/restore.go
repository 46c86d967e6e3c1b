package proxy

import (
	"bytes"
	"slices"
)

// restoreDelta renders the iptables-restore --noflush input that turns the
// rules of prev into those of next: every chain of next that is new or
// whose rules differ is declared (which flushes it) and refilled, and
// every chain of prev missing from next is flushed and deleted. Chains
// that did not change are not mentioned, so their rules stay untouched.
// A nil prev means "nothing known": every chain is written. It returns
// nil when there is nothing to change, and the number of chains written.
func restoreDelta(prev *Ruleset, next Ruleset) ([]byte, int) {
	return restoreDeltaJumps(prev, next, nil)
}

// restoreDeltaJumps is restoreDelta with extra rule lines per table
// ("-I CHAIN 1 ...": the missing jumps from built-in chains) written after
// the chains, in the same transaction.
func restoreDeltaJumps(prev *Ruleset, next Ruleset, extra map[string][]string) ([]byte, int) {
	var buf bytes.Buffer
	n := 0
	var pn, pf []Chain
	if prev != nil {
		pn, pf = prev.NAT, prev.Filter
	}
	n += tableDelta(&buf, "nat", pn, next.NAT, prev == nil, extra["nat"])
	n += tableDelta(&buf, "filter", pf, next.Filter, prev == nil, extra["filter"])
	if n == 0 && len(extra["nat"])+len(extra["filter"]) == 0 {
		return nil, 0
	}
	return buf.Bytes(), n
}

func tableDelta(buf *bytes.Buffer, table string, prev, next []Chain, all bool, extra []string) int {
	old := make(map[string][]string, len(prev))
	for _, c := range prev {
		old[c.Name] = c.Rules
	}
	var changed []Chain
	keep := make(map[string]bool, len(next))
	for _, c := range next {
		keep[c.Name] = true
		if rules, ok := old[c.Name]; all || !ok || !slices.Equal(rules, c.Rules) {
			changed = append(changed, c)
		}
	}
	var gone []string
	for _, c := range prev {
		if !keep[c.Name] {
			gone = append(gone, c.Name)
		}
	}
	if len(changed) == 0 && len(gone) == 0 && len(extra) == 0 {
		return 0
	}
	buf.WriteString("*" + table + "\n")
	for _, c := range changed {
		buf.WriteString(":" + c.Name + " - [0:0]\n")
	}
	for _, g := range gone {
		buf.WriteString(":" + g + " - [0:0]\n")
	}
	for _, c := range changed {
		for _, r := range c.Rules {
			buf.WriteString("-A " + c.Name + " " + r + "\n")
		}
	}
	for _, g := range gone {
		buf.WriteString("-X " + g + "\n")
	}
	for _, l := range extra {
		buf.WriteString(l + "\n")
	}
	buf.WriteString("COMMIT\n")
	return len(changed) + len(gone)
}
