package registry

import (
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// podDisruptionBudgetStrategy holds the rules of policy/v1
// PodDisruptionBudgets, which pod eviction obeys.
type podDisruptionBudgetStrategy struct{}

func (podDisruptionBudgetStrategy) Default(runtime.Object) {}

func (podDisruptionBudgetStrategy) Validate(obj runtime.Object) field.ErrorList {
	pdb := obj.(*policyv1.PodDisruptionBudget)
	errs := validateMeta(pdb, true, validation.NameIsDNSSubdomain)
	spec, path := &pdb.Spec, field.NewPath("spec")
	if spec.MinAvailable != nil && spec.MaxUnavailable != nil {
		errs = append(errs, field.Invalid(path, spec, "minAvailable and maxUnavailable cannot be both set"))
	}
	for _, b := range []struct {
		name string
		v    *intstr.IntOrString
	}{{"minAvailable", spec.MinAvailable}, {"maxUnavailable", spec.MaxUnavailable}} {
		if bad := validateIntOrPercent(b.v, path.Child(b.name)); len(bad) > 0 {
			errs = append(errs, bad...)
		} else {
			errs = append(errs, notMoreThan100Percent(b.v, path.Child(b.name))...)
		}
	}
	if spec.Selector != nil {
		errs = append(errs, validateLabelSelector(spec.Selector, path.Child("selector"))...)
	}
	if p := spec.UnhealthyPodEvictionPolicy; p != nil {
		errs = append(errs, supported(*p, path.Child("unhealthyPodEvictionPolicy"),
			policyv1.IfHealthyBudget, policyv1.AlwaysAllow)...)
	}
	return errs
}

func (s podDisruptionBudgetStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	pdb, oldPDB := obj.(*policyv1.PodDisruptionBudget), old.(*policyv1.PodDisruptionBudget)
	return append(s.Validate(pdb), validateMetaUpdate(pdb, oldPDB)...)
}

func (podDisruptionBudgetStrategy) FieldSet(obj runtime.Object) fields.Set {
	return namespacedFields(obj.(metav1.Object), nil)
}
