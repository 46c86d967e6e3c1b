package interpodaffinity

import (
	"context"
	"fmt"
	"math"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/skiffk8s/skiff/scheduler/framework"
	"github.com/skiffk8s/skiff/scheduler/plugins/internal/pluginstate"
)

const preScoreStateKey framework.StateKey = "PreScore" + Name

// scoreMap is a score per topology key and value.
type scoreMap map[string]map[string]int64

// addTerm adds weight to the domain of node for t's key if pod matches t.
func (m scoreMap) addTerm(t *framework.AffinityTerm, weight int64, pod *corev1.Pod, nsLabels labels.Set, node *corev1.Node) {
	if !t.Matches(pod, nsLabels) {
		return
	}
	v, ok := node.Labels[t.TopologyKey]
	if !ok {
		return
	}
	if m[t.TopologyKey] == nil {
		m[t.TopologyKey] = map[string]int64{}
	}
	m[t.TopologyKey][v] += weight
}

func (m scoreMap) addTerms(terms []framework.WeightedAffinityTerm, sign int64, pod *corev1.Pod, nsLabels labels.Set, node *corev1.Node) {
	for i := range terms {
		m.addTerm(&terms[i].AffinityTerm, sign*int64(terms[i].Weight), pod, nsLabels, node)
	}
}

func (m scoreMap) merge(o scoreMap) {
	for k, vs := range o {
		if m[k] == nil {
			m[k] = map[string]int64{}
		}
		for v, n := range vs {
			m[k][v] += n
		}
	}
}

// preScoreState is the per-domain scores Score sums up. Read-only after
// PreScore.
type preScoreState struct {
	topologyScore scoreMap
}

// Clone implements framework.StateData (the state is never changed).
func (s *preScoreState) Clone() framework.StateData { return s }

// PreScore implements framework.PreScorePlugin. It sums, per topology
// domain, the weights of the terms linking the pod and each existing pod:
// the pod's preferred affinity (+) and anti-affinity (−) terms matching
// the existing pod, the existing pod's required affinity terms matching
// the pod (+hardPodAffinityWeight) and its preferred affinity (+) and
// anti-affinity (−) terms matching the pod. It returns Skip when nothing
// links them.
func (pl *InterPodAffinity) PreScore(ctx context.Context, cs *framework.CycleState, pod *corev1.Pod, nodes []*framework.NodeInfo) *framework.Status {
	if len(nodes) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	aff := pod.Spec.Affinity
	hasPreferred := aff != nil &&
		((aff.PodAffinity != nil && len(aff.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution) > 0) ||
			(aff.PodAntiAffinity != nil && len(aff.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) > 0))
	if pl.ignorePreferredTermsOfExistingPods && !hasPreferred {
		return framework.NewStatus(framework.Skip)
	}
	lister, err := pl.snapshot()
	if err != nil {
		return framework.AsStatus(fmt.Errorf("%s: %w", Name, err))
	}
	// Without preferred terms of its own, only pods with affinity terms
	// can link to the pod.
	var all []*framework.NodeInfo
	if hasPreferred {
		all, err = lister.List()
	} else {
		all, err = lister.HavePodsWithAffinityList()
	}
	if err != nil {
		return framework.AsStatus(fmt.Errorf("listing node infos: %w", err))
	}
	pi, err := framework.NewPodInfo(pod)
	if err != nil {
		return framework.AsStatus(fmt.Errorf("parsing pod: %w", err))
	}
	for _, terms := range [][]framework.WeightedAffinityTerm{pi.PreferredAffinityTerms, pi.PreferredAntiAffinityTerms} {
		for i := range terms {
			if err := pl.resolveNamespaces(&terms[i].AffinityTerm); err != nil {
				return framework.AsStatus(err)
			}
		}
	}
	nsLabels := pl.namespaceLabels(pod.Namespace)

	out := newPerNode[scoreMap](len(all))
	pl.parallel(ctx, len(all), func(i int) {
		ni := all[i]
		node := ni.Node()
		if node == nil || len(node.Labels) == 0 {
			return
		}
		pods := ni.PodsWithAffinity
		if hasPreferred {
			pods = ni.Pods
		}
		m := scoreMap{}
		for _, existing := range pods {
			pl.scoreExistingPod(m, pi, nsLabels, existing, node)
		}
		if len(m) > 0 {
			out.put(m)
		}
	})
	results := out.results()
	if len(results) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	s := &preScoreState{topologyScore: scoreMap{}}
	for _, m := range results {
		s.topologyScore.merge(m)
	}
	cs.Write(preScoreStateKey, s)
	return nil
}

// scoreExistingPod adds the terms linking the incoming pod (pi, its
// namespace's labels nsLabels) and existing (on node) to m.
func (pl *InterPodAffinity) scoreExistingPod(m scoreMap, pi *framework.PodInfo, nsLabels labels.Set, existing *framework.PodInfo, node *corev1.Node) {
	// The incoming pod's terms have their namespace selectors resolved.
	m.addTerms(pi.PreferredAffinityTerms, 1, existing.Pod, nil, node)
	m.addTerms(pi.PreferredAntiAffinityTerms, -1, existing.Pod, nil, node)
	if pl.hardPodAffinityWeight > 0 {
		for i := range existing.RequiredAffinityTerms {
			m.addTerm(&existing.RequiredAffinityTerms[i], int64(pl.hardPodAffinityWeight), pi.Pod, nsLabels, node)
		}
	}
	m.addTerms(existing.PreferredAffinityTerms, 1, pi.Pod, nsLabels, node)
	m.addTerms(existing.PreferredAntiAffinityTerms, -1, pi.Pod, nsLabels, node)
}

func getPreScoreState(cs *framework.CycleState) (*preScoreState, error) {
	return pluginstate.Read[*preScoreState](cs, preScoreStateKey)
}

// Score implements framework.ScorePlugin: the sum of the scores of the
// node's domains (may be negative; NormalizeScore maps it to 0..100).
func (pl *InterPodAffinity) Score(_ context.Context, cs *framework.CycleState, _ *corev1.Pod, nodeInfo *framework.NodeInfo) (int64, *framework.Status) {
	node := nodeInfo.Node()
	if node == nil {
		return 0, framework.AsStatus(fmt.Errorf("%s: node not found", Name))
	}
	s, err := getPreScoreState(cs)
	if err != nil {
		return 0, framework.AsStatus(err)
	}
	var score int64
	for key, values := range s.topologyScore {
		if v, ok := node.Labels[key]; ok {
			score += values[v]
		}
	}
	return score, nil
}

// ScoreExtensions implements framework.ScorePlugin.
func (pl *InterPodAffinity) ScoreExtensions() framework.ScoreExtensions { return pl }

// NormalizeScore implements framework.ScoreExtensions: min-max scaling to
// 0..100 (all 0 when every node scored the same), as upstream.
func (pl *InterPodAffinity) NormalizeScore(_ context.Context, cs *framework.CycleState, _ *corev1.Pod, scores framework.NodeScoreList) *framework.Status {
	s, err := getPreScoreState(cs)
	if err != nil {
		return framework.AsStatus(err)
	}
	if len(s.topologyScore) == 0 {
		return nil
	}
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for _, sc := range scores {
		lo, hi = min(lo, sc.Score), max(hi, sc.Score)
	}
	diff := hi - lo
	for i := range scores {
		var f float64
		if diff > 0 {
			f = float64(framework.MaxNodeScore) * float64(scores[i].Score-lo) / float64(diff)
		}
		scores[i].Score = int64(f)
	}
	return nil
}
