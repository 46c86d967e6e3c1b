package interpodaffinity

import (
	"context"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/skiffk8s/skiff/scheduler/framework"
	"github.com/skiffk8s/skiff/scheduler/plugins/internal/pluginstate"
)

const preFilterStateKey framework.StateKey = "PreFilter" + Name

// The Filter's reasons, as upstream.
const (
	// ErrReasonExistingAntiAffinityRulesNotMatch: an existing pod's
	// required anti-affinity selects the pod in the node's domain.
	ErrReasonExistingAntiAffinityRulesNotMatch = "node(s) didn't satisfy existing pods anti-affinity rules"
	// ErrReasonAffinityRulesNotMatch: the pod's required affinity finds no
	// matching pod in the node's domain.
	ErrReasonAffinityRulesNotMatch = "node(s) didn't match pod affinity rules"
	// ErrReasonAntiAffinityRulesNotMatch: the pod's required
	// anti-affinity selects a pod in the node's domain.
	ErrReasonAntiAffinityRulesNotMatch = "node(s) didn't match pod anti-affinity rules"
)

// topologyPair is one topology domain: a node label key and value.
type topologyPair struct{ key, value string }

// topologyCounts counts matching pods (or terms) per domain; entries are
// positive (an entry that drops to 0 is deleted).
type topologyCounts map[topologyPair]int64

// add adds delta to node's domain for key, if the node has the label.
func (m topologyCounts) add(node *corev1.Node, key string, delta int64) {
	v, ok := node.Labels[key]
	if !ok {
		return
	}
	p := topologyPair{key, v}
	m[p] += delta
	if m[p] == 0 {
		delete(m, p)
	}
}

// addAffinity counts pod (on node) once per term's domain if pod matches
// all the terms, as upstream: affinity terms are ANDed.
func (m topologyCounts) addAffinity(terms []framework.AffinityTerm, pod *corev1.Pod, node *corev1.Node, delta int64) {
	if !matchesAll(terms, pod) {
		return
	}
	for _, t := range terms {
		m.add(node, t.TopologyKey, delta)
	}
}

// addAntiAffinity counts pod (on node) in the domain of every term it
// matches; nsLabels are pod's namespace labels (nil for the incoming
// pod's terms, whose namespace selectors are resolved already).
func (m topologyCounts) addAntiAffinity(terms []framework.AffinityTerm, pod *corev1.Pod, nsLabels labels.Set, node *corev1.Node, delta int64) {
	for i := range terms {
		if terms[i].Matches(pod, nsLabels) {
			m.add(node, terms[i].TopologyKey, delta)
		}
	}
}

func (m topologyCounts) merge(o topologyCounts) {
	for p, n := range o {
		m[p] += n
	}
}

// matchesAll reports whether pod matches every term (false for none);
// the terms are the incoming pod's, with namespace selectors resolved.
func matchesAll(terms []framework.AffinityTerm, pod *corev1.Pod) bool {
	if len(terms) == 0 {
		return false
	}
	for i := range terms {
		if !terms[i].Matches(pod, nil) {
			return false
		}
	}
	return true
}

// preFilterState is what Filter needs, computed once per cycle.
type preFilterState struct {
	// existingAntiAffinity: per domain, the existing pods' required
	// anti-affinity terms that match the incoming pod.
	existingAntiAffinity topologyCounts
	// affinity and antiAffinity: per domain, the existing pods matching
	// the incoming pod's required affinity (all terms) and anti-affinity
	// terms.
	affinity, antiAffinity topologyCounts
	// podInfo is the incoming pod with namespace selectors resolved into
	// namespaces; namespaceLabels its namespace's labels. Both read-only.
	podInfo         *framework.PodInfo
	namespaceLabels labels.Set
}

// Clone implements framework.StateData: the counts are copied, the pod
// info shared.
func (s *preFilterState) Clone() framework.StateData {
	return &preFilterState{
		existingAntiAffinity: maps.Clone(s.existingAntiAffinity),
		affinity:             maps.Clone(s.affinity),
		antiAffinity:         maps.Clone(s.antiAffinity),
		podInfo:              s.podInfo,
		namespaceLabels:      s.namespaceLabels,
	}
}

// updateWithPod counts pi (on node) in or out (delta ±1).
func (s *preFilterState) updateWithPod(pi *framework.PodInfo, node *corev1.Node, delta int64) {
	s.existingAntiAffinity.addAntiAffinity(pi.RequiredAntiAffinityTerms, s.podInfo.Pod, s.namespaceLabels, node, delta)
	s.affinity.addAffinity(s.podInfo.RequiredAffinityTerms, pi.Pod, node, delta)
	s.antiAffinity.addAntiAffinity(s.podInfo.RequiredAntiAffinityTerms, pi.Pod, nil, node, delta)
}

// PreFilter implements framework.PreFilterPlugin. It returns Skip when
// the pod has no required terms and no existing pod's required
// anti-affinity matches it.
func (pl *InterPodAffinity) PreFilter(ctx context.Context, cs *framework.CycleState, pod *corev1.Pod, _ []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	lister, err := pl.snapshot()
	if err != nil {
		return nil, framework.AsStatus(fmt.Errorf("%s: %w", Name, err))
	}
	all, err := lister.List()
	if err != nil {
		return nil, framework.AsStatus(fmt.Errorf("listing node infos: %w", err))
	}
	withAnti, err := lister.HavePodsWithRequiredAntiAffinityList()
	if err != nil {
		return nil, framework.AsStatus(fmt.Errorf("listing node infos with required anti-affinity pods: %w", err))
	}
	pi, err := framework.NewPodInfo(pod)
	if err != nil {
		return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, fmt.Sprintf("parsing pod: %v", err))
	}
	for _, terms := range [][]framework.AffinityTerm{pi.RequiredAffinityTerms, pi.RequiredAntiAffinityTerms} {
		for i := range terms {
			if err := pl.resolveNamespaces(&terms[i]); err != nil {
				return nil, framework.AsStatus(err)
			}
		}
	}
	s := &preFilterState{podInfo: pi, namespaceLabels: pl.namespaceLabels(pod.Namespace)}
	s.existingAntiAffinity = pl.existingAntiAffinityCounts(ctx, pod, s.namespaceLabels, withAnti)
	s.affinity, s.antiAffinity = pl.incomingCounts(ctx, pi, all)
	if len(s.existingAntiAffinity) == 0 && len(pi.RequiredAffinityTerms) == 0 && len(pi.RequiredAntiAffinityTerms) == 0 {
		return nil, framework.NewStatus(framework.Skip)
	}
	cs.Write(preFilterStateKey, s)
	return nil, nil
}

// existingAntiAffinityCounts counts, per domain, the required
// anti-affinity terms of the pods on nodes that match pod.
func (pl *InterPodAffinity) existingAntiAffinityCounts(ctx context.Context, pod *corev1.Pod, nsLabels labels.Set, nodes []*framework.NodeInfo) topologyCounts {
	out := newPerNode[topologyCounts](len(nodes))
	pl.parallel(ctx, len(nodes), func(i int) {
		ni := nodes[i]
		node := ni.Node()
		if node == nil {
			return
		}
		m := topologyCounts{}
		for _, existing := range ni.PodsWithRequiredAntiAffinity {
			m.addAntiAffinity(existing.RequiredAntiAffinityTerms, pod, nsLabels, node, 1)
		}
		if len(m) > 0 {
			out.put(m)
		}
	})
	result := topologyCounts{}
	for _, m := range out.results() {
		result.merge(m)
	}
	return result
}

// incomingCounts counts, per domain, the pods on nodes matching pi's
// required affinity terms (all of them) and anti-affinity terms.
func (pl *InterPodAffinity) incomingCounts(ctx context.Context, pi *framework.PodInfo, nodes []*framework.NodeInfo) (affinity, antiAffinity topologyCounts) {
	affinity, antiAffinity = topologyCounts{}, topologyCounts{}
	if len(pi.RequiredAffinityTerms) == 0 && len(pi.RequiredAntiAffinityTerms) == 0 {
		return affinity, antiAffinity
	}
	out := newPerNode[[2]topologyCounts](len(nodes))
	pl.parallel(ctx, len(nodes), func(i int) {
		ni := nodes[i]
		node := ni.Node()
		if node == nil {
			return
		}
		aff, anti := topologyCounts{}, topologyCounts{}
		for _, existing := range ni.Pods {
			aff.addAffinity(pi.RequiredAffinityTerms, existing.Pod, node, 1)
			anti.addAntiAffinity(pi.RequiredAntiAffinityTerms, existing.Pod, nil, node, 1)
		}
		if len(aff) > 0 || len(anti) > 0 {
			out.put([2]topologyCounts{aff, anti})
		}
	})
	for _, r := range out.results() {
		affinity.merge(r[0])
		antiAffinity.merge(r[1])
	}
	return affinity, antiAffinity
}

// PreFilterExtensions implements framework.PreFilterPlugin.
func (pl *InterPodAffinity) PreFilterExtensions() framework.PreFilterExtensions { return pl }

// AddPod implements framework.PreFilterExtensions: podInfoToAdd now runs
// on nodeInfo's node.
func (pl *InterPodAffinity) AddPod(_ context.Context, cs *framework.CycleState, _ *corev1.Pod, podInfoToAdd *framework.PodInfo, nodeInfo *framework.NodeInfo) *framework.Status {
	return pl.update(cs, podInfoToAdd, nodeInfo, 1)
}

// RemovePod implements framework.PreFilterExtensions: podInfoToRemove no
// longer runs on nodeInfo's node.
func (pl *InterPodAffinity) RemovePod(_ context.Context, cs *framework.CycleState, _ *corev1.Pod, podInfoToRemove *framework.PodInfo, nodeInfo *framework.NodeInfo) *framework.Status {
	return pl.update(cs, podInfoToRemove, nodeInfo, -1)
}

func (pl *InterPodAffinity) update(cs *framework.CycleState, pi *framework.PodInfo, nodeInfo *framework.NodeInfo, delta int64) *framework.Status {
	if cs.SkipFilterPlugins[Name] {
		return nil
	}
	s, err := getPreFilterState(cs)
	if err != nil {
		return framework.AsStatus(err)
	}
	if nodeInfo.Node() == nil {
		return framework.AsStatus(fmt.Errorf("%s: node not found", Name))
	}
	s.updateWithPod(pi, nodeInfo.Node(), delta)
	return nil
}

func getPreFilterState(cs *framework.CycleState) (*preFilterState, error) {
	return pluginstate.Read[*preFilterState](cs, preFilterStateKey)
}

// Filter implements framework.FilterPlugin. Affinity failures are
// UnschedulableAndUnresolvable (evicting pods cannot create a matching
// pod), anti-affinity failures Unschedulable, as upstream.
func (pl *InterPodAffinity) Filter(_ context.Context, cs *framework.CycleState, _ *corev1.Pod, nodeInfo *framework.NodeInfo) *framework.Status {
	node := nodeInfo.Node()
	if node == nil {
		return framework.AsStatus(fmt.Errorf("%s: node not found", Name))
	}
	s, err := getPreFilterState(cs)
	if err != nil {
		return framework.AsStatus(err)
	}
	if !satisfiesPodAffinity(s, node) {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonAffinityRulesNotMatch)
	}
	if !satisfiesPodAntiAffinity(s, node) {
		return framework.NewStatus(framework.Unschedulable, ErrReasonAntiAffinityRulesNotMatch)
	}
	if !satisfiesExistingPodsAntiAffinity(s, node) {
		return framework.NewStatus(framework.Unschedulable, ErrReasonExistingAntiAffinityRulesNotMatch)
	}
	return nil
}

// satisfiesPodAffinity: the node has every term's topology key and a
// matching pod in each term's domain. The first pod of a group whose
// terms select itself may go anywhere with the keys while no pod in the
// cluster matches yet.
func satisfiesPodAffinity(s *preFilterState, node *corev1.Node) bool {
	podsExist := true
	for _, t := range s.podInfo.RequiredAffinityTerms {
		v, ok := node.Labels[t.TopologyKey]
		if !ok {
			return false
		}
		if s.affinity[topologyPair{t.TopologyKey, v}] <= 0 {
			podsExist = false
		}
	}
	if podsExist {
		return true
	}
	return len(s.affinity) == 0 && matchesAll(s.podInfo.RequiredAffinityTerms, s.podInfo.Pod)
}

// satisfiesPodAntiAffinity: no pod matching one of the pod's required
// anti-affinity terms runs in that term's domain of the node.
func satisfiesPodAntiAffinity(s *preFilterState, node *corev1.Node) bool {
	if len(s.antiAffinity) == 0 {
		return true
	}
	for _, t := range s.podInfo.RequiredAntiAffinityTerms {
		if v, ok := node.Labels[t.TopologyKey]; ok && s.antiAffinity[topologyPair{t.TopologyKey, v}] > 0 {
			return false
		}
	}
	return true
}

// satisfiesExistingPodsAntiAffinity: no existing pod's required
// anti-affinity term selecting the pod covers a domain of the node.
func satisfiesExistingPodsAntiAffinity(s *preFilterState, node *corev1.Node) bool {
	if len(s.existingAntiAffinity) == 0 {
		return true
	}
	for k, v := range node.Labels {
		if s.existingAntiAffinity[topologyPair{k, v}] > 0 {
			return false
		}
	}
	return true
}
