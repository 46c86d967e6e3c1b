package job

import (
	"context"
	"fmt"
	"slices"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/skiffk8s/skiff/controllers/internal/controllerutil"
	"github.com/skiffk8s/skiff/controllers/internal/ctrlutil"
)

// Condition reasons and messages, as upstream.
const (
	reasonBackoffLimitExceeded = "BackoffLimitExceeded"
	msgBackoffLimitExceeded    = "Job has reached the specified backoff limit"
	reasonDeadlineExceeded     = "DeadlineExceeded"
	msgDeadlineExceeded        = "Job was active longer than specified deadline"
	reasonCompletionsReached   = "CompletionsReached"
	msgCompletionsReached      = "Reached expected number of succeeded pods"
)

// removeFinalizerPatch removes the job-tracking finalizer, as upstream.
var removeFinalizerPatch = []byte(fmt.Sprintf(`{"metadata":{"$deleteFromPrimitiveList/finalizers":[%q]}}`, batchv1.JobTrackingFinalizer))

// sync brings the job with key to its desired state.
func (jc *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	job, err := jc.jobs.Jobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		jc.expect.Delete(key)
		jc.mu.Lock()
		delete(jc.backoff, key)
		jc.mu.Unlock()
		return jc.releaseOrphans(ctx, ns, name)
	}
	if err != nil {
		return err
	}
	pods, err := jc.ownedPods(job)
	if err != nil {
		return err
	}
	if finishedCondition(job) != nil {
		return jc.removeFinalizers(ctx, pods, nil)
	}
	return jc.syncJob(ctx, key, job.DeepCopy(), pods)
}

// ownedPods are the pods matching the job's selector that it controls.
func (jc *Controller) ownedPods(job *batchv1.Job) ([]*corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("job %s/%s selector: %w", job.Namespace, job.Name, err)
	}
	all, err := jc.pods.Pods(job.Namespace).List(sel)
	if err != nil {
		return nil, err
	}
	var out []*corev1.Pod
	for _, p := range all {
		if ref := metav1.GetControllerOf(p); ref != nil && ref.UID == job.UID {
			out = append(out, p)
		}
	}
	return out, nil
}

// releaseOrphans removes the tracking finalizer from pods of the deleted
// job name, so they can go away.
func (jc *Controller) releaseOrphans(ctx context.Context, ns, name string) error {
	all, err := jc.pods.Pods(ns).List(labels.Everything())
	if err != nil {
		return err
	}
	var orphans []*corev1.Pod
	for _, p := range all {
		if ref := metav1.GetControllerOf(p); ref != nil && ref.Kind == "Job" && ref.Name == name {
			orphans = append(orphans, p)
		}
	}
	return jc.removeFinalizers(ctx, orphans, nil)
}

// removeFinalizers removes the tracking finalizer from pods holding it
// (only those whose UID is in only, when only is not nil).
func (jc *Controller) removeFinalizers(ctx context.Context, pods []*corev1.Pod, only map[types.UID]bool) error {
	for _, p := range pods {
		if !slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer) || (only != nil && !only[p.UID]) {
			continue
		}
		_, err := jc.client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.StrategicMergePatchType, removeFinalizerPatch, metav1.PatchOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("remove finalizer of pod %s/%s: %w", p.Namespace, p.Name, err)
		}
	}
	return nil
}

// syncJob reconciles an unfinished job (a private copy) with its pods.
func (jc *Controller) syncJob(ctx context.Context, key string, job *batchv1.Job, pods []*corev1.Pod) error {
	now := jc.clock.Now()
	old := job.Status.DeepCopy()
	st := &job.Status
	indexed := ptr.Deref(job.Spec.CompletionMode, batchv1.NonIndexedCompletion) == batchv1.IndexedCompletion
	completions := int(ptr.Deref(job.Spec.Completions, 0))
	var events []func()

	jc.syncSuspend(job, now, &events)
	suspended := ptr.Deref(job.Spec.Suspend, false)
	if st.StartTime == nil && !suspended {
		st.StartTime = &metav1.Time{Time: now}
	}

	// Count newly finished pods: note them in uncountedTerminatedPods,
	// remove their finalizers, then move them to the counters.
	if st.UncountedTerminatedPods == nil {
		st.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	}
	unc := st.UncountedTerminatedPods
	inUncounted := map[types.UID]bool{}
	for _, u := range slices.Concat(unc.Succeeded, unc.Failed) {
		inUncounted[u] = true
	}
	var completed map[int]bool
	if indexed {
		completed = parseIndexes(st.CompletedIndexes, completions)
	}
	var active, terminating []*corev1.Pod
	newSucceeded, newFailed := 0, 0
	var lastFailure time.Time
	for _, p := range pods {
		terminal := p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
		switch {
		case !terminal && p.DeletionTimestamp != nil:
			terminating = append(terminating, p)
		case !terminal:
			active = append(active, p)
		}
		if !slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer) || inUncounted[p.UID] {
			continue
		}
		switch {
		case p.Status.Phase == corev1.PodSucceeded:
			unc.Succeeded = append(unc.Succeeded, p.UID)
			newSucceeded++
			if i := podIndex(p, completions); indexed && i >= 0 {
				completed[i] = true
			}
		case p.Status.Phase == corev1.PodFailed || p.DeletionTimestamp != nil:
			unc.Failed = append(unc.Failed, p.UID)
			newFailed++
			lastFailure = later(lastFailure, finishTime(p, now))
		default:
			continue
		}
		inUncounted[p.UID] = true
	}
	if indexed {
		st.CompletedIndexes = formatIndexes(completed)
	}
	if newSucceeded+newFailed > 0 {
		updated, err := jc.client.BatchV1().Jobs(job.Namespace).UpdateStatus(ctx, job, metav1.UpdateOptions{})
		if err != nil {
			return fmt.Errorf("record uncounted pods of job %s: %w", key, err)
		}
		jc.noteBackoff(key, newSucceeded, newFailed, lastFailure)
		job.ResourceVersion = updated.ResourceVersion
	}
	if len(inUncounted) > 0 {
		if err := jc.removeFinalizers(ctx, pods, inUncounted); err != nil {
			return err
		}
		if indexed {
			st.Succeeded = int32(len(completed))
		} else {
			st.Succeeded += int32(len(unc.Succeeded))
		}
		st.Failed += int32(len(unc.Failed))
		unc.Succeeded, unc.Failed = nil, nil
	}

	// Decide whether the job met its success criteria or failed.
	target := finishingCondition(job)
	if target == nil {
		switch {
		case st.Failed > ptr.Deref(job.Spec.BackoffLimit, 6) || pastBackoffLimitOnFailure(job, active):
			target = setCondition(st, batchv1.JobFailureTarget, reasonBackoffLimitExceeded, msgBackoffLimitExceeded, now)
		case pastActiveDeadline(job, now):
			target = setCondition(st, batchv1.JobFailureTarget, reasonDeadlineExceeded, msgDeadlineExceeded, now)
		case indexed && len(completed) >= completions,
			!indexed && job.Spec.Completions != nil && int(st.Succeeded) >= completions,
			!indexed && job.Spec.Completions == nil && st.Succeeded > 0 && len(active) == 0:
			target = setCondition(st, batchv1.JobSuccessCriteriaMet, reasonCompletionsReached, msgCompletionsReached, now)
		}
	}

	var err error
	switch {
	case target != nil:
		// Finishing: stop the remaining pods, then finish once none is left.
		if len(active) > 0 {
			err = jc.deletePods(ctx, key, job, active)
			terminating = append(terminating, active...)
			active = nil
		}
		if len(terminating) == 0 {
			jc.finish(job, target, now, &events)
		}
	case suspended:
		err = jc.deletePods(ctx, key, job, active)
		terminating = append(terminating, active...)
		active = nil
	default:
		active, err = jc.manage(ctx, key, job, active, completed, now)
	}

	st.Active = int32(len(active))
	st.Ready = ptr.To(int32(countReady(active)))
	st.Terminating = ptr.To(int32(len(terminating)))
	if !equality.Semantic.DeepEqual(old, st) {
		if _, uerr := jc.client.BatchV1().Jobs(job.Namespace).UpdateStatus(ctx, job, metav1.UpdateOptions{}); uerr != nil {
			return fmt.Errorf("update status of job %s: %w", key, uerr)
		}
	}
	for _, e := range events {
		e()
	}
	if err == nil && finishedCondition(job) == nil && !suspended && job.Spec.ActiveDeadlineSeconds != nil && st.StartTime != nil {
		deadline := st.StartTime.Add(time.Duration(*job.Spec.ActiveDeadlineSeconds) * time.Second)
		if d := deadline.Sub(now); d > 0 {
			ctrlutil.AddAfter(jc.clock, jc.queue, key, d)
		}
	}
	return err
}

// finish adds the terminal condition following target.
func (jc *Controller) finish(job *batchv1.Job, target *batchv1.JobCondition, now time.Time, events *[]func()) {
	if target.Type == batchv1.JobSuccessCriteriaMet {
		setCondition(&job.Status, batchv1.JobComplete, target.Reason, target.Message, now)
		job.Status.CompletionTime = &metav1.Time{Time: now}
		*events = append(*events, func() { jc.recorder.Event(job, corev1.EventTypeNormal, "Completed", "Job completed") })
		return
	}
	setCondition(&job.Status, batchv1.JobFailed, target.Reason, target.Message, now)
	*events = append(*events, func() { jc.recorder.Event(job, corev1.EventTypeWarning, target.Reason, target.Message) })
}

// syncSuspend keeps the Suspended condition in step with spec.suspend;
// resuming restarts the active deadline, as upstream.
func (jc *Controller) syncSuspend(job *batchv1.Job, now time.Time, events *[]func()) {
	cond := findCondition(&job.Status, batchv1.JobSuspended)
	suspended := ptr.Deref(job.Spec.Suspend, false)
	switch {
	case suspended && (cond == nil || cond.Status != corev1.ConditionTrue):
		setCondition(&job.Status, batchv1.JobSuspended, "JobSuspended", "Job suspended", now)
		*events = append(*events, func() { jc.recorder.Event(job, corev1.EventTypeNormal, "Suspended", "Job suspended") })
	case !suspended && cond != nil && cond.Status == corev1.ConditionTrue:
		cond.Status, cond.Reason, cond.Message = corev1.ConditionFalse, "JobResumed", "Job resumed"
		cond.LastProbeTime, cond.LastTransitionTime = metav1.Time{Time: now}, metav1.Time{Time: now}
		job.Status.StartTime = &metav1.Time{Time: now}
		*events = append(*events, func() { jc.recorder.Event(job, corev1.EventTypeNormal, "Resumed", "Job resumed") })
	}
}

// noteBackoff updates the job's failure count since its last success.
func (jc *Controller) noteBackoff(key string, succeeded, failed int, lastFailure time.Time) {
	jc.mu.Lock()
	defer jc.mu.Unlock()
	rec := jc.backoff[key]
	switch {
	case failed > 0:
		rec.failures += failed
		rec.lastFailure = later(rec.lastFailure, lastFailure)
	case succeeded > 0:
		rec = backoffRecord{}
	}
	jc.backoff[key] = rec
}

// backoffRemaining is how long pod creation for key must still wait:
// 10 s after the first failure, doubling per further failure, capped.
func (jc *Controller) backoffRemaining(key string, now time.Time) time.Duration {
	jc.mu.Lock()
	rec := jc.backoff[key]
	jc.mu.Unlock()
	if rec.failures == 0 {
		return 0
	}
	d := DefaultPodFailureBackOff
	for i := 1; i < rec.failures && d < MaxPodFailureBackOff; i++ {
		d *= 2
	}
	d = min(d, MaxPodFailureBackOff)
	return max(0, d-now.Sub(rec.lastFailure))
}

// finishTime is when a failed pod's last container terminated, or now.
func finishTime(p *corev1.Pod, now time.Time) time.Time {
	var t time.Time
	for _, cs := range slices.Concat(p.Status.InitContainerStatuses, p.Status.ContainerStatuses) {
		if cs.State.Terminated != nil {
			t = later(t, cs.State.Terminated.FinishedAt.Time)
		}
	}
	if t.IsZero() {
		return now
	}
	return t
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// pastBackoffLimitOnFailure reports whether the restarts of a
// restartPolicy OnFailure job's active pods reached backoffLimit.
func pastBackoffLimitOnFailure(job *batchv1.Job, active []*corev1.Pod) bool {
	if job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyOnFailure {
		return false
	}
	var restarts int32
	for _, p := range active {
		for _, cs := range slices.Concat(p.Status.InitContainerStatuses, p.Status.ContainerStatuses) {
			restarts += cs.RestartCount
		}
	}
	limit := ptr.Deref(job.Spec.BackoffLimit, 6)
	return limit == 0 && restarts > 0 || limit > 0 && restarts >= limit
}

func pastActiveDeadline(job *batchv1.Job, now time.Time) bool {
	if job.Spec.ActiveDeadlineSeconds == nil || job.Status.StartTime == nil || ptr.Deref(job.Spec.Suspend, false) {
		return false
	}
	return !now.Before(job.Status.StartTime.Add(time.Duration(*job.Spec.ActiveDeadlineSeconds) * time.Second))
}

func countReady(pods []*corev1.Pod) int {
	n := 0
	for _, p := range pods {
		if controllerutil.IsPodReady(p) {
			n++
		}
	}
	return n
}

func findCondition(st *batchv1.JobStatus, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			return &st.Conditions[i]
		}
	}
	return nil
}

// setCondition sets condition t True with reason and message.
func setCondition(st *batchv1.JobStatus, t batchv1.JobConditionType, reason, msg string, now time.Time) *batchv1.JobCondition {
	c := findCondition(st, t)
	if c == nil {
		st.Conditions = append(st.Conditions, batchv1.JobCondition{Type: t})
		c = &st.Conditions[len(st.Conditions)-1]
	}
	if c.Status != corev1.ConditionTrue {
		c.LastTransitionTime = metav1.Time{Time: now}
	}
	c.Status, c.Reason, c.Message, c.LastProbeTime = corev1.ConditionTrue, reason, msg, metav1.Time{Time: now}
	return c
}

// finishedCondition is the job's true Complete or Failed condition.
func finishedCondition(job *batchv1.Job) *batchv1.JobCondition {
	for i, c := range job.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return &job.Status.Conditions[i]
		}
	}
	return nil
}

// finishingCondition is the job's true SuccessCriteriaMet or
// FailureTarget condition.
func finishingCondition(job *batchv1.Job) *batchv1.JobCondition {
	for i, c := range job.Status.Conditions {
		if (c.Type == batchv1.JobSuccessCriteriaMet || c.Type == batchv1.JobFailureTarget) && c.Status == corev1.ConditionTrue {
			return &job.Status.Conditions[i]
		}
	}
	return nil
}
