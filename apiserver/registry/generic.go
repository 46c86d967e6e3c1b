package registry

import (
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// baseStrategy is the behaviour shared by all kinds: no defaulting,
// metadata validation, and the metadata field set. Kind strategies embed it
// and override what they need.
type baseStrategy struct {
	// namespaced says whether metadata.namespace is required.
	namespaced bool
}

func (baseStrategy) Default(runtime.Object) {}

func (s baseStrategy) Validate(obj runtime.Object) field.ErrorList {
	return ValidateObjectMeta(obj, s.namespaced, validation.NameIsDNSSubdomain)
}

func (s baseStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	return s.Validate(obj)
}

func (baseStrategy) FieldSet(obj runtime.Object) fields.Set {
	return MetaFieldSet(obj)
}

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

// ValidateObjectMeta validates name (with nameFn), namespace presence,
// labels, annotations, finalizers and owner references.
func ValidateObjectMeta(obj runtime.Object, namespaced bool, nameFn validation.ValidateNameFunc) field.ErrorList {
	m, err := meta.Accessor(obj)
	if err != nil {
		return field.ErrorList{field.InternalError(field.NewPath("metadata"), err)}
	}
	return validation.ValidateObjectMetaAccessor(m, namespaced, nameFn, field.NewPath("metadata"))
}
