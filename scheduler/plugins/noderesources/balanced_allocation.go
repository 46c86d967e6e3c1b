package noderesources

import (
	"context"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiffk8s/skiff/scheduler/framework"
)

// BalancedAllocationName is NodeResourcesBalancedAllocation's name in the
// scheduler configuration.
const BalancedAllocationName = "NodeResourcesBalancedAllocation"

const balancedPreScoreKey framework.StateKey = "PreScore" + BalancedAllocationName

// BalancedAllocation is the NodeResourcesBalancedAllocation plugin.
type BalancedAllocation struct {
	scorer allocationScorer
}

var (
	_ framework.PreScorePlugin = (*BalancedAllocation)(nil)
	_ framework.ScorePlugin    = (*BalancedAllocation)(nil)
)

// NewBalancedAllocation builds NodeResourcesBalancedAllocation from
// NodeResourcesBalancedAllocationArgs as JSON (nil: cpu and memory).
func NewBalancedAllocation(_ context.Context, args []byte, _ framework.Handle) (framework.Plugin, error) {
	a, err := balancedArgs(args)
	if err != nil {
		return nil, err
	}
	return &BalancedAllocation{scorer: allocationScorer{resources: a.Resources, score: balanced, useRequested: true}}, nil
}

// Name implements framework.Plugin.
func (*BalancedAllocation) Name() string { return BalancedAllocationName }

// PreScore computes the pod's requests (as they are, without defaults).
// It returns Skip for a pod that requests none of the resources
// (best-effort), so that such pods do not all pile onto one node.
func (ba *BalancedAllocation) PreScore(_ context.Context, state *framework.CycleState, pod *corev1.Pod, _ []*framework.NodeInfo) *framework.Status {
	reqs := ba.scorer.podRequests(pod)
	if allZero(reqs) {
		return framework.NewStatus(framework.Skip)
	}
	state.Write(balancedPreScoreKey, &scoreState{podRequests: reqs})
	return nil
}

func allZero(xs []int64) bool {
	for _, x := range xs {
		if x != 0 {
			return false
		}
	}
	return true
}

// Score is (1 − the standard deviation of the fractions of the resources
// that would be requested with the pod) × 100.
func (ba *BalancedAllocation) Score(_ context.Context, state *framework.CycleState, pod *corev1.Pod, nodeInfo *framework.NodeInfo) (int64, *framework.Status) {
	reqs := readScoreState(state, balancedPreScoreKey, &ba.scorer, pod)
	if allZero(reqs) {
		return 0, nil
	}
	return ba.scorer.nodeScore(nodeInfo, reqs), nil
}

// ScoreExtensions implements framework.ScorePlugin: scores are already
// in [0, 100].
func (*BalancedAllocation) ScoreExtensions() framework.ScoreExtensions { return nil }
