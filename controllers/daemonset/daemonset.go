// Package daemonset is the DaemonSet controller: one pod per eligible
// node as upstream kube-controller-manager's "daemonset" controller —
// nodes matching the template's nodeSelector and required node affinity
// whose NoSchedule/NoExecute taints the pod tolerates (with the
// tolerations upstream adds to daemon pods). Pods carry a required node
// affinity on metadata.name for their node (the scheduler binds them), the
// controller-revision-hash and pod-template-generation labels and the
// DaemonSet as controller. History is kept in ControllerRevisions
// (controllers/internal/history); RollingUpdate (maxUnavailable,
// maxSurge) and OnDelete; status as upstream.
package daemonset

import (
	"context"
	"log/slog"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
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
const Name = "daemonset"

var dsKind = appsv1.SchemeGroupVersion.WithKind("DaemonSet")

// Controller is the DaemonSet controller.
type Controller struct {
	client   kubernetes.Interface
	recorder record.EventRecorder
	clock    clock.WithTicker
	logger   *slog.Logger
	sets     appslisters.DaemonSetLister
	pods     corelisters.PodLister
	nodes    corelisters.NodeLister
	history  history.Store
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	expect   *ctrlutil.Expectations
}

// New builds the DaemonSet controller; it reads no options.
func New(ctx context.Context, c controllers.Context) (controllers.Controller, error) {
	return newController(c), nil
}

func newController(c controllers.Context) *Controller {
	sets := c.Informers.Apps().V1().DaemonSets()
	pods := c.Informers.Core().V1().Pods()
	nodes := c.Informers.Core().V1().Nodes()
	dc := &Controller{
		client: c.Client, recorder: c.Recorder, clock: c.Clock, logger: c.Logger,
		sets: sets.Lister(), pods: pods.Lister(), nodes: nodes.Lister(),
		history: history.Store{Client: c.Client},
		synced:  []cache.InformerSynced{sets.Informer().HasSynced, pods.Informer().HasSynced, nodes.Informer().HasSynced},
		queue:   ctrlutil.NewQueue(Name, c),
		expect:  ctrlutil.NewExpectations(c.Clock.Now),
	}
	sets.Informer().AddEventHandler(controllerutil.EnqueueHandler(dc.queue))
	pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { dc.podEvent(obj, 1, 0) },
		UpdateFunc: func(_, obj any) { dc.podEvent(obj, 0, 0) },
		DeleteFunc: func(obj any) { dc.podEvent(obj, 0, 1) },
	})
	// Any node change may change where daemons run: enqueue every set.
	nodeEvent := func(any) {
		all, _ := dc.sets.List(labels.Everything())
		for _, ds := range all {
			dc.queue.Add(controllerutil.Key(ds))
		}
	}
	nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: nodeEvent, UpdateFunc: func(_, obj any) { nodeEvent(obj) }, DeleteFunc: nodeEvent,
	})
	return dc
}

func (dc *Controller) podEvent(obj any, adds, dels int) {
	pod, ok := controllerutil.FromEvent[*corev1.Pod](obj)
	if !ok {
		return
	}
	key := controllerutil.ControllerKey(pod, "DaemonSet")
	if key == "" {
		return
	}
	if adds+dels > 0 {
		dc.expect.Observed(key, adds, dels)
	}
	dc.queue.Add(key)
}

// Name implements controllers.Controller.
func (dc *Controller) Name() string { return Name }

// Run implements controllers.Controller.
func (dc *Controller) Run(ctx context.Context, workers int) error {
	return controllerutil.Run(ctx, Name, dc.logger, dc.queue, workers, dc.sync, dc.synced...)
}
