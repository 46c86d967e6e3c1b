// Package namespace is the namespace controller: when a namespace is
// being deleted it deletes everything namespaced in it (every resource
// discovery lists with the list and delete verbs), waits until nothing
// is left, then removes the "kubernetes" finalizer through the
// namespaces/finalize subresource so that the API server deletes the
// namespace. The namespace's status conditions say what blocks it, as
// upstream's (NamespaceContentRemaining, NamespaceFinalizersRemaining,
// NamespaceDeletionContentFailure, NamespaceDeletionDiscoveryFailure).
package namespace

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/skiffk8s/skiff/controllers"
)

// Name is the controller's name, as upstream's --controllers.
const Name = "namespace"

// Controller empties and finalizes namespaces being deleted.
type Controller struct {
	client   kubernetes.Interface
	metadata metadata.Interface
	lister   corelisters.NamespaceLister
	synced   cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	clock    clock.PassiveClock
	log      *slog.Logger
}

var _ controllers.InitFunc = New

// New builds the controller; it reads no options.
func New(ctx context.Context, c controllers.Context) (controllers.Controller, error) {
	inf := c.Informers.Core().V1().Namespaces()
	nc := &Controller{
		client:   c.Client,
		metadata: c.Metadata,
		lister:   inf.Lister(),
		synced:   inf.Informer().HasSynced,
		clock:    c.Clock,
		log:      c.Logger,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			// As upstream: 5 ms doubling up to 60 s per namespace.
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](5*time.Millisecond, 60*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: Name, MetricsProvider: c.Metrics, Clock: c.Clock}),
	}
	if nc.log == nil {
		nc.log = slog.New(slog.DiscardHandler)
	}
	_, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    nc.enqueue,
		UpdateFunc: func(_, obj any) { nc.enqueue(obj) },
	})
	if err != nil {
		return nil, fmt.Errorf("namespace informer: %w", err)
	}
	return nc, nil
}

// enqueue adds a namespace being deleted to the queue.
func (nc *Controller) enqueue(obj any) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok || ns.DeletionTimestamp == nil {
		return
	}
	nc.queue.Add(ns.Name)
}

// Name implements controllers.Controller.
func (nc *Controller) Name() string { return Name }

// Run implements controllers.Controller.
func (nc *Controller) Run(ctx context.Context, workers int) error {
	defer nc.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), nc.synced) {
		return nil
	}
	done := make(chan struct{})
	for range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for nc.processNext(ctx) {
			}
		}()
	}
	<-ctx.Done()
	nc.queue.ShutDown()
	for range workers {
		<-done
	}
	return nil
}

func (nc *Controller) processNext(ctx context.Context) bool {
	key, quit := nc.queue.Get()
	if quit {
		return false
	}
	defer nc.queue.Done(key)
	err := nc.sync(ctx, key)
	var remaining *ResourcesRemainingError
	switch {
	case err == nil:
		nc.queue.Forget(key)
	case errors.As(err, &remaining):
		// As upstream: look again after half the estimate, plus a second.
		nc.queue.Forget(key)
		nc.queue.AddAfter(key, time.Duration(remaining.Estimate/2+1)*time.Second)
	default:
		nc.log.Error("namespace deletion failed; will retry", "namespace", key, "err", err)
		nc.queue.AddRateLimited(key)
	}
	return true
}
