// Package nodeaffinity is the NodeAffinity plugin: a pod fits only nodes
// matching its nodeSelector and its required node affinity (terms ORed,
// expressions within a term ANDed), and prefers nodes matching its
// preferred terms by their weights. The scheduler-wide addedAffinity
// (NodeAffinityArgs) applies to every pod on top of its own.
package nodeaffinity

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/skiffk8s/skiff/scheduler/framework"
	"github.com/skiffk8s/skiff/scheduler/plugins/internal/pluginargs"
)

// Name is the plugin's name in the scheduler configuration.
const Name = "NodeAffinity"

// Reasons, as upstream.
const (
	// ErrReasonPod: the node does not match the pod's nodeSelector or
	// required node affinity.
	ErrReasonPod = "node(s) didn't match Pod's node affinity/selector"
	// ErrReasonEnforced: the node does not match addedAffinity.
	ErrReasonEnforced = "node(s) didn't match scheduler-enforced node affinity"
	// ErrReasonConflict: the pod's terms name no node at all (each
	// term's metadata.name requirements have an empty intersection).
	ErrReasonConflict = "pod affinity terms conflict"
)

const (
	preFilterStateKey framework.StateKey = "PreFilter" + Name
	preScoreStateKey  framework.StateKey = "PreScore" + Name
)

// NodeAffinity filters and scores nodes by node affinity.
type NodeAffinity struct {
	// addedNodeSelector and addedPrefSchedTerms are addedAffinity's
	// required and preferred parts (nil when not set).
	addedNodeSelector   *nodeaffinity.NodeSelector
	addedPrefSchedTerms *nodeaffinity.PreferredSchedulingTerms
}

var (
	_ framework.PreFilterPlugin   = (*NodeAffinity)(nil)
	_ framework.FilterPlugin      = (*NodeAffinity)(nil)
	_ framework.PreScorePlugin    = (*NodeAffinity)(nil)
	_ framework.ScorePlugin       = (*NodeAffinity)(nil)
	_ framework.ScoreExtensions   = (*NodeAffinity)(nil)
	_ framework.EnqueueExtensions = (*NodeAffinity)(nil)
)

// New builds the plugin from NodeAffinityArgs as JSON (nil: no added
// affinity). Unknown fields and invalid terms are errors naming the field.
func New(_ context.Context, args []byte, _ framework.Handle) (framework.Plugin, error) {
	var a configv1.NodeAffinityArgs
	if err := pluginargs.Decode(Name, "", args, &a); err != nil {
		return nil, err
	}
	if err := validateArgs(&a); err != nil {
		return nil, err
	}
	pl := &NodeAffinity{}
	if a.AddedAffinity == nil {
		return pl, nil
	}
	var err error
	if ns := a.AddedAffinity.RequiredDuringSchedulingIgnoredDuringExecution; ns != nil {
		if pl.addedNodeSelector, err = nodeaffinity.NewNodeSelector(ns); err != nil {
			return nil, fmt.Errorf("%s args: addedAffinity: %w", Name, err)
		}
	}
	if terms := a.AddedAffinity.PreferredDuringSchedulingIgnoredDuringExecution; len(terms) > 0 {
		if pl.addedPrefSchedTerms, err = nodeaffinity.NewPreferredSchedulingTerms(terms); err != nil {
			return nil, fmt.Errorf("%s args: addedAffinity: %w", Name, err)
		}
	}
	return pl, nil
}

// Name implements framework.Plugin.
func (*NodeAffinity) Name() string { return Name }

// preFilterState is the pod's parsed nodeSelector and required affinity.
type preFilterState struct {
	required nodeaffinity.RequiredNodeAffinity
}

// Clone implements framework.StateData; the state never changes.
func (s *preFilterState) Clone() framework.StateData { return s }

// PreFilter parses the pod's required affinity. It returns Skip when
// neither the pod nor addedAffinity constrains nodes; when every required
// term names nodes by metadata.name (In), it narrows the cycle to those
// nodes, and rejects the pod (UnschedulableAndUnresolvable) when the
// names conflict so that no node can match.
func (pl *NodeAffinity) PreFilter(_ context.Context, state *framework.CycleState, pod *corev1.Pod, _ []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	aff := pod.Spec.Affinity
	noRequired := aff == nil || aff.NodeAffinity == nil || aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil
	if noRequired && pl.addedNodeSelector == nil && pod.Spec.NodeSelector == nil {
		return nil, framework.NewStatus(framework.Skip)
	}
	state.Write(preFilterStateKey, &preFilterState{required: nodeaffinity.GetRequiredNodeAffinity(pod)})
	if noRequired {
		return nil, nil
	}
	names, constrained := nodeNames(aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms)
	if !constrained {
		return nil, nil
	}
	if len(names) == 0 {
		return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonConflict)
	}
	return &framework.PreFilterResult{NodeNames: names}, nil
}

// nodeNames is the union over terms of the nodes each term names with
// "metadata.name In" field requirements (intersected within a term).
// constrained is false when some term names no node that way (the terms
// are ORed, so every node may match) or there are no terms.
func nodeNames(terms []corev1.NodeSelectorTerm) (names sets.Set[string], constrained bool) {
	if len(terms) == 0 {
		return nil, false
	}
	names = sets.New[string]()
	for _, t := range terms {
		var termNames sets.Set[string]
		for _, r := range t.MatchFields {
			if r.Key != metav1.ObjectNameField || r.Operator != corev1.NodeSelectorOpIn {
				continue
			}
			s := sets.New(r.Values...)
			if termNames == nil {
				termNames = s
			} else {
				termNames = termNames.Intersection(s)
			}
		}
		if termNames == nil {
			return nil, false
		}
		names = names.Union(termNames)
	}
	return names, true
}

// PreFilterExtensions implements framework.PreFilterPlugin: the state
// does not depend on other pods.
func (*NodeAffinity) PreFilterExtensions() framework.PreFilterExtensions { return nil }

// Filter rejects the node, UnschedulableAndUnresolvable, when it does not
// match addedAffinity (ErrReasonEnforced) or the pod's nodeSelector and
// required affinity (ErrReasonPod). Terms that do not parse match no
// node, as upstream.
func (pl *NodeAffinity) Filter(_ context.Context, state *framework.CycleState, pod *corev1.Pod, nodeInfo *framework.NodeInfo) *framework.Status {
	node := nodeInfo.Node()
	if node == nil {
		return framework.AsStatus(errors.New("node not found"))
	}
	if pl.addedNodeSelector != nil && !pl.addedNodeSelector.Match(node) {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonEnforced)
	}
	var s *preFilterState
	if data, err := state.Read(preFilterStateKey); err == nil {
		s, _ = data.(*preFilterState)
	}
	if s == nil {
		// PreFilter did not run (or skipped): parse here.
		s = &preFilterState{required: nodeaffinity.GetRequiredNodeAffinity(pod)}
	}
	if ok, _ := s.required.Match(node); !ok {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonPod)
	}
	return nil
}

// preScoreState is the pod's parsed preferred terms (nil: none).
type preScoreState struct {
	preferred *nodeaffinity.PreferredSchedulingTerms
}

// Clone implements framework.StateData; the state never changes.
func (s *preScoreState) Clone() framework.StateData { return s }

// PreScore parses the pod's preferred terms; it returns Skip when neither
// the pod nor addedAffinity has any, and an Error for terms that do not
// parse.
func (pl *NodeAffinity) PreScore(_ context.Context, state *framework.CycleState, pod *corev1.Pod, _ []*framework.NodeInfo) *framework.Status {
	preferred, err := podPreferred(pod)
	if err != nil {
		return framework.AsStatus(err)
	}
	if preferred == nil && pl.addedPrefSchedTerms == nil {
		return framework.NewStatus(framework.Skip)
	}
	state.Write(preScoreStateKey, &preScoreState{preferred: preferred})
	return nil
}

func podPreferred(pod *corev1.Pod) (*nodeaffinity.PreferredSchedulingTerms, error) {
	aff := pod.Spec.Affinity
	if aff == nil || aff.NodeAffinity == nil || len(aff.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution) == 0 {
		return nil, nil
	}
	terms, err := nodeaffinity.NewPreferredSchedulingTerms(aff.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution)
	if err != nil {
		return nil, fmt.Errorf("pod %s/%s: preferred node affinity: %w", pod.Namespace, pod.Name, err)
	}
	return terms, nil
}

// Score is the sum of the weights of the preferred terms (the pod's and
// addedAffinity's) that the node matches.
func (pl *NodeAffinity) Score(_ context.Context, state *framework.CycleState, pod *corev1.Pod, nodeInfo *framework.NodeInfo) (int64, *framework.Status) {
	node := nodeInfo.Node()
	if node == nil {
		return 0, framework.AsStatus(errors.New("node not found"))
	}
	var score int64
	if pl.addedPrefSchedTerms != nil {
		score += pl.addedPrefSchedTerms.Score(node)
	}
	var s *preScoreState
	if data, err := state.Read(preScoreStateKey); err == nil {
		s, _ = data.(*preScoreState)
	}
	if s == nil {
		preferred, err := podPreferred(pod)
		if err != nil {
			return 0, framework.AsStatus(err)
		}
		s = &preScoreState{preferred: preferred}
	}
	if s.preferred != nil {
		score += s.preferred.Score(node)
	}
	return score, nil
}

// ScoreExtensions implements framework.ScorePlugin.
func (pl *NodeAffinity) ScoreExtensions() framework.ScoreExtensions { return pl }

// NormalizeScore scales the scores so that the highest is 100 (all stay
// 0 when the highest is 0).
func (*NodeAffinity) NormalizeScore(_ context.Context, _ *framework.CycleState, _ *corev1.Pod, scores framework.NodeScoreList) *framework.Status {
	var highest int64
	for _, s := range scores {
		highest = max(highest, s.Score)
	}
	if highest == 0 {
		return nil
	}
	for i := range scores {
		scores[i].Score = framework.MaxNodeScore * scores[i].Score / highest
	}
	return nil
}

// EventsToRegister: a new node or a label change. Taint updates as
// upstream without queueing hints.
func (*NodeAffinity) EventsToRegister() []framework.ClusterEvent {
	return []framework.ClusterEvent{
		{Resource: framework.NodeResource, ActionType: framework.Add | framework.UpdateNodeLabel | framework.UpdateNodeTaint},
	}
}
