package podtopologyspread

import (
	"context"
	"fmt"
	"maps"
	"math"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"github.com/skiffk8s/skiff/scheduler/framework"
	"github.com/skiffk8s/skiff/scheduler/plugins/internal/pluginstate"
)

const preFilterStateKey framework.StateKey = "PreFilter" + Name

// The Filter's reasons, as upstream.
const (
	// ErrReasonConstraintsNotMatch: placing the pod would exceed maxSkew.
	ErrReasonConstraintsNotMatch = "node(s) didn't match pod topology spread constraints"
	// ErrReasonNodeLabelNotMatch: the node lacks a constraint's key.
	ErrReasonNodeLabelNotMatch = ErrReasonConstraintsNotMatch + " (missing required label)"
)

// criticalPaths are the two domains with the fewest matching pods,
// [0] the smallest. Two suffice because preemption only changes pods on
// one node (so one domain per constraint) on its own copy of the state.
type criticalPaths [2]struct {
	value string
	count int
}

func newCriticalPaths() *criticalPaths {
	return &criticalPaths{{count: math.MaxInt32}, {count: math.MaxInt32}}
}

// update records that domain value now has count matching pods.
func (p *criticalPaths) update(value string, count int) {
	i := -1
	switch value {
	case p[0].value:
		i = 0
	case p[1].value:
		i = 1
	}
	if i >= 0 {
		p[i].count = count
		if p[0].count > p[1].count {
			p[0], p[1] = p[1], p[0]
		}
		return
	}
	switch {
	case count < p[0].count:
		p[1] = p[0]
		p[0].value, p[0].count = value, count
	case count < p[1].count:
		p[1].value, p[1].count = value, count
	}
}

// preFilterState is the DoNotSchedule constraints and the matching pods
// per domain, computed once per cycle.
type preFilterState struct {
	constraints []constraint
	// counts[i] is the matching pods per value of constraints[i]'s key,
	// over the eligible nodes (a domain with none is there with 0).
	counts []map[string]int
	// paths[i] are constraints[i]'s two smallest domains.
	paths []*criticalPaths
}

// Clone implements framework.StateData: counts and paths are copied, the
// constraints shared (never changed).
func (s *preFilterState) Clone() framework.StateData {
	c := &preFilterState{
		constraints: s.constraints,
		counts:      make([]map[string]int, len(s.counts)),
		paths:       make([]*criticalPaths, len(s.paths)),
	}
	for i, m := range s.counts {
		c.counts[i] = maps.Clone(m)
	}
	for i, p := range s.paths {
		cp := *p
		c.paths[i] = &cp
	}
	return c
}

// minMatch is constraint i's global minimum: 0 while it has fewer
// eligible domains than minDomains.
func (s *preFilterState) minMatch(i int) int {
	if len(s.counts[i]) < int(s.constraints[i].MinDomains) {
		return 0
	}
	return s.paths[i][0].count
}

// PreFilter implements framework.PreFilterPlugin. It returns Skip when
// the pod has no DoNotSchedule constraints (its own or default).
func (pl *PodTopologySpread) PreFilter(ctx context.Context, cs *framework.CycleState, pod *corev1.Pod, _ []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	s, err := pl.preFilterState(ctx, pod)
	if err != nil {
		return nil, framework.AsStatus(err)
	}
	if len(s.constraints) == 0 {
		return nil, framework.NewStatus(framework.Skip)
	}
	cs.Write(preFilterStateKey, s)
	return nil, nil
}

func (pl *PodTopologySpread) preFilterState(ctx context.Context, pod *corev1.Pod) (*preFilterState, error) {
	cons, err := pl.constraints(pod, corev1.DoNotSchedule)
	if err != nil {
		return nil, err
	}
	if len(cons) == 0 {
		return &preFilterState{}, nil
	}
	nodes, err := pl.allNodes()
	if err != nil {
		return nil, fmt.Errorf("listing node infos: %w", err)
	}
	aff := nodeaffinity.GetRequiredNodeAffinity(pod)
	cached := make([]*selectorCounts, len(cons))
	for i := range cons {
		cached[i] = pl.matchCounts.acquire(cons[i].Selector, pod.Namespace, len(nodes))
		defer cached[i].release()
	}
	// perNode[n][i] is node n's matching pods for constraint i, -1 when
	// the node does not count for it.
	perNode := make([][]int, len(nodes))
	pl.parallel(ctx, len(nodes), func(n int) {
		node := nodes[n].Node()
		if node == nil || !hasAllKeys(node.Labels, cons) {
			return
		}
		counts := make([]int, len(cons))
		for i := range cons {
			if !cons[i].countsNode(ctx, pod, node, aff) {
				counts[i] = -1
				continue
			}
			counts[i] = cached[i].count(n, nodes[n], cons[i].Selector, pod.Namespace)
		}
		perNode[n] = counts
	})
	s := &preFilterState{
		constraints: cons,
		counts:      make([]map[string]int, len(cons)),
		paths:       make([]*criticalPaths, len(cons)),
	}
	for i := range cons {
		s.counts[i] = map[string]int{}
	}
	for n, counts := range perNode {
		for i, c := range counts {
			if c >= 0 {
				s.counts[i][nodes[n].Node().Labels[cons[i].TopologyKey]] += c
			}
		}
	}
	for i := range cons {
		s.paths[i] = newCriticalPaths()
		for v, c := range s.counts[i] {
			s.paths[i].update(v, c)
		}
	}
	return s, nil
}

// PreFilterExtensions implements framework.PreFilterPlugin.
func (pl *PodTopologySpread) PreFilterExtensions() framework.PreFilterExtensions { return pl }

// AddPod implements framework.PreFilterExtensions: podInfoToAdd now runs
// on nodeInfo's node.
func (pl *PodTopologySpread) AddPod(ctx context.Context, cs *framework.CycleState, podToSchedule *corev1.Pod, podInfoToAdd *framework.PodInfo, nodeInfo *framework.NodeInfo) *framework.Status {
	return pl.update(ctx, cs, podToSchedule, podInfoToAdd.Pod, nodeInfo.Node(), 1)
}

// RemovePod implements framework.PreFilterExtensions: podInfoToRemove no
// longer runs on nodeInfo's node.
func (pl *PodTopologySpread) RemovePod(ctx context.Context, cs *framework.CycleState, podToSchedule *corev1.Pod, podInfoToRemove *framework.PodInfo, nodeInfo *framework.NodeInfo) *framework.Status {
	return pl.update(ctx, cs, podToSchedule, podInfoToRemove.Pod, nodeInfo.Node(), -1)
}

func (pl *PodTopologySpread) update(ctx context.Context, cs *framework.CycleState, preemptor, changed *corev1.Pod, node *corev1.Node, delta int) *framework.Status {
	if cs.SkipFilterPlugins[Name] {
		return nil
	}
	s, err := getPreFilterState(cs)
	if err != nil {
		return framework.AsStatus(err)
	}
	if node == nil || changed.Namespace != preemptor.Namespace || !hasAllKeys(node.Labels, s.constraints) {
		return nil
	}
	aff := nodeaffinity.GetRequiredNodeAffinity(preemptor)
	for i := range s.constraints {
		c := &s.constraints[i]
		if !c.countsNode(ctx, preemptor, node, aff) || !c.Selector.Matches(labels.Set(changed.Labels)) {
			continue
		}
		v := node.Labels[c.TopologyKey]
		s.counts[i][v] += delta
		s.paths[i].update(v, s.counts[i][v])
	}
	return nil
}

func getPreFilterState(cs *framework.CycleState) (*preFilterState, error) {
	return pluginstate.Read[*preFilterState](cs, preFilterStateKey)
}

// Filter implements framework.FilterPlugin: for every DoNotSchedule
// constraint, the node must have the topology key
// (UnschedulableAndUnresolvable otherwise) and matching pods in its
// domain, plus the pod itself if it matches, minus the global minimum
// must not exceed maxSkew (Unschedulable otherwise).
func (pl *PodTopologySpread) Filter(_ context.Context, cs *framework.CycleState, pod *corev1.Pod, nodeInfo *framework.NodeInfo) *framework.Status {
	node := nodeInfo.Node()
	if node == nil {
		return framework.AsStatus(fmt.Errorf("%s: node not found", Name))
	}
	s, err := getPreFilterState(cs)
	if err != nil {
		return framework.AsStatus(err)
	}
	podLabels := labels.Set(pod.Labels)
	for i, c := range s.constraints {
		v, ok := node.Labels[c.TopologyKey]
		if !ok {
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonNodeLabelNotMatch)
		}
		self := 0
		if c.Selector.Matches(podLabels) {
			self = 1
		}
		if skew := s.counts[i][v] + self - s.minMatch(i); skew > int(c.MaxSkew) {
			return framework.NewStatus(framework.Unschedulable, ErrReasonConstraintsNotMatch)
		}
	}
	return nil
}
