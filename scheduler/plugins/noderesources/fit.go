// Package noderesources holds the plugins about node resources:
// NodeResourcesFit (a pod's requests must fit what the node has free;
// nodes are scored by LeastAllocated, MostAllocated or
// RequestedToCapacityRatio) and NodeResourcesBalancedAllocation (nodes
// whose cpu and memory would be used in equal fractions score higher).
package noderesources

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/skiffk8s/skiff/scheduler/framework"
)

// FitName is NodeResourcesFit's name in the scheduler configuration.
const FitName = "NodeResourcesFit"

const (
	fitPreFilterKey framework.StateKey = "PreFilter" + FitName
	fitPreScoreKey  framework.StateKey = "PreScore" + FitName
)

// Fit is the NodeResourcesFit plugin.
type Fit struct {
	ignoredResources      sets.Set[string]
	ignoredResourceGroups sets.Set[string]
	scorer                allocationScorer
}

var (
	_ framework.PreFilterPlugin   = (*Fit)(nil)
	_ framework.FilterPlugin      = (*Fit)(nil)
	_ framework.PreScorePlugin    = (*Fit)(nil)
	_ framework.ScorePlugin       = (*Fit)(nil)
	_ framework.EnqueueExtensions = (*Fit)(nil)
)

// NewFit builds NodeResourcesFit from NodeResourcesFitArgs as JSON (nil:
// LeastAllocated on cpu and memory with weight 1, nothing ignored).
// Unknown fields and invalid values are errors naming the field.
func NewFit(_ context.Context, args []byte, _ framework.Handle) (framework.Plugin, error) {
	a, err := fitArgs(args)
	if err != nil {
		return nil, err
	}
	s := a.ScoringStrategy
	var score scorer
	switch s.Type {
	case configv1.LeastAllocated:
		score = leastAllocated(s.Resources)
	case configv1.MostAllocated:
		score = mostAllocated(s.Resources)
	case configv1.RequestedToCapacityRatio:
		score = requestedToCapacityRatio(s.Resources, s.RequestedToCapacityRatio.Shape)
	}
	return &Fit{
		ignoredResources:      sets.New(a.IgnoredResources...),
		ignoredResourceGroups: sets.New(a.IgnoredResourceGroups...),
		scorer:                allocationScorer{resources: s.Resources, score: score},
	}, nil
}

// Name implements framework.Plugin.
func (*Fit) Name() string { return FitName }

// preFilterState is the pod's requests (framework.PodRequests: the
// containers' sum, at least the largest init container with the sidecars
// started before it, plus overhead).
type preFilterState struct {
	framework.Resource
}

// Clone implements framework.StateData; the state never changes.
func (s *preFilterState) Clone() framework.StateData { return s }

// PreFilter computes the pod's requests.
func (*Fit) PreFilter(_ context.Context, state *framework.CycleState, pod *corev1.Pod, _ []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	state.Write(fitPreFilterKey, &preFilterState{Resource: *framework.NewResource(framework.PodRequests(pod))})
	return nil, nil
}

// PreFilterExtensions implements framework.PreFilterPlugin: the state
// does not depend on other pods.
func (*Fit) PreFilterExtensions() framework.PreFilterExtensions { return nil }

// Filter rejects a node that lacks a pod slot or free resources for the
// pod's requests, with a reason per resource ("Too many pods",
// "Insufficient cpu", "Insufficient memory", "Insufficient
// ephemeral-storage", "Insufficient <name>"), Unschedulable; or
// UnschedulableAndUnresolvable when some request exceeds the node's whole
// allocatable, so that preemption cannot help.
func (f *Fit) Filter(_ context.Context, state *framework.CycleState, _ *corev1.Pod, nodeInfo *framework.NodeInfo) *framework.Status {
	data, err := state.Read(fitPreFilterKey)
	if err != nil {
		return framework.AsStatus(fmt.Errorf("reading %q from cycle state: %w", fitPreFilterKey, err))
	}
	s, ok := data.(*preFilterState)
	if !ok {
		return framework.AsStatus(fmt.Errorf("%q holds %T, not the %s state", fitPreFilterKey, data, FitName))
	}
	insufficient := Insufficient(&s.Resource, nodeInfo, f.ignoredResources, f.ignoredResourceGroups)
	if len(insufficient) == 0 {
		return nil
	}
	code := framework.Unschedulable
	reasons := make([]string, 0, len(insufficient))
	for _, r := range insufficient {
		reasons = append(reasons, r.Reason)
		if r.Unresolvable {
			code = framework.UnschedulableAndUnresolvable
		}
	}
	return framework.NewStatus(code, reasons...)
}

// InsufficientResource is one resource a node lacks for a pod.
type InsufficientResource struct {
	ResourceName corev1.ResourceName
	// Reason is the user-facing reason, e.g. "Insufficient cpu".
	Reason string
	// Requested is the pod's request, Used what the node's pods request,
	// Capacity the node's allocatable.
	Requested, Used, Capacity int64
	// Unresolvable: the request exceeds the node's whole allocatable.
	Unresolvable bool
}

// Insufficient lists what nodeInfo lacks for a pod requesting req, in
// upstream's order: pods, cpu, memory, ephemeral-storage, then other
// resources (sorted by name). Extended resources in ignored, or whose
// domain is in ignoredGroups, are not checked.
func Insufficient(req *framework.Resource, nodeInfo *framework.NodeInfo, ignored, ignoredGroups sets.Set[string]) []InsufficientResource {
	var out []InsufficientResource
	alloc, used := &nodeInfo.Allocatable, &nodeInfo.Requested
	if len(nodeInfo.Pods)+1 > alloc.AllowedPodNumber {
		out = append(out, InsufficientResource{ResourceName: corev1.ResourcePods, Reason: "Too many pods",
			Requested: 1, Used: int64(len(nodeInfo.Pods)), Capacity: int64(alloc.AllowedPodNumber)})
	}
	if req.MilliCPU == 0 && req.Memory == 0 && req.EphemeralStorage == 0 && len(req.Scalar) == 0 {
		return out
	}
	check := func(name corev1.ResourceName, want, used, capacity int64) {
		if want > 0 && want > capacity-used {
			out = append(out, InsufficientResource{ResourceName: name, Reason: "Insufficient " + string(name),
				Requested: want, Used: used, Capacity: capacity, Unresolvable: want > capacity})
		}
	}
	check(corev1.ResourceCPU, req.MilliCPU, used.MilliCPU, alloc.MilliCPU)
	check(corev1.ResourceMemory, req.Memory, used.Memory, alloc.Memory)
	check(corev1.ResourceEphemeralStorage, req.EphemeralStorage, used.EphemeralStorage, alloc.EphemeralStorage)
	names := make([]corev1.ResourceName, 0, len(req.Scalar))
	for name := range req.Scalar {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if isExtended(name) {
			domain, _, _ := strings.Cut(string(name), "/")
			if ignored.Has(string(name)) || ignoredGroups.Has(domain) {
				continue
			}
		}
		check(name, req.Scalar[name], used.Scalar[name], alloc.Scalar[name])
	}
	return out
}

// scoreState is the pod's request of each scored resource.
type scoreState struct {
	podRequests []int64
}

// Clone implements framework.StateData; the state never changes.
func (s *scoreState) Clone() framework.StateData { return s }

// PreScore computes the pod's requests of the scored resources (cpu and
// memory with the non-zero defaults).
func (f *Fit) PreScore(_ context.Context, state *framework.CycleState, pod *corev1.Pod, _ []*framework.NodeInfo) *framework.Status {
	state.Write(fitPreScoreKey, &scoreState{podRequests: f.scorer.podRequests(pod)})
	return nil
}

// Score scores the node by the scoring strategy, in [0, 100].
func (f *Fit) Score(_ context.Context, state *framework.CycleState, pod *corev1.Pod, nodeInfo *framework.NodeInfo) (int64, *framework.Status) {
	return f.scorer.nodeScore(nodeInfo, readScoreState(state, fitPreScoreKey, &f.scorer, pod)), nil
}

// readScoreState is the pod's requests from PreScore, or computed now
// when PreScore did not run.
func readScoreState(state *framework.CycleState, key framework.StateKey, s *allocationScorer, pod *corev1.Pod) []int64 {
	if data, err := state.Read(key); err == nil {
		if ss, ok := data.(*scoreState); ok {
			return ss.podRequests
		}
	}
	return s.podRequests(pod)
}

// ScoreExtensions implements framework.ScorePlugin: scores are already
// in [0, 100].
func (*Fit) ScoreExtensions() framework.ScoreExtensions { return nil }

// EventsToRegister: a pod deleted or scaled down frees resources; a new
// node or more allocatable may fit. Taint and label updates as upstream
// without queueing hints.
func (*Fit) EventsToRegister() []framework.ClusterEvent {
	return []framework.ClusterEvent{
		{Resource: framework.PodResource, ActionType: framework.Delete | framework.UpdatePodScaleDown},
		{Resource: framework.NodeResource, ActionType: framework.Add | framework.UpdateNodeAllocatable | framework.UpdateNodeTaint | framework.UpdateNodeLabel},
	}
}
