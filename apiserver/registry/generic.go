package registry

// Metadata validation and field sets shared by every kind.

import (
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// MetaFieldSet returns metadata.name and, when set, metadata.namespace.
func MetaFieldSet(obj runtime.Object) fields.Set {
	m, err := meta.Accessor(obj)
	if err != nil {
		return fields.Set{}
	}
	s := fields.Set{"metadata.name": m.GetName()}
	if ns := m.GetNamespace(); ns != "" {
		s["metadata.namespace"] = ns
	}
	return s
}

// namespacedFields is the field set of a namespaced object: metadata.name
// and metadata.namespace (always present: the keys of a field set are also
// the field labels a selector may use) plus the kind's own fields.
func namespacedFields(m metav1.Object, kindFields fields.Set) fields.Set {
	s := fields.Set{"metadata.name": m.GetName(), "metadata.namespace": m.GetNamespace()}
	for k, v := range kindFields {
		s[k] = v
	}
	return s
}

// clusterFields is the field set of a cluster-scoped object: metadata.name
// plus the kind's own fields.
func clusterFields(m metav1.Object, kindFields fields.Set) fields.Set {
	s := fields.Set{"metadata.name": m.GetName()}
	for k, v := range kindFields {
		s[k] = v
	}
	return s
}

// ValidateObjectMeta validates name (with nameFn), namespace presence,
// labels, annotations, finalizers and owner references of a new object.
func ValidateObjectMeta(obj runtime.Object, namespaced bool, nameFn validation.ValidateNameFunc) field.ErrorList {
	m, err := meta.Accessor(obj)
	if err != nil {
		return field.ErrorList{field.InternalError(field.NewPath("metadata"), err)}
	}
	return validateMeta(m, namespaced, nameFn)
}

func validateMeta(m metav1.Object, namespaced bool, nameFn validation.ValidateNameFunc) field.ErrorList {
	path := field.NewPath("metadata")
	errs := validation.ValidateObjectMetaAccessor(m, namespaced, nameFn, path)
	for i, f := range m.GetFinalizers() {
		errs = append(errs, validateKubeFinalizerName(f, path.Child("finalizers").Index(i))...)
	}
	return errs
}

// validateMetaUpdate checks the metadata rules every update obeys: name,
// namespace, uid and creationTimestamp unchanged, resourceVersion present,
// generation not decremented, no new finalizers while deleting.
func validateMetaUpdate(obj, old metav1.Object) field.ErrorList {
	return validation.ValidateObjectMetaAccessorUpdate(obj, old, field.NewPath("metadata"))
}

// standardFinalizers are the finalizer names that need no domain prefix.
var standardFinalizers = map[string]bool{
	"kubernetes":                     true,
	metav1.FinalizerOrphanDependents: true,
	metav1.FinalizerDeleteDependents: true,
}

// validateKubeFinalizerName rejects finalizer names that are neither
// standard nor domain-qualified ("example.com/cleanup").
func validateKubeFinalizerName(name string, path *field.Path) field.ErrorList {
	if !strings.Contains(name, "/") && !standardFinalizers[name] {
		return field.ErrorList{field.Invalid(path, name, "name is neither a standard finalizer name nor is it fully qualified")}
	}
	return nil
}

// nameIsPathSegment accepts any name that can be a URL path segment: used
// by RBAC objects and core events, whose names may contain ':'.
func nameIsPathSegment(name string, prefix bool) []string {
	if prefix {
		return content.IsPathSegmentPrefix(name)
	}
	return content.IsPathSegmentName(name)
}
