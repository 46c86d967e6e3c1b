package proxy

import (
	"bytes"
	"slices"
)

// sameRules reports whether two chains' rules are equal; rules a cached
// rendering shares (the same backing array) are equal without comparing
// the strings.
func sameRules(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) == 0 || &a[0] == &b[0] {
		return true
	}
	return slices.Equal(a, b)
}

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
	var pn, pf []Chain
	if prev != nil {
		pn, pf = prev.NAT, prev.Filter
	}
	// One buffer, sized for the worst case (every chain written), so a
	// full restore input of tens of thousands of rules is built without
	// regrowing.
	size := 64
	for _, cs := range [][]Chain{pn, pf, next.NAT, next.Filter} {
		for _, c := range cs {
			size += 2*len(c.Name) + 16
			if prev == nil {
				for _, r := range c.Rules {
					size += len(c.Name) + len(r) + 4
				}
			}
		}
	}
	var buf bytes.Buffer
	buf.Grow(size)
	n := 0
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
	var changed []*Chain
	for i := range next {
		c := &next[i]
		rules, ok := old[c.Name]
		if all || !ok || !sameRules(rules, c.Rules) {
			changed = append(changed, c)
		}
		if ok {
			delete(old, c.Name) // what is left in old afterwards is gone
		}
	}
	var gone []string
	for _, c := range prev {
		if _, ok := old[c.Name]; ok {
			gone = append(gone, c.Name)
		}
	}
	if len(changed) == 0 && len(gone) == 0 && len(extra) == 0 {
		return 0
	}
	line := func(parts ...string) {
		for _, p := range parts {
			buf.WriteString(p)
		}
		buf.WriteByte('\n')
	}
	line("*", table)
	for _, c := range changed {
		line(":", c.Name, " - [0:0]")
	}
	for _, g := range gone {
		line(":", g, " - [0:0]")
	}
	for _, c := range changed {
		for _, r := range c.Rules {
			buf.WriteString("-A ")
			buf.WriteString(c.Name)
			buf.WriteByte(' ')
			buf.WriteString(r)
			buf.WriteByte('\n')
		}
	}
	for _, g := range gone {
		line("-X ", g)
	}
	for _, l := range extra {
		line(l)
	}
	line("COMMIT")
	return len(changed) + len(gone)
}
