// Package nodelifecycle is the node lifecycle controller (upstream's
// "nodelifecycle", with the NoExecute taint manager and the orphaned-pod
// part of the pod GC folded in). Every node-monitor-period it checks each
// node's heartbeats (its Lease in kube-node-lease and its Ready
// condition): a node silent for longer than node-monitor-grace-period gets
// Ready, MemoryPressure, DiskPressure and PIDPressure set to Unknown
// ("Kubelet stopped posting node status."), a NodeNotReady event, its
// pods marked not ready, and — rate-limited per zone — the
// node.kubernetes.io/unreachable:NoExecute taint (not-ready when
// Ready=False). It keeps the NoSchedule taints that mirror node
// conditions. Pods on a node with NoExecute taints they do not tolerate
// are deleted at once, those tolerating them for tolerationSeconds after
// that time. Pods of a deleted node are deleted.
package nodelifecycle

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	coordlisters "k8s.io/client-go/listers/coordination/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/skiffk8s/skiff/controllers"
	"github.com/skiffk8s/skiff/controllers/internal/controllerutil"
)

// Name is the controller's name (upstream's --controllers name).
const Name = "nodelifecycle"

// nodeNameIndex indexes pods by spec.nodeName.
const nodeNameIndex = "nodelifecycle.spec.nodeName"

// Options holds the controller's settings, named after upstream's flags.
type Options struct {
	// MonitorPeriod is how often node health is checked (node-monitor-period, 5s).
	MonitorPeriod time.Duration
	// GracePeriod is how long a node may be silent before it is marked
	// Unknown (node-monitor-grace-period, 40s).
	GracePeriod time.Duration
	// StartupGracePeriod replaces GracePeriod for a node that never
	// posted a Ready condition (node-startup-grace-period, 1m).
	StartupGracePeriod time.Duration
	// EvictionRate is the NoExecute tainting rate per zone in nodes per
	// second (node-eviction-rate, 0.1).
	EvictionRate float64
	// SecondaryEvictionRate is used in a partially disrupted zone larger
	// than LargeClusterThreshold (secondary-node-eviction-rate, 0.01).
	SecondaryEvictionRate float64
	// LargeClusterThreshold (large-cluster-size-threshold, 50).
	LargeClusterThreshold int
	// UnhealthyZoneThreshold is the not-ready fraction from which a zone
	// (of more than two not-ready nodes) is partially disrupted
	// (unhealthy-zone-threshold, 0.55).
	UnhealthyZoneThreshold float64
}

// DefaultOptions are upstream's defaults.
func DefaultOptions() Options {
	return Options{MonitorPeriod: 5 * time.Second, GracePeriod: 40 * time.Second, StartupGracePeriod: time.Minute,
		EvictionRate: 0.1, SecondaryEvictionRate: 0.01, LargeClusterThreshold: 50, UnhealthyZoneThreshold: 0.55}
}

// ParseOptions reads Options from the manager's options by flag name.
func ParseOptions(m map[string]string) (Options, error) {
	o := DefaultOptions()
	durs := map[string]*time.Duration{"node-monitor-period": &o.MonitorPeriod, "node-monitor-grace-period": &o.GracePeriod,
		"node-startup-grace-period": &o.StartupGracePeriod}
	for name, p := range durs {
		if v := m[name]; v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return o, fmt.Errorf("%s: %q is not a positive duration", name, v)
			}
			*p = d
		}
	}
	floats := map[string]*float64{"node-eviction-rate": &o.EvictionRate, "secondary-node-eviction-rate": &o.SecondaryEvictionRate,
		"unhealthy-zone-threshold": &o.UnhealthyZoneThreshold}
	for name, p := range floats {
		if v := m[name]; v != "" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 {
				return o, fmt.Errorf("%s: %q is not a non-negative number", name, v)
			}
			*p = f
		}
	}
	if v := m["large-cluster-size-threshold"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return o, fmt.Errorf("large-cluster-size-threshold: %q is not a non-negative integer", v)
		}
		o.LargeClusterThreshold = n
	}
	return o, nil
}

// Controller is the node lifecycle controller.
type Controller struct {
	opts     Options
	client   kubernetes.Interface
	nodes    corelisters.NodeLister
	leases   coordlisters.LeaseLister
	pods     corelisters.PodLister
	podIndex cache.Indexer
	recorder record.EventRecorder
	clock    clock.WithTicker
	logger   *slog.Logger
	synced   []cache.InformerSynced

	// nodeQueue takes node names: NoSchedule taints, then the node's pods
	// go to podQueue; a deleted node's pods are deleted.
	nodeQueue controllerutil.Queue
	// podQueue takes pod keys for the NoExecute taint manager.
	podQueue controllerutil.Queue

	mu sync.Mutex
	// health is what the monitor saw of each node; guarded by mu.
	health map[string]*nodeHealth
	// zones holds each zone's tainting queue and state; guarded by mu.
	zones map[string]*zone
	// evictions holds when the taint manager first planned each pod's
	// eviction (by pod key); guarded by mu.
	evictions map[string]time.Time
}

var _ controllers.Controller = (*Controller)(nil)

// New builds the controller on c's shared informers (nodes, leases,
// pods). Options: see ParseOptions.
func New(ctx context.Context, c controllers.Context) (controllers.Controller, error) {
	opts, err := ParseOptions(c.Options)
	if err != nil {
		return nil, err
	}
	nodeInf := c.Informers.Core().V1().Nodes()
	leaseInf := c.Informers.Coordination().V1().Leases()
	podInf := c.Informers.Core().V1().Pods()
	if err := podInf.Informer().AddIndexers(cache.Indexers{nodeNameIndex: func(obj any) ([]string, error) {
		if p, ok := obj.(*corev1.Pod); ok && p.Spec.NodeName != "" {
			return []string{p.Spec.NodeName}, nil
		}
		return nil, nil
	}}); err != nil {
		return nil, fmt.Errorf("pod index: %w", err)
	}
	logger := c.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctl := &Controller{
		opts:      opts,
		client:    c.Client,
		nodes:     nodeInf.Lister(),
		leases:    leaseInf.Lister(),
		pods:      podInf.Lister(),
		podIndex:  podInf.Informer().GetIndexer(),
		recorder:  c.Recorder,
		clock:     c.Clock,
		logger:    logger.With("controller", Name),
		synced:    []cache.InformerSynced{nodeInf.Informer().HasSynced, leaseInf.Informer().HasSynced, podInf.Informer().HasSynced},
		nodeQueue: controllerutil.NewQueue(Name+"-nodes", c),
		podQueue:  controllerutil.NewQueue(Name+"-pods", c),
		health:    map[string]*nodeHealth{},
		zones:     map[string]*zone{},
		evictions: map[string]time.Time{},
	}
	addNode := func(obj any) {
		if k := controllerutil.Key(obj); k != "" {
			ctl.nodeQueue.Add(k)
		}
	}
	if _, err := nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: addNode, UpdateFunc: func(_, n any) { addNode(n) }, DeleteFunc: addNode,
	}); err != nil {
		return nil, err
	}
	addPod := func(obj any) {
		if k := controllerutil.Key(obj); k != "" {
			ctl.podQueue.Add(k)
		}
	}
	if _, err := podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: addPod, UpdateFunc: func(_, n any) { addPod(n) }, DeleteFunc: addPod,
	}); err != nil {
		return nil, err
	}
	return ctl, nil
}

// Name implements controllers.Controller.
func (c *Controller) Name() string { return Name }

// Run implements controllers.Controller: the node and pod workers, the
// health monitor every MonitorPeriod and the NoExecute tainting pass
// every 100ms (all on the controller's clock).
func (c *Controller) Run(ctx context.Context, n int) error {
	defer c.nodeQueue.ShutDown()
	defer c.podQueue.ShutDown()
	if !cache.WaitForNamedCacheSync(Name, ctx.Done(), c.synced...) {
		return fmt.Errorf("%s: caches did not sync: %w", Name, ctx.Err())
	}
	var wg sync.WaitGroup
	wg.Go(func() { controllerutil.Start(ctx, c.logger, c.nodeQueue, n, c.syncNode) })
	wg.Go(func() { controllerutil.Start(ctx, c.logger, c.podQueue, n, c.syncPod) })
	wg.Go(func() { c.every(ctx, c.opts.MonitorPeriod, c.monitor) })
	wg.Go(func() { c.every(ctx, 100*time.Millisecond, c.taintPass) })
	wg.Wait()
	return nil
}

// every runs f now and then every period until ctx ends.
func (c *Controller) every(ctx context.Context, period time.Duration, f func(context.Context)) {
	t := c.clock.NewTicker(period)
	defer t.Stop()
	for {
		f(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
	}
}
