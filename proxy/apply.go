package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"runtime"
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
}

// Apply makes the kernel's rules those of rs. With full set (or on the
// first call) every chain is rewritten, the chains are linked from the
// built-in ones, and chains of ours the ruleset no longer has are deleted:
// a full apply repairs rules someone else changed. Otherwise only the
// chains that differ from the last successful Apply are written, in one
// iptables-restore --noflush run (one atomic change per table). It returns
// the number of chains written (0: nothing to do).
func (a *Applier) Apply(ctx context.Context, rs Ruleset, full bool) (int, error) {
	n := 0
	err := a.do(func() error {
		prev := a.last
		if full || prev == nil {
			var err error
			if prev, err = a.existing(ctx); err != nil {
				return err
			}
			// Keep the chains that still exist so they are deleted, but
			// rewrite every chain of rs.
			prev = &Ruleset{NAT: renamedOnly(prev.NAT), Filter: renamedOnly(prev.Filter)}
		}
		data, changed := restoreDelta(prev, rs)
		if data != nil {
			if err := restore(ctx, data); err != nil {
				return err
			}
		}
		if full || a.last == nil {
			if err := ensureJumps(); err != nil {
				return err
			}
		}
		n = changed
		return nil
	})
	if err != nil {
		a.last = nil // next time, start from what the kernel has
		return 0, err
	}
	a.last = &rs
	return n, nil
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

// existing lists the proxy's chains present in the kernel.
func (a *Applier) existing(ctx context.Context) (*Ruleset, error) {
	var rs Ruleset
	for _, t := range []string{"nat", "filter"} {
		out, err := exec.CommandContext(ctx, "iptables-save", "-t", t).Output()
		if err != nil {
			return nil, fmt.Errorf("iptables-save -t %s: %w", t, err)
		}
		var chains []Chain
		for _, line := range strings.Split(string(out), "\n") {
			if name, ok := strings.CutPrefix(line, ":"); ok {
				name, _, _ = strings.Cut(name, " ")
				if ownedChain(name) {
					chains = append(chains, Chain{Name: name})
				}
			}
		}
		if t == "nat" {
			rs.NAT = chains
		} else {
			rs.Filter = chains
		}
	}
	return &rs, nil
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

// ensureJumps creates the chains the built-in chains jump to (empty if
// new) and inserts the jumps at the top if missing.
func ensureJumps() error {
	ipt, err := iptables.New(iptables.Timeout(5))
	if err != nil {
		return fmt.Errorf("iptables: %w", err)
	}
	for _, j := range jumps() {
		target := j.rule[len(j.rule)-1]
		exists, err := ipt.ChainExists(j.table, target)
		if err != nil {
			return fmt.Errorf("look up %s chain %s: %w", j.table, target, err)
		}
		if !exists {
			if err := ipt.NewChain(j.table, target); err != nil {
				return fmt.Errorf("create %s chain %s: %w", j.table, target, err)
			}
		}
		if err := ipt.InsertUnique(j.table, j.chain, 1, j.rule...); err != nil {
			return fmt.Errorf("link %s %s to %s: %w", j.table, j.chain, target, err)
		}
	}
	return nil
}

// Cleanup removes every rule and chain of the proxy: the jumps from the
// built-in chains first, then the chains. Absent ones are no error.
func (a *Applier) Cleanup(ctx context.Context) error {
	a.last = nil
	return a.do(func() error {
		ipt, err := iptables.New(iptables.Timeout(5))
		if err != nil {
			return fmt.Errorf("iptables: %w", err)
		}
		var errs []error
		for _, j := range jumps() {
			if err := ipt.DeleteIfExists(j.table, j.chain, j.rule...); err != nil {
				errs = append(errs, fmt.Errorf("unlink %s %s: %w", j.table, j.chain, err))
			}
		}
		have, err := a.existing(ctx)
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
		data, _ := restoreDelta(have, Ruleset{})
		if data != nil {
			if err := restore(ctx, data); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	})
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
