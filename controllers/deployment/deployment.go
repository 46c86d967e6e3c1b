// Package deployment is the Deployment controller: it rolls each
// Deployment's pod template out through ReplicaSets named
// "<deployment>-<pod-template-hash>", with the RollingUpdate (maxSurge,
// maxUnavailable) or Recreate strategy, revisions, history cleanup,
// proportional scaling during a rollout, pause, and upstream's status,
// conditions (Progressing, Available, ReplicaFailure), annotations and
// events, so that `kubectl rollout status|history|undo|restart|pause|
// resume` and `kubectl scale` work as with kube-controller-manager's
// "deployment" controller.
package deployment

import (
	"context"
	"log/slog"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
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
const Name = "deployment"

var controllerKind = appsv1.SchemeGroupVersion.WithKind("Deployment")

// Controller is the Deployment controller.
type Controller struct {
	client   kubernetes.Interface
	dLister  appslisters.DeploymentLister
	rsLister appslisters.ReplicaSetLister
	pods     corelisters.PodLister
	synced   []cache.InformerSynced
	queue    controllerutil.Queue
	recorder record.EventRecorder
	clock    clock.Clock
	logger   *slog.Logger
}

var _ controllers.Controller = (*Controller)(nil)

// New builds the controller and registers its informers (Deployments,
// ReplicaSets, Pods) with c.Informers. It reads no options.
func New(ctx context.Context, c controllers.Context) (controllers.Controller, error) {
	return newController(c), nil
}

func newController(c controllers.Context) *Controller {
	logger := c.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	dInf := c.Informers.Apps().V1().Deployments()
	rsInf := c.Informers.Apps().V1().ReplicaSets()
	podInf := c.Informers.Core().V1().Pods()
	dc := &Controller{
		client:   c.Client,
		dLister:  dInf.Lister(),
		rsLister: rsInf.Lister(),
		pods:     podInf.Lister(),
		synced:   []cache.InformerSynced{dInf.Informer().HasSynced, rsInf.Informer().HasSynced, podInf.Informer().HasSynced},
		queue:    controllerutil.NewQueue(Name, c),
		recorder: c.Recorder,
		clock:    c.Clock,
		logger:   logger.With("controller", Name),
	}
	dInf.Informer().AddEventHandler(controllerutil.EnqueueHandler(dc.queue))
	rsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    dc.addReplicaSet,
		UpdateFunc: dc.updateReplicaSet,
		DeleteFunc: dc.deleteReplicaSet,
	})
	podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: dc.deletePod,
	})
	return dc
}

// Name implements controllers.Controller.
func (dc *Controller) Name() string { return Name }

// Run implements controllers.Controller.
func (dc *Controller) Run(ctx context.Context, workers int) error {
	return controllerutil.Run(ctx, Name, dc.logger, dc.queue, workers, dc.sync, dc.synced...)
}

func (dc *Controller) enqueue(obj any) {
	if key := controllerutil.Key(obj); key != "" {
		dc.queue.Add(key)
	}
}

func (dc *Controller) enqueueAfter(d *appsv1.Deployment, after time.Duration) {
	if key := controllerutil.Key(d); key != "" {
		dc.queue.AddAfter(key, after)
	}
}

func (dc *Controller) enqueueRateLimited(d *appsv1.Deployment) {
	if key := controllerutil.Key(d); key != "" {
		dc.queue.AddRateLimited(key)
	}
}

func (dc *Controller) addReplicaSet(obj any) {
	rs := obj.(*appsv1.ReplicaSet)
	if rs.DeletionTimestamp != nil {
		dc.deleteReplicaSet(rs)
		return
	}
	if ref := metav1.GetControllerOfNoCopy(rs); ref != nil {
		if d := dc.resolveControllerRef(rs.Namespace, ref); d != nil {
			dc.enqueue(d)
		}
		return
	}
	for _, d := range dc.matchingDeployments(rs) {
		dc.enqueue(d)
	}
}

func (dc *Controller) updateReplicaSet(old, cur any) {
	oldRS, curRS := old.(*appsv1.ReplicaSet), cur.(*appsv1.ReplicaSet)
	if oldRS.ResourceVersion == curRS.ResourceVersion {
		return
	}
	curRef, oldRef := metav1.GetControllerOfNoCopy(curRS), metav1.GetControllerOfNoCopy(oldRS)
	refChanged := (curRef == nil) != (oldRef == nil) || (curRef != nil && curRef.UID != oldRef.UID)
	if refChanged && oldRef != nil {
		if d := dc.resolveControllerRef(oldRS.Namespace, oldRef); d != nil {
			dc.enqueue(d)
		}
	}
	if curRef != nil {
		if d := dc.resolveControllerRef(curRS.Namespace, curRef); d != nil {
			dc.enqueue(d)
		}
		return
	}
	if refChanged || !labels.Equals(curRS.Labels, oldRS.Labels) {
		for _, d := range dc.matchingDeployments(curRS) {
			dc.enqueue(d)
		}
	}
}

func (dc *Controller) deleteReplicaSet(obj any) {
	rs, ok := controllerutil.FromEvent[*appsv1.ReplicaSet](obj)
	if !ok {
		return
	}
	if ref := metav1.GetControllerOfNoCopy(rs); ref != nil {
		if d := dc.resolveControllerRef(rs.Namespace, ref); d != nil {
			dc.enqueue(d)
		}
	}
}

// deletePod wakes a Recreate Deployment whose old pods are going away:
// it waits for them all to be gone before it creates new ones.
func (dc *Controller) deletePod(obj any) {
	pod, ok := controllerutil.FromEvent[*corev1.Pod](obj)
	if !ok {
		return
	}
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil || ref.Kind != "ReplicaSet" {
		return
	}
	rs, err := dc.rsLister.ReplicaSets(pod.Namespace).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return
	}
	dref := metav1.GetControllerOfNoCopy(rs)
	if dref == nil {
		return
	}
	if d := dc.resolveControllerRef(rs.Namespace, dref); d != nil && d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		dc.enqueue(d)
	}
}

func (dc *Controller) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *appsv1.Deployment {
	return controllerutil.ResolveControllerRef(ref, controllerKind, dc.dLister.Deployments(namespace).Get)
}

// matchingDeployments are the Deployments whose selector matches rs's
// labels (candidates to adopt an orphan ReplicaSet).
func (dc *Controller) matchingDeployments(rs *appsv1.ReplicaSet) []*appsv1.Deployment {
	all, err := dc.dLister.Deployments(rs.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	return controllerutil.Selecting(all, func(d *appsv1.Deployment) *metav1.LabelSelector { return d.Spec.Selector }, rs.Labels)
}
