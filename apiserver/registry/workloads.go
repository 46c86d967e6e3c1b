package registry

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Rules shared by the controllers that own pods through a selector and a
// pod template: Deployments, ReplicaSets, StatefulSets, DaemonSets (and,
// for the selector part, Jobs).

const (
	defaultRevisionHistoryLimit = 10
	selectorMismatchMsg         = "`selector` does not match template `labels`"
)

// validateSelectorAndTemplate checks that the selector is set and
// non-empty, that it selects the template's pods, and that the template
// is valid. kind names the workload in messages ("deployment").
func validateSelectorAndTemplate(kind string, selector *metav1.LabelSelector, template *corev1.PodTemplateSpec, specPath *field.Path, claimNames ...string) field.ErrorList {
	errs := validateSelectorMatches(selector, template, specPath)
	if selector != nil && len(selector.MatchLabels)+len(selector.MatchExpressions) == 0 {
		errs = append(errs, field.Invalid(specPath.Child("selector"), selector, fmt.Sprintf("empty selector is invalid for %s", kind)))
	}
	return append(errs, validatePodTemplate(template, specPath.Child("template"), claimNames...)...)
}

// validateSelectorMatches checks that the selector is set, valid, and
// matches the template's labels.
func validateSelectorMatches(selector *metav1.LabelSelector, template *corev1.PodTemplateSpec, specPath *field.Path) field.ErrorList {
	if selector == nil {
		return field.ErrorList{field.Required(specPath.Child("selector"), "")}
	}
	errs := validateLabelSelector(selector, specPath.Child("selector"))
	if len(errs) > 0 {
		return errs
	}
	s, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil {
		return field.ErrorList{field.Invalid(specPath.Child("selector"), selector, "invalid label selector")}
	}
	if !s.Empty() && !s.Matches(labels.Set(template.Labels)) {
		errs = append(errs, field.Invalid(specPath.Child("template", "metadata", "labels"), template.Labels, selectorMismatchMsg))
	}
	return errs
}

// validateLongRunningTemplate checks that the pods of a workload that keeps
// them running restart Always and have no deadline.
func validateLongRunningTemplate(kind string, spec *corev1.PodSpec, specPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	podPath := specPath.Child("template", "spec")
	if spec.RestartPolicy != corev1.RestartPolicyAlways {
		errs = append(errs, field.NotSupported(podPath.Child("restartPolicy"), spec.RestartPolicy, []corev1.RestartPolicy{corev1.RestartPolicyAlways}))
	}
	if spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Forbidden(podPath.Child("activeDeadlineSeconds"), fmt.Sprintf("activeDeadlineSeconds in %s is not Supported", kind)))
	}
	return errs
}

// validateReplicas checks an optional replica count is not negative.
func validateReplicas(replicas *int32, specPath *field.Path) field.ErrorList {
	if replicas == nil {
		return nil
	}
	return nonNegative(int64(*replicas), specPath.Child("replicas"))
}

func validateRevisionHistoryLimit(limit *int32, specPath *field.Path) field.ErrorList {
	if limit == nil {
		return nil
	}
	return nonNegative(int64(*limit), specPath.Child("revisionHistoryLimit"))
}

// validateSelectorUpdate keeps the selector of a workload fixed: changing
// it would orphan the pods it owns.
func validateSelectorUpdate(selector, old *metav1.LabelSelector) field.ErrorList {
	return immutable(selector, old, field.NewPath("spec", "selector"))
}
