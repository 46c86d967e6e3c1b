package registry

import (
	"strings"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// leaseStrategy holds the rules of coordination.k8s.io/v1 Leases, used for
// node heartbeats and leader election.
type leaseStrategy struct{}

func (leaseStrategy) Default(runtime.Object) {}

func (leaseStrategy) Validate(obj runtime.Object) field.ErrorList {
	lease := obj.(*coordinationv1.Lease)
	errs := validateMeta(lease, true, validation.NameIsDNSSubdomain)
	spec, path := &lease.Spec, field.NewPath("spec")
	if spec.LeaseDurationSeconds != nil {
		errs = append(errs, positive(int64(*spec.LeaseDurationSeconds), path.Child("leaseDurationSeconds"))...)
	}
	if spec.LeaseTransitions != nil {
		errs = append(errs, nonNegative(int64(*spec.LeaseTransitions), path.Child("leaseTransitions"))...)
	}
	if s := spec.Strategy; s != nil {
		// Unqualified strategies are Kubernetes' own; there is one so far.
		if strings.Contains(string(*s), "/") {
			errs = append(errs, validateQualifiedName(string(*s), path.Child("strategy"))...)
		} else {
			errs = append(errs, supported(*s, path.Child("strategy"), coordinationv1.OldestEmulationVersion)...)
		}
	}
	if spec.PreferredHolder != nil && *spec.PreferredHolder != "" && (spec.Strategy == nil || *spec.Strategy == "") {
		errs = append(errs, field.Forbidden(path.Child("preferredHolder"), "may only be specified if `strategy` is defined"))
	}
	return errs
}

func (s leaseStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	lease, oldLease := obj.(*coordinationv1.Lease), old.(*coordinationv1.Lease)
	return append(s.Validate(lease), validateMetaUpdate(lease, oldLease)...)
}

func (leaseStrategy) FieldSet(obj runtime.Object) fields.Set {
	return namespacedFields(obj.(metav1.Object), nil)
}
