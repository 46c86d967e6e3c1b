// Package nodeipam is the node IPAM controller (upstream's "nodeipam"
// with the RangeAllocator): it gives every node a podCIDR from the
// cluster CIDR (spec.podCIDR and spec.podCIDRs, one per IP family) and
// takes it back when the node is deleted. The truth lives in the Node
// objects: on start it marks every CIDR already in a node's spec as used
// before it hands out any, so a restart never gives one CIDR to two
// nodes. A node whose podCIDR lies outside the cluster CIDR is left alone
// and logged. When the range is used up, the node gets a CIDRNotAvailable
// event and a NetworkUnavailable=True condition, and is retried.
package nodeipam

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/skiffk8s/skiff/controllers"
	"github.com/skiffk8s/skiff/controllers/internal/controllerutil"
)

// Name is the controller's name (upstream's --controllers name).
const Name = "nodeipam"

// Defaults of the options.
const (
	DefaultClusterCIDR  = "10.244.0.0/16"
	DefaultMaskSizeIPv4 = 24
	DefaultMaskSizeIPv6 = 64
)

// Controller allocates node pod CIDRs.
type Controller struct {
	client   kubernetes.Interface
	nodes    corelisters.NodeLister
	recorder record.EventRecorder
	clock    clock.PassiveClock
	logger   *slog.Logger
	queue    controllerutil.Queue
	synced   cache.InformerSynced

	mu sync.Mutex
	// sets has one cidrSet per cluster CIDR (one per IP family); guarded by mu.
	sets []*cidrSet
	// allocated is what each node (by name) holds; guarded by mu.
	allocated map[string]allocation
}

// allocation is the CIDRs a node holds, with the node's UID so that a
// node deleted and created again under its name is told apart.
type allocation struct {
	uid   types.UID
	cidrs []netip.Prefix
}

var _ controllers.Controller = (*Controller)(nil)

// New builds the controller. Options: cluster-cidr (default
// 10.244.0.0/16; a comma-separated list, at most one per IP family),
// node-cidr-mask-size (single-stack; default 24 for IPv4, 64 for IPv6),
// node-cidr-mask-size-ipv4 (24) and node-cidr-mask-size-ipv6 (64).
func New(ctx context.Context, c controllers.Context) (controllers.Controller, error) {
	sets, err := parseOptions(c.Options)
	if err != nil {
		return nil, err
	}
	inf := c.Informers.Core().V1().Nodes()
	logger := c.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctl := &Controller{
		client:    c.Client,
		nodes:     inf.Lister(),
		recorder:  c.Recorder,
		clock:     c.Clock,
		logger:    logger.With("controller", Name),
		queue:     controllerutil.NewQueue(Name, c),
		synced:    inf.Informer().HasSynced,
		sets:      sets,
		allocated: map[string]allocation{},
	}
	enqueue := func(obj any) {
		if k := controllerutil.Key(obj); k != "" {
			ctl.queue.Add(k)
		}
	}
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, n any) { enqueue(n) },
		DeleteFunc: enqueue,
	}); err != nil {
		return nil, err
	}
	return ctl, nil
}

func parseOptions(opts map[string]string) ([]*cidrSet, error) {
	clusterCIDR := DefaultClusterCIDR
	if v := opts["cluster-cidr"]; v != "" {
		clusterCIDR = v
	}
	var prefixes []netip.Prefix
	for _, s := range strings.Split(clusterCIDR, ",") {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("cluster-cidr: %q: %w", s, err)
		}
		prefixes = append(prefixes, p)
	}
	if len(prefixes) > 2 || (len(prefixes) == 2 && prefixes[0].Addr().Is4() == prefixes[1].Addr().Is4()) {
		return nil, fmt.Errorf("cluster-cidr: %q: at most one CIDR per IP family", clusterCIDR)
	}
	mask := func(name string, def int) (int, error) {
		v := opts[name]
		if v == "" {
			return def, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, fmt.Errorf("%s: %q is not an integer", name, v)
		}
		return n, nil
	}
	m4, err := mask("node-cidr-mask-size-ipv4", DefaultMaskSizeIPv4)
	if err != nil {
		return nil, err
	}
	m6, err := mask("node-cidr-mask-size-ipv6", DefaultMaskSizeIPv6)
	if err != nil {
		return nil, err
	}
	if v := opts["node-cidr-mask-size"]; v != "" {
		if len(prefixes) > 1 {
			return nil, fmt.Errorf("node-cidr-mask-size: not for dual-stack cluster-cidr; use node-cidr-mask-size-ipv4/-ipv6")
		}
		n, err := mask("node-cidr-mask-size", 0)
		if err != nil {
			return nil, err
		}
		m4, m6 = n, n
	}
	var sets []*cidrSet
	for _, p := range prefixes {
		m, name := m4, "node-cidr-mask-size-ipv4"
		if p.Addr().Is6() {
			m, name = m6, "node-cidr-mask-size-ipv6"
		}
		s, err := newCIDRSet(p, m)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		sets = append(sets, s)
	}
	return sets, nil
}

// Name implements controllers.Controller.
func (c *Controller) Name() string { return Name }

// Run implements controllers.Controller: after the node cache has
// synced it marks every node's CIDRs used, then runs the workers.
func (c *Controller) Run(ctx context.Context, n int) error {
	defer c.queue.ShutDown()
	if !cache.WaitForNamedCacheSync(Name, ctx.Done(), c.synced) {
		return fmt.Errorf("%s: caches did not sync: %w", Name, ctx.Err())
	}
	if err := c.occupyExisting(); err != nil {
		return err
	}
	controllerutil.Start(ctx, c.logger, c.queue, n, c.sync)
	return nil
}

// occupyExisting marks the CIDRs in every known node's spec used.
func (c *Controller) occupyExisting() error {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, node := range nodes {
		c.occupyLocked(node)
	}
	return nil
}

// occupyLocked records node's CIDRs as its own and marks them used. A
// CIDR outside the cluster CIDR is logged and left alone.
func (c *Controller) occupyLocked(node *corev1.Node) {
	var held []netip.Prefix
	for _, s := range node.Spec.PodCIDRs {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			c.logger.Error("node has an invalid podCIDR; leaving it alone", "node", node.Name, "podCIDR", s)
			continue
		}
		set := c.setFor(p.Addr())
		if set == nil {
			c.logger.Error("node's podCIDR is outside the cluster CIDR; leaving it alone", "node", node.Name, "podCIDR", s)
			continue
		}
		if err := set.occupy(p); err != nil {
			c.logger.Error("node's podCIDR is outside the cluster CIDR; leaving it alone", "node", node.Name, "podCIDR", s, "err", err)
			continue
		}
		held = append(held, p)
	}
	c.allocated[node.Name] = allocation{uid: node.UID, cidrs: held}
}

func (c *Controller) setFor(a netip.Addr) *cidrSet {
	for _, s := range c.sets {
		if s.cluster.Addr().Is4() == a.Is4() {
			return s
		}
	}
	return nil
}

// releaseLocked frees what node name holds.
func (c *Controller) releaseLocked(name string) {
	for _, p := range c.allocated[name].cidrs {
		if s := c.setFor(p.Addr()); s != nil {
			_ = s.release(p)
		}
	}
	delete(c.allocated, name)
}
