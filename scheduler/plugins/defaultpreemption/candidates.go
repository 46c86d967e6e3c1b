package defaultpreemption

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/skiffk8s/skiff/scheduler/framework"
)

// candidate is a node where evicting victims lets the pod fit.
type candidate struct {
	node string
	// victims are ordered by importance, the most important first
	// (moreImportant).
	victims []*corev1.Pod
	// numPDBViolations is how many victims' eviction a
	// PodDisruptionBudget does not allow.
	numPDBViolations int
}

// findCandidates is upstream's findCandidates: the nodes whose Filter
// status was Unschedulable (preemption might help; not those
// UnschedulableAndUnresolvable or without a status) are dry-run. It
// returns the candidates and the status of each node tried that is not
// one.
func (pl *DefaultPreemption) findCandidates(ctx context.Context, state *framework.CycleState, pod *corev1.Pod,
	allNodes []*framework.NodeInfo, filtered framework.NodeToStatusMap) ([]*candidate, framework.NodeToStatusMap, error) {
	if len(allNodes) == 0 {
		return nil, nil, errors.New("no nodes available")
	}
	var potential []*framework.NodeInfo
	for _, ni := range allNodes {
		if filtered[ni.Node().Name].Code() == framework.Unschedulable {
			potential = append(potential, ni)
		}
	}
	if len(potential) == 0 {
		return nil, framework.NodeToStatusMap{}, nil
	}
	pdbs, err := pl.pdbLister.List(labels.Everything())
	if err != nil {
		return nil, nil, fmt.Errorf("listing PodDisruptionBudgets: %w", err)
	}
	n := int32(len(potential))
	return pl.dryRun(ctx, state, pod, potential, pdbs, pl.offset(n), pl.numCandidates(n))
}

// numCandidates is upstream's bound on the candidates a dry run looks for:
// minCandidateNodesPercentage of the nodes, at least
// minCandidateNodesAbsolute, at most all of them.
func (pl *DefaultPreemption) numCandidates(numNodes int32) int32 {
	n := numNodes * pl.minPercentage / 100
	if n < pl.minAbsolute {
		n = pl.minAbsolute
	}
	if n > numNodes {
		n = numNodes
	}
	return n
}

// dryRun simulates preemption on copies of the potential nodes, in
// parallel, starting at offset; it stops once it has numCandidates
// candidates of which at least one violates no PodDisruptionBudget.
// Candidates that violate none come first, each group in the order the
// nodes were tried; an error is returned with the candidates found.
func (pl *DefaultPreemption) dryRun(ctx context.Context, state *framework.CycleState, pod *corev1.Pod,
	potential []*framework.NodeInfo, pdbs []*policyv1.PodDisruptionBudget, offset, numCandidates int32) ([]*candidate, framework.NodeToStatusMap, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	found := make([]*candidate, len(potential))
	statuses := make([]*framework.Status, len(potential))
	var total, nonViolating atomic.Int32
	pl.h.Parallelizer().Until(ctx, len(potential), func(i int) {
		ni := potential[(int(offset)+i)%len(potential)].Clone()
		victims, violations, s := pl.selectVictimsOnNode(ctx, state.Clone(), pod, ni, pdbs)
		if s.IsSuccess() && len(victims) == 0 {
			s = framework.AsStatus(fmt.Errorf("expected at least one victim pod on node %q", ni.Node().Name))
		}
		if !s.IsSuccess() {
			statuses[i] = s
			return
		}
		found[i] = &candidate{node: ni.Node().Name, victims: victims, numPDBViolations: violations}
		if violations == 0 {
			nonViolating.Add(1)
		}
		if t := total.Add(1); nonViolating.Load() > 0 && t >= numCandidates {
			cancel()
		}
	})
	var good, violating []*candidate
	for _, c := range found {
		switch {
		case c == nil:
		case c.numPDBViolations == 0:
			good = append(good, c)
		default:
			violating = append(violating, c)
		}
	}
	nodeStatuses := framework.NodeToStatusMap{}
	var errs []error
	for i, s := range statuses {
		if s == nil {
			continue
		}
		nodeStatuses[potential[(int(offset)+i)%len(potential)].Node().Name] = s
		if s.Code() == framework.Error {
			errs = append(errs, s.AsError())
		}
	}
	return append(good, violating...), nodeStatuses, errors.Join(errs...)
}
