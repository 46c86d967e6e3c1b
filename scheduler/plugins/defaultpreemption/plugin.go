// Package defaultpreemption is upstream's DefaultPreemption PostFilter
// plugin: when a pod fits no node, it looks for the node where evicting
// the fewest, lowest-priority pods lets the pod fit, respecting
// PodDisruptionBudgets where it can, evicts those pods gracefully and
// nominates the node for the pod, which is retried once they are gone.
//
// The decision (eligible, dryRun, selectVictimsOnNode, pickOneNode) only
// reads the cycle's snapshot and simulates on copies; prepareCandidate
// does the API calls.
package defaultpreemption

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	corev1 "k8s.io/api/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	policylisters "k8s.io/client-go/listers/policy/v1"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"

	"github.com/skiffk8s/skiff/scheduler/framework"
)

// Name is the plugin's name in the scheduler configuration.
const Name = "DefaultPreemption"

// DefaultPreemption is the plugin. Build it with New.
type DefaultPreemption struct {
	h framework.Handle
	// minPercentage and minAbsolute bound the candidate nodes a dry run
	// looks for (numCandidates).
	minPercentage, minAbsolute int32
	podLister                  corelisters.PodLister
	pdbLister                  policylisters.PodDisruptionBudgetLister
	// offset is where among the potential nodes the dry run starts, in
	// [0, n): random as upstream, so that preemption spreads over large
	// clusters.
	offset func(n int32) int32
	// now stamps the DisruptionTarget condition and stands in for the
	// start time of victims that have none.
	now func() time.Time
}

var _ framework.PostFilterPlugin = (*DefaultPreemption)(nil)

// New builds the plugin from its DefaultPreemptionArgs (JSON; nil for the
// defaults). It asks h's informer factory for the Pod and
// PodDisruptionBudget informers, so New must run before the factory is
// started.
func New(_ context.Context, args []byte, h framework.Handle) (framework.Plugin, error) {
	a, err := decodeArgs(args)
	if err != nil {
		return nil, err
	}
	f := h.SharedInformerFactory()
	return &DefaultPreemption{
		h:             h,
		minPercentage: *a.MinCandidateNodesPercentage,
		minAbsolute:   *a.MinCandidateNodesAbsolute,
		podLister:     f.Core().V1().Pods().Lister(),
		pdbLister:     f.Policy().V1().PodDisruptionBudgets().Lister(),
		offset:        rand.Int32N,
		now:           time.Now,
	}, nil
}

// Name implements framework.Plugin.
func (pl *DefaultPreemption) Name() string { return Name }

// PostFilter implements framework.PostFilterPlugin. When victims were
// evicted it returns the nominated node with an Unschedulable status
// without reasons (the pod is retried once they are gone; the FitError
// message stays the Filter's, as upstream's). Otherwise it returns
// Unschedulable with upstream's message, "preemption: " followed by why,
// e.g. "preemption: 0/3 nodes are available: 3 No preemption victims
// found for incoming pod.", or an Error.
func (pl *DefaultPreemption) PostFilter(ctx context.Context, state *framework.CycleState, pod *corev1.Pod, filtered framework.NodeToStatusMap) (*framework.PostFilterResult, *framework.Status) {
	result, s := pl.preempt(ctx, state, pod, filtered)
	switch {
	case s.Code() == framework.Error:
		return result, framework.AsStatus(fmt.Errorf("preemption: %w", s.AsError()))
	case s.Message() != "":
		return result, framework.NewStatus(s.Code(), "preemption: "+s.Message())
	}
	return result, s
}

// preempt is upstream's Evaluator.Preempt.
func (pl *DefaultPreemption) preempt(ctx context.Context, state *framework.CycleState, pod *corev1.Pod, filtered framework.NodeToStatusMap) (*framework.PostFilterResult, *framework.Status) {
	// The queue's copy may be stale (nominatedNodeName): read the latest.
	latest, err := pl.podLister.Pods(pod.Namespace).Get(pod.Name)
	if err != nil {
		return nil, framework.AsStatus(fmt.Errorf("getting the preemptor pod %s/%s: %w", pod.Namespace, pod.Name, err))
	}
	pod = latest
	if ok, msg := pl.eligible(pod, filtered); !ok {
		return nil, framework.NewStatus(framework.Unschedulable, msg)
	}
	allNodes, err := pl.h.SnapshotSharedLister().NodeInfos().List()
	if err != nil {
		return nil, framework.AsStatus(err)
	}
	candidates, statuses, err := pl.findCandidates(ctx, state, pod, allNodes, filtered)
	if err != nil && len(candidates) == 0 {
		return nil, framework.AsStatus(err)
	}
	if len(candidates) == 0 {
		// The pod keeps no stale nomination.
		if err := pl.setNominatedNodeName(ctx, pod, ""); err != nil {
			return nil, framework.AsStatus(err)
		}
		msg := fitMessage(len(allNodes), statuses, "Preemption is not helpful for scheduling")
		return &framework.PostFilterResult{}, framework.NewStatus(framework.Unschedulable, msg)
	}
	best := pickOneNode(candidates, pl.now())
	if s := pl.prepareCandidate(ctx, best, pod); !s.IsSuccess() {
		return nil, s
	}
	return &framework.PostFilterResult{NominatedNodeName: best.node}, framework.NewStatus(framework.Unschedulable)
}

// eligible is upstream's PodEligibleToPreemptOthers: a pod with
// preemptionPolicy Never never preempts, and a pod already nominated to a
// node where lower-priority pods are still terminating because of
// preemption waits for them instead of preempting again (unless that
// node now rejects it for good).
func (pl *DefaultPreemption) eligible(pod *corev1.Pod, filtered framework.NodeToStatusMap) (bool, string) {
	if pod.Spec.PreemptionPolicy != nil && *pod.Spec.PreemptionPolicy == corev1.PreemptNever {
		return false, "not eligible due to preemptionPolicy=Never."
	}
	nominated := pod.Status.NominatedNodeName
	if nominated == "" {
		return true, ""
	}
	// A node without a Filter status was not considered (e.g. narrowed
	// out by PreFilter): upstream counts it UnschedulableAndUnresolvable.
	if s, ok := filtered[nominated]; !ok || s.Code() == framework.UnschedulableAndUnresolvable {
		return true, ""
	}
	ni, err := pl.h.SnapshotSharedLister().NodeInfos().Get(nominated)
	if err != nil {
		return true, ""
	}
	prio := corev1helpers.PodPriority(pod)
	for _, pi := range ni.Pods {
		if corev1helpers.PodPriority(pi.Pod) < prio && terminatingByPreemption(pi.Pod) {
			return false, "not eligible due to a terminating pod on the nominated node."
		}
	}
	return true, ""
}

// terminatingByPreemption reports a pod being deleted with the
// DisruptionTarget condition the scheduler sets on its victims.
func terminatingByPreemption(p *corev1.Pod) bool {
	if p.DeletionTimestamp == nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.DisruptionTarget {
			return c.Status == corev1.ConditionTrue && c.Reason == corev1.PodReasonPreemptionByScheduler
		}
	}
	return false
}
