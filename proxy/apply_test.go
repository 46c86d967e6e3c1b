package proxy

import (
	"context"
	"io"
	"net"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/skiffk8s/skiff/test/nodetest"
)

// inNS runs fn on a locked OS thread inside the namespace at path; sockets
// fn opens belong to that namespace.
func inNS(t testing.TB, path string, fn func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		ns, err := netns.GetFromPath(path)
		if err == nil {
			defer ns.Close()
			err = netns.Set(ns)
		}
		if err == nil {
			err = fn()
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func nsenter(t testing.TB, path string, args ...string) string {
	t.Helper()
	out, err := exec.Command("nsenter", append([]string{"--net=" + path}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("nsenter %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestApplyInNetNS(t *testing.T) {
	nodetest.RequireRoot(t)
	ns := nodetest.NewNetNS(t)
	ctx := context.Background()
	// The "node": an on-link route to the service CIDR over a veth pair
	// whose both ends stay in the namespace; the "endpoint" is an extra
	// address on lo.
	nsenter(t, ns, "ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1")
	nsenter(t, ns, "ip", "addr", "add", "10.0.0.1/24", "dev", "v0")
	nsenter(t, ns, "ip", "link", "set", "v0", "up")
	nsenter(t, ns, "ip", "link", "set", "v1", "up")
	nsenter(t, ns, "ip", "route", "add", "10.96.0.0/12", "dev", "v0")
	nsenter(t, ns, "ip", "addr", "add", "10.244.7.7/32", "dev", "lo")

	var ln net.Listener
	inNS(t, ns, func() (err error) { ln, err = net.Listen("tcp", "10.244.7.7:8080"); return err })
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, "hello from the endpoint\n")
			c.Close()
		}
	}()

	in := Input{NodeName: "node-a", NodeIPs: []string{"10.0.0.1"}, ClusterCIDR: "10.0.0.0/8"}
	in.Services = append(in.Services, service("default", "web", "10.96.0.20"), service("default", "empty", "10.96.0.21"))
	in.Slices = append(in.Slices, slice("default", "web", ep{ip: "10.244.7.7", node: "node-a", ready: true, serving: true}))
	a := &Applier{NetNS: ns}
	if _, err := a.Apply(ctx, Render(in), true); err != nil {
		t.Fatal(err)
	}
	nat := nsenter(t, ns, "iptables-save", "-t", "nat")
	for _, w := range []string{":SKIFF-SERVICES", ":SKIFF-PROXY-POSTROUTING", "-A PREROUTING -m comment --comment \"skiff service portals\" -j SKIFF-SERVICES",
		"-A OUTPUT -m comment --comment \"skiff service portals\" -j SKIFF-SERVICES", svcChain("default/web:http", "tcp"), "--to-destination 10.244.7.7:8080"} {
		if !strings.Contains(nat, w) {
			t.Errorf("nat table lacks %q:\n%s", w, nat)
		}
	}
	if filter := nsenter(t, ns, "iptables-save", "-t", "filter"); !strings.Contains(filter, "10.96.0.21/32") || !strings.Contains(filter, "REJECT") {
		t.Errorf("filter table lacks the REJECT of the empty service:\n%s", filter)
	}

	if n, err := a.Apply(ctx, Render(in), false); err != nil || n != 0 {
		t.Errorf("second sync without a change wrote %d chains (err %v), want none", n, err)
	}
	if again := nsenter(t, ns, "iptables-save", "-t", "nat"); stripCounters(again) != stripCounters(nat) {
		t.Errorf("second sync changed the nat table:\n%s", again)
	}
	// A second full sync finds the jumps in place and adds none.
	if _, err := a.Apply(ctx, Render(in), true); err != nil {
		t.Fatal(err)
	}
	for _, j := range jumps() {
		line := "-A " + j.chain + " " + j.line() + "\n"
		if n := strings.Count(nsenter(t, ns, "iptables-save", "-t", j.table), line); n != 1 {
			t.Errorf("%s table holds %d copies of %q, want 1", j.table, n, line)
		}
	}

	var reply string
	inNS(t, ns, func() error {
		c, err := net.DialTimeout("tcp", "10.96.0.20:80", 3*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		b, err := io.ReadAll(c)
		reply = string(b)
		return err
	})
	if reply != "hello from the endpoint\n" {
		t.Errorf("reply through the ClusterIP = %q", reply)
	}
	inNS(t, ns, func() error {
		_, err := net.DialTimeout("tcp", "10.96.0.21:80", 3*time.Second)
		if err == nil || !strings.Contains(err.Error(), "refused") {
			t.Errorf("dial of a service without endpoints: %v, want connection refused", err)
		}
		return nil
	})

	// A full resync repairs a chain someone else flushed and a jump
	// someone else deleted.
	nsenter(t, ns, "iptables", "-t", "nat", "-F", chainServices)
	nsenter(t, ns, "iptables", "-t", "nat", "-D", "PREROUTING", "-m", "comment", "--comment", "skiff service portals", "-j", chainServices)
	if _, err := a.Apply(ctx, Render(in), true); err != nil {
		t.Fatal(err)
	}
	if nat := nsenter(t, ns, "iptables-save", "-t", "nat"); !strings.Contains(nat, "-j "+svcChain("default/web:http", "tcp")) {
		t.Errorf("full resync did not restore SKIFF-SERVICES:\n%s", nat)
	}
	if nat := nsenter(t, ns, "iptables-save", "-t", "nat"); !strings.Contains(nat, "-A PREROUTING -m comment --comment \"skiff service portals\" -j SKIFF-SERVICES") {
		t.Errorf("full resync did not restore the PREROUTING jump:\n%s", nat)
	}
	// A new applier (a restarted proxy) deletes chains a previous run
	// left that the ruleset no longer has.
	nsenter(t, ns, "iptables", "-t", "nat", "-N", "SKIFF-SVC-STALESTALESTALE")
	if _, err := (&Applier{NetNS: ns}).Apply(ctx, Render(in), true); err != nil {
		t.Fatal(err)
	}
	if nat := nsenter(t, ns, "iptables-save", "-t", "nat"); strings.Contains(nat, "SKIFF-SVC-STALESTALESTALE") {
		t.Errorf("first sync of a new applier left a stale chain:\n%s", nat)
	}

	if err := Cleanup(ctx, ns); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"nat", "filter"} {
		if out := nsenter(t, ns, "iptables-save", "-t", table); strings.Contains(out, "SKIFF-") {
			t.Errorf("%s table after Cleanup still holds SKIFF- rules:\n%s", table, out)
		}
	}
	// skiff proxy --cleanup run again finds nothing to do and succeeds.
	if err := Cleanup(ctx, ns); err != nil {
		t.Errorf("a second Cleanup: %v", err)
	}
}

// stripCounters drops the comment and counter lines iptables-save adds.
func stripCounters(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "#") {
			continue
		}
		if i := strings.Index(l, " ["); strings.HasPrefix(l, ":") && i > 0 {
			l = l[:i]
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

// BenchmarkSync measures, for 1,000 Services × 10 endpoints, in a test
// network namespace: a periodic full resync (render + apply) when nothing
// else touched the ruleset ("resync") and when something did ("rewrite":
// every chain is written again), the first sync of a restarted proxy
// ("first") and an incremental one (one endpoint changed).
func BenchmarkSync(b *testing.B) {
	nodetest.RequireRoot(b)
	ns := nodetest.NewNetNS(b)
	ctx := context.Background()
	in := bigCluster(1000, 10)
	b.Run("resync", func(b *testing.B) {
		a := &Applier{NetNS: ns}
		var r Renderer
		if _, err := a.Apply(ctx, r.Render(in), true); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			rs := r.Render(in)
			if _, err := a.Apply(ctx, rs, true); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(rs.RuleCount()), "rules")
		}
	})
	b.Run("rewrite", func(b *testing.B) {
		a := &Applier{NetNS: ns}
		var r Renderer
		if _, err := a.Apply(ctx, r.Render(in), true); err != nil {
			b.Fatal(err)
		}
		i := 0
		for b.Loop() {
			// Somebody else changes the ruleset (an unrelated chain), so
			// the resync cannot trust the kernel.
			b.StopTimer()
			i++
			op := "-N"
			if i%2 == 0 {
				op = "-X"
			}
			nsenter(b, ns, "iptables", "-t", "filter", op, "SOMEONE-ELSE")
			b.StartTimer()
			rs := r.Render(in)
			if n, err := a.Apply(ctx, rs, true); err != nil || n != len(rs.NAT)+len(rs.Filter) {
				b.Fatalf("rewrite wrote %d chains, %v", n, err)
			}
			b.ReportMetric(float64(rs.RuleCount()), "rules")
		}
	})
	b.Run("first", func(b *testing.B) {
		// The first sync of a proxy that starts on a node with the rules
		// in place (a restart): it lists the kernel's rules first.
		for b.Loop() {
			a := &Applier{NetNS: ns}
			if _, err := a.Apply(ctx, Render(in), true); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("incremental", func(b *testing.B) {
		a := &Applier{NetNS: ns}
		var r Renderer
		if _, err := a.Apply(ctx, r.Render(in), true); err != nil {
			b.Fatal(err)
		}
		i := 0
		for b.Loop() {
			i++
			in.Slices[500] = slice("bench", "svc-0500", ready("10.244.99."+string(rune('0'+i%2)), "node-b"))
			n, err := a.Apply(ctx, r.Render(in), false)
			if err != nil || n == 0 {
				b.Fatalf("incremental sync: %d chains, %v", n, err)
			}
		}
	})
}
