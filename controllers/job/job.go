// Package job is the Job controller: it runs a Job's pods to completion
// as upstream kube-controller-manager's "job" controller does —
// completions and parallelism, NonIndexed and Indexed completion modes,
// backoffLimit with exponential back-off of pod re-creation,
// activeDeadlineSeconds, suspend, pod tracking with the
// batch.kubernetes.io/job-tracking finalizer, and the SuccessCriteriaMet /
// FailureTarget conditions followed by Complete / Failed once no pod is
// left running. The package also holds the ttl-after-finished controller
// (TTLName, NewTTL), which deletes finished Jobs after
// ttlSecondsAfterFinished.
//
// Not implemented: podFailurePolicy, successPolicy, backoffLimitPerIndex,
// maxFailedIndexes, podReplacementPolicy Failed (pods being deleted count
// as failed at once, as with the default TerminatingOrFailed), adoption of
// orphan pods.
package job

import (
	"context"
	"log/slog"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/skiffk8s/skiff/controllers"
	"github.com/skiffk8s/skiff/controllers/internal/controllerutil"
	"github.com/skiffk8s/skiff/controllers/internal/ctrlutil"
)

// Name is the controller's name (upstream's --controllers name).
const Name = "job"

// Back-off of pod re-creation after failures, as upstream: 10 s doubled
// per failure since the last success, capped at 10 minutes (upstream's
// MaxJobPodFailureBackOff; its documentation says six minutes).
const (
	DefaultPodFailureBackOff = 10 * time.Second
	MaxPodFailureBackOff     = 10 * time.Minute
)

// maxPodCreateDeletePerSync bounds the pods created or deleted in one sync.
const maxPodCreateDeletePerSync = 500

var jobKind = batchv1.SchemeGroupVersion.WithKind("Job")

// Controller is the Job controller.
type Controller struct {
	client   kubernetes.Interface
	recorder record.EventRecorder
	clock    clock.WithTicker
	logger   *slog.Logger
	jobs     batchlisters.JobLister
	pods     corelisters.PodLister
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	expect   *ctrlutil.Expectations

	mu      sync.Mutex
	backoff map[string]backoffRecord // by job key; guarded by mu
}

// backoffRecord counts failures since the job's last success.
type backoffRecord struct {
	failures    int
	lastFailure time.Time
}

// New builds the Job controller; it reads no options.
func New(ctx context.Context, c controllers.Context) (controllers.Controller, error) {
	return newController(c), nil
}

func newController(c controllers.Context) *Controller {
	jobs := c.Informers.Batch().V1().Jobs()
	pods := c.Informers.Core().V1().Pods()
	jc := &Controller{
		client:   c.Client,
		recorder: c.Recorder,
		clock:    c.Clock,
		logger:   c.Logger,
		jobs:     jobs.Lister(),
		pods:     pods.Lister(),
		synced:   []cache.InformerSynced{jobs.Informer().HasSynced, pods.Informer().HasSynced},
		queue:    ctrlutil.NewQueue(Name, c),
		expect:   ctrlutil.NewExpectations(c.Clock.Now),
		backoff:  map[string]backoffRecord{},
	}
	jobs.Informer().AddEventHandler(controllerutil.EnqueueHandler(jc.queue))
	pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { jc.podEvent(obj, 1, 0) },
		UpdateFunc: func(old, obj any) {
			if obj.(*corev1.Pod).DeletionTimestamp != nil && old.(*corev1.Pod).DeletionTimestamp == nil {
				jc.podEvent(obj, 0, 1)
				return
			}
			jc.podEvent(obj, 0, 0)
		},
		DeleteFunc: func(obj any) { jc.podEvent(obj, 0, 1) },
	})
	return jc
}

// podEvent enqueues the job controlling the pod, noting an observed
// creation or deletion.
func (jc *Controller) podEvent(obj any, adds, dels int) {
	pod, ok := controllerutil.FromEvent[*corev1.Pod](obj)
	if !ok {
		return
	}
	ref := metav1.GetControllerOf(pod)
	if ref == nil || ref.Kind != "Job" || ref.APIVersion != batchv1.SchemeGroupVersion.String() {
		return
	}
	key := pod.Namespace + "/" + ref.Name
	if adds+dels > 0 {
		jc.expect.Observed(key, adds, dels)
	}
	jc.queue.Add(key)
}

// Name implements controllers.Controller.
func (jc *Controller) Name() string { return Name }

// Run implements controllers.Controller.
func (jc *Controller) Run(ctx context.Context, workers int) error {
	return controllerutil.Run(ctx, Name, jc.logger, jc.queue, workers, jc.sync, jc.synced...)
}
