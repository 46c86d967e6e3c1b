// Package cronjob is the CronJob controller: it creates a CronJob's Jobs
// on its schedule as upstream kube-controller-manager's "cronjob"
// controller (v2) does — standard cron syntax parsed by robfig/cron (as
// upstream), spec.timeZone, Jobs named <cronjob>-<scheduled minutes since
// the epoch> with the batch.kubernetes.io/cronjob-scheduled-timestamp
// annotation, concurrencyPolicy Allow/Forbid/Replace, history limits,
// startingDeadlineSeconds, suspend, and status active / lastScheduleTime /
// lastSuccessfulTime. It requeues each CronJob for its next schedule time
// on the controller's clock.
package cronjob

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/skiffk8s/skiff/controllers"
	"github.com/skiffk8s/skiff/controllers/internal/controllerutil"
	"github.com/skiffk8s/skiff/controllers/internal/ctrlutil"
)

// Name is the controller's name (upstream's --controllers name).
const Name = "cronjob"

// nextScheduleDelta is added to requeues so the schedule time has passed.
const nextScheduleDelta = 100 * time.Millisecond

var cronJobKind = batchv1.SchemeGroupVersion.WithKind("CronJob")

// Controller is the CronJob controller.
type Controller struct {
	client   kubernetes.Interface
	recorder record.EventRecorder
	clock    clock.WithTicker
	logger   *slog.Logger
	cronJobs batchlisters.CronJobLister
	jobs     batchlisters.JobLister
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
}

// New builds the CronJob controller; it reads no options.
func New(ctx context.Context, c controllers.Context) (controllers.Controller, error) {
	return newController(c), nil
}

func newController(c controllers.Context) *Controller {
	cjs := c.Informers.Batch().V1().CronJobs()
	jobs := c.Informers.Batch().V1().Jobs()
	jm := &Controller{
		client: c.Client, recorder: c.Recorder, clock: c.Clock, logger: c.Logger,
		cronJobs: cjs.Lister(), jobs: jobs.Lister(),
		synced: []cache.InformerSynced{cjs.Informer().HasSynced, jobs.Informer().HasSynced},
		queue:  ctrlutil.NewQueue(Name, c),
	}
	cjs.Informer().AddEventHandler(controllerutil.EnqueueHandler(jm.queue))
	jobEvent := func(obj any) {
		if j, ok := controllerutil.FromEvent[*batchv1.Job](obj); ok {
			if key := controllerutil.ControllerKey(j, "CronJob"); key != "" {
				jm.queue.Add(key)
			}
		}
	}
	jobs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: jobEvent, UpdateFunc: func(_, obj any) { jobEvent(obj) }, DeleteFunc: jobEvent,
	})
	return jm
}

// Name implements controllers.Controller.
func (jm *Controller) Name() string { return Name }

// Run implements controllers.Controller.
func (jm *Controller) Run(ctx context.Context, workers int) error {
	return controllerutil.Run(ctx, Name, jm.logger, jm.queue, workers, jm.sync, jm.synced...)
}

// sync trims the cronjob's history, starts its due Job, updates its
// status and requeues it for its next schedule time.
func (jm *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cj, err := jm.cronJobs.CronJobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	all, err := jm.jobs.Jobs(ns).List(labels.Everything())
	if err != nil {
		return err
	}
	var jobs []*batchv1.Job
	for _, j := range all {
		if ref := metav1.GetControllerOf(j); ref != nil && ref.UID == cj.UID {
			jobs = append(jobs, j)
		}
	}
	cj = cj.DeepCopy()
	old := cj.Status.DeepCopy()
	jm.cleanupFinishedJobs(ctx, cj, jobs)
	requeue, syncErr := jm.syncCronJob(ctx, cj, jobs)
	if !equality.Semantic.DeepEqual(old, &cj.Status) {
		if _, err := jm.client.BatchV1().CronJobs(ns).UpdateStatus(ctx, cj, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("update status of cronjob %s: %w", key, err)
		}
	}
	if requeue != nil {
		ctrlutil.AddAfter(jm.clock, jm.queue, key, *requeue)
	}
	return syncErr
}

// syncCronJob updates cj's status from its jobs and starts the job due
// now, if any; it returns when to look again.
func (jm *Controller) syncCronJob(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) (*time.Duration, error) {
	now := jm.clock.Now()
	children := map[types.UID]bool{}
	for _, j := range jobs {
		children[j.UID] = true
		active := inActiveList(cj, j.UID)
		cond := finishedType(j)
		switch {
		case !active && cond == "":
			jm.recorder.Eventf(cj, corev1.EventTypeWarning, "UnexpectedJob", "Saw a job that the controller did not create or forgot: %s", j.Name)
		case active && cond != "":
			deleteFromActiveList(cj, j.UID)
			jm.recorder.Eventf(cj, corev1.EventTypeNormal, "SawCompletedJob", "Saw completed job: %s, condition: %v", j.Name, cond)
		}
		if cond == batchv1.JobComplete && j.Status.CompletionTime != nil &&
			(cj.Status.LastSuccessfulTime == nil || j.Status.CompletionTime.After(cj.Status.LastSuccessfulTime.Time)) {
			cj.Status.LastSuccessfulTime = j.Status.CompletionTime
		}
	}
	for _, ref := range slices.Clone(cj.Status.Active) {
		if children[ref.UID] {
			continue
		}
		_, err := jm.client.BatchV1().Jobs(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			jm.recorder.Eventf(cj, corev1.EventTypeNormal, "MissingJob", "Active job went missing: %v", ref.Name)
			deleteFromActiveList(cj, ref.UID)
		case err != nil:
			return nil, err
		}
	}
	if cj.DeletionTimestamp != nil {
		return nil, nil
	}
	if tz := ptr.Deref(cj.Spec.TimeZone, ""); tz != "" {
		if _, err := time.LoadLocation(tz); err != nil {
			jm.recorder.Eventf(cj, corev1.EventTypeWarning, "UnknownTimeZone", "invalid timeZone: %q: %s", tz, err)
			return nil, nil
		}
	}
	if ptr.Deref(cj.Spec.Suspend, false) {
		return nil, nil
	}
	sched, err := cron.ParseStandard(jm.formatSchedule(cj))
	if err != nil {
		jm.recorder.Eventf(cj, corev1.EventTypeWarning, "UnparseableSchedule", "unparseable schedule: %q : %s", cj.Spec.Schedule, err)
		return nil, nil
	}
	scheduled, err := jm.nextScheduleTime(cj, now, sched)
	if err != nil {
		jm.recorder.Eventf(cj, corev1.EventTypeWarning, "InvalidSchedule", "invalid schedule: %s : %s", cj.Spec.Schedule, err)
		return nil, nil
	}
	next := nextScheduleTimeDuration(cj, now, sched)
	if scheduled == nil {
		return next, nil
	}
	if d := cj.Spec.StartingDeadlineSeconds; d != nil && scheduled.Add(time.Duration(*d)*time.Second).Before(now) {
		jm.recorder.Eventf(cj, corev1.EventTypeWarning, "MissSchedule", "Missed scheduled time to start a job: %s", scheduled.UTC().Format(time.RFC1123Z))
		return next, nil
	}
	jobName := jobNameFor(cj, *scheduled)
	if slices.ContainsFunc(cj.Status.Active, func(r corev1.ObjectReference) bool { return r.Name == jobName }) ||
		(cj.Status.LastScheduleTime != nil && cj.Status.LastScheduleTime.Time.Equal(*scheduled)) {
		return next, nil
	}
	if cj.Spec.ConcurrencyPolicy == batchv1.ForbidConcurrent && len(cj.Status.Active) > 0 {
		jm.recorder.Eventf(cj, corev1.EventTypeNormal, "JobAlreadyActive", "Not starting job because prior execution is running and concurrency policy is Forbid")
		return next, nil
	}
	if cj.Spec.ConcurrencyPolicy == batchv1.ReplaceConcurrent {
		for _, ref := range slices.Clone(cj.Status.Active) {
			if !jm.deleteJob(ctx, cj, ref.Namespace, ref.Name, ref.UID) {
				return nil, fmt.Errorf("could not replace job %s/%s", ref.Namespace, ref.Name)
			}
		}
	}
	job := jobFromTemplate(cj, *scheduled)
	created, err := jm.client.BatchV1().Jobs(cj.Namespace).Create(ctx, job, metav1.CreateOptions{})
	switch {
	case apierrors.IsAlreadyExists(err):
		created, err = jm.client.BatchV1().Jobs(cj.Namespace).Get(ctx, job.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		if !metav1.IsControlledBy(created, cj) || inActiveList(cj, created.UID) {
			return nil, nil
		}
	case err != nil:
		jm.recorder.Eventf(cj, corev1.EventTypeWarning, "FailedCreate", "Error creating job: %v", err)
		return nil, err
	default:
		jm.recorder.Eventf(cj, corev1.EventTypeNormal, "SuccessfulCreate", "Created job %v", created.Name)
	}
	cj.Status.Active = append(cj.Status.Active, corev1.ObjectReference{
		Kind: "Job", APIVersion: "batch/v1", Namespace: created.Namespace, Name: created.Name,
		UID: created.UID, ResourceVersion: created.ResourceVersion,
	})
	cj.Status.LastScheduleTime = &metav1.Time{Time: *scheduled}
	return next, nil
}

// formatSchedule prefixes the schedule with CRON_TZ for spec.timeZone, as
// upstream; a TZ given in the schedule itself is used but warned about.
func (jm *Controller) formatSchedule(cj *batchv1.CronJob) string {
	if strings.Contains(cj.Spec.Schedule, "TZ") {
		jm.recorder.Eventf(cj, corev1.EventTypeWarning, "UnsupportedSchedule", "CRON_TZ or TZ used in schedule %q is not officially supported, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details", cj.Spec.Schedule)
		return cj.Spec.Schedule
	}
	if tz := ptr.Deref(cj.Spec.TimeZone, ""); tz != "" {
		return "CRON_TZ=" + tz + " " + cj.Spec.Schedule
	}
	return cj.Spec.Schedule
}

// cleanupFinishedJobs deletes the oldest finished jobs beyond the history
// limits.
func (jm *Controller) cleanupFinishedJobs(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) {
	var succeeded, failed []*batchv1.Job
	for _, j := range jobs {
		switch finishedType(j) {
		case batchv1.JobComplete:
			succeeded = append(succeeded, j)
		case batchv1.JobFailed:
			failed = append(failed, j)
		}
	}
	if l := cj.Spec.SuccessfulJobsHistoryLimit; l != nil {
		jm.removeOldest(ctx, cj, succeeded, int(*l))
	}
	if l := cj.Spec.FailedJobsHistoryLimit; l != nil {
		jm.removeOldest(ctx, cj, failed, int(*l))
	}
}

func (jm *Controller) removeOldest(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job, keep int) {
	if len(jobs) <= keep {
		return
	}
	slices.SortFunc(jobs, func(a, b *batchv1.Job) int {
		switch {
		case a.Status.StartTime == nil && b.Status.StartTime != nil:
			return 1
		case a.Status.StartTime != nil && b.Status.StartTime == nil:
			return -1
		case a.Status.StartTime != nil && !a.Status.StartTime.Equal(b.Status.StartTime):
			return a.Status.StartTime.Compare(b.Status.StartTime.Time)
		}
		return strings.Compare(a.Name, b.Name)
	})
	for _, j := range jobs[:len(jobs)-keep] {
		jm.deleteJob(ctx, cj, j.Namespace, j.Name, j.UID)
	}
}

// deleteJob deletes a job (background propagation) and drops it from the
// active list, with upstream's events.
func (jm *Controller) deleteJob(ctx context.Context, cj *batchv1.CronJob, ns, name string, uid types.UID) bool {
	err := jm.client.BatchV1().Jobs(ns).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)})
	if err != nil && !apierrors.IsNotFound(err) {
		jm.recorder.Eventf(cj, corev1.EventTypeWarning, "FailedDelete", "Deleted job: %v", err)
		return false
	}
	deleteFromActiveList(cj, uid)
	jm.recorder.Eventf(cj, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted job %v", name)
	return true
}

func inActiveList(cj *batchv1.CronJob, uid types.UID) bool {
	return slices.ContainsFunc(cj.Status.Active, func(r corev1.ObjectReference) bool { return r.UID == uid })
}

func deleteFromActiveList(cj *batchv1.CronJob, uid types.UID) {
	cj.Status.Active = slices.DeleteFunc(cj.Status.Active, func(r corev1.ObjectReference) bool { return r.UID == uid })
	if len(cj.Status.Active) == 0 {
		cj.Status.Active = nil
	}
}

// finishedType is Complete or Failed for a finished job, else "".
func finishedType(j *batchv1.Job) batchv1.JobConditionType {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return c.Type
		}
	}
	return ""
}
