package proxy

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/skiffk8s/skiff/test/nodetest"
)

// TestFullResyncTrustsUntouchedKernel: a periodic full resync writes
// nothing while nobody else changed the ruleset (the kernel's nf_tables
// generation does not move), and rewrites every chain once somebody did,
// which repairs what they removed.
func TestFullResyncTrustsUntouchedKernel(t *testing.T) {
	nodetest.RequireRoot(t)
	if nft, err := nftBackend(); err != nil || !nft {
		t.Fatalf("iptables is not the nf_tables backend (%v): Debian 12's default is; the generation check needs it", err)
	}
	ns := nodetest.NewNetNS(t)
	ctx := context.Background()
	gen := func() uint32 {
		var g uint32
		inNS(t, ns, func() (err error) { g, err = nftGeneration(); return err })
		return g
	}
	in := bigCluster(20, 3)
	rs := Render(in)
	chains := chainCount(rs)
	a := &Applier{NetNS: ns}
	if n, err := a.Apply(ctx, rs, true); err != nil || n != chains {
		t.Fatalf("first sync wrote %d chains (%v), want %d", n, err, chains)
	}

	g := gen()
	if n, err := a.Apply(ctx, Render(in), true); err != nil || n != 0 {
		t.Errorf("full resync of an untouched kernel wrote %d chains (%v), want 0", n, err)
	}
	if after := gen(); after != g {
		t.Errorf("full resync of an untouched kernel changed the ruleset: generation %d -> %d", g, after)
	}

	// An incremental change keeps the kernel trusted: the next resync
	// still writes nothing.
	in.Slices[3] = slice("bench", "svc-0003", ready("10.244.99.1", "node-b"))
	if n, err := a.Apply(ctx, Render(in), false); err != nil || n == 0 {
		t.Fatalf("incremental sync wrote %d chains (%v)", n, err)
	}
	if n, err := a.Apply(ctx, Render(in), true); err != nil || n != 0 {
		t.Errorf("full resync after an incremental one wrote %d chains (%v), want 0", n, err)
	}

	// Somebody else deletes one of our rules: the generation moves, and
	// the resync rewrites everything, putting the rule back.
	sep := ""
	for _, c := range Render(in).NAT {
		if strings.HasPrefix(c.Name, prefixSEP) {
			sep = c.Name
			break
		}
	}
	nsenter(t, ns, "iptables", "-t", "nat", "-D", sep, "1")
	chains = chainCount(Render(in))
	if n, err := a.Apply(ctx, Render(in), true); err != nil || n != chains {
		t.Errorf("full resync after a foreign change wrote %d chains (%v), want all %d", n, err, chains)
	}
	if out := nsenter(t, ns, "iptables", "-t", "nat", "-S", sep); strings.Count(out, "-A "+sep) != 2 {
		t.Errorf("full resync did not repair %s:\n%s", sep, out)
	}
	// ... after which the kernel is trusted again.
	if n, err := a.Apply(ctx, Render(in), true); err != nil || n != 0 {
		t.Errorf("second resync after the repair wrote %d chains (%v), want 0", n, err)
	}

	// A foreign change between two incremental syncs is repaired by the
	// next full resync, not forgotten by the incremental one in between.
	nsenter(t, ns, "iptables", "-t", "nat", "-F", sep)
	in.Slices[4] = slice("bench", "svc-0004", ready("10.244.99.2", "node-b"))
	if _, err := a.Apply(ctx, Render(in), false); err != nil {
		t.Fatal(err)
	}
	chains = chainCount(Render(in))
	if n, err := a.Apply(ctx, Render(in), true); err != nil || n != chains {
		t.Errorf("full resync after foreign change + incremental sync wrote %d chains (%v), want all %d", n, err, chains)
	}
	if out := nsenter(t, ns, "iptables", "-t", "nat", "-S", sep); strings.Count(out, "-A "+sep) != 2 {
		t.Errorf("full resync did not refill %s:\n%s", sep, out)
	}
}

func chainCount(rs Ruleset) int { return len(rs.NAT) + len(rs.Filter) }

// TestNetlinkMessages checks the netlink walking on built replies: an
// attribute after another, an error reply as its errno, NLMSG_DONE ending
// a dump, and truncated input refused.
func TestNetlinkMessages(t *testing.T) {
	msg := func(typ uint16, payload []byte) []byte {
		b := make([]byte, unix.SizeofNlMsghdr, unix.SizeofNlMsghdr+len(payload))
		b = append(b, payload...)
		binary.NativeEndian.PutUint32(b, uint32(len(b)))
		binary.NativeEndian.PutUint16(b[4:], typ)
		return b
	}
	nla := func(typ uint16, v []byte) []byte {
		a := make([]byte, 4, 8+len(v))
		binary.NativeEndian.PutUint16(a, uint16(4+len(v)))
		binary.NativeEndian.PutUint16(a[2:], typ)
		a = append(a, v...)
		for len(a)%4 != 0 {
			a = append(a, 0)
		}
		return a
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	nfgen := []byte{unix.AF_UNSPEC, unix.NFNETLINK_V0, 0, 0}
	newgen := uint16(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_NEWGEN)
	newchain := uint16(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_NEWCHAIN)

	var gens []uint32
	reply := msg(newgen, cat(nfgen, nla(unix.NFTA_GEN_PROC_PID, binary.BigEndian.AppendUint32(nil, 1)), nla(unix.NFTA_GEN_ID, binary.BigEndian.AppendUint32(nil, 4711))))
	done, err := eachMessage(reply, func(attrs []byte) error {
		v, ok := attr(attrs, unix.NFTA_GEN_ID)
		if !ok {
			t.Fatal("NFTA_GEN_ID not found after NFTA_GEN_PROC_PID")
		}
		gens = append(gens, binary.BigEndian.Uint32(v))
		return nil
	})
	if err != nil || done || !slices.Equal(gens, []uint32{4711}) {
		t.Errorf("generation reply: %v, done %v, err %v; want [4711]", gens, done, err)
	}

	// A dump of two chains (odd name lengths, so padded) and its end.
	var names []string
	dump := cat(
		msg(newchain, cat(nfgen, nla(unix.NFTA_CHAIN_TABLE, []byte("nat\x00")), nla(unix.NFTA_CHAIN_NAME, []byte("SKIFF-SERVICES\x00")))),
		msg(newchain, cat(nfgen, nla(unix.NFTA_CHAIN_TABLE, []byte("filter\x00")), nla(unix.NFTA_CHAIN_NAME, []byte("INPUT\x00")))),
		msg(unix.NLMSG_DONE, []byte{0, 0, 0, 0}))
	done, err = eachMessage(dump, func(attrs []byte) error {
		tb, _ := attr(attrs, unix.NFTA_CHAIN_TABLE)
		n, _ := attr(attrs, unix.NFTA_CHAIN_NAME)
		names = append(names, cString(tb)+"/"+cString(n))
		return nil
	})
	if err != nil || !done || !slices.Equal(names, []string{"nat/SKIFF-SERVICES", "filter/INPUT"}) {
		t.Errorf("chain dump: %v, done %v, err %v", names, done, err)
	}

	eperm := -int32(unix.EPERM)
	if _, err := eachMessage(msg(unix.NLMSG_ERROR, binary.NativeEndian.AppendUint32(nil, uint32(eperm))), nil); !errors.Is(err, unix.EPERM) {
		t.Errorf("error reply: %v, want EPERM", err)
	}
	if _, err := eachMessage(reply[:len(reply)-3], func([]byte) error { return nil }); err == nil {
		t.Error("a truncated message was accepted")
	}
}

// TestNFTChains lists a table's chains over netlink: built-in and
// user-defined ones of that table only (iptables-nft creates a built-in
// chain when it first gets a rule).
func TestNFTChains(t *testing.T) {
	nodetest.RequireRoot(t)
	ns := nodetest.NewNetNS(t)
	nsenter(t, ns, "iptables", "-t", "nat", "-N", "SKIFF-SVC-AAAAAAAAAAAAAAAA")
	nsenter(t, ns, "iptables", "-t", "nat", "-A", "PREROUTING", "-j", "SKIFF-SVC-AAAAAAAAAAAAAAAA")
	nsenter(t, ns, "iptables", "-t", "filter", "-N", "SKIFF-FILTER-ONLY")
	var names []string
	inNS(t, ns, func() (err error) { names, err = nftChains("nat"); return err })
	for _, want := range []string{"PREROUTING", "SKIFF-SVC-AAAAAAAAAAAAAAAA"} {
		if !slices.Contains(names, want) {
			t.Errorf("nat chains %v lack %s", names, want)
		}
	}
	if slices.Contains(names, "SKIFF-FILTER-ONLY") {
		t.Errorf("nat chains %v hold a filter chain", names)
	}
}

// TestApplyWithoutGeneration is the legacy-backend path (no nf_tables
// generation): a restarted applier learns the kernel's chains from
// iptables-save and deletes a stale one, and every full resync rewrites.
func TestApplyWithoutGeneration(t *testing.T) {
	nodetest.RequireRoot(t)
	ns := nodetest.NewNetNS(t)
	ctx := context.Background()
	legacy := false
	rs := Render(bigCluster(5, 2))
	if _, err := (&Applier{NetNS: ns}).Apply(ctx, rs, true); err != nil {
		t.Fatal(err)
	}
	nsenter(t, ns, "iptables", "-t", "nat", "-N", "SKIFF-SEP-STALESTALESTALE")
	a := &Applier{NetNS: ns, nft: &legacy}
	if n, err := a.Apply(ctx, rs, true); err != nil || n != chainCount(rs)+1 {
		t.Errorf("first sync wrote %d chains (%v), want %d and the stale one deleted", n, err, chainCount(rs)+1)
	}
	if nat := nsenter(t, ns, "iptables-save", "-t", "nat"); strings.Contains(nat, "STALESTALESTALE") {
		t.Errorf("stale chain left:\n%s", nat)
	}
	if n, err := a.Apply(ctx, rs, true); err != nil || n != chainCount(rs) {
		t.Errorf("full resync without a generation wrote %d chains (%v), want all %d", n, err, chainCount(rs))
	}
}
