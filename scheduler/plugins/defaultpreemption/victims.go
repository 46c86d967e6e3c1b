package defaultpreemption

import (
	"context"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"

	"github.com/skiffk8s/skiff/scheduler/framework"
)

// selectVictimsOnNode is upstream's SelectVictimsOnNode. On ni and state
// (copies it may change) it removes every pod of lower priority than pod
// and checks that pod then fits; then it puts back ("reprieves") as many
// of them as it can while pod still fits, most important first, the pods
// whose eviction would violate a PodDisruptionBudget before the others.
// The pods not put back are the victims, most important first, with how
// many of them violate a budget. A node where pod does not fit even
// without them returns the Filter's status; a node without lower-priority
// pods returns UnschedulableAndUnresolvable.
func (pl *DefaultPreemption) selectVictimsOnNode(ctx context.Context, state *framework.CycleState, pod *corev1.Pod,
	ni *framework.NodeInfo, pdbs []*policyv1.PodDisruptionBudget) ([]*corev1.Pod, int, *framework.Status) {
	remove := func(pi *framework.PodInfo) *framework.Status {
		ni.RemovePod(pi.Pod)
		return pl.h.RunPreFilterExtensionRemovePod(ctx, state, pod, pi, ni)
	}
	add := func(pi *framework.PodInfo) *framework.Status {
		ni.AddPodInfo(pi)
		return pl.h.RunPreFilterExtensionAddPod(ctx, state, pod, pi, ni)
	}
	prio := corev1helpers.PodPriority(pod)
	var potential []*framework.PodInfo
	for _, pi := range ni.Pods {
		if corev1helpers.PodPriority(pi.Pod) < prio {
			potential = append(potential, pi)
		}
	}
	if len(potential) == 0 {
		return nil, 0, framework.NewStatus(framework.UnschedulableAndUnresolvable, "No preemption victims found for incoming pod")
	}
	for _, pi := range potential {
		if s := remove(pi); !s.IsSuccess() {
			return nil, 0, framework.AsStatus(s.AsError())
		}
	}
	if s := pl.runFilter(ctx, state, pod, ni); !s.IsSuccess() {
		return nil, 0, s
	}
	now := pl.now()
	sort.SliceStable(potential, func(i, j int) bool { return moreImportant(potential[i].Pod, potential[j].Pod, now) })
	violating, nonViolating := splitByPDBViolation(potential, pdbs)

	var victims []*corev1.Pod
	// reprieve puts pi back; if pod no longer fits, pi is a victim.
	reprieve := func(pi *framework.PodInfo) (bool, *framework.Status) {
		if s := add(pi); !s.IsSuccess() {
			return false, framework.AsStatus(s.AsError())
		}
		if pl.runFilter(ctx, state, pod, ni).IsSuccess() {
			return true, nil
		}
		if s := remove(pi); !s.IsSuccess() {
			return false, framework.AsStatus(s.AsError())
		}
		victims = append(victims, pi.Pod)
		return false, nil
	}
	numViolating := 0
	for _, pi := range violating {
		fits, s := reprieve(pi)
		if s != nil {
			return nil, 0, s
		}
		if !fits {
			numViolating++
		}
	}
	for _, pi := range nonViolating {
		if _, s := reprieve(pi); s != nil {
			return nil, 0, s
		}
	}
	if len(violating) > 0 && len(nonViolating) > 0 {
		sort.SliceStable(victims, func(i, j int) bool { return moreImportant(victims[i], victims[j], now) })
	}
	return victims, numViolating, nil
}

// runFilter runs the Filter plugins, with the pods nominated to the node
// when the handle can (nominatedFilterRunner).
func (pl *DefaultPreemption) runFilter(ctx context.Context, state *framework.CycleState, pod *corev1.Pod, ni *framework.NodeInfo) *framework.Status {
	if r, ok := pl.h.(nominatedFilterRunner); ok {
		return r.RunFilterPluginsWithNominatedPods(ctx, state, pod, ni)
	}
	return pl.h.RunFilterPlugins(ctx, state, pod, ni)
}

// splitByPDBViolation is upstream's filterPodsWithPDBViolation: walking
// pods in order, each pod matched by a budget (same namespace, non-empty
// selector, not already in its disruptedPods) uses up one of its
// disruptionsAllowed; a pod that takes a budget below zero violates it.
func splitByPDBViolation(pods []*framework.PodInfo, pdbs []*policyv1.PodDisruptionBudget) (violating, nonViolating []*framework.PodInfo) {
	allowed := make([]int32, len(pdbs))
	for i, pdb := range pdbs {
		allowed[i] = pdb.Status.DisruptionsAllowed
	}
	for _, pi := range pods {
		pod := pi.Pod
		violated := false
		if len(pod.Labels) != 0 {
			for i, pdb := range pdbs {
				if pdb.Namespace != pod.Namespace {
					continue
				}
				sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
				if err != nil || sel.Empty() || !sel.Matches(labels.Set(pod.Labels)) {
					continue // invalid, nil and empty selectors match nothing
				}
				if _, ok := pdb.Status.DisruptedPods[pod.Name]; ok {
					continue // the API server already counted its eviction
				}
				allowed[i]--
				if allowed[i] < 0 {
					violated = true
				}
			}
		}
		if violated {
			violating = append(violating, pi)
		} else {
			nonViolating = append(nonViolating, pi)
		}
	}
	return violating, nonViolating
}

// moreImportant is upstream's MoreImportantPod: higher priority, then
// earlier start.
func moreImportant(a, b *corev1.Pod, now time.Time) bool {
	pa, pb := corev1helpers.PodPriority(a), corev1helpers.PodPriority(b)
	if pa != pb {
		return pa > pb
	}
	return startTime(a, now).Before(startTime(b, now))
}

// startTime is the pod's status.startTime, or now for a pod not started.
func startTime(p *corev1.Pod, now time.Time) time.Time {
	if p.Status.StartTime != nil {
		return p.Status.StartTime.Time
	}
	return now
}
