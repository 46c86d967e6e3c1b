// Package replicaset is the ReplicaSet controller: it keeps spec.replicas
// pods from each ReplicaSet's template, adopting orphans that match the
// selector and releasing owned pods that no longer do, and reports
// status. It behaves as upstream kube-controller-manager's "replicaset"
// controller: expectations so that a lagging informer never causes
// double creates, slow-start batched creates (at most BurstReplicas per
// sync), parallel deletes of the least valuable pods first, and
// upstream's events and ReplicaFailure condition.
package replicaset

import (
	"context"
	"log/slog"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/skiffk8s/skiff/controllers"
	"github.com/skiffk8s/skiff/controllers/internal/controllerutil"
)

// Name is the controller's name (upstream's --controllers name).
const Name = "replicaset"

// BurstReplicas is the most pods one sync creates or deletes (upstream's).
const BurstReplicas = 500

// MaxInFlightCreates bounds the pod creates one sync has in flight at once
// (upstream sends a whole batch at once; a bound keeps API server
// throughput up under bursts of hundreds).
const MaxInFlightCreates = 32

var controllerKind = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")

// Controller is the ReplicaSet controller.
type Controller struct {
	client   kubernetes.Interface
	rsLister appslisters.ReplicaSetLister
	pods     corelisters.PodLister
	synced   []cache.InformerSynced
	queue    controllerutil.Queue
	exp      *controllerutil.Expectations
	recorder record.EventRecorder
	clock    clock.Clock
	logger   *slog.Logger
	burst    int
	// maxInFlight bounds concurrent creates within one slow-start batch.
	maxInFlight int
}

var _ controllers.Controller = (*Controller)(nil)

// New builds the controller and registers its informers (ReplicaSets and
// Pods) with c.Informers. It reads no options.
func New(ctx context.Context, c controllers.Context) (controllers.Controller, error) {
	return newController(c), nil
}

func newController(c controllers.Context) *Controller {
	logger := c.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	rsInf := c.Informers.Apps().V1().ReplicaSets()
	podInf := c.Informers.Core().V1().Pods()
	rc := &Controller{
		client:      c.Client,
		rsLister:    rsInf.Lister(),
		pods:        podInf.Lister(),
		synced:      []cache.InformerSynced{rsInf.Informer().HasSynced, podInf.Informer().HasSynced},
		queue:       controllerutil.NewQueue(Name, c),
		exp:         controllerutil.NewExpectations(c.Clock.Now),
		recorder:    c.Recorder,
		clock:       c.Clock,
		logger:      logger.With("controller", Name),
		burst:       BurstReplicas,
		maxInFlight: MaxInFlightCreates,
	}
	rsInf.Informer().AddEventHandler(controllerutil.EnqueueHandler(rc.queue))
	podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    rc.addPod,
		UpdateFunc: rc.updatePod,
		DeleteFunc: rc.deletePod,
	})
	return rc
}

// Name implements controllers.Controller.
func (rc *Controller) Name() string { return Name }

// Run implements controllers.Controller.
func (rc *Controller) Run(ctx context.Context, workers int) error {
	return controllerutil.Run(ctx, Name, rc.logger, rc.queue, workers, rc.sync, rc.synced...)
}

func (rc *Controller) enqueue(obj any) {
	if key := controllerutil.Key(obj); key != "" {
		rc.queue.Add(key)
	}
}

func (rc *Controller) enqueueAfter(rs *appsv1.ReplicaSet, d time.Duration) {
	if key := controllerutil.Key(rs); key != "" {
		rc.queue.AddAfter(key, d)
	}
}
