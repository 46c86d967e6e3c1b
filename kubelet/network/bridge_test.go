package network

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// These tests need root. Each creates its own "host" network namespace and
// points the manager at it (Config.HostNetNS), so the machine's own
// interfaces, routes and iptables are never touched, and all traffic stays
// inside namespaces the test created.

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces, veths, bridges and iptables rules (inside test namespaces)")
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		// make test installs it (TEST_PACKAGES); as root its absence is a
		// broken setup, not a reason to skip.
		t.Fatal("needs the iptables command (Debian package iptables; `make test-deps` installs it)")
	}
}

// testHost is a network namespace the test created, standing for a node.
type testHost struct {
	path string
	ns   netns.NsHandle
	h    *netlink.Handle
}

// newTestHost creates a namespace pinned in a temp dir (enter it with
// `nsenter --net=PATH`), removed when the test ends. It is not pinned
// under /run/netns: a concurrent first `ip netns add` elsewhere rbinds
// /run/netns over itself and would hide (and so leak) the pin.
func newTestHost(t *testing.T) *testHost {
	t.Helper()
	path := filepath.Join(t.TempDir(), "host")
	if err := createPinnedNetNS(path); err != nil {
		t.Fatalf("create test namespace: %v", err)
	}
	t.Cleanup(func() {
		if err := removePinnedNetNS(path); err != nil {
			t.Errorf("delete test namespace: %v", err)
		}
	})
	ns, err := netns.GetFromPath(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Delete)
	lo, _ := h.LinkByName("lo")
	if err := h.LinkSetUp(lo); err != nil {
		t.Fatal(err)
	}
	return &testHost{path: path, ns: ns, h: h}
}

// newTestManager runs a manager in host with its state in a temp dir; the
// test's end runs Cleanup and checks it leaves nothing behind.
func newTestManager(t *testing.T, host *testHost, dir string) *Bridge {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	m, err := New(Config{
		HostNetNS:   host.path,
		NetNSDir:    filepath.Join(dir, "netns"),
		StateDir:    filepath.Join(dir, "state"),
		ClusterCIDR: mustCIDR(t, "10.244.0.0/16"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Cleanup(context.Background()); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		if pods, _ := m.Pods(); len(pods) != 0 {
			t.Errorf("pods left after cleanup: %v", pods)
		}
		m.Close()
	})
	return m
}

func setup(t *testing.T, m *Bridge, uid string) Attachment {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	att, err := m.SetupPod(ctx, PodRef{UID: uid, Namespace: "default", Name: "pod-" + uid})
	if err != nil {
		t.Fatalf("SetupPod %s: %v", uid, err)
	}
	return att
}

// listenIn opens a TCP listener on addr inside the namespace at nsPath; each
// connection is greeted with greeting and closed.
func listenIn(t *testing.T, nsPath, addr, greeting string) net.Listener {
	t.Helper()
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	var l net.Listener
	if err := inNetNS(ns, func() (err error) { l, err = net.Listen("tcp", addr); return err }); err != nil {
		t.Fatalf("listen on %s in %s: %v", addr, nsPath, err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, greeting)
			c.Close()
		}
	}()
	return l
}

// dialFrom connects from inside the namespace at nsPath to addr and returns
// what the server says.
func dialFrom(nsPath, addr string) (string, error) {
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return "", err
	}
	defer ns.Close()
	var c net.Conn
	if err := inNetNS(ns, func() (err error) { c, err = net.DialTimeout("tcp", addr, 5*time.Second); return err }); err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	return string(b), err
}

func nsenter(t *testing.T, nsPath string, args ...string) string {
	t.Helper()
	out, err := exec.Command("nsenter", append([]string{"--net=" + nsPath}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("nsenter %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestTwoPodsGetDifferentAddressesAndTalkToEachOtherAndTheGateway(t *testing.T) {
	requireRoot(t)
	host := newTestHost(t)
	m := newTestManager(t, host, "")
	cidr := mustCIDR(t, "10.244.1.0/24")
	if err := m.SetPodCIDR(cidr); err != nil {
		t.Fatal(err)
	}
	a := setup(t, m, "uid-a")
	b := setup(t, m, "uid-b")
	if a.IP.Equal(b.IP) || !cidr.Contains(a.IP) || !cidr.Contains(b.IP) {
		t.Fatalf("pod IPs %v and %v: want two different addresses of %v", a.IP, b.IP, cidr)
	}
	if !a.Gateway.Equal(net.ParseIP("10.244.1.1")) || a.IP.Equal(a.Gateway) {
		t.Fatalf("gateway %v, pod IP %v", a.Gateway, a.IP)
	}
	if a.NetNSPath != m.NetNSPath("uid-a") {
		t.Fatalf("netns path %q", a.NetNSPath)
	}

	// The node side: bridge up with the gateway, veths on it.
	br, err := host.h.LinkByName("skiff0")
	if err != nil {
		t.Fatal(err)
	}
	addrs, _ := host.h.AddrList(br, netlink.FAMILY_V4)
	if len(addrs) != 1 || addrs[0].IPNet.String() != "10.244.1.1/24" {
		t.Fatalf("bridge addresses %v, want 10.244.1.1/24", addrs)
	}
	for _, uid := range []string{"uid-a", "uid-b"} {
		v, err := host.h.LinkByName(HostVethName(uid))
		if err != nil {
			t.Fatalf("host veth of %s: %v", uid, err)
		}
		if v.Attrs().MasterIndex != br.Attrs().Index || v.Attrs().Flags&net.FlagUp == 0 {
			t.Fatalf("veth %s: master %d (bridge %d), flags %v", v.Attrs().Name, v.Attrs().MasterIndex, br.Attrs().Index, v.Attrs().Flags)
		}
		if pi, err := host.h.LinkGetProtinfo(v); err != nil || !pi.Hairpin {
			t.Errorf("veth %s: hairpin mode off (%+v, %v)", v.Attrs().Name, pi, err)
		}
	}
	// The pod side, as `ip` shows it.
	out := nsenter(t, a.NetNSPath, "ip", "-4", "addr", "show", "eth0")
	if !strings.Contains(out, a.IP.String()+"/24") || !strings.Contains(out, "UP") {
		t.Fatalf("eth0 in pod A:\n%s", out)
	}
	if out := nsenter(t, a.NetNSPath, "ip", "route", "show", "default"); !strings.Contains(out, "via 10.244.1.1 dev eth0") {
		t.Fatalf("default route in pod A: %q", out)
	}

	listenIn(t, a.NetNSPath, net.JoinHostPort(a.IP.String(), "8080"), "hello from A")
	if got, err := dialFrom(b.NetNSPath, net.JoinHostPort(a.IP.String(), "8080")); err != nil || got != "hello from A" {
		t.Fatalf("pod B → pod A: %q, %v", got, err)
	}
	listenIn(t, host.path, net.JoinHostPort(a.Gateway.String(), "8081"), "hello from the node")
	if got, err := dialFrom(a.NetNSPath, net.JoinHostPort(a.Gateway.String(), "8081")); err != nil || got != "hello from the node" {
		t.Fatalf("pod A → gateway: %q, %v", got, err)
	}
	// Loopback works inside the pod.
	listenIn(t, b.NetNSPath, "127.0.0.1:8082", "lo")
	if got, err := dialFrom(b.NetNSPath, "127.0.0.1:8082"); err != nil || got != "lo" {
		t.Fatalf("pod B loopback: %q, %v", got, err)
	}
}

func TestARestartedManagerReturnsTheSameAttachmentAndNeverReusesALeasedAddress(t *testing.T) {
	requireRoot(t)
	host := newTestHost(t)
	dir := t.TempDir()
	m1 := newTestManager(t, host, dir)
	cidr := mustCIDR(t, "10.244.1.0/24")
	if err := m1.SetPodCIDR(cidr); err != nil {
		t.Fatal(err)
	}
	a := setup(t, m1, "uid-a")
	if again := setup(t, m1, "uid-a"); !again.IP.Equal(a.IP) || again.NetNSPath != a.NetNSPath {
		t.Fatalf("second SetupPod: %+v, want %+v", again, a)
	}

	m2, err := New(Config{HostNetNS: host.path, NetNSDir: filepath.Join(dir, "netns"), StateDir: filepath.Join(dir, "state")})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if err := m2.SetPodCIDR(cidr); err != nil {
		t.Fatal(err)
	}
	got := setup(t, m2, "uid-a")
	if !got.IP.Equal(a.IP) || got.NetNSPath != a.NetNSPath || !got.Gateway.Equal(a.Gateway) {
		t.Fatalf("restarted manager: %+v, want %+v", got, a)
	}
	for i := 0; i < 20; i++ {
		if b := setup(t, m2, fmt.Sprintf("uid-%d", i)); b.IP.Equal(a.IP) {
			t.Fatalf("pod %d got A's leased address %v", i, a.IP)
		}
	}
	// The network of A survived both SetPodCIDR calls.
	b := setup(t, m2, "uid-b")
	listenIn(t, a.NetNSPath, net.JoinHostPort(a.IP.String(), "80"), "still A")
	if s, err := dialFrom(b.NetNSPath, net.JoinHostPort(a.IP.String(), "80")); err != nil || s != "still A" {
		t.Fatalf("pod B → pod A after restart: %q, %v", s, err)
	}
	pods, err := m2.Pods()
	if err != nil || len(pods) != 22 {
		t.Fatalf("Pods() = %v, %v; want 22 pods", pods, err)
	}
}

func TestTeardownRemovesVethPinAndLease(t *testing.T) {
	requireRoot(t)
	host := newTestHost(t)
	m := newTestManager(t, host, "")
	if err := m.SetPodCIDR(mustCIDR(t, "10.244.1.0/24")); err != nil {
		t.Fatal(err)
	}
	a := setup(t, m, "uid-a")
	setup(t, m, "uid-b")
	ctx := context.Background()
	if err := m.TeardownPod(ctx, "uid-a"); err != nil {
		t.Fatal(err)
	}
	if _, err := host.h.LinkByName(HostVethName("uid-a")); err == nil {
		t.Error("veth of the torn-down pod still exists")
	}
	if _, err := os.Stat(a.NetNSPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("netns pin still there: %v", err)
	}
	if ip, _ := m.ipam.lookup("uid-a"); ip != nil {
		t.Errorf("lease %v still held", ip)
	}
	if pods, _ := m.Pods(); len(pods) != 1 || pods[0] != "uid-b" {
		t.Errorf("Pods() = %v, want [uid-b]", pods)
	}
	if err := m.TeardownPod(ctx, "uid-a"); err != nil {
		t.Errorf("second teardown: %v", err)
	}
	if err := m.TeardownPod(ctx, "never-set-up"); err != nil {
		t.Errorf("teardown of an unknown pod: %v", err)
	}
}

func TestSetupFailsClearlyWhenTheCIDRIsExhaustedAndLeavesNothing(t *testing.T) {
	requireRoot(t)
	host := newTestHost(t)
	m := newTestManager(t, host, "")
	if _, err := m.SetupPod(context.Background(), PodRef{UID: "early"}); err == nil {
		t.Fatal("SetupPod before SetPodCIDR succeeded")
	}
	if err := m.SetPodCIDR(mustCIDR(t, "10.88.0.0/24")); err == nil || !strings.Contains(err.Error(), "not inside the cluster CIDR 10.244.0.0/16") {
		t.Fatalf("pod CIDR outside the cluster CIDR: %v", err)
	}
	if err := m.SetPodCIDR(mustCIDR(t, "10.244.9.0/29")); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		setup(t, m, fmt.Sprintf("uid-%d", i))
	}
	_, err := m.SetupPod(context.Background(), PodRef{UID: "uid-5", Namespace: "default", Name: "sixth"})
	if !errors.Is(err, ErrExhausted) || !strings.Contains(err.Error(), "default/sixth") {
		t.Fatalf("sixth pod in a /29: %v; want ErrExhausted naming the pod", err)
	}
	if _, err := os.Stat(m.NetNSPath("uid-5")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("failed pod left a netns pin: %v", err)
	}
	if _, err := host.h.LinkByName(HostVethName("uid-5")); err == nil {
		t.Error("failed pod left a veth")
	}
}

func TestSetNodeRoutesAddsAndRemovesOnlyItsOwnRoutes(t *testing.T) {
	requireRoot(t)
	host := newTestHost(t)
	m := newTestManager(t, host, "")
	if err := m.SetPodCIDR(mustCIDR(t, "10.244.1.0/24")); err != nil {
		t.Fatal(err)
	}
	// A link for the node network: a veth pair with both ends in the host.
	if err := host.h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "node0"}, PeerName: "node0p"}); err != nil {
		t.Fatal(err)
	}
	node0, _ := host.h.LinkByName("node0")
	peer, _ := host.h.LinkByName("node0p")
	host.h.AddrAdd(node0, &netlink.Addr{IPNet: &net.IPNet{IP: net.ParseIP("10.99.0.1"), Mask: net.CIDRMask(24, 32)}})
	host.h.LinkSetUp(node0)
	host.h.LinkSetUp(peer)
	foreign := &netlink.Route{Dst: mustCIDR(t, "10.50.0.0/24"), Gw: net.ParseIP("10.99.0.9"), Protocol: unix.RTPROT_STATIC}
	if err := host.h.RouteAdd(foreign); err != nil {
		t.Fatal(err)
	}

	routes := func() map[string]string {
		rs, err := host.h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, r := range rs {
			if r.Gw != nil {
				out[r.Dst.String()] = fmt.Sprintf("via %s proto %d", r.Gw, r.Protocol)
			}
		}
		return out
	}
	err := m.SetNodeRoutes([]NodeRoute{
		{PodCIDR: mustCIDR(t, "10.244.2.0/24"), NodeIP: net.ParseIP("10.99.0.2")},
		{PodCIDR: mustCIDR(t, "10.244.3.0/24"), NodeIP: net.ParseIP("10.99.0.3")},
		{PodCIDR: mustCIDR(t, "10.244.1.0/24"), NodeIP: net.ParseIP("10.99.0.1")}, // ourselves: skipped
	})
	if err != nil {
		t.Fatal(err)
	}
	got := routes()
	want := map[string]string{
		"10.50.0.0/24":  "via 10.99.0.9 proto 4",
		"10.244.2.0/24": "via 10.99.0.2 proto 83",
		"10.244.3.0/24": "via 10.99.0.3 proto 83",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("routes = %v, want %v", got, want)
	}
	// Node 3 went away, node 2 moved.
	if err := m.SetNodeRoutes([]NodeRoute{{PodCIDR: mustCIDR(t, "10.244.2.0/24"), NodeIP: net.ParseIP("10.99.0.4")}}); err != nil {
		t.Fatal(err)
	}
	want = map[string]string{"10.50.0.0/24": "via 10.99.0.9 proto 4", "10.244.2.0/24": "via 10.99.0.4 proto 83"}
	if got := routes(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("routes = %v, want %v", got, want)
	}
	if err := m.SetNodeRoutes(nil); err != nil {
		t.Fatal(err)
	}
	want = map[string]string{"10.50.0.0/24": "via 10.99.0.9 proto 4"}
	if got := routes(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("routes = %v, want %v", got, want)
	}
}

func TestSetPodCIDRWritesForwardingAndMasqueradeOnceAndCleanupRemovesThem(t *testing.T) {
	requireRoot(t)
	host := newTestHost(t)
	m := newTestManager(t, host, "")
	cidr := mustCIDR(t, "10.244.1.0/24")
	for i := 0; i < 2; i++ { // idempotent
		if err := m.SetPodCIDR(cidr); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.TrimSpace(nsenter(t, host.path, "cat", "/proc/sys/net/ipv4/ip_forward")); got != "1" {
		t.Fatalf("ip_forward in the node namespace = %q", got)
	}
	if _, err := os.Stat(bridgeNFCallIPTables); err == nil {
		if got := strings.TrimSpace(nsenter(t, host.path, "cat", bridgeNFCallIPTables)); got != "1" {
			t.Errorf("bridge-nf-call-iptables in the node namespace = %q", got)
		}
	} else {
		t.Log("br_netfilter not loaded: bridge-nf-call-iptables not checked")
	}
	nat := nsenter(t, host.path, "iptables", "-w", "-t", "nat", "-S")
	for _, want := range []string{
		`-A POSTROUTING -m comment --comment "skiff: pod masquerade" -j SKIFF-POSTROUTING`,
		`-A SKIFF-POSTROUTING -s 10.244.0.0/16 -d 10.244.0.0/16 -j RETURN`,
		`-A SKIFF-POSTROUTING -s 10.244.0.0/16 -o skiff0 -j RETURN`,
		`-A SKIFF-POSTROUTING -s 10.244.0.0/16 ! -d 224.0.0.0/4 -j MASQUERADE`,
	} {
		if strings.Count(nat, want) != 1 {
			t.Errorf("nat table: want exactly one %q, have:\n%s", want, nat)
		}
	}
	filter := nsenter(t, host.path, "iptables", "-w", "-t", "filter", "-S")
	for _, want := range []string{
		`-A FORWARD -m comment --comment "skiff: pod forwarding" -j SKIFF-FORWARD`,
		`-A SKIFF-FORWARD -i skiff0 -j ACCEPT`,
		`-A SKIFF-FORWARD -o skiff0 -j ACCEPT`,
	} {
		if strings.Count(filter, want) != 1 {
			t.Errorf("filter table: want exactly one %q, have:\n%s", want, filter)
		}
	}
	setup(t, m, "uid-a")
	if err := m.Cleanup(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := nsenter(t, host.path, "iptables", "-w", "-t", "nat", "-S"); strings.Contains(s, "SKIFF") {
		t.Errorf("nat table after cleanup:\n%s", s)
	}
	if s := nsenter(t, host.path, "iptables", "-w", "-t", "filter", "-S"); strings.Contains(s, "SKIFF") {
		t.Errorf("filter table after cleanup:\n%s", s)
	}
	if _, err := host.h.LinkByName("skiff0"); err == nil {
		t.Error("bridge still there after cleanup")
	}
}

func TestAChangedPodCIDRReaddressesTheBridgeAndNewPods(t *testing.T) {
	requireRoot(t)
	host := newTestHost(t)
	m := newTestManager(t, host, "")
	if err := m.SetPodCIDR(mustCIDR(t, "10.244.1.0/24")); err != nil {
		t.Fatal(err)
	}
	old := setup(t, m, "uid-a")
	if err := m.SetPodCIDR(mustCIDR(t, "10.244.2.0/24")); err != nil {
		t.Fatal(err)
	}
	br, _ := host.h.LinkByName("skiff0")
	addrs, _ := host.h.AddrList(br, netlink.FAMILY_V4)
	if len(addrs) != 1 || addrs[0].IPNet.String() != "10.244.2.1/24" {
		t.Fatalf("bridge addresses after the change: %v", addrs)
	}
	b := setup(t, m, "uid-b")
	if !mustCIDR(t, "10.244.2.0/24").Contains(b.IP) || !b.Gateway.Equal(net.ParseIP("10.244.2.1")) {
		t.Fatalf("new pod: %+v", b)
	}
	// The old pod, set up again, moves into the new CIDR.
	a := setup(t, m, "uid-a")
	if !mustCIDR(t, "10.244.2.0/24").Contains(a.IP) || a.IP.Equal(b.IP) {
		t.Fatalf("old pod (was %v) set up again: %+v", old.IP, a)
	}
	listenIn(t, a.NetNSPath, net.JoinHostPort(a.IP.String(), "80"), "moved")
	if s, err := dialFrom(b.NetNSPath, net.JoinHostPort(a.IP.String(), "80")); err != nil || s != "moved" {
		t.Fatalf("pod B → moved pod A: %q, %v", s, err)
	}
}

func TestPodsOnTwoNodesTalkThroughHostGatewayRoutes(t *testing.T) {
	requireRoot(t)
	h1, h2 := newTestHost(t), newTestHost(t)
	// The "L2 network" between the nodes: a veth pair from h1 into h2.
	if err := h1.h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "node"}, PeerName: "node", PeerNamespace: netlink.NsFd(h2.ns)}); err != nil {
		t.Fatal(err)
	}
	for i, h := range []*testHost{h1, h2} {
		l, err := h.h.LinkByName("node")
		if err != nil {
			t.Fatal(err)
		}
		ip := net.IPv4(10, 99, 0, byte(i+1))
		if err := h.h.AddrAdd(l, &netlink.Addr{IPNet: &net.IPNet{IP: ip, Mask: net.CIDRMask(24, 32)}}); err != nil {
			t.Fatal(err)
		}
		if err := h.h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
	m1, m2 := newTestManager(t, h1, ""), newTestManager(t, h2, "")
	c1, c2 := mustCIDR(t, "10.244.1.0/24"), mustCIDR(t, "10.244.2.0/24")
	if err := m1.SetPodCIDR(c1); err != nil {
		t.Fatal(err)
	}
	if err := m2.SetPodCIDR(c2); err != nil {
		t.Fatal(err)
	}
	routes := []NodeRoute{{PodCIDR: c1, NodeIP: net.ParseIP("10.99.0.1")}, {PodCIDR: c2, NodeIP: net.ParseIP("10.99.0.2")}}
	if err := m1.SetNodeRoutes(routes); err != nil {
		t.Fatal(err)
	}
	if err := m2.SetNodeRoutes(routes); err != nil {
		t.Fatal(err)
	}
	p1, p2 := setup(t, m1, "uid-on-1"), setup(t, m2, "uid-on-2")

	// A server in pod 2 that tells the client's address: no masquerade
	// inside the cluster CIDR, so it must be pod 1's own IP.
	ns2, _ := netns.GetFromPath(p2.NetNSPath)
	defer ns2.Close()
	var l net.Listener
	if err := inNetNS(ns2, func() (err error) {
		l, err = net.Listen("tcp", net.JoinHostPort(p2.IP.String(), "9000"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, c.RemoteAddr().(*net.TCPAddr).IP.String())
			c.Close()
		}
	}()
	got, err := dialFrom(p1.NetNSPath, net.JoinHostPort(p2.IP.String(), "9000"))
	if err != nil {
		t.Fatalf("pod on node 1 (%v) → pod on node 2 (%v): %v", p1.IP, p2.IP, err)
	}
	if got != p1.IP.String() {
		t.Fatalf("pod 2 saw the connection from %s, want pod 1's IP %s (no masquerade within the cluster)", got, p1.IP)
	}
	// And back: pod 2 → pod 1.
	listenIn(t, p1.NetNSPath, net.JoinHostPort(p1.IP.String(), "9001"), "pong")
	if s, err := dialFrom(p2.NetNSPath, net.JoinHostPort(p1.IP.String(), "9001")); err != nil || s != "pong" {
		t.Fatalf("pod on node 2 → pod on node 1: %q, %v", s, err)
	}
}

func TestConcurrentSetupsGetDistinctAddresses(t *testing.T) {
	requireRoot(t)
	host := newTestHost(t)
	m := newTestManager(t, host, "")
	if err := m.SetPodCIDR(mustCIDR(t, "10.244.1.0/24")); err != nil {
		t.Fatal(err)
	}
	const n = 30
	atts := make([]Attachment, n)
	errs := make([]error, n)
	took := make([]time.Duration, n)
	done := make(chan int)
	for i := 0; i < n; i++ {
		go func() {
			start := time.Now()
			// Every pod twice at once: the second call must return the same.
			atts[i], errs[i] = m.SetupPod(context.Background(), PodRef{UID: fmt.Sprintf("uid-%d", i)})
			took[i] = time.Since(start)
			done <- i
		}()
	}
	again := make([]Attachment, n)
	for i := 0; i < n; i++ {
		go func() {
			a, err := m.SetupPod(context.Background(), PodRef{UID: fmt.Sprintf("uid-%d", i)})
			if err != nil {
				t.Errorf("concurrent second setup of pod %d: %v", i, err)
			}
			again[i] = a
			done <- i
		}()
	}
	for i := 0; i < 2*n; i++ {
		<-done
	}
	seen := map[string]int{}
	var max time.Duration
	for i := 0; i < n; i++ {
		if errs[i] != nil {
			t.Fatalf("pod %d: %v", i, errs[i])
		}
		if j, dup := seen[atts[i].IP.String()]; dup {
			t.Fatalf("pods %d and %d both got %v", i, j, atts[i].IP)
		}
		seen[atts[i].IP.String()] = i
		if !again[i].IP.Equal(atts[i].IP) {
			t.Errorf("pod %d: concurrent setups returned %v and %v", i, atts[i].IP, again[i].IP)
		}
		max = maxDur(max, took[i])
	}
	t.Logf("%d concurrent pod setups, slowest %v", n, max)
	if leases, _ := m.ipam.leases(); len(leases) != n {
		t.Fatalf("%d leases for %d pods", len(leases), n)
	}
}

func maxDur(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}

func TestSetupRepairsAPartialSetupKeepingTheAddress(t *testing.T) {
	requireRoot(t)
	host := newTestHost(t)
	m := newTestManager(t, host, "")
	if err := m.SetPodCIDR(mustCIDR(t, "10.244.1.0/24")); err != nil {
		t.Fatal(err)
	}
	a := setup(t, m, "uid-a")
	b := setup(t, m, "uid-b")
	// A crash or an operator removed pod A's veth (and so its eth0).
	v, err := host.h.LinkByName(HostVethName("uid-a"))
	if err != nil {
		t.Fatal(err)
	}
	if err := host.h.LinkDel(v); err != nil {
		t.Fatal(err)
	}
	// A pin left behind without a mount (crash between create and mount).
	if err := os.WriteFile(m.NetNSPath("uid-c"), nil, 0o444); err != nil {
		t.Fatal(err)
	}
	got := setup(t, m, "uid-a")
	if !got.IP.Equal(a.IP) {
		t.Fatalf("repaired pod A got %v, want its lease %v", got.IP, a.IP)
	}
	c := setup(t, m, "uid-c")
	listenIn(t, got.NetNSPath, net.JoinHostPort(got.IP.String(), "80"), "repaired")
	for _, from := range []Attachment{b, c} {
		if s, err := dialFrom(from.NetNSPath, net.JoinHostPort(got.IP.String(), "80")); err != nil || s != "repaired" {
			t.Fatalf("%v → repaired pod A: %q, %v", from.IP, s, err)
		}
	}
}

func TestTrafficLeavingTheClusterIsMasqueradedAsTheNode(t *testing.T) {
	requireRoot(t)
	node, outside := newTestHost(t), newTestHost(t)
	// node (10.99.0.1) and a machine outside the cluster (10.99.0.2) that
	// has no route to pod addresses.
	if err := node.h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "uplink"}, PeerName: "uplink", PeerNamespace: netlink.NsFd(outside.ns)}); err != nil {
		t.Fatal(err)
	}
	for i, h := range []*testHost{node, outside} {
		l, err := h.h.LinkByName("uplink")
		if err != nil {
			t.Fatal(err)
		}
		if err := h.h.AddrAdd(l, &netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(10, 99, 0, byte(i+1)), Mask: net.CIDRMask(24, 32)}}); err != nil {
			t.Fatal(err)
		}
		if err := h.h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
	m := newTestManager(t, node, "")
	if err := m.SetPodCIDR(mustCIDR(t, "10.244.1.0/24")); err != nil {
		t.Fatal(err)
	}
	pod := setup(t, m, "uid-a")

	ns, _ := netns.GetFromPath(outside.path)
	defer ns.Close()
	var l net.Listener
	if err := inNetNS(ns, func() (err error) { l, err = net.Listen("tcp", "10.99.0.2:7000"); return err }); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, c.RemoteAddr().(*net.TCPAddr).IP.String())
			c.Close()
		}
	}()
	got, err := dialFrom(pod.NetNSPath, "10.99.0.2:7000")
	if err != nil {
		t.Fatalf("pod %v → outside 10.99.0.2: %v", pod.IP, err)
	}
	if got != "10.99.0.1" {
		t.Fatalf("outside saw the pod's connection from %s, want the node's 10.99.0.1 (masquerade)", got)
	}
}

// BenchmarkSetupAndTeardownPod measures a pod's network from nothing and
// back: namespace, veth, address, routes; then teardown. Root only.
func BenchmarkSetupAndTeardownPod(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	dir := b.TempDir()
	path := filepath.Join(dir, "host")
	if err := createPinnedNetNS(path); err != nil {
		b.Fatal(err)
	}
	defer removePinnedNetNS(path)
	m, err := New(Config{HostNetNS: path, NetNSDir: filepath.Join(dir, "netns"), StateDir: filepath.Join(dir, "state")})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	defer m.Cleanup(context.Background())
	_, cidr, _ := net.ParseCIDR("10.244.1.0/24")
	if err := m.SetPodCIDR(cidr); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var setupTime, teardownTime time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		uid := fmt.Sprintf("bench-%d", i)
		start := time.Now()
		if _, err := m.SetupPod(ctx, PodRef{UID: uid}); err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		if err := m.TeardownPod(ctx, uid); err != nil {
			b.Fatal(err)
		}
		setupTime += mid.Sub(start)
		teardownTime += time.Since(mid)
	}
	b.ReportMetric(float64(setupTime.Microseconds())/float64(b.N)/1000, "setup-ms/op")
	b.ReportMetric(float64(teardownTime.Microseconds())/float64(b.N)/1000, "teardown-ms/op")
}
