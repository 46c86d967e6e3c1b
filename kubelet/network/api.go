// Package network gives pods their network with netlink: per pod a network
// namespace pinned under /run/skiff/netns/<pod-uid>, a veth pair into the
// node bridge skiff0 (gateway: the first address of the node's podCIDR),
// an address from an on-disk IPAM, loopback up and a default route; on the
// node, ip_forward, masquerade for traffic leaving the cluster CIDR, and a
// route to every other node's podCIDR via that node's InternalIP (host-gw).
package network

import (
	"context"
	"net"
)

// Manager is what the kubelet needs from the pod network. Methods are safe
// for concurrent use.
type Manager interface {
	// SetPodCIDR sets (or changes) the node's pod CIDR: the bridge gets
	// the gateway address and IPAM hands out addresses from it. Until it
	// is called, SetupPod fails.
	SetPodCIDR(cidr *net.IPNet) error
	// SetupPod creates the pod's network namespace, veth, address and
	// routes, and returns the namespace path containers join and the
	// pod's IP. It is idempotent: for a pod already set up it returns the
	// existing namespace and IP (kubelet restarts).
	SetupPod(ctx context.Context, pod PodRef) (Attachment, error)
	// TeardownPod removes the pod's veth, namespace and address lease.
	// Tearing down a pod that is not set up is not an error.
	TeardownPod(ctx context.Context, podUID string) error
	// Pods lists the pod UIDs with a network set up (pinned namespace or
	// address lease), so the kubelet can remove those of deleted pods.
	Pods() ([]string, error)
	// SetNodeRoutes makes the routes to other nodes' pod CIDRs exactly
	// routes (routes it added before and no longer wanted are removed).
	SetNodeRoutes(routes []NodeRoute) error
}

// PodRef names a pod for the network.
type PodRef struct {
	UID, Namespace, Name string
}

// Attachment is a pod's network.
type Attachment struct {
	NetNSPath string // /run/skiff/netns/<pod-uid>
	IP        net.IP
	Gateway   net.IP
}

// NodeRoute is the route to another node's pod CIDR.
type NodeRoute struct {
	PodCIDR *net.IPNet
	NodeIP  net.IP
}

// Config configures a Manager.
type Config struct {
	// BridgeName is the node bridge; default "skiff0".
	BridgeName string
	// NetNSDir is where pod namespaces are pinned; default /run/skiff/netns.
	NetNSDir string
	// StateDir holds the IPAM leases; e.g. <root-dir>/network.
	StateDir string
	// ClusterCIDR is the whole pod network (default 10.244.0.0/16):
	// traffic from pods to addresses outside it is masqueraded.
	ClusterCIDR *net.IPNet
	// MTU of the bridge and veths; 0 means the default route's link MTU
	// (1500 without a default route).
	MTU int
	// HostNetNS is the path of the network namespace that holds the
	// node's network (bridge, veths, routes, iptables); empty means the
	// kubelet's own. Tests and lab hosts point it at a namespace they
	// created.
	HostNetNS string
}
