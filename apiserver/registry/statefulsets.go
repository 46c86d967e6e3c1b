package registry

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// statefulSetStrategy holds the rules of apps/v1 StatefulSets.
type statefulSetStrategy struct{}

const statefulSetUpdateForbiddenMsg = "updates to statefulset spec for fields other than 'replicas', 'ordinals', " +
	"'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' " +
	"and 'minReadySeconds' are forbidden"

func (statefulSetStrategy) Default(obj runtime.Object) {
	ss := obj.(*appsv1.StatefulSet)
	spec := &ss.Spec
	if spec.Replicas == nil {
		spec.Replicas = ptrTo[int32](1)
	}
	if spec.PodManagementPolicy == "" {
		spec.PodManagementPolicy = appsv1.OrderedReadyPodManagement
	}
	if spec.UpdateStrategy.Type == "" {
		spec.UpdateStrategy.Type = appsv1.RollingUpdateStatefulSetStrategyType
		if spec.UpdateStrategy.RollingUpdate == nil {
			spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{}
		}
	}
	if ru := spec.UpdateStrategy.RollingUpdate; spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType && ru != nil && ru.Partition == nil {
		ru.Partition = ptrTo[int32](0)
	}
	if spec.RevisionHistoryLimit == nil {
		spec.RevisionHistoryLimit = ptrTo[int32](defaultRevisionHistoryLimit)
	}
	if spec.PersistentVolumeClaimRetentionPolicy == nil {
		spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{}
	}
	if p := spec.PersistentVolumeClaimRetentionPolicy; p.WhenDeleted == "" {
		p.WhenDeleted = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	}
	if p := spec.PersistentVolumeClaimRetentionPolicy; p.WhenScaled == "" {
		p.WhenScaled = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	}
	for i := range spec.VolumeClaimTemplates {
		claim := &spec.VolumeClaimTemplates[i]
		if claim.Spec.VolumeMode == nil {
			claim.Spec.VolumeMode = ptrTo(corev1.PersistentVolumeFilesystem)
		}
		if claim.Status.Phase == "" {
			claim.Status.Phase = corev1.ClaimPending
		}
	}
	defaultPodTemplate(&spec.Template)
}

func (statefulSetStrategy) Validate(obj runtime.Object) field.ErrorList {
	ss := obj.(*appsv1.StatefulSet)
	spec, path := &ss.Spec, field.NewPath("spec")
	errs := validateMeta(ss, true, validation.NameIsDNSSubdomain)
	errs = append(errs, validateReplicas(spec.Replicas, path)...)
	if spec.ServiceName != "" {
		errs = append(errs, validateDNS1123Label(spec.ServiceName, path.Child("serviceName"))...)
	}
	errs = append(errs, supported(spec.PodManagementPolicy, path.Child("podManagementPolicy"),
		appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement)...)
	errs = append(errs, validateStatefulSetUpdateStrategy(&spec.UpdateStrategy, path.Child("updateStrategy"))...)
	errs = append(errs, validateRevisionHistoryLimit(spec.RevisionHistoryLimit, path)...)
	errs = append(errs, nonNegative(int64(spec.MinReadySeconds), path.Child("minReadySeconds"))...)
	if spec.Ordinals != nil {
		errs = append(errs, nonNegative(int64(spec.Ordinals.Start), path.Child("ordinals", "start"))...)
	}
	if p := spec.PersistentVolumeClaimRetentionPolicy; p != nil {
		pp := path.Child("persistentVolumeClaimRetentionPolicy")
		for _, f := range []struct {
			name  string
			value appsv1.PersistentVolumeClaimRetentionPolicyType
		}{{"whenDeleted", p.WhenDeleted}, {"whenScaled", p.WhenScaled}} {
			errs = append(errs, supported(f.value, pp.Child(f.name),
				appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.DeletePersistentVolumeClaimRetentionPolicyType)...)
		}
	}
	claimNames := make([]string, 0, len(spec.VolumeClaimTemplates))
	for i := range spec.VolumeClaimTemplates {
		claim := &spec.VolumeClaimTemplates[i]
		claimNames = append(claimNames, claim.Name)
		errs = append(errs, validateClaimTemplate(claim, path.Child("volumeClaimTemplates").Index(i))...)
	}
	errs = append(errs, validateSelectorAndTemplate("statefulset", spec.Selector, &spec.Template, path, claimNames...)...)
	return append(errs, validateLongRunningTemplate("StatefulSet", &spec.Template.Spec, path)...)
}

func validateStatefulSetUpdateStrategy(s *appsv1.StatefulSetUpdateStrategy, path *field.Path) field.ErrorList {
	errs := supported(s.Type, path.Child("type"), appsv1.RollingUpdateStatefulSetStrategyType, appsv1.OnDeleteStatefulSetStrategyType)
	ru, ruPath := s.RollingUpdate, path.Child("rollingUpdate")
	if ru == nil {
		return errs
	}
	if s.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return append(errs, field.Invalid(ruPath, ru, fmt.Sprintf("only allowed for updateStrategy '%s'", appsv1.RollingUpdateStatefulSetStrategyType)))
	}
	if ru.Partition != nil {
		errs = append(errs, nonNegative(int64(*ru.Partition), ruPath.Child("partition"))...)
	}
	if ru.MaxUnavailable != nil {
		errs = append(errs, validateIntOrPercent(ru.MaxUnavailable, ruPath.Child("maxUnavailable"))...)
		errs = append(errs, notMoreThan100Percent(ru.MaxUnavailable, ruPath.Child("maxUnavailable"))...)
		if intOrPercentValue(ru.MaxUnavailable) == 0 {
			errs = append(errs, field.Invalid(ruPath.Child("maxUnavailable"), ru.MaxUnavailable, "cannot be 0"))
		}
	}
	return errs
}

// validateClaimTemplate checks what every claim a StatefulSet stamps out
// needs: a name its pods' volumeMounts can use, access modes and a size.
func validateClaimTemplate(claim *corev1.PersistentVolumeClaim, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if claim.Name == "" {
		errs = append(errs, field.Required(path.Child("metadata", "name"), ""))
	} else {
		errs = append(errs, validateDNS1123Subdomain(claim.Name, path.Child("metadata", "name"))...)
	}
	if len(claim.Spec.AccessModes) == 0 {
		errs = append(errs, field.Required(path.Child("spec", "accessModes"), "at least 1 access mode is required"))
	}
	for i, m := range claim.Spec.AccessModes {
		errs = append(errs, supported(m, path.Child("spec", "accessModes").Index(i), corev1.ReadWriteOnce,
			corev1.ReadOnlyMany, corev1.ReadWriteMany, corev1.ReadWriteOncePod)...)
	}
	storage := path.Child("spec", "resources", "requests").Key(string(corev1.ResourceStorage))
	if q, ok := claim.Spec.Resources.Requests[corev1.ResourceStorage]; !ok {
		errs = append(errs, field.Required(storage, ""))
	} else if q.Sign() <= 0 {
		errs = append(errs, field.Invalid(storage, q.String(), "must be greater than zero"))
	}
	return errs
}

func (s statefulSetStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	ss, oldSS := obj.(*appsv1.StatefulSet), old.(*appsv1.StatefulSet)
	errs := append(s.Validate(ss), validateMetaUpdate(ss, oldSS)...)
	errs = append(errs, validateSelectorUpdate(ss.Spec.Selector, oldSS.Spec.Selector)...)
	// Everything but a few fields is fixed: compare with those put back.
	munged := ss.Spec.DeepCopy()
	munged.Selector = oldSS.Spec.Selector // reported above
	munged.Replicas = oldSS.Spec.Replicas
	munged.Ordinals = oldSS.Spec.Ordinals
	munged.Template = oldSS.Spec.Template
	munged.UpdateStrategy = oldSS.Spec.UpdateStrategy
	munged.RevisionHistoryLimit = oldSS.Spec.RevisionHistoryLimit
	munged.PersistentVolumeClaimRetentionPolicy = oldSS.Spec.PersistentVolumeClaimRetentionPolicy
	munged.MinReadySeconds = oldSS.Spec.MinReadySeconds
	if !semanticEqual(munged, &oldSS.Spec) {
		errs = append(errs, field.Forbidden(field.NewPath("spec"), statefulSetUpdateForbiddenMsg))
	}
	return errs
}

func (statefulSetStrategy) FieldSet(obj runtime.Object) fields.Set {
	return namespacedFields(obj.(metav1.Object), nil)
}
