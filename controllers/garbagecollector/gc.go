// Package garbagecollector is the garbage collector: it follows
// ownerReferences across every resource that discovery lists (with
// metadata informers) and deletes dependents whose owners are gone
// (background), deletes the dependents of an owner being deleted with
// the foregroundDeletion finalizer, blocking ones first, before removing
// that finalizer (foreground), and removes the owner reference from the
// dependents of an owner with the orphan finalizer before removing that
// finalizer (orphan). The API server adds those finalizers for the
// propagationPolicy of a delete.
package garbagecollector

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/skiffk8s/skiff/controllers"
)

// Name is the controller's name, as upstream's --controllers.
const Name = "garbagecollector"

// DiscoveryPeriod is how often new resources (e.g. CRDs) are looked for.
const DiscoveryPeriod = 30 * time.Second

// ignoredResources are not garbage collected, as upstream's defaults.
var ignoredResources = map[schema.GroupResource]bool{
	{Group: "", Resource: "events"}:              true,
	{Group: "events.k8s.io", Resource: "events"}: true,
}

// Controller is the garbage collector.
type Controller struct {
	metadata  metadata.Interface
	discovery discovery.DiscoveryInterface
	clock     clock.WithTicker
	log       *slog.Logger
	factory   metadatainformer.SharedInformerFactory

	graph        graph
	graphChanges workqueue.TypedInterface[*event]
	deleteQueue  workqueue.TypedRateLimitingInterface[*node]
	orphanQueue  workqueue.TypedRateLimitingInterface[*node]
	mapper       mapper
	monitorsMu   sync.Mutex
	monitored    map[schema.GroupVersionResource]cache.SharedIndexInformer // guarded by monitorsMu
}

var _ controllers.InitFunc = New

// New builds the garbage collector; it reads no options.
func New(ctx context.Context, c controllers.Context) (controllers.Controller, error) {
	if c.Metadata == nil {
		return nil, fmt.Errorf("garbagecollector: no metadata client")
	}
	gc := &Controller{
		metadata:  c.Metadata,
		discovery: c.Client.Discovery(),
		clock:     c.Clock,
		log:       c.Logger,
		factory:   metadatainformer.NewSharedInformerFactory(c.Metadata, 0),
		graph:     graph{nodes: map[types.UID]*node{}},
		graphChanges: workqueue.NewTypedWithConfig(workqueue.TypedQueueConfig[*event]{
			Name: "garbage_collector_graph_changes", MetricsProvider: c.Metrics, Clock: c.Clock}),
		deleteQueue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[*node](),
			workqueue.TypedRateLimitingQueueConfig[*node]{Name: "garbage_collector_attempt_to_delete", MetricsProvider: c.Metrics, Clock: c.Clock}),
		orphanQueue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[*node](),
			workqueue.TypedRateLimitingQueueConfig[*node]{Name: "garbage_collector_attempt_to_orphan", MetricsProvider: c.Metrics, Clock: c.Clock}),
		monitored: map[schema.GroupVersionResource]cache.SharedIndexInformer{},
	}
	if gc.log == nil {
		gc.log = slog.New(slog.DiscardHandler)
	}
	if gc.clock == nil {
		gc.clock = clock.RealClock{}
	}
	return gc, nil
}

// Name implements controllers.Controller.
func (gc *Controller) Name() string { return Name }

// Run discovers the resources, starts a monitor for each, waits until
// they have synced, then runs the graph builder and `workers` delete and
// orphan workers until ctx ends. It looks for new resources every
// DiscoveryPeriod.
func (gc *Controller) Run(ctx context.Context, workers int) error {
	defer gc.graphChanges.ShutDown()
	defer gc.deleteQueue.ShutDown()
	defer gc.orphanQueue.ShutDown()
	defer gc.factory.Shutdown()
	for {
		err := gc.resync()
		if err == nil {
			break
		}
		gc.log.Error("garbage collector: discovery failed; retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-gc.clock.After(time.Second):
		}
	}
	gc.factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), gc.synced) {
		return nil
	}
	var wg sync.WaitGroup
	run := func(f func(context.Context) bool) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f(ctx) {
			}
		}()
	}
	run(gc.processGraphChange)
	for range workers {
		run(gc.processDelete)
		run(gc.processOrphan)
	}
	ticker := gc.clock.NewTicker(DiscoveryPeriod)
	defer ticker.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-ticker.C():
			if err := gc.resync(); err != nil {
				gc.log.Error("garbage collector: discovery failed", "err", err)
			}
			gc.factory.Start(ctx.Done())
		}
	}
	gc.graphChanges.ShutDown()
	gc.deleteQueue.ShutDown()
	gc.orphanQueue.ShutDown()
	wg.Wait()
	return nil
}

// synced reports whether every monitor has synced.
func (gc *Controller) synced() bool {
	gc.monitorsMu.Lock()
	defer gc.monitorsMu.Unlock()
	for _, inf := range gc.monitored {
		if !inf.HasSynced() {
			return false
		}
	}
	return true
}

// resync refreshes the kind → resource mapping and adds a monitor for
// every deletable resource not yet monitored. A partial discovery
// failure still monitors what was found.
func (gc *Controller) resync() error {
	lists, err := gc.discovery.ServerPreferredResources()
	if len(lists) == 0 && err != nil {
		return err
	}
	gc.mapper.update(lists)
	for _, rl := range discovery.FilteredBy(discovery.SupportsAllVerbs{Verbs: []string{"list", "watch", "delete"}}, lists) {
		gv, perr := schema.ParseGroupVersion(rl.GroupVersion)
		if perr != nil {
			continue
		}
		for _, r := range rl.APIResources {
			gvr := gv.WithResource(r.Name)
			if ignoredResources[gvr.GroupResource()] || containsSlash(r.Name) {
				continue
			}
			if aerr := gc.monitor(gvr, gv.WithKind(r.Kind)); aerr != nil {
				return aerr
			}
		}
	}
	if err != nil {
		gc.log.Warn("garbage collector: partial discovery", "err", err)
	}
	return nil
}

// monitor starts watching gvr's metadata into the graph (once).
func (gc *Controller) monitor(gvr schema.GroupVersionResource, gvk schema.GroupVersionKind) error {
	gc.monitorsMu.Lock()
	defer gc.monitorsMu.Unlock()
	if _, ok := gc.monitored[gvr]; ok {
		return nil
	}
	inf := gc.factory.ForResource(gvr).Informer()
	enqueue := func(typ eventType, obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		m, ok := obj.(*metav1.PartialObjectMetadata)
		if !ok {
			return
		}
		gc.graphChanges.Add(&event{typ: typ, gvk: gvk, meta: &m.ObjectMeta})
	}
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { enqueue(addOrUpdate, obj) },
		UpdateFunc: func(_, obj any) { enqueue(addOrUpdate, obj) },
		DeleteFunc: func(obj any) { enqueue(deleted, obj) },
	})
	if err != nil {
		return fmt.Errorf("monitor %v: %w", gvr, err)
	}
	gc.monitored[gvr] = inf
	return nil
}

func containsSlash(s string) bool {
	for i := range len(s) {
		if s[i] == '/' {
			return true
		}
	}
	return false
}

// processGraphChange applies the next graph change.
func (gc *Controller) processGraphChange(ctx context.Context) bool {
	ev, quit := gc.graphChanges.Get()
	if quit {
		return false
	}
	defer gc.graphChanges.Done(ev)
	gc.graph.processEvent(ev, gcQueues{gc}, gc.mapper.ownerNamespace)
	return true
}

// gcQueues adds nodes to the collector's queues.
type gcQueues struct{ gc *Controller }

func (q gcQueues) attemptToDelete(n *node) { q.gc.deleteQueue.Add(n) }
func (q gcQueues) attemptToOrphan(n *node) { q.gc.orphanQueue.Add(n) }
