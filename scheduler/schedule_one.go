package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/skiffk8s/skiff/scheduler/framework"
	"github.com/skiffk8s/skiff/scheduler/framework/frameworkruntime"
	"github.com/skiffk8s/skiff/scheduler/queue"
)

// Reasons of the PodScheduled=False condition, as upstream.
const (
	reasonUnschedulable  = "Unschedulable"
	reasonSchedulerError = "SchedulerError"
)

// scheduleOne runs one scheduling cycle: pop a pod, choose a node, assume
// the pod there and start binding it in the background.
func (s *Scheduler) scheduleOne(ctx context.Context) {
	qpi := s.queue.Pop()
	if qpi == nil {
		return
	}
	pod := qpi.Pod
	fwk := s.profiles[pod.Spec.SchedulerName]
	if fwk == nil || pod.DeletionTimestamp != nil || s.cache.IsAssumed(pod) {
		return
	}
	start := s.clock.Now()
	cycle := s.queue.SchedulingCycle()
	s.cache.UpdateSnapshot(s.snapshot)
	fwk.SetSnapshot(s.snapshot)
	state := framework.NewCycleState()

	result, err := fwk.SchedulePod(ctx, state, pod)
	if err != nil {
		var fitErr *frameworkruntime.FitError
		if !errors.As(err, &fitErr) {
			if errors.Is(err, frameworkruntime.ErrNoNodesAvailable) {
				s.fail(ctx, fwk, qpi, err, reasonUnschedulable, sets.New[string](), "", cycle, start)
				return
			}
			s.fail(ctx, fwk, qpi, err, reasonSchedulerError, nil, "", cycle, start)
			return
		}
		nominated := ""
		if fwk.HasPostFilter() {
			r, st := fwk.RunPostFilterPlugins(ctx, state, pod, fitErr.Diagnosis.NodeToStatus)
			if st.Code() == framework.Error {
				s.log.Error("PostFilter failed", "pod", key(pod), "err", st.AsError())
			} else if st != nil && st.Message() != "" {
				fitErr.Diagnosis.PostFilterMsg = st.Message()
			}
			if r != nil {
				nominated = r.NominatedNodeName
			}
		}
		s.fail(ctx, fwk, qpi, fitErr, reasonUnschedulable, sets.KeySet(fitErr.Diagnosis.UnschedulablePlugins), nominated, cycle, start)
		return
	}

	host := result.SuggestedHost
	assumed := pod.DeepCopy()
	assumed.Spec.NodeName = host
	if err := s.cache.AssumePod(assumed); err != nil {
		s.fail(ctx, fwk, qpi, err, reasonSchedulerError, nil, "", cycle, start)
		return
	}
	s.queue.DeleteNominatedPod(pod)
	if st := fwk.RunReservePlugins(ctx, state, assumed, host); !st.IsSuccess() {
		s.cache.ForgetPod(assumed)
		s.failStatus(ctx, fwk, qpi, st, cycle, start)
		return
	}
	if st := fwk.RunPermitPlugins(ctx, state, assumed, host); !st.IsSuccess() && st.Code() != framework.Wait {
		fwk.RunUnreservePlugins(ctx, state, assumed, host)
		s.cache.ForgetPod(assumed)
		s.failStatus(ctx, fwk, qpi, st, cycle, start)
		return
	}
	go s.bind(ctx, fwk, state, qpi, assumed, host, cycle, start)
}

// bind waits for Permit, runs PreBind and Bind; on failure it undoes the
// assumption and requeues the pod.
func (s *Scheduler) bind(ctx context.Context, fwk *frameworkruntime.Framework, state *framework.CycleState, qpi *queue.QueuedPodInfo, assumed *corev1.Pod, host string, cycle int64, start time.Time) {
	st := fwk.WaitOnPermit(ctx, assumed)
	if st.IsSuccess() {
		st = fwk.RunPreBindPlugins(ctx, state, assumed, host)
	}
	if st.IsSuccess() {
		st = fwk.RunBindPlugins(ctx, state, assumed, host)
	}
	if !st.IsSuccess() {
		fwk.RunUnreservePlugins(ctx, state, assumed, host)
		s.cache.ForgetPod(assumed)
		// The node's room came back: pods waiting for room may fit.
		s.queue.MoveOnEvent(framework.ClusterEvent{Resource: framework.PodResource, ActionType: framework.Delete, Label: "AssumedPodForget"})
		if ctx.Err() != nil {
			return
		}
		s.failStatus(ctx, fwk, qpi, st, cycle, start)
		return
	}
	s.cache.FinishBinding(assumed)
	s.metrics.observe(fwk.ProfileName(), resultScheduled, s.clock.Since(start))
	fwk.EventRecorder().Eventf(assumed, nil, corev1.EventTypeNormal, "Scheduled", "Binding",
		"Successfully assigned %v/%v to %v", assumed.Namespace, assumed.Name, host)
}

// failStatus requeues a pod rejected or failed after the cycle chose a
// node (Reserve, Permit, PreBind, Bind).
func (s *Scheduler) failStatus(ctx context.Context, fwk *frameworkruntime.Framework, qpi *queue.QueuedPodInfo, st *framework.Status, cycle int64, start time.Time) {
	if st.IsRejected() {
		plugins := sets.New[string]()
		if st.Plugin() != "" {
			plugins.Insert(st.Plugin())
		}
		s.fail(ctx, fwk, qpi, errors.New(st.Message()), reasonUnschedulable, plugins, "", cycle, start)
		return
	}
	s.fail(ctx, fwk, qpi, st.AsError(), reasonSchedulerError, nil, "", cycle, start)
}

// fail is upstream's failure handling: the pod goes back to the queue
// (unschedulable, waiting for an event one of plugins registered, or
// back-off after an error), gets a FailedScheduling event and the
// PodScheduled=False condition, and its nomination if preemption made
// one.
func (s *Scheduler) fail(ctx context.Context, fwk *frameworkruntime.Framework, qpi *queue.QueuedPodInfo, err error, reason string, plugins sets.Set[string], nominated string, cycle int64, start time.Time) {
	pod := qpi.Pod
	result := resultUnschedulable
	if reason == reasonSchedulerError {
		result = resultError
		s.log.Error("scheduling failed", "pod", key(pod), "err", err)
	} else {
		s.log.Debug("pod is unschedulable", "pod", key(pod), "reason", err.Error())
	}
	s.metrics.observe(fwk.ProfileName(), result, s.clock.Since(start))
	current, gerr := s.podLister.Pods(pod.Namespace).Get(pod.Name)
	if gerr != nil || current.UID != pod.UID || assigned(current) {
		return // deleted or bound meanwhile
	}
	// A new PodInfo: the old one may be shared with the nominator.
	if pi, err := framework.NewPodInfo(current); err == nil {
		qpi.PodInfo = pi
	} else {
		qpi.PodInfo = &framework.PodInfo{Pod: current}
	}
	s.queue.AddUnschedulable(qpi, plugins, cycle)
	if nominated != "" {
		s.queue.AddNominatedPod(current, nominated)
	}
	msg := err.Error()
	fwk.EventRecorder().Eventf(current, nil, corev1.EventTypeWarning, "FailedScheduling", "Scheduling", "%s", msg)
	if perr := s.patchCondition(ctx, current, reason, msg, nominated); perr != nil && ctx.Err() == nil && !apierrors.IsNotFound(perr) {
		s.log.Warn("updating pod condition", "pod", key(pod), "err", perr)
	}
}

// patchCondition sets PodScheduled=False (and nominatedNodeName) with a
// strategic merge patch of pods/status, unless the pod already says so.
func (s *Scheduler) patchCondition(ctx context.Context, pod *corev1.Pod, reason, msg, nominated string) error {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == reason && c.Message == msg &&
			(nominated == "" || pod.Status.NominatedNodeName == nominated) {
			return nil
		}
	}
	status := map[string]any{
		"conditions": []map[string]any{{
			"type": corev1.PodScheduled, "status": corev1.ConditionFalse, "reason": reason, "message": msg,
			"lastProbeTime": nil, "lastTransitionTime": metav1.NewTime(s.clock.Now()),
		}},
	}
	if nominated != "" {
		status["nominatedNodeName"] = nominated
	}
	patch, err := json.Marshal(map[string]any{"status": status})
	if err != nil {
		return err
	}
	_, err = s.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	if err != nil {
		return fmt.Errorf("patch pod %s status: %w", key(pod), err)
	}
	return nil
}

func key(p *corev1.Pod) string { return p.Namespace + "/" + p.Name }
