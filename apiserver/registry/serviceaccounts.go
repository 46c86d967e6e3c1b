package registry

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// serviceAccountStrategy holds the rules of core/v1 ServiceAccounts:
// metadata only, with a DNS-1123 subdomain name.
type serviceAccountStrategy struct{}

func (serviceAccountStrategy) Default(runtime.Object) {}

func (serviceAccountStrategy) Validate(obj runtime.Object) field.ErrorList {
	sa := obj.(*corev1.ServiceAccount)
	return validateMeta(sa, true, validation.ValidateServiceAccountName)
}

func (s serviceAccountStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	sa, oldSA := obj.(*corev1.ServiceAccount), old.(*corev1.ServiceAccount)
	return append(s.Validate(sa), validateMetaUpdate(sa, oldSA)...)
}

func (serviceAccountStrategy) FieldSet(obj runtime.Object) fields.Set {
	return namespacedFields(obj.(metav1.Object), nil)
}
