package registry

import (
	"testing"

	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestPodDisruptionBudgetValidation(t *testing.T) {
	pdb := func(min, max *intstr.IntOrString) *policyv1.PodDisruptionBudget {
		return &policyv1.PodDisruptionBudget{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
			Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: min, MaxUnavailable: max,
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
		}
	}
	two, half, tooMuch, negative, notPct := intstr.FromInt32(2), intstr.FromString("50%"), intstr.FromString("150%"), intstr.FromInt32(-1), intstr.FromString("half")
	for _, tc := range []struct {
		name  string
		obj   *policyv1.PodDisruptionBudget
		field string
		typ   field.ErrorType
	}{
		{"a budget with minAvailable 2 is valid", pdb(&two, nil), "", ""},
		{"a budget with maxUnavailable 50% is valid", pdb(nil, &half), "", ""},
		{"a budget with both bounds is refused", pdb(&two, &half), "spec", field.ErrorTypeInvalid},
		{"a percentage over 100 is refused", pdb(&tooMuch, nil), "spec.minAvailable", field.ErrorTypeInvalid},
		{"a negative count is refused", pdb(nil, &negative), "spec.maxUnavailable", field.ErrorTypeInvalid},
		{"a string that is not a percentage is refused", pdb(&notPct, nil), "spec.minAvailable", field.ErrorTypeInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := podDisruptionBudgetStrategy{}.Validate(tc.obj)
			if tc.field == "" {
				if len(errs) > 0 {
					t.Fatalf("unexpected errors: %v", errs)
				}
				return
			}
			if len(errs) != 1 || errs[0].Field != tc.field || errs[0].Type != tc.typ {
				t.Fatalf("errors %v, want one %s on %s", errs, tc.typ, tc.field)
			}
		})
	}
}
