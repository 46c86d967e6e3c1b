package job

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/skiffk8s/skiff/controllers"
	"github.com/skiffk8s/skiff/controllers/internal/controllerutil"
	"github.com/skiffk8s/skiff/controllers/internal/ctrlutil"
)

// TTLName is the ttl-after-finished controller's name (upstream's
// --controllers name).
const TTLName = "ttl-after-finished"

// TTLController deletes finished Jobs ttlSecondsAfterFinished after they
// finished (the time of their Complete or Failed condition), with
// foreground propagation, as upstream's ttl-after-finished controller.
type TTLController struct {
	client kubernetes.Interface
	clock  clock.WithTicker
	logger *slog.Logger
	jobs   batchlisters.JobLister
	synced cache.InformerSynced
	queue  workqueue.TypedRateLimitingInterface[string]
}

// NewTTL builds the ttl-after-finished controller; it reads no options.
func NewTTL(ctx context.Context, c controllers.Context) (controllers.Controller, error) {
	return newTTL(c), nil
}

func newTTL(c controllers.Context) *TTLController {
	jobs := c.Informers.Batch().V1().Jobs()
	tc := &TTLController{
		client: c.Client,
		clock:  c.Clock,
		logger: c.Logger,
		jobs:   jobs.Lister(),
		synced: jobs.Informer().HasSynced,
		queue:  ctrlutil.NewQueue(TTLName, c),
	}
	enqueue := func(obj any) {
		if j, ok := obj.(*batchv1.Job); ok && j.Spec.TTLSecondsAfterFinished != nil && finishedCondition(j) != nil {
			tc.queue.Add(controllerutil.Key(j))
		}
	}
	jobs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	})
	return tc
}

// Name implements controllers.Controller.
func (tc *TTLController) Name() string { return TTLName }

// Run implements controllers.Controller.
func (tc *TTLController) Run(ctx context.Context, workers int) error {
	return controllerutil.Run(ctx, TTLName, tc.logger, tc.queue, workers, tc.sync, tc.synced)
}

// sync deletes the job with key if its TTL has passed, else requeues it
// for when it will.
func (tc *TTLController) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	job, err := tc.jobs.Jobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if wait, ok := ttlRemaining(job, tc.clock.Now()); !ok || wait > 0 {
		if ok {
			ctrlutil.AddAfter(tc.clock, tc.queue, key, wait)
		}
		return nil
	}
	// The cache may be stale: check the latest job before deleting.
	fresh, err := tc.client.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get job %s: %w", key, err)
	}
	if wait, ok := ttlRemaining(fresh, tc.clock.Now()); !ok || wait > 0 {
		if ok {
			ctrlutil.AddAfter(tc.clock, tc.queue, key, wait)
		}
		return nil
	}
	err = tc.client.BatchV1().Jobs(ns).Delete(ctx, name, metav1.DeleteOptions{
		PropagationPolicy: ptr.To(metav1.DeletePropagationForeground),
		Preconditions:     &metav1.Preconditions{UID: &fresh.UID, ResourceVersion: &fresh.ResourceVersion},
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete expired job %s: %w", key, err)
	}
	return nil
}

// ttlRemaining is how long until a finished job with a TTL expires; ok is
// false when the job has no TTL or has not finished.
func ttlRemaining(job *batchv1.Job, now time.Time) (time.Duration, bool) {
	c := finishedCondition(job)
	if job.Spec.TTLSecondsAfterFinished == nil || c == nil || job.DeletionTimestamp != nil {
		return 0, false
	}
	finished := c.LastTransitionTime.Time
	if job.Status.CompletionTime != nil && c.Type == batchv1.JobComplete {
		finished = job.Status.CompletionTime.Time
	}
	expire := finished.Add(time.Duration(*job.Spec.TTLSecondsAfterFinished) * time.Second)
	return max(0, expire.Sub(now)), true
}
