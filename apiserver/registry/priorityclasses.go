package registry

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// priorityClassStrategy holds the rules of scheduling.k8s.io/v1
// PriorityClasses.
type priorityClassStrategy struct{}

const (
	// highestUserPriority is the largest value a user-defined class may
	// have; larger ones are reserved for the system classes.
	highestUserPriority  = 1000000000
	systemPriorityPrefix = "system-"
)

// systemPriorityClasses are the built-in priority classes and their values.
var systemPriorityClasses = map[string]int32{
	"system-cluster-critical": 2000000000,
	"system-node-critical":    2000001000,
}

// SystemPriorityClass returns the built-in class named name
// (system-cluster-critical, system-node-critical), or nil. Pods may name
// them without a stored object.
func SystemPriorityClass(name string) *schedulingv1.PriorityClass {
	value, ok := systemPriorityClasses[name]
	if !ok {
		return nil
	}
	return &schedulingv1.PriorityClass{
		ObjectMeta:       metav1.ObjectMeta{Name: name},
		Value:            value,
		PreemptionPolicy: ptrTo(corev1.PreemptLowerPriority),
	}
}

func (priorityClassStrategy) Default(obj runtime.Object) {
	pc := obj.(*schedulingv1.PriorityClass)
	if pc.PreemptionPolicy == nil {
		pc.PreemptionPolicy = ptrTo(corev1.PreemptLowerPriority)
	}
}

func (priorityClassStrategy) Validate(obj runtime.Object) field.ErrorList {
	pc := obj.(*schedulingv1.PriorityClass)
	errs := validateMeta(pc, false, validation.NameIsDNSSubdomain)
	if strings.HasPrefix(pc.Name, systemPriorityPrefix) {
		if msg := checkSystemPriorityClass(pc); msg != "" {
			errs = append(errs, field.Forbidden(field.NewPath("metadata", "name"),
				"priority class names with '"+systemPriorityPrefix+"' prefix are reserved for system use only. error: "+msg))
		}
	} else if pc.Value > highestUserPriority {
		errs = append(errs, field.Forbidden(field.NewPath("value"), fmt.Sprintf("maximum allowed value of a user defined priority is %v", highestUserPriority)))
	}
	if pc.PreemptionPolicy != nil {
		errs = append(errs, supported(*pc.PreemptionPolicy, field.NewPath("preemptionPolicy"), corev1.PreemptLowerPriority, corev1.PreemptNever)...)
	}
	return errs
}

// checkSystemPriorityClass explains why pc is not one of the built-in
// system classes, or returns "".
func checkSystemPriorityClass(pc *schedulingv1.PriorityClass) string {
	value, ok := systemPriorityClasses[pc.Name]
	switch {
	case !ok:
		return fmt.Sprintf("%v is not a known system priority class", pc.Name)
	case pc.Value != value:
		return fmt.Sprintf("value of %v PriorityClass must be %v", pc.Name, value)
	case pc.GlobalDefault:
		return fmt.Sprintf("globalDefault of %v PriorityClass must be false", pc.Name)
	}
	return ""
}

func (s priorityClassStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	pc, oldPC := obj.(*schedulingv1.PriorityClass), old.(*schedulingv1.PriorityClass)
	errs := s.Validate(pc)
	errs = append(errs, validateMetaUpdate(pc, oldPC)...)
	if pc.Value != oldPC.Value {
		errs = append(errs, field.Forbidden(field.NewPath("value"), "may not be changed in an update."))
	}
	return append(errs, immutable(pc.PreemptionPolicy, oldPC.PreemptionPolicy, field.NewPath("preemptionPolicy"))...)
}

func (priorityClassStrategy) FieldSet(obj runtime.Object) fields.Set {
	return clusterFields(obj.(metav1.Object), nil)
}
