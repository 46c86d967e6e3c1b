package network

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/coreos/go-iptables/iptables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// RouteProtocol marks the routes SetNodeRoutes installs (rtm_protocol), so
// the manager finds and removes only its own routes.
const RouteProtocol = netlink.RouteProtocol(0x53)

// podIfName is the pod end of the veth, inside the pod's namespace.
const podIfName = "eth0"

// Bridge is the Manager of the bridge network: a node bridge, a veth per
// pod, IPAM on disk, host-gw routes and iptables masquerade. Create it with
// New; Close it when done. Its methods are safe for concurrent use.
type Bridge struct {
	cfg    Config
	hostNS netns.NsHandle  // the node's namespace: bridge, veths, routes, iptables
	host   *netlink.Handle // netlink socket in hostNS
	ipt    *iptables.IPTables
	ipam   *ipam

	mu      sync.RWMutex
	podCIDR *net.IPNet // guarded by mu; nil until SetPodCIDR
	gateway net.IP     // guarded by mu
	mtu     int        // guarded by mu; resolved MTU

	podMu    sync.Mutex
	podLocks map[string]*podLock // guarded by podMu
}

type podLock struct {
	mu   sync.Mutex
	refs int // guarded by Bridge.podMu
}

var _ Manager = (*Bridge)(nil)

// New returns a Manager for cfg, filling in defaults (BridgeName skiff0,
// NetNSDir /run/skiff/netns, ClusterCIDR 10.244.0.0/16). StateDir is
// required. New changes nothing on the node: SetPodCIDR does.
func New(cfg Config) (*Bridge, error) {
	if cfg.BridgeName == "" {
		cfg.BridgeName = "skiff0"
	}
	if len(cfg.BridgeName) > 15 {
		return nil, fmt.Errorf("bridge name %q: longer than 15 characters", cfg.BridgeName)
	}
	if cfg.NetNSDir == "" {
		cfg.NetNSDir = "/run/skiff/netns"
	}
	if cfg.StateDir == "" {
		return nil, errors.New("network config: StateDir is required")
	}
	if cfg.ClusterCIDR == nil {
		_, c, _ := net.ParseCIDR("10.244.0.0/16")
		cfg.ClusterCIDR = c
	}
	if cfg.ClusterCIDR.IP.To4() == nil {
		return nil, fmt.Errorf("cluster CIDR %s: only IPv4 is supported", cfg.ClusterCIDR)
	}
	hostPath := cfg.HostNetNS
	if hostPath == "" {
		hostPath = "/proc/self/ns/net"
	}
	hostNS, err := netns.GetFromPath(hostPath)
	if err != nil {
		return nil, fmt.Errorf("open node network namespace %s: %w", hostPath, err)
	}
	host, err := netlink.NewHandleAt(hostNS, unix.NETLINK_ROUTE)
	if err != nil {
		hostNS.Close()
		return nil, fmt.Errorf("open netlink in node namespace: %w", err)
	}
	ipt, err := iptables.New()
	if err != nil {
		host.Close()
		hostNS.Close()
		return nil, fmt.Errorf("find iptables: %w", err)
	}
	a, err := newIPAM(filepath.Join(cfg.StateDir, "ipam"))
	if err != nil {
		host.Close()
		hostNS.Close()
		return nil, err
	}
	if err := os.MkdirAll(cfg.NetNSDir, 0o755); err != nil {
		host.Close()
		hostNS.Close()
		return nil, fmt.Errorf("create netns dir %s: %w", cfg.NetNSDir, err)
	}
	return &Bridge{cfg: cfg, hostNS: hostNS, host: host, ipt: ipt, ipam: a, podLocks: map[string]*podLock{}}, nil
}

// Close releases the manager's handles. It leaves the network as it is:
// pods keep running (see Cleanup to remove everything).
func (b *Bridge) Close() error {
	b.host.Close()
	return b.hostNS.Close()
}

// SetPodCIDR makes the bridge exist and be up with the gateway address
// (first address of cidr) and the MTU, enables ip_forward (and
// bridge-nf-call-iptables where br_netfilter is loaded, for Services whose
// endpoint shares the client's bridge) and writes the masquerade and
// forward rules. cidr must lie inside Config.ClusterCIDR. It is
// idempotent; a different cidr re-addresses the bridge (pods keep their old
// leases until set up again, when they move into the new cidr).
func (b *Bridge) SetPodCIDR(cidr *net.IPNet) error {
	if cidr == nil {
		return errors.New("set pod CIDR: nil CIDR")
	}
	if _, _, err := usableRange(cidr); err != nil {
		return fmt.Errorf("set pod CIDR: %w", err)
	}
	ones, _ := cidr.Mask.Size()
	cidr = &net.IPNet{IP: cidr.IP.To4().Mask(cidr.Mask), Mask: net.CIDRMask(ones, 32)}
	if cones, _ := b.cfg.ClusterCIDR.Mask.Size(); !b.cfg.ClusterCIDR.Contains(cidr.IP) || cones > ones {
		// Pod traffic would leave unmasqueraded (or be masqueraded
		// between nodes): refuse rather than half work.
		return fmt.Errorf("set pod CIDR %s: not inside the cluster CIDR %s", cidr, b.cfg.ClusterCIDR)
	}
	gw := gatewayOf(cidr)

	b.mu.Lock()
	defer b.mu.Unlock()
	mtu := b.cfg.MTU
	if mtu == 0 {
		mtu = b.defaultRouteMTU()
	}
	br, err := b.ensureBridge(mtu)
	if err != nil {
		return err
	}
	want := &netlink.Addr{IPNet: &net.IPNet{IP: gw, Mask: cidr.Mask}}
	addrs, err := b.host.AddrList(br, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("list addresses of bridge %s: %w", b.cfg.BridgeName, err)
	}
	for _, a := range addrs {
		if a.IPNet.String() != want.IPNet.String() {
			if err := b.host.AddrDel(br, &a); err != nil {
				return fmt.Errorf("remove old address %s from bridge %s: %w", a.IPNet, b.cfg.BridgeName, err)
			}
		}
	}
	if err := b.host.AddrReplace(br, want); err != nil {
		return fmt.Errorf("address bridge %s with %s: %w", b.cfg.BridgeName, want.IPNet, err)
	}
	if err := b.host.LinkSetUp(br); err != nil {
		return fmt.Errorf("set bridge %s up: %w", b.cfg.BridgeName, err)
	}
	err = inNetNS(b.hostNS, func() error {
		if err := enableIPForward(); err != nil {
			return err
		}
		if _, err := enableBridgeNetfilter(); err != nil {
			return err
		}
		return ensureIPTables(b.ipt, b.cfg.ClusterCIDR.String(), b.cfg.BridgeName)
	})
	if err != nil {
		return fmt.Errorf("set pod CIDR %s: %w", cidr, err)
	}
	b.podCIDR, b.gateway, b.mtu = cidr, gw, mtu
	return nil
}

// defaultRouteMTU is the MTU of the default route's link, or 1500.
func (b *Bridge) defaultRouteMTU() int {
	routes, err := b.host.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return 1500
	}
	for _, r := range routes {
		if r.Dst != nil && r.Dst.String() != "0.0.0.0/0" {
			continue
		}
		if l, err := b.host.LinkByIndex(r.LinkIndex); err == nil && l.Attrs().MTU > 0 {
			return l.Attrs().MTU
		}
	}
	return 1500
}

func (b *Bridge) ensureBridge(mtu int) (netlink.Link, error) {
	name := b.cfg.BridgeName
	l, err := b.host.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if !errors.As(err, &nf) {
			return nil, fmt.Errorf("look up bridge %s: %w", name, err)
		}
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name, MTU: mtu}}
		if err := b.host.LinkAdd(br); err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("create bridge %s: %w", name, err)
		}
		if l, err = b.host.LinkByName(name); err != nil {
			return nil, fmt.Errorf("look up bridge %s: %w", name, err)
		}
	}
	if l.Type() != "bridge" {
		return nil, fmt.Errorf("link %s exists and is a %s, not a bridge", name, l.Type())
	}
	if l.Attrs().MTU != mtu {
		if err := b.host.LinkSetMTU(l, mtu); err != nil {
			return nil, fmt.Errorf("set MTU %d on bridge %s: %w", mtu, name, err)
		}
	}
	return l, nil
}

func (b *Bridge) current() (cidr *net.IPNet, gw net.IP, mtu int) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.podCIDR, b.gateway, b.mtu
}

// lockPod serializes work on one pod; the returned func unlocks.
func (b *Bridge) lockPod(uid string) func() {
	b.podMu.Lock()
	l := b.podLocks[uid]
	if l == nil {
		l = &podLock{}
		b.podLocks[uid] = l
	}
	l.refs++
	b.podMu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		b.podMu.Lock()
		if l.refs--; l.refs == 0 {
			delete(b.podLocks, uid)
		}
		b.podMu.Unlock()
	}
}

// HostVethName is the node-side veth name of a pod: "veth" and the first 8
// hex digits of the SHA-256 of its UID.
func HostVethName(podUID string) string {
	sum := sha256.Sum256([]byte(podUID))
	return "veth" + hex.EncodeToString(sum[:4])
}

// NetNSPath is where the pod's namespace is pinned.
func (b *Bridge) NetNSPath(podUID string) string {
	return filepath.Join(b.cfg.NetNSDir, podUID)
}

// SetupPod implements Manager. For a pod whose pinned namespace already has
// eth0 with the pod's leased address it re-asserts the configuration and
// returns the same attachment; a partial setup (crash) is redone keeping
// the pod's address.
func (b *Bridge) SetupPod(ctx context.Context, pod PodRef) (Attachment, error) {
	if pod.UID == "" || pod.UID != filepath.Base(pod.UID) || pod.UID == "." || pod.UID == ".." {
		return Attachment{}, fmt.Errorf("set up network for pod %s/%s: invalid UID %q", pod.Namespace, pod.Name, pod.UID)
	}
	if err := ctx.Err(); err != nil {
		return Attachment{}, err
	}
	cidr, gw, mtu := b.current()
	if cidr == nil {
		return Attachment{}, fmt.Errorf("set up network for pod %s/%s: node has no pod CIDR yet", pod.Namespace, pod.Name)
	}
	unlock := b.lockPod(pod.UID)
	defer unlock()

	what := fmt.Sprintf("pod %s/%s (%s)", pod.Namespace, pod.Name, pod.UID)
	ip, err := b.ipam.allocate(cidr, pod.UID)
	if err != nil {
		return Attachment{}, fmt.Errorf("allocate address for %s: %w", what, err)
	}
	path := b.NetNSPath(pod.UID)
	att := Attachment{NetNSPath: path, IP: ip, Gateway: gw}

	podNS, ok, err := openPinnedNetNS(path)
	if err != nil {
		return Attachment{}, fmt.Errorf("set up network for %s: %w", what, err)
	}
	if ok {
		err := b.reassert(podNS, pod.UID, ip, cidr, gw, mtu)
		podNS.Close()
		if err == nil {
			return att, nil
		}
		// Partial or stale setup: redo it from scratch, keeping the lease.
		if err := b.teardownLink(pod.UID, path); err != nil {
			return Attachment{}, fmt.Errorf("reset network of %s: %w", what, err)
		}
	} else if err := removePinnedNetNS(path); err != nil {
		return Attachment{}, fmt.Errorf("reset network of %s: %w", what, err)
	}

	if err := b.create(pod.UID, path, ip, cidr, gw, mtu); err != nil {
		// Leave nothing half done; the lease goes too (no leak).
		_ = b.teardownLink(pod.UID, path)
		_ = b.ipam.release(pod.UID)
		return Attachment{}, fmt.Errorf("set up network for %s: %w", what, err)
	}
	return att, nil
}

// create builds the pod's network from nothing.
func (b *Bridge) create(uid, path string, ip net.IP, cidr *net.IPNet, gw net.IP, mtu int) error {
	if err := createPinnedNetNS(path); err != nil {
		return err
	}
	podNS, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", path, err)
	}
	defer podNS.Close()

	br, err := b.host.LinkByName(b.cfg.BridgeName)
	if err != nil {
		return fmt.Errorf("look up bridge %s: %w", b.cfg.BridgeName, err)
	}
	hostName := HostVethName(uid)
	// A veth of a pod whose namespace pin vanished is in the way.
	if l, err := b.host.LinkByName(hostName); err == nil {
		if err := b.host.LinkDel(l); err != nil {
			return fmt.Errorf("delete stale veth %s: %w", hostName, err)
		}
	}
	// Hairpin mode lets a pod reach itself through a Service (DNAT back to
	// the port the packet came in on).
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: hostName, MTU: mtu, MasterIndex: br.Attrs().Index},
		PeerName:      podIfName,
		PeerMTU:       uint32(mtu),
		PeerNamespace: netlink.NsFd(podNS),
	}
	if err := b.host.LinkAdd(veth); err != nil {
		return fmt.Errorf("create veth %s: %w", hostName, err)
	}
	hl, err := b.host.LinkByName(hostName)
	if err != nil {
		return fmt.Errorf("look up veth %s: %w", hostName, err)
	}
	if err := b.host.LinkSetHairpin(hl, true); err != nil {
		return fmt.Errorf("set hairpin mode on veth %s: %w", hostName, err)
	}
	if err := b.host.LinkSetUp(hl); err != nil {
		return fmt.Errorf("set veth %s up: %w", hostName, err)
	}
	return b.configurePod(podNS, ip, cidr, gw)
}

// configurePod sets lo and eth0 up, eth0's address and the default route
// inside the pod's namespace. It is idempotent.
func (b *Bridge) configurePod(podNS netns.NsHandle, ip net.IP, cidr *net.IPNet, gw net.IP) error {
	h, err := netlink.NewHandleAt(podNS, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("open netlink in pod namespace: %w", err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("look up lo: %w", err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("set lo up: %w", err)
	}
	eth, err := h.LinkByName(podIfName)
	if err != nil {
		return fmt.Errorf("look up %s: %w", podIfName, err)
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: ip, Mask: cidr.Mask}}
	if err := h.AddrReplace(eth, addr); err != nil {
		return fmt.Errorf("address %s with %s: %w", podIfName, addr.IPNet, err)
	}
	if err := h.LinkSetUp(eth); err != nil {
		return fmt.Errorf("set %s up: %w", podIfName, err)
	}
	def := &netlink.Route{LinkIndex: eth.Attrs().Index, Gw: gw, Dst: &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}}
	if err := h.RouteReplace(def); err != nil {
		return fmt.Errorf("add default route via %s: %w", gw, err)
	}
	return nil
}

// reassert checks an existing pod network (eth0 with ip in the pod, the host
// veth present) and re-applies the configuration that may have drifted
// (veth on the bridge and up, routes). An error means: redo it.
func (b *Bridge) reassert(podNS netns.NsHandle, uid string, ip net.IP, cidr *net.IPNet, gw net.IP, mtu int) error {
	h, err := netlink.NewHandleAt(podNS, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("open netlink in pod namespace: %w", err)
	}
	eth, err := h.LinkByName(podIfName)
	if err != nil {
		h.Close()
		return fmt.Errorf("look up %s: %w", podIfName, err)
	}
	addrs, err := h.AddrList(eth, netlink.FAMILY_V4)
	h.Close()
	if err != nil {
		return fmt.Errorf("list addresses of %s: %w", podIfName, err)
	}
	found := false
	for _, a := range addrs {
		found = found || (a.IP.Equal(ip) && a.Mask.String() == cidr.Mask.String())
	}
	if !found {
		return fmt.Errorf("%s does not have %s", podIfName, ip)
	}
	hostName := HostVethName(uid)
	hl, err := b.host.LinkByName(hostName)
	if err != nil {
		return fmt.Errorf("look up veth %s: %w", hostName, err)
	}
	br, err := b.host.LinkByName(b.cfg.BridgeName)
	if err != nil {
		return fmt.Errorf("look up bridge %s: %w", b.cfg.BridgeName, err)
	}
	if hl.Attrs().MasterIndex != br.Attrs().Index {
		if err := b.host.LinkSetMaster(hl, br); err != nil {
			return fmt.Errorf("attach veth %s to bridge: %w", hostName, err)
		}
		if err := b.host.LinkSetHairpin(hl, true); err != nil {
			return fmt.Errorf("set hairpin mode on veth %s: %w", hostName, err)
		}
	}
	if err := b.host.LinkSetUp(hl); err != nil {
		return fmt.Errorf("set veth %s up: %w", hostName, err)
	}
	return b.configurePod(podNS, ip, cidr, gw)
}

// TeardownPod implements Manager.
func (b *Bridge) TeardownPod(ctx context.Context, podUID string) error {
	if podUID == "" || podUID != filepath.Base(podUID) || podUID == "." || podUID == ".." {
		return fmt.Errorf("tear down network for pod %q: invalid UID", podUID)
	}
	unlock := b.lockPod(podUID)
	defer unlock()
	if err := b.teardownLink(podUID, b.NetNSPath(podUID)); err != nil {
		return fmt.Errorf("tear down network for pod %s: %w", podUID, err)
	}
	if err := b.ipam.release(podUID); err != nil {
		return fmt.Errorf("tear down network for pod %s: %w", podUID, err)
	}
	return nil
}

// teardownLink deletes the pod's host veth (and with it eth0) and its
// namespace pin. Absent parts are no error.
func (b *Bridge) teardownLink(uid, path string) error {
	name := HostVethName(uid)
	if l, err := b.host.LinkByName(name); err == nil {
		if err := b.host.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
			return fmt.Errorf("delete veth %s: %w", name, err)
		}
	} else {
		var nf netlink.LinkNotFoundError
		if !errors.As(err, &nf) {
			return fmt.Errorf("look up veth %s: %w", name, err)
		}
	}
	return removePinnedNetNS(path)
}

// Pods implements Manager: the UIDs with a pinned namespace or a lease,
// sorted.
func (b *Bridge) Pods() ([]string, error) {
	set := map[string]bool{}
	entries, err := os.ReadDir(b.cfg.NetNSDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("list pod namespaces in %s: %w", b.cfg.NetNSDir, err)
	}
	for _, e := range entries {
		set[e.Name()] = true
	}
	leases, err := b.ipam.leases()
	if err != nil {
		return nil, fmt.Errorf("list pod leases: %w", err)
	}
	for _, uid := range leases {
		if uid != "" {
			set[uid] = true
		}
	}
	out := make([]string, 0, len(set))
	for uid := range set {
		out = append(out, uid)
	}
	sort.Strings(out)
	return out, nil
}

// SetNodeRoutes implements Manager: each route is "<PodCIDR> via <NodeIP>"
// in the main table with protocol RouteProtocol; routes with that protocol
// not in routes are deleted. A route to the node's own pod CIDR is skipped.
func (b *Bridge) SetNodeRoutes(routes []NodeRoute) error {
	own, _, _ := b.current()
	want := map[string]*netlink.Route{}
	for _, r := range routes {
		if r.PodCIDR == nil || r.NodeIP == nil || r.PodCIDR.IP.To4() == nil || r.NodeIP.To4() == nil {
			return fmt.Errorf("set node routes: invalid route %v via %v (IPv4 CIDR and node IP required)", r.PodCIDR, r.NodeIP)
		}
		ones, _ := r.PodCIDR.Mask.Size()
		dst := &net.IPNet{IP: r.PodCIDR.IP.To4().Mask(r.PodCIDR.Mask), Mask: net.CIDRMask(ones, 32)}
		if own != nil && dst.String() == own.String() {
			continue
		}
		want[dst.String()] = &netlink.Route{Dst: dst, Gw: r.NodeIP.To4(), Protocol: RouteProtocol, Table: unix.RT_TABLE_MAIN}
	}
	have, err := b.ownRoutes()
	if err != nil {
		return err
	}
	for _, r := range have {
		if w, ok := want[r.Dst.String()]; ok && w.Gw.Equal(r.Gw) {
			delete(want, r.Dst.String())
			continue
		}
		if err := b.host.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("delete route %s via %s: %w", r.Dst, r.Gw, err)
		}
	}
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		r := want[k]
		if err := b.host.RouteReplace(r); err != nil {
			return fmt.Errorf("add route %s via %s: %w", r.Dst, r.Gw, err)
		}
	}
	return nil
}

func (b *Bridge) ownRoutes() ([]netlink.Route, error) {
	filter := &netlink.Route{Protocol: RouteProtocol, Table: unix.RT_TABLE_MAIN}
	var routes []netlink.Route
	var err error
	for i := 0; i < 5; i++ {
		routes, err = b.host.RouteListFiltered(netlink.FAMILY_V4, filter, netlink.RT_FILTER_PROTOCOL|netlink.RT_FILTER_TABLE)
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("list node routes: %w", err)
	}
	return routes, nil
}

// Cleanup removes everything the manager put on the node: every pod's
// network and lease, the node routes, the iptables chains and jumps, and
// the bridge. Absent parts are no error. ip_forward is left on.
func (b *Bridge) Cleanup(ctx context.Context) error {
	uids, err := b.Pods()
	if err != nil {
		return fmt.Errorf("clean up: %w", err)
	}
	var errs []error
	for _, uid := range uids {
		if err := b.TeardownPod(ctx, uid); err != nil {
			errs = append(errs, err)
		}
	}
	if err := b.SetNodeRoutes(nil); err != nil {
		errs = append(errs, fmt.Errorf("clean up routes: %w", err))
	}
	if err := inNetNS(b.hostNS, func() error { return removeIPTables(b.ipt) }); err != nil {
		errs = append(errs, fmt.Errorf("clean up iptables: %w", err))
	}
	if l, err := b.host.LinkByName(b.cfg.BridgeName); err == nil {
		if err := b.host.LinkDel(l); err != nil {
			errs = append(errs, fmt.Errorf("delete bridge %s: %w", b.cfg.BridgeName, err))
		}
	}
	b.mu.Lock()
	b.podCIDR, b.gateway = nil, nil
	b.mu.Unlock()
	return errors.Join(errs...)
}
