package registry

import (
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// controllerRevisionStrategy holds the rules of apps/v1
// ControllerRevisions, the DaemonSet and StatefulSet controllers' history:
// revision is non-negative and may be renumbered; data is immutable.
type controllerRevisionStrategy struct{}

func (controllerRevisionStrategy) Default(runtime.Object) {}

func (controllerRevisionStrategy) Validate(obj runtime.Object) field.ErrorList {
	cr := obj.(*appsv1.ControllerRevision)
	errs := validateMeta(cr, true, validation.NameIsDNSSubdomain)
	if cr.Revision < 0 {
		errs = append(errs, field.Invalid(field.NewPath("revision"), cr.Revision, "must be greater than or equal to 0"))
	}
	return errs
}

func (s controllerRevisionStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	cr, oldCR := obj.(*appsv1.ControllerRevision), old.(*appsv1.ControllerRevision)
	errs := s.Validate(cr)
	errs = append(errs, validateMetaUpdate(cr, oldCR)...)
	if !semanticEqual(cr.Data, oldCR.Data) {
		errs = append(errs, field.Invalid(field.NewPath("data"), "", "field is immutable"))
	}
	return errs
}

func (controllerRevisionStrategy) FieldSet(obj runtime.Object) fields.Set {
	return namespacedFields(obj.(metav1.Object), nil)
}
