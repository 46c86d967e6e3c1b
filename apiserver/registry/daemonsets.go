package registry

import (
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// daemonSetStrategy holds the rules of apps/v1 DaemonSets.
type daemonSetStrategy struct{}

func (daemonSetStrategy) Default(obj runtime.Object) {
	ds := obj.(*appsv1.DaemonSet)
	us := &ds.Spec.UpdateStrategy
	if us.Type == "" {
		us.Type = appsv1.RollingUpdateDaemonSetStrategyType
	}
	if us.Type == appsv1.RollingUpdateDaemonSetStrategyType {
		if us.RollingUpdate == nil {
			us.RollingUpdate = &appsv1.RollingUpdateDaemonSet{}
		}
		if us.RollingUpdate.MaxUnavailable == nil {
			us.RollingUpdate.MaxUnavailable = ptrTo(intstr.FromInt32(1))
		}
		if us.RollingUpdate.MaxSurge == nil {
			us.RollingUpdate.MaxSurge = ptrTo(intstr.FromInt32(0))
		}
	}
	if ds.Spec.RevisionHistoryLimit == nil {
		ds.Spec.RevisionHistoryLimit = ptrTo[int32](defaultRevisionHistoryLimit)
	}
	defaultPodTemplate(&ds.Spec.Template)
}

func (daemonSetStrategy) Validate(obj runtime.Object) field.ErrorList {
	ds := obj.(*appsv1.DaemonSet)
	spec, path := &ds.Spec, field.NewPath("spec")
	errs := validateMeta(ds, true, validation.NameIsDNSSubdomain)
	errs = append(errs, validateSelectorAndTemplate("daemonset", spec.Selector, &spec.Template, path)...)
	errs = append(errs, validateLongRunningTemplate("DaemonSet", &spec.Template.Spec, path)...)
	errs = append(errs, nonNegative(int64(spec.MinReadySeconds), path.Child("minReadySeconds"))...)
	errs = append(errs, validateRevisionHistoryLimit(spec.RevisionHistoryLimit, path)...)
	return append(errs, validateDaemonSetUpdateStrategy(&spec.UpdateStrategy, path.Child("updateStrategy"))...)
}

func validateDaemonSetUpdateStrategy(s *appsv1.DaemonSetUpdateStrategy, path *field.Path) field.ErrorList {
	switch s.Type {
	case appsv1.OnDeleteDaemonSetStrategyType:
		return nil
	case appsv1.RollingUpdateDaemonSetStrategyType:
	default:
		return supported(s.Type, path.Child("type"), appsv1.OnDeleteDaemonSetStrategyType, appsv1.RollingUpdateDaemonSetStrategyType)
	}
	ruPath := path.Child("rollingUpdate")
	if s.RollingUpdate == nil {
		return field.ErrorList{field.Required(ruPath, "")}
	}
	ru := s.RollingUpdate
	errs := validateIntOrPercent(ru.MaxUnavailable, ruPath.Child("maxUnavailable"))
	errs = append(errs, validateIntOrPercent(ru.MaxSurge, ruPath.Child("maxSurge"))...)
	errs = append(errs, notMoreThan100Percent(ru.MaxUnavailable, ruPath.Child("maxUnavailable"))...)
	errs = append(errs, notMoreThan100Percent(ru.MaxSurge, ruPath.Child("maxSurge"))...)
	// Exactly one of maxUnavailable and maxSurge is non-zero.
	unavailable, surge := intOrPercentValue(ru.MaxUnavailable) != 0, intOrPercentValue(ru.MaxSurge) != 0
	switch {
	case unavailable && surge:
		errs = append(errs, field.Invalid(ruPath.Child("maxSurge"), ru.MaxSurge, "may not be set when maxUnavailable is non-zero"))
	case !unavailable && !surge:
		errs = append(errs, field.Required(ruPath.Child("maxUnavailable"), "cannot be 0 when maxSurge is 0"))
	}
	return errs
}

func (s daemonSetStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	ds, oldDS := obj.(*appsv1.DaemonSet), old.(*appsv1.DaemonSet)
	errs := append(s.Validate(ds), validateMetaUpdate(ds, oldDS)...)
	return append(errs, validateSelectorUpdate(ds.Spec.Selector, oldDS.Spec.Selector)...)
}

func (daemonSetStrategy) FieldSet(obj runtime.Object) fields.Set {
	return namespacedFields(obj.(metav1.Object), nil)
}
