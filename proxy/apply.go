package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"github.com/coreos/go-iptables/iptables"
	"github.com/vishvananda/netns"
)

// jump is a rule in a built-in chain that leads to one of ours.
type jump struct {
	table, chain string
	rule         []string
}

// jumps are the links from the built-in chains, upstream's set.
func jumps() []jump {
	c := func(s string) []string { return []string{"-m", "comment", "--comment", s} }
	newConn := []string{"-m", "conntrack", "--ctstate", "NEW"}
	return []jump{
		{"nat", "PREROUTING", append(c("skiff service portals"), "-j", chainServices)},
		{"nat", "OUTPUT", append(c("skiff service portals"), "-j", chainServices)},
		{"nat", "POSTROUTING", append(c("skiff postrouting rules"), "-j", chainPostrouting)},
		{"filter", "INPUT", append(append(newConn, c("skiff service portals")...), "-j", chainServices)},
		{"filter", "FORWARD", append(append(newConn, c("skiff service portals")...), "-j", chainServices)},
		{"filter", "OUTPUT", append(append(newConn, c("skiff service portals")...), "-j", chainServices)},
		{"filter", "INPUT", append(append(newConn, c("skiff externally-visible service portals")...), "-j", chainExternalServices)},
		{"filter", "FORWARD", append(append(newConn, c("skiff externally-visible service portals")...), "-j", chainExternalServices)},
		{"filter", "FORWARD", append(c("skiff forwarding rules"), "-j", chainForward)},
	}
}

// Applier writes rulesets to the kernel. It remembers what it wrote last,
// so Apply writes only the chains that changed. It is not safe for
// concurrent use.
type Applier struct {
	// NetNS, when set, is the path of a network namespace to work in
	// (tests, labs); empty means this process's.
	NetNS string
	last  *Ruleset
	// gen is the nf_tables generation right after the last write, valid
	// when genKnown: that write started from a kernel holding exactly
	// what the applier wrote before, so while the generation stays gen
	// the kernel holds exactly last.
	gen      uint32
	genKnown bool
	// nft records whether iptables is the nf_tables one (probed once).
	nft *bool
}

// Apply makes the kernel's rules those of rs. With full set (or on the
// first call) it also repairs what someone else changed: every chain is
// rewritten, missing jumps from the built-in chains are added in the same
// restore, and chains of ours the ruleset no longer has are deleted. The
// first call (or the first after an error) learns those chains from one
// iptables-save; later full applies delete the ones the last apply wrote
// and check the jumps with iptables -S of the built-in chains.
//
// A full apply is skipped down to an incremental one when nothing else
// changed the ruleset since the applier's last write: with iptables on
// nf_tables, the kernel's ruleset generation (bumped by every committed
// change in the namespace, by anyone) still being the one read right after
// that write proves the kernel holds exactly what was written. A change
// someone makes while the applier's own restore runs can go unnoticed
// this way; the next change of anyone else's, or a restart, repairs it.
// With the legacy backend every full apply rewrites.
//
// Otherwise only the chains that differ from the last successful Apply
// are written, in one iptables-restore --noflush run (one atomic change
// per table). It returns the number of chains written (0: nothing to do).
func (a *Applier) Apply(ctx context.Context, rs Ruleset, full bool) (int, error) {
	n := 0
	err := a.do(func() error {
		prev := a.last
		before, genOK := a.generation()
		untouched := genOK && a.genKnown && before == a.gen
		var missing map[string][]string
		switch {
		case prev == nil:
			// Nothing known (first sync, or after an error): list what
			// the kernel has, so chains of ours the ruleset no longer has
			// (a previous run's) are deleted, and which jumps are missing.
			have, jumps, err := a.existing(ctx)
			if err != nil {
				return err
			}
			prev = &Ruleset{NAT: renamedOnly(have.NAT), Filter: renamedOnly(have.Filter)}
			missing = jumps
			untouched = true // everything is rewritten from what was listed
		case full && !untouched:
			// A periodic resync after someone else changed the ruleset:
			// rewrite every chain, delete the ones the last sync wrote
			// that are gone, and check the jumps by listing only the
			// built-in chains (an iptables-save of a large nat table
			// costs about as much as the restore).
			prev = &Ruleset{NAT: renamedOnly(prev.NAT), Filter: renamedOnly(prev.Filter)}
			var err error
			if missing, err = listMissingJumps(); err != nil {
				return err
			}
			untouched = true
		}
		data, changed := restoreDeltaJumps(prev, rs, missing)
		if data == nil {
			return nil // the kernel, and so the generation, are as they were
		}
		if err := restore(ctx, data); err != nil {
			return err
		}
		n = changed
		// The kernel now holds rs if it held prev before this write.
		after, ok := a.generation()
		a.gen, a.genKnown = after, ok && genOK && untouched
		return nil
	})
	if err != nil {
		a.last = nil // next time, start from what the kernel has
		a.genKnown = false
		return 0, err
	}
	a.last = &rs
	return n, nil
}

// generation reads the nf_tables ruleset generation of the applier's
// namespace (the caller is inside it); ok is false with the legacy
// iptables backend or when it cannot be read.
func (a *Applier) generation() (gen uint32, ok bool) {
	if a.nft == nil {
		nft, err := nftBackend()
		if err != nil {
			return 0, false // probed again next time
		}
		a.nft = &nft
	}
	if !*a.nft {
		return 0, false
	}
	gen, err := nftGeneration()
	return gen, err == nil
}

// renamedOnly marks every chain of prev as changed for restoreDelta by
// giving it no comparable rules.
func renamedOnly(chains []Chain) []Chain {
	out := make([]Chain, len(chains))
	for i, c := range chains {
		out[i] = Chain{Name: c.Name, Rules: []string{"\x00"}}
	}
	return out
}

// saved is what one iptables-save showed: the proxy's chains and the
// rules of the built-in chains (for the jumps).
type saved struct {
	rs      Ruleset
	builtin map[string]bool // "table -A CHAIN rule" lines
}

// existing lists the proxy's chains present in the kernel (names only,
// no rules) and the jumps from the built-in chains that are missing.
// With the nf_tables backend the names come from one netlink dump of
// each table's chains and the jumps from iptables -S of the built-in
// chains; iptables-save of a large nat table would cost most of a second.
// With the legacy backend (where iptables-save is fast) from one
// iptables-save.
func (a *Applier) existing(ctx context.Context) (Ruleset, map[string][]string, error) {
	if _, ok := a.generation(); ok {
		var rs Ruleset
		for _, t := range []struct {
			name   string
			chains *[]Chain
		}{{"nat", &rs.NAT}, {"filter", &rs.Filter}} {
			names, err := nftChains(t.name)
			if err != nil {
				return Ruleset{}, nil, err
			}
			for _, n := range names {
				if ownedChain(n) {
					*t.chains = append(*t.chains, Chain{Name: n})
				}
			}
		}
		missing, err := listMissingJumps()
		return rs, missing, err
	}
	// One iptables-save of every table: with the nf_tables backend each
	// run fetches the whole ruleset, so "-t nat" and "-t filter" would
	// pay for it twice.
	out, err := exec.CommandContext(ctx, "iptables-save").Output()
	if err != nil {
		return Ruleset{}, nil, fmt.Errorf("iptables-save: %w", err)
	}
	saved := parseSave(out)
	return saved.rs, saved.missingJumps(), nil
}

// listMissingJumps lists the built-in chains the jumps live in (iptables
// -S CHAIN, which fetches only that chain) and returns the missing jumps
// as missingJumps does.
func listMissingJumps() (map[string][]string, error) {
	ipt, err := iptables.New(iptables.Timeout(5))
	if err != nil {
		return nil, fmt.Errorf("iptables: %w", err)
	}
	s := &saved{builtin: map[string]bool{}}
	listed := map[string]bool{}
	for _, j := range jumps() {
		if listed[j.table+" "+j.chain] {
			continue
		}
		listed[j.table+" "+j.chain] = true
		rules, err := ipt.List(j.table, j.chain)
		if err != nil {
			return nil, fmt.Errorf("list %s %s: %w", j.table, j.chain, err)
		}
		for _, r := range rules {
			s.builtin[j.table+" "+r] = true
		}
	}
	return s.missingJumps(), nil
}

// parseSave reads iptables-save output.
func parseSave(out []byte) *saved {
	s := &saved{builtin: map[string]bool{}}
	table := ""
	for len(out) > 0 {
		var line []byte
		if i := bytes.IndexByte(out, '\n'); i >= 0 {
			line, out = out[:i], out[i+1:]
		} else {
			line, out = out, nil
		}
		switch {
		case len(line) == 0:
		case line[0] == '*':
			table = string(line[1:])
		case line[0] == ':':
			name, _, _ := bytes.Cut(line[1:], []byte(" "))
			if ownedChain(string(name)) {
				switch table {
				case "nat":
					s.rs.NAT = append(s.rs.NAT, Chain{Name: string(name)})
				case "filter":
					s.rs.Filter = append(s.rs.Filter, Chain{Name: string(name)})
				}
			}
		case bytes.HasPrefix(line, []byte("-A ")):
			chain, _, _ := bytes.Cut(line[3:], []byte(" "))
			if !ownedChain(string(chain)) {
				s.builtin[table+" "+string(line)] = true
			}
		}
	}
	return s
}

// missingJumps returns, per table, the jumps of jumps() the saved rules
// lack.
func (s *saved) missingJumps() map[string][]string {
	out := map[string][]string{}
	for _, j := range jumps() {
		if !s.builtin[j.table+" -A "+j.chain+" "+j.line()] {
			out[j.table] = append(out[j.table], "-I "+j.chain+" 1 "+j.line())
		}
	}
	return out
}

// line is the jump's rule as iptables-save prints it (arguments with
// spaces quoted).
func (j jump) line() string {
	parts := make([]string, len(j.rule))
	for i, a := range j.rule {
		if strings.ContainsRune(a, ' ') {
			a = strconv.Quote(a)
		}
		parts[i] = a
	}
	return strings.Join(parts, " ")
}

func restore(ctx context.Context, data []byte) error {
	cmd := exec.CommandContext(ctx, "iptables-restore", "-w", "--noflush")
	cmd.Stdin = bytes.NewReader(data)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("iptables-restore: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// routeLocalnetPath is the sysctl that lets packets to 127.0.0.0/8 be
// routed elsewhere once DNATed (NodePorts on 127.0.0.1).
const routeLocalnetPath = "/proc/sys/net/ipv4/conf/all/route_localnet"

// EnableRouteLocalnet sets net.ipv4.conf.all.route_localnet=1 in the
// applier's network namespace, as upstream does for localhost NodePorts.
func (a *Applier) EnableRouteLocalnet() error {
	return a.do(func() error {
		// /proc/sys/net is that of the opening thread's namespace.
		if err := os.WriteFile(routeLocalnetPath, []byte("1\n"), 0o644); err != nil {
			return fmt.Errorf("set route_localnet: %w", err)
		}
		return nil
	})
}

// Cleanup removes every rule and chain of the proxy: the jumps from the
// built-in chains first, then the chains. Absent ones are no error.
func (a *Applier) Cleanup(ctx context.Context) error {
	a.last, a.genKnown = nil, false
	return a.do(func() error {
		ipt, err := iptables.New(iptables.Timeout(5))
		if err != nil {
			return fmt.Errorf("iptables: %w", err)
		}
		var errs []error
		for _, j := range jumps() {
			// iptables -C fails (not "absent") on a jump to a chain that
			// is gone, so a jump whose target is gone is skipped.
			if target := jumpTarget(j.rule); target != "" {
				if ok, err := ipt.ChainExists(j.table, target); err == nil && !ok {
					continue
				}
			}
			if err := ipt.DeleteIfExists(j.table, j.chain, j.rule...); err != nil {
				errs = append(errs, fmt.Errorf("unlink %s %s: %w", j.table, j.chain, err))
			}
		}
		have, _, err := a.existing(ctx)
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
		data, _ := restoreDelta(&have, Ruleset{})
		if data != nil {
			if err := restore(ctx, data); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	})
}

// jumpTarget is the chain a rule jumps to ("-j CHAIN"), or "".
func jumpTarget(rule []string) string {
	for i := 0; i+1 < len(rule); i++ {
		if rule[i] == "-j" {
			return rule[i+1]
		}
	}
	return ""
}

// do runs fn in the applier's network namespace: on a fresh OS thread
// that is never handed back (the kubelet's inNetNS), so the commands fn
// starts inherit the namespace.
func (a *Applier) do(fn func() error) error {
	if a.NetNS == "" {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: the thread dies with the goroutine.
		ns, err := netns.GetFromPath(a.NetNS)
		if err != nil {
			errc <- fmt.Errorf("open network namespace %s: %w", a.NetNS, err)
			return
		}
		defer ns.Close()
		if err := netns.Set(ns); err != nil {
			errc <- fmt.Errorf("enter network namespace %s: %w", a.NetNS, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}
