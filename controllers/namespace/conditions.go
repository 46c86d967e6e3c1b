package namespace

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// conditions holds the message of each deletion condition that is True
// ("" for False).
type conditions struct {
	discoveryFailure    string
	contentFailure      string
	contentRemaining    string
	finalizersRemaining string
}

// conditionSpec is one condition's type and its upstream reasons and
// message when False.
type conditionSpec struct {
	typ                     corev1.NamespaceConditionType
	trueReason, falseReason string
	okMessage               string
}

var conditionSpecs = []conditionSpec{
	{corev1.NamespaceDeletionDiscoveryFailure, "DiscoveryFailed", "ResourcesDiscovered", "All resources successfully discovered"},
	{corev1.NamespaceDeletionGVParsingFailure, "GroupVersionParsingFailed", "ParsedGroupVersions", "All legacy kube types successfully parsed"},
	{corev1.NamespaceDeletionContentFailure, "ContentDeletionFailed", "ContentDeleted", "All content successfully deleted, may be waiting on finalization"},
	{corev1.NamespaceContentRemaining, "SomeResourcesRemain", "ContentRemoved", "All content successfully removed"},
	{corev1.NamespaceFinalizersRemaining, "SomeFinalizersRemain", "ContentHasNoFinalizers", "All content-preserving finalizers finished"},
}

func (c conditions) message(t corev1.NamespaceConditionType) string {
	switch t {
	case corev1.NamespaceDeletionDiscoveryFailure:
		return c.discoveryFailure
	case corev1.NamespaceDeletionContentFailure:
		return c.contentFailure
	case corev1.NamespaceContentRemaining:
		return c.contentRemaining
	case corev1.NamespaceFinalizersRemaining:
		return c.finalizersRemaining
	}
	return ""
}

// apply returns ns's conditions updated from c, keeping the transition
// time of a condition whose status did not change, and whether anything
// changed.
func (c conditions) apply(existing []corev1.NamespaceCondition, now metav1.Time) ([]corev1.NamespaceCondition, bool) {
	out := make([]corev1.NamespaceCondition, 0, len(existing)+len(conditionSpecs))
	changed := false
	byType := map[corev1.NamespaceConditionType]corev1.NamespaceCondition{}
	for _, e := range existing {
		byType[e.Type] = e
	}
	for _, s := range conditionSpecs {
		want := corev1.NamespaceCondition{Type: s.typ, Status: corev1.ConditionFalse, Reason: s.falseReason, Message: s.okMessage, LastTransitionTime: now}
		if msg := c.message(s.typ); msg != "" {
			want.Status, want.Reason, want.Message = corev1.ConditionTrue, s.trueReason, msg
		}
		if old, ok := byType[s.typ]; ok {
			if old.Status == want.Status {
				want.LastTransitionTime = old.LastTransitionTime
			}
			if old != want {
				changed = true
			}
			delete(byType, s.typ)
		} else {
			changed = true
		}
		out = append(out, want)
	}
	for _, e := range existing { // conditions of other writers stay
		if _, ok := byType[e.Type]; ok {
			out = append(out, e)
		}
	}
	return out, changed
}

// updateConditions writes c into ns's status when it changes anything;
// a failure is logged (the next sync writes them again).
func (nc *Controller) updateConditions(ctx context.Context, ns *corev1.Namespace, c conditions) {
	conds, changed := c.apply(ns.Status.Conditions, metav1.NewTime(nc.clock.Now()))
	if !changed {
		return
	}
	ns = ns.DeepCopy()
	ns.Status.Conditions = conds
	if _, err := nc.client.CoreV1().Namespaces().UpdateStatus(ctx, ns, metav1.UpdateOptions{}); err != nil {
		nc.log.Error("updating namespace conditions", "namespace", ns.Name, "err", err)
	}
}
