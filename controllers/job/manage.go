package job

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/skiffk8s/skiff/controllers/internal/controllerutil"
	"github.com/skiffk8s/skiff/controllers/internal/ctrlutil"
)

// manage creates or deletes pods so that the job runs as many as it
// wants; it returns the pods left active. Creations wait for the
// failure back-off and for earlier writes to show in the informers.
func (jc *Controller) manage(ctx context.Context, key string, job *batchv1.Job, active []*corev1.Pod, completed map[int]bool, now time.Time) ([]*corev1.Pod, error) {
	if !jc.expect.Satisfied(key) {
		return active, nil
	}
	parallelism := int(ptr.Deref(job.Spec.Parallelism, 1))
	var excess []*corev1.Pod
	var toCreate []int // indexes, -1 for NonIndexed
	if completed != nil {
		completions := int(ptr.Deref(job.Spec.Completions, 0))
		var keep []*corev1.Pod
		running := map[int]bool{}
		for _, p := range sortForDeletion(active, true) {
			i := podIndex(p, completions)
			if i < 0 || completed[i] || running[i] {
				excess = append(excess, p) // invalid, done or duplicate index
				continue
			}
			running[i] = true
			keep = append(keep, p)
		}
		if len(keep) > parallelism {
			excess = append(excess, sortForDeletion(keep, false)[:len(keep)-parallelism]...)
		}
		for i := 0; i < completions && len(keep)+len(toCreate) < parallelism; i++ {
			if !completed[i] && !running[i] {
				toCreate = append(toCreate, i)
			}
		}
	} else {
		want := parallelism
		switch {
		case job.Spec.Completions != nil:
			want = min(want, int(*job.Spec.Completions)-int(job.Status.Succeeded))
		case job.Status.Succeeded > 0:
			want = len(active) // one success: let the rest finish, start none
		}
		want = max(want, 0)
		if len(active) > want {
			excess = sortForDeletion(active, false)[:len(active)-want]
		}
		for range want - len(active) {
			toCreate = append(toCreate, -1)
		}
	}

	if len(excess) > 0 {
		err := jc.deletePods(ctx, key, job, excess)
		left := slices.DeleteFunc(slices.Clone(active), func(p *corev1.Pod) bool { return slices.Contains(excess, p) })
		return left, err
	}
	if len(toCreate) == 0 {
		return active, nil
	}
	if wait := jc.backoffRemaining(key, now); wait > 0 {
		ctrlutil.AddAfter(jc.clock, jc.queue, key, wait)
		return active, nil
	}
	toCreate = toCreate[:min(len(toCreate), maxPodCreateDeletePerSync)]
	jc.expect.Expect(key, len(toCreate), 0)
	var errs []error
	for _, i := range toCreate {
		pod, err := jc.client.CoreV1().Pods(job.Namespace).Create(ctx, newPod(job, i), metav1.CreateOptions{})
		if err != nil {
			jc.expect.Observed(key, 1, 0)
			if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
				return active, nil
			}
			jc.recorder.Eventf(job, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
			errs = append(errs, fmt.Errorf("create pod for job %s: %w", key, err))
			continue
		}
		jc.recorder.Eventf(job, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %v", pod.Name)
		active = append(active, pod)
	}
	return active, errors.Join(errs...)
}

// deletePods deletes pods, recording events as upstream's pod control.
func (jc *Controller) deletePods(ctx context.Context, key string, job *batchv1.Job, pods []*corev1.Pod) error {
	pods = pods[:min(len(pods), maxPodCreateDeletePerSync)]
	jc.expect.Expect(key, 0, len(pods))
	var errs []error
	for _, p := range pods {
		err := jc.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{})
		if err != nil {
			jc.expect.Observed(key, 0, 1)
			if apierrors.IsNotFound(err) {
				continue
			}
			jc.recorder.Eventf(job, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
			errs = append(errs, fmt.Errorf("delete pod %s/%s: %w", p.Namespace, p.Name, err))
			continue
		}
		jc.recorder.Eventf(job, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %v", p.Name)
	}
	return errors.Join(errs...)
}

// sortForDeletion orders pods as upstream's ActivePods ranking: pods to
// delete first (unscheduled, pending, not ready, newest). With keepOrder
// it orders the other way (the pods to keep first).
func sortForDeletion(pods []*corev1.Pod, keepOrder bool) []*corev1.Pod {
	out := slices.Clone(pods)
	rank := func(p *corev1.Pod) int {
		r := 0
		if p.Spec.NodeName != "" {
			r += 4
		}
		if p.Status.Phase == corev1.PodRunning {
			r += 2
		}
		if controllerutil.IsPodReady(p) {
			r++
		}
		return r
	}
	slices.SortStableFunc(out, func(a, b *corev1.Pod) int {
		if d := rank(a) - rank(b); d != 0 {
			return d
		}
		return b.CreationTimestamp.Compare(a.CreationTimestamp.Time) // newest first
	})
	if keepOrder {
		slices.Reverse(out)
	}
	return out
}
