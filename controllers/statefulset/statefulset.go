// Package statefulset is the StatefulSet controller: pods with stable
// names <set>-<ordinal> (from spec.ordinals.start), hostname and
// subdomain (serviceName), the statefulset.kubernetes.io/pod-name,
// apps.kubernetes.io/pod-index and controller-revision-hash labels, as
// upstream kube-controller-manager's "statefulset" controller —
// OrderedReady (one at a time, each waiting for the previous to be
// Running and Ready; scale down from the highest ordinal) and Parallel
// pod management, RollingUpdate with partition and OnDelete, history in
// ControllerRevisions, status as upstream.
//
// Not implemented: volumeClaimTemplates (no PersistentVolume support:
// claims are not created), persistentVolumeClaimRetentionPolicy,
// rollingUpdate.maxUnavailable (updates go one pod at a time), adoption of
// orphan pods.
package statefulset

import (
	"context"
	"log/slog"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/skiffk8s/skiff/controllers"
	"github.com/skiffk8s/skiff/controllers/internal/controllerutil"
	"github.com/skiffk8s/skiff/controllers/internal/ctrlutil"
	"github.com/skiffk8s/skiff/controllers/internal/history"
)

// Name is the controller's name (upstream's --controllers name).
const Name = "statefulset"

var stsKind = appsv1.SchemeGroupVersion.WithKind("StatefulSet")

// Controller is the StatefulSet controller.
type Controller struct {
	client   kubernetes.Interface
	recorder record.EventRecorder
	clock    clock.WithTicker
	logger   *slog.Logger
	sets     appslisters.StatefulSetLister
	pods     corelisters.PodLister
	history  history.Store
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
}

// New builds the StatefulSet controller; it reads no options.
func New(ctx context.Context, c controllers.Context) (controllers.Controller, error) {
	return newController(c), nil
}

func newController(c controllers.Context) *Controller {
	sets := c.Informers.Apps().V1().StatefulSets()
	pods := c.Informers.Core().V1().Pods()
	sc := &Controller{
		client: c.Client, recorder: c.Recorder, clock: c.Clock, logger: c.Logger,
		sets: sets.Lister(), pods: pods.Lister(), history: history.Store{Client: c.Client},
		synced: []cache.InformerSynced{sets.Informer().HasSynced, pods.Informer().HasSynced},
		queue:  ctrlutil.NewQueue(Name, c),
	}
	sets.Informer().AddEventHandler(controllerutil.EnqueueHandler(sc.queue))
	podEvent := func(obj any) {
		if p, ok := controllerutil.FromEvent[*corev1.Pod](obj); ok {
			if key := controllerutil.ControllerKey(p, "StatefulSet"); key != "" {
				sc.queue.Add(key)
			}
		}
	}
	pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: podEvent, UpdateFunc: func(_, obj any) { podEvent(obj) }, DeleteFunc: podEvent,
	})
	return sc
}

// Name implements controllers.Controller.
func (sc *Controller) Name() string { return Name }

// Run implements controllers.Controller.
func (sc *Controller) Run(ctx context.Context, workers int) error {
	return controllerutil.Run(ctx, Name, sc.logger, sc.queue, workers, sc.sync, sc.synced...)
}
