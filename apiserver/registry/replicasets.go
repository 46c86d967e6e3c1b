package registry

import (
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// replicaSetStrategy holds the rules of apps/v1 ReplicaSets.
type replicaSetStrategy struct{}

func (replicaSetStrategy) Default(obj runtime.Object) {
	rs := obj.(*appsv1.ReplicaSet)
	if rs.Spec.Replicas == nil {
		rs.Spec.Replicas = ptrTo[int32](1)
	}
	defaultPodTemplate(&rs.Spec.Template)
}

func (replicaSetStrategy) Validate(obj runtime.Object) field.ErrorList {
	rs := obj.(*appsv1.ReplicaSet)
	spec, path := &rs.Spec, field.NewPath("spec")
	errs := validateMeta(rs, true, validation.NameIsDNSSubdomain)
	errs = append(errs, validateReplicas(spec.Replicas, path)...)
	errs = append(errs, validateSelectorAndTemplate("replicaset", spec.Selector, &spec.Template, path)...)
	errs = append(errs, validateLongRunningTemplate("ReplicaSet", &spec.Template.Spec, path)...)
	return append(errs, nonNegative(int64(spec.MinReadySeconds), path.Child("minReadySeconds"))...)
}

func (s replicaSetStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	rs, oldRS := obj.(*appsv1.ReplicaSet), old.(*appsv1.ReplicaSet)
	errs := append(s.Validate(rs), validateMetaUpdate(rs, oldRS)...)
	return append(errs, validateSelectorUpdate(rs.Spec.Selector, oldRS.Spec.Selector)...)
}

func (replicaSetStrategy) FieldSet(obj runtime.Object) fields.Set {
	rs := obj.(*appsv1.ReplicaSet)
	return namespacedFields(rs, fields.Set{"status.replicas": strconv.Itoa(int(rs.Status.Replicas))})
}
