package network

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
)

func mustCIDR(t *testing.T, s string) *net.IPNet {
	t.Helper()
	_, c, err := net.ParseCIDR(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestIPAMNeverHandsOutNetworkGatewayOrBroadcastAndExhaustsClearly(t *testing.T) {
	a, err := newIPAM(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cidr := mustCIDR(t, "10.244.7.0/29") // .2 .. .6 usable
	got := map[string]bool{}
	for i := 0; i < 5; i++ {
		ip, err := a.allocate(cidr, "pod-"+string(rune('a'+i)))
		if err != nil {
			t.Fatalf("allocation %d: %v", i, err)
		}
		if got[ip.String()] {
			t.Fatalf("address %s handed out twice", ip)
		}
		got[ip.String()] = true
	}
	for _, bad := range []string{"10.244.7.0", "10.244.7.1", "10.244.7.7"} {
		if got[bad] {
			t.Errorf("reserved address %s handed out", bad)
		}
	}
	_, err = a.allocate(cidr, "pod-f")
	if !errors.Is(err, ErrExhausted) {
		t.Fatalf("sixth allocation in a /29: got %v, want ErrExhausted", err)
	}
	t.Logf("exhaustion error reads: %v", err)
}

func TestIPAMSamePodGetsSameAddressAndLeasesSurviveARestart(t *testing.T) {
	dir := t.TempDir()
	cidr := mustCIDR(t, "10.244.1.0/24")
	a1, _ := newIPAM(dir)
	ipA, err := a1.allocate(cidr, "A")
	if err != nil {
		t.Fatal(err)
	}
	again, err := a1.allocate(cidr, "A")
	if err != nil || !again.Equal(ipA) {
		t.Fatalf("second allocation for A: %v %v, want %v", again, err, ipA)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, ipA.String())); string(b) != "A" {
		t.Fatalf("lease file for %s holds %q, want the pod UID", ipA, b)
	}

	a2, _ := newIPAM(dir) // a restarted kubelet
	if ip, _ := a2.allocate(cidr, "A"); !ip.Equal(ipA) {
		t.Fatalf("after restart A got %v, want %v", ip, ipA)
	}
	ipB, err := a2.allocate(cidr, "B")
	if err != nil || ipB.Equal(ipA) {
		t.Fatalf("after restart B got %v (%v); must differ from A's %v", ipB, err, ipA)
	}
	if err := a2.release("A"); err != nil {
		t.Fatal(err)
	}
	if ip, _ := a2.lookup("A"); ip != nil {
		t.Fatalf("A still leases %v after release", ip)
	}
	// A released address is not handed out again at once.
	ipC, _ := a2.allocate(cidr, "C")
	if ipC.Equal(ipA) {
		t.Errorf("released %v reused at once", ipA)
	}
	if err := a2.release("nobody"); err != nil {
		t.Errorf("releasing nothing: %v", err)
	}
}

func TestIPAMMovesAPodsLeaseWhenTheCIDRChanges(t *testing.T) {
	a, _ := newIPAM(t.TempDir())
	old, _ := a.allocate(mustCIDR(t, "10.244.1.0/24"), "A")
	cur, err := a.allocate(mustCIDR(t, "10.244.2.0/24"), "A")
	if err != nil || !mustCIDR(t, "10.244.2.0/24").Contains(cur) {
		t.Fatalf("allocation in the new CIDR: %v %v", cur, err)
	}
	ls, _ := a.leases()
	if _, ok := ls[old.String()]; ok || len(ls) != 1 {
		t.Fatalf("leases after the move: %v, want only %v", ls, cur)
	}
}

func TestHostVethNameFitsInIFNAMSIZ(t *testing.T) {
	n := HostVethName("0f8e3c2a-1111-2222-3333-444455556666")
	if len(n) != 12 || n[:4] != "veth" {
		t.Fatalf("HostVethName = %q", n)
	}
	if HostVethName("a") == HostVethName("b") {
		t.Fatal("different pods, same veth name")
	}
}

func TestNATRulesMasqueradeOnlyTrafficLeavingTheCluster(t *testing.T) {
	rules := natRules("10.244.0.0/16", "skiff0")
	want := [][]string{
		{"-s", "10.244.0.0/16", "-d", "10.244.0.0/16", "-j", "RETURN"},
		{"-s", "10.244.0.0/16", "-o", "skiff0", "-j", "RETURN"},
		{"-s", "10.244.0.0/16", "!", "-d", "224.0.0.0/4", "-j", "MASQUERADE"},
	}
	if len(rules) != len(want) {
		t.Fatalf("rules = %q", rules)
	}
	for i := range want {
		if len(rules[i]) != len(want[i]) {
			t.Fatalf("rule %d = %q, want %q", i, rules[i], want[i])
		}
		for j := range want[i] {
			if rules[i][j] != want[i][j] {
				t.Fatalf("rule %d = %q, want %q", i, rules[i], want[i])
			}
		}
	}
}
