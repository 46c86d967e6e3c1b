package podtopologyspread

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/skiffk8s/skiff/scheduler/framework"
)

// constraint is a parsed TopologySpreadConstraint.
type constraint struct {
	MaxSkew     int32
	TopologyKey string
	// Selector selects the pods counted (matchLabelKeys merged in).
	Selector labels.Selector
	// MinDomains is 1 when unset.
	MinDomains         int32
	NodeAffinityPolicy corev1.NodeInclusionPolicy
	NodeTaintsPolicy   corev1.NodeInclusionPolicy
}

// countsNode reports whether node takes part in c's counting for pod:
// with nodeAffinityPolicy Honor it must match the pod's nodeSelector and
// required node affinity (aff); with nodeTaintsPolicy Honor the pod must
// tolerate its NoSchedule and NoExecute taints.
func (c *constraint) countsNode(ctx context.Context, pod *corev1.Pod, node *corev1.Node, aff nodeaffinity.RequiredNodeAffinity) bool {
	if c.NodeAffinityPolicy == corev1.NodeInclusionPolicyHonor {
		// Parsing errors count as no match, as upstream.
		if ok, _ := aff.Match(node); !ok {
			return false
		}
	}
	if c.NodeTaintsPolicy == corev1.NodeInclusionPolicyHonor {
		_, untolerated := corev1helpers.FindMatchingUntoleratedTaint(klog.FromContext(ctx), node.Spec.Taints, pod.Spec.Tolerations,
			func(t *corev1.Taint) bool {
				return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
			}, false)
		if untolerated {
			return false
		}
	}
	return true
}

// hasAllKeys reports whether nodeLabels have every constraint's key.
func hasAllKeys(nodeLabels map[string]string, cs []constraint) bool {
	for _, c := range cs {
		if _, ok := nodeLabels[c.TopologyKey]; !ok {
			return false
		}
	}
	return true
}

// parseConstraints parses the constraints with the given action;
// matchLabelKeys take their values from podLabels and are ANDed into the
// selector (keys the pod lacks are ignored).
func parseConstraints(in []corev1.TopologySpreadConstraint, podLabels map[string]string, action corev1.UnsatisfiableConstraintAction) ([]constraint, error) {
	var out []constraint
	for _, c := range in {
		if c.WhenUnsatisfiable != action {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(c.LabelSelector)
		if err != nil {
			return nil, fmt.Errorf("topology spread constraint on %q: %w", c.TopologyKey, err)
		}
		if len(c.MatchLabelKeys) > 0 {
			match := labels.Set{}
			for _, k := range c.MatchLabelKeys {
				if v, ok := podLabels[k]; ok {
					match[k] = v
				}
			}
			if len(match) > 0 {
				sel = mergeSetWithSelector(match, sel)
			}
		}
		pc := constraint{
			MaxSkew:            c.MaxSkew,
			TopologyKey:        c.TopologyKey,
			Selector:           sel,
			MinDomains:         ptr.Deref(c.MinDomains, 1),
			NodeAffinityPolicy: corev1.NodeInclusionPolicyHonor,
			NodeTaintsPolicy:   corev1.NodeInclusionPolicyIgnore,
		}
		if c.NodeAffinityPolicy != nil {
			pc.NodeAffinityPolicy = *c.NodeAffinityPolicy
		}
		if c.NodeTaintsPolicy != nil {
			pc.NodeTaintsPolicy = *c.NodeTaintsPolicy
		}
		out = append(out, pc)
	}
	return out, nil
}

func mergeSetWithSelector(set labels.Set, s labels.Selector) labels.Selector {
	merged := labels.SelectorFromSet(set)
	reqs, selectable := s.Requirements()
	if !selectable {
		return s
	}
	return merged.Add(reqs...)
}

// constraints is pod's constraints with the given action: its own, or
// the default constraints with a selector derived from the pod's
// Services and controller when it declares none.
func (pl *PodTopologySpread) constraints(pod *corev1.Pod, action corev1.UnsatisfiableConstraintAction) ([]constraint, error) {
	if len(pod.Spec.TopologySpreadConstraints) > 0 {
		cs, err := parseConstraints(pod.Spec.TopologySpreadConstraints, pod.Labels, action)
		if err != nil {
			return nil, fmt.Errorf("parsing the pod's topology spread constraints: %w", err)
		}
		return cs, nil
	}
	cs, err := parseConstraints(pl.defaultConstraints, pod.Labels, action)
	if err != nil || len(cs) == 0 {
		return nil, err
	}
	sel := pl.defaultSelector(pod)
	if sel.Empty() {
		return nil, nil
	}
	for i := range cs {
		cs[i].Selector = sel
	}
	return cs, nil
}

var (
	replicaSetKind  = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "ReplicaSet"}
	statefulSetKind = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "StatefulSet"}
)

// defaultSelector is the selector of pod's siblings for the default
// constraints, as upstream: the selectors of the Services selecting pod,
// ANDed with the selector of its controlling ReplicaSet or StatefulSet.
// (Upstream also reads ReplicationControllers; the API server serves
// none.) Empty when pod belongs to none of them.
func (pl *PodTopologySpread) defaultSelector(pod *corev1.Pod) labels.Selector {
	set := labels.Set{}
	if svcs, err := pl.services.Services(pod.Namespace).List(labels.Everything()); err == nil {
		for _, svc := range svcs {
			// A nil selector selects nothing.
			if svc.Spec.Selector != nil && labels.Set(svc.Spec.Selector).AsSelectorPreValidated().Matches(labels.Set(pod.Labels)) {
				set = labels.Merge(set, svc.Spec.Selector)
			}
		}
	}
	sel := set.AsSelector()
	owner := metav1.GetControllerOfNoCopy(pod)
	if owner == nil {
		return sel
	}
	gv, err := schema.ParseGroupVersion(owner.APIVersion)
	if err != nil {
		return sel
	}
	var ownerSel *metav1.LabelSelector
	switch gv.WithKind(owner.Kind) {
	case replicaSetKind:
		if rs, err := pl.replicaSets.ReplicaSets(pod.Namespace).Get(owner.Name); err == nil {
			ownerSel = rs.Spec.Selector
		}
	case statefulSetKind:
		if ss, err := pl.statefulSets.StatefulSets(pod.Namespace).Get(owner.Name); err == nil {
			ownerSel = ss.Spec.Selector
		}
	}
	if ownerSel == nil {
		return sel
	}
	if other, err := metav1.LabelSelectorAsSelector(ownerSel); err == nil {
		if reqs, ok := other.Requirements(); ok {
			sel = sel.Add(reqs...)
		}
	}
	return sel
}

// countMatching counts the pods in namespace ns that selector matches,
// leaving out terminating pods. An empty selector counts nothing, as
// upstream.
func countMatching(pods []*framework.PodInfo, selector labels.Selector, ns string) int {
	if selector.Empty() {
		return 0
	}
	n := 0
	for _, pi := range pods {
		p := pi.Pod
		if p.DeletionTimestamp != nil || p.Namespace != ns {
			continue
		}
		if selector.Matches(labels.Set(p.Labels)) {
			n++
		}
	}
	return n
}
