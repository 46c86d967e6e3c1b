package podtopologyspread

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"github.com/skiffk8s/skiff/scheduler/framework"
	"github.com/skiffk8s/skiff/scheduler/plugins/internal/pluginstate"
)

const preScoreStateKey framework.StateKey = "PreScore" + Name

// invalidScore marks ignored nodes inside NormalizeScore.
const invalidScore = -1

// preScoreState is the ScheduleAnyway constraints and the matching pods
// per domain of the candidate nodes. Read-only after PreScore.
type preScoreState struct {
	constraints []constraint
	// ignored are candidate nodes missing a constraint's key: they score 0.
	ignored sets.Set[string]
	// counts[i] is the matching pods per value of constraints[i]'s key,
	// for the values of candidate nodes (hostname counts are taken in
	// Score from the node itself).
	counts []map[string]*int64
	// weights[i] is log(number of constraints[i]'s candidate domains + 2):
	// it keeps many small domains from being watered down by a few big
	// ones.
	weights []float64
}

// Clone implements framework.StateData (the state is never changed).
func (s *preScoreState) Clone() framework.StateData { return s }

// PreScore implements framework.PreScorePlugin. It returns Skip when the
// pod has no ScheduleAnyway constraints (its own or default).
func (pl *PodTopologySpread) PreScore(ctx context.Context, cs *framework.CycleState, pod *corev1.Pod, candidates []*framework.NodeInfo) *framework.Status {
	all, err := pl.allNodes()
	if err != nil {
		return framework.AsStatus(fmt.Errorf("listing node infos: %w", err))
	}
	if len(all) == 0 || len(candidates) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	cons, err := pl.constraints(pod, corev1.ScheduleAnyway)
	if err != nil {
		return framework.AsStatus(err)
	}
	if len(cons) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	// Only the system defaults let nodes missing a key (say, the zone)
	// still be scored by the others (the hostname).
	requireAll := len(pod.Spec.TopologySpreadConstraints) > 0 || !pl.systemDefaulted
	s := &preScoreState{
		constraints: cons,
		ignored:     sets.New[string](),
		counts:      make([]map[string]*int64, len(cons)),
		weights:     make([]float64, len(cons)),
	}
	domains := make([]int, len(cons))
	for i := range cons {
		s.counts[i] = map[string]*int64{}
	}
	for _, ni := range candidates {
		node := ni.Node()
		if requireAll && !hasAllKeys(node.Labels, cons) {
			s.ignored.Insert(node.Name)
			continue
		}
		for i, c := range cons {
			if c.TopologyKey == corev1.LabelHostname {
				continue
			}
			v := node.Labels[c.TopologyKey]
			if s.counts[i][v] == nil {
				s.counts[i][v] = new(int64)
				domains[i]++
			}
		}
	}
	for i, c := range cons {
		n := domains[i]
		if c.TopologyKey == corev1.LabelHostname {
			n = len(candidates) - len(s.ignored)
		}
		s.weights[i] = math.Log(float64(n + 2))
	}

	aff := nodeaffinity.GetRequiredNodeAffinity(pod)
	cached := make([]*selectorCounts, len(cons))
	for i := range cons {
		cached[i] = pl.matchCounts.acquire(cons[i].Selector, pod.Namespace, len(all))
		defer cached[i].release()
	}
	pl.parallel(ctx, len(all), func(n int) {
		node := all[n].Node()
		if node == nil || (requireAll && !hasAllKeys(node.Labels, cons)) {
			return
		}
		for i := range cons {
			c := &cons[i]
			if !c.countsNode(ctx, pod, node, aff) {
				continue
			}
			// Domains of no candidate need no count.
			cnt := s.counts[i][node.Labels[c.TopologyKey]]
			if cnt == nil {
				continue
			}
			atomic.AddInt64(cnt, int64(cached[i].count(n, all[n], c.Selector, pod.Namespace)))
		}
	})
	cs.Write(preScoreStateKey, s)
	return nil
}

func getPreScoreState(cs *framework.CycleState) (*preScoreState, error) {
	return pluginstate.Read[*preScoreState](cs, preScoreStateKey)
}

// Score implements framework.ScorePlugin: per constraint whose key the
// node has, the matching pods in its domain times the constraint's
// weight, plus maxSkew-1 (which waters down small differences); higher
// is worse until NormalizeScore reverses it.
func (pl *PodTopologySpread) Score(_ context.Context, cs *framework.CycleState, pod *corev1.Pod, nodeInfo *framework.NodeInfo) (int64, *framework.Status) {
	node := nodeInfo.Node()
	if node == nil {
		return 0, framework.AsStatus(fmt.Errorf("%s: node not found", Name))
	}
	s, err := getPreScoreState(cs)
	if err != nil {
		return 0, framework.AsStatus(err)
	}
	if s.ignored.Has(node.Name) {
		return 0, nil
	}
	var score float64
	for i, c := range s.constraints {
		v, ok := node.Labels[c.TopologyKey]
		if !ok {
			continue
		}
		var cnt int64
		if c.TopologyKey == corev1.LabelHostname {
			cnt = int64(countMatching(nodeInfo.Pods, c.Selector, pod.Namespace))
		} else if p := s.counts[i][v]; p != nil {
			cnt = *p
		}
		score += float64(cnt)*s.weights[i] + float64(c.MaxSkew-1)
	}
	return int64(math.Round(score)), nil
}

// ScoreExtensions implements framework.ScorePlugin.
func (pl *PodTopologySpread) ScoreExtensions() framework.ScoreExtensions { return pl }

// NormalizeScore implements framework.ScoreExtensions, as upstream: the
// node with the fewest matching pods gets 100, scores fall with the raw
// score relative to the highest, ignored nodes get 0; all 100 when every
// raw score is 0.
func (pl *PodTopologySpread) NormalizeScore(_ context.Context, cs *framework.CycleState, _ *corev1.Pod, scores framework.NodeScoreList) *framework.Status {
	s, err := getPreScoreState(cs)
	if err != nil {
		return framework.AsStatus(err)
	}
	lo, hi := int64(math.MaxInt64), int64(0)
	for i, sc := range scores {
		if s.ignored.Has(sc.Name) {
			scores[i].Score = invalidScore
			continue
		}
		lo, hi = min(lo, sc.Score), max(hi, sc.Score)
	}
	for i := range scores {
		switch {
		case scores[i].Score == invalidScore:
			scores[i].Score = 0
		case hi == 0:
			scores[i].Score = framework.MaxNodeScore
		default:
			scores[i].Score = framework.MaxNodeScore * (hi + lo - scores[i].Score) / hi
		}
	}
	return nil
}
