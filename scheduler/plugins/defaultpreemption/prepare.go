package defaultpreemption

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	corev1apply "k8s.io/client-go/applyconfigurations/core/v1"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/klog/v2"

	"github.com/skiffk8s/skiff/scheduler/framework"
)

// fieldManager is the manager of the DisruptionTarget condition, as
// upstream's scheduler.
const fieldManager = "KubeScheduler"

// prepareCandidate carries out the decision, as upstream's
// prepareCandidate: each victim (not already being deleted) gets the
// DisruptionTarget condition (reason PreemptionByScheduler) and is
// deleted with its own grace period, or is rejected if a Permit plugin
// holds it, and gets a "Preempted" event; lower-priority pods nominated
// to the node lose their nomination (they may no longer fit there); the
// pod's status.nominatedNodeName is set to the node. Victims already
// gone are not an error.
func (pl *DefaultPreemption) prepareCandidate(ctx context.Context, c *candidate, pod *corev1.Pod) *framework.Status {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		firstErr error
	)
	pl.h.Parallelizer().Until(ctx, len(c.victims), func(i int) {
		if err := pl.preemptPod(ctx, c.node, pod, c.victims[i]); err != nil {
			mu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
			cancel()
		}
	})
	if firstErr != nil {
		return framework.AsStatus(firstErr)
	}
	for _, p := range pl.lowerPriorityNominated(pod, c.node) {
		if err := pl.setNominatedNodeName(ctx, p, ""); err != nil {
			// Not critical: the pod is retried and nominated afresh.
			klog.FromContext(ctx).Error(err, "Cannot clear the nominatedNodeName of a lower-priority pod", "pod", klog.KObj(p))
		}
	}
	if err := pl.setNominatedNodeName(ctx, pod, c.node); err != nil {
		return framework.AsStatus(err)
	}
	return nil
}

// preemptPod evicts one victim.
func (pl *DefaultPreemption) preemptPod(ctx context.Context, node string, preemptor, victim *corev1.Pod) error {
	if victim.DeletionTimestamp != nil {
		return nil // already going; no second delete
	}
	if r, ok := pl.h.(waitingPodRejecter); !ok || !r.RejectWaitingPod(victim) {
		cs := pl.h.ClientSet()
		apply := corev1apply.Pod(victim.Name, victim.Namespace).WithStatus(corev1apply.PodStatus().
			WithConditions(corev1apply.PodCondition().
				WithType(corev1.DisruptionTarget).
				WithStatus(corev1.ConditionTrue).
				WithReason(corev1.PodReasonPreemptionByScheduler).
				WithMessage(fmt.Sprintf("%s: preempting to accommodate a higher priority pod", preemptor.Spec.SchedulerName)).
				WithLastTransitionTime(metav1.NewTime(pl.now()))))
		_, err := cs.CoreV1().Pods(victim.Namespace).ApplyStatus(ctx, apply, metav1.ApplyOptions{FieldManager: fieldManager, Force: true})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("adding the DisruptionTarget condition to %s/%s: %w", victim.Namespace, victim.Name, err)
		}
		err = cs.CoreV1().Pods(victim.Namespace).Delete(ctx, victim.Name, metav1.DeleteOptions{
			GracePeriodSeconds: victim.Spec.TerminationGracePeriodSeconds,
			Preconditions:      metav1.NewUIDPreconditions(string(victim.UID)),
		})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("deleting victim %s/%s: %w", victim.Namespace, victim.Name, err)
		}
	}
	if rec := pl.h.EventRecorder(); rec != nil {
		rec.Eventf(victim, preemptor, corev1.EventTypeNormal, "Preempted", "Preempting", "Preempted by pod %v on node %v", preemptor.UID, node)
	}
	return nil
}

// lowerPriorityNominated is the pods of lower priority than pod nominated
// to node.
func (pl *DefaultPreemption) lowerPriorityNominated(pod *corev1.Pod, node string) []*corev1.Pod {
	prio := corev1helpers.PodPriority(pod)
	var out []*corev1.Pod
	if n, ok := pl.h.(nominator); ok {
		for _, pi := range n.NominatedPodsForNode(node) {
			if corev1helpers.PodPriority(pi.Pod) < prio {
				out = append(out, pi.Pod)
			}
		}
		return out
	}
	pods, err := pl.podLister.List(labels.Everything())
	if err != nil {
		return nil
	}
	for _, p := range pods {
		if p.Status.NominatedNodeName == node && p.Spec.NodeName == "" && p.UID != pod.UID && corev1helpers.PodPriority(p) < prio {
			out = append(out, p)
		}
	}
	return out
}

// setNominatedNodeName patches pod's status.nominatedNodeName (node ""
// clears it) through the status subresource, unless it already is node.
func (pl *DefaultPreemption) setNominatedNodeName(ctx context.Context, pod *corev1.Pod, node string) error {
	if pod.Status.NominatedNodeName == node {
		return nil
	}
	var value any // nil: JSON null clears the field
	if node != "" {
		value = node
	}
	patch, err := json.Marshal(map[string]any{"status": map[string]any{"nominatedNodeName": value}})
	if err != nil {
		return err
	}
	_, err = pl.h.ClientSet().CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("setting nominatedNodeName of %s/%s to %q: %w", pod.Namespace, pod.Name, node, err)
	}
	return nil
}
