package registry

import (
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// podStrategy holds the rules of core/v1 Pods. Besides upstream's v1
// defaults it applies what upstream's admission plugins add to every pod:
// the "default" service account (ServiceAccount), the not-ready and
// unreachable tolerations (DefaultTolerationSeconds). The priority and
// preemptionPolicy (Priority) need the stored PriorityClasses: the
// handler's admission sets them. A new pod's status (Pending, QoS class)
// is the handler's.
type podStrategy struct{}

const (
	defaultServiceAccountName = "default"
	// defaultTolerationSeconds is how long a pod stays bound to a node that
	// is not ready or unreachable before it is evicted.
	defaultTolerationSeconds = 300

	podUpdateForbiddenMsg = "pod updates may not change fields other than `spec.containers[*].image`," +
		"`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`," +
		"`spec.tolerations` (only additions to existing tolerations)," +
		"`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
)

func (podStrategy) Default(obj runtime.Object) {
	pod := obj.(*corev1.Pod)
	spec := &pod.Spec
	defaultPodSpec(spec)
	if spec.ServiceAccountName == "" {
		spec.ServiceAccountName = defaultServiceAccountName
		spec.DeprecatedServiceAccount = defaultServiceAccountName
	}
	if spec.EnableServiceLinks == nil {
		spec.EnableServiceLinks = ptrTo(corev1.DefaultEnableServiceLinks)
	}
	for _, containers := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range containers {
			c := &containers[i]
			defaultRequestsToLimits(&c.Resources)
			if spec.HostNetwork {
				for j := range c.Ports {
					if c.Ports[j].HostPort == 0 {
						c.Ports[j].HostPort = c.Ports[j].ContainerPort
					}
				}
			}
		}
	}
	addDefaultTolerations(spec)
}

// defaultRequestsToLimits sets each unset request to its limit.
func defaultRequestsToLimits(r *corev1.ResourceRequirements) {
	for name, limit := range r.Limits {
		if _, ok := r.Requests[name]; ok {
			continue
		}
		if r.Requests == nil {
			r.Requests = corev1.ResourceList{}
		}
		r.Requests[name] = limit.DeepCopy()
	}
}

// addDefaultTolerations lets a pod stay 300s on a node that became not
// ready or unreachable, unless the pod already tolerates that taint.
func addDefaultTolerations(spec *corev1.PodSpec) {
	for _, key := range []string{corev1.TaintNodeNotReady, corev1.TaintNodeUnreachable} {
		tolerated := false
		for _, t := range spec.Tolerations {
			if (t.Key == key || t.Key == "") && (t.Effect == corev1.TaintEffectNoExecute || t.Effect == "") {
				tolerated = true
			}
		}
		if !tolerated {
			spec.Tolerations = append(spec.Tolerations, corev1.Toleration{
				Key:               key,
				Operator:          corev1.TolerationOpExists,
				Effect:            corev1.TaintEffectNoExecute,
				TolerationSeconds: ptrTo[int64](defaultTolerationSeconds),
			})
		}
	}
}

func (podStrategy) Validate(obj runtime.Object) field.ErrorList {
	pod := obj.(*corev1.Pod)
	errs := validatePod(pod)
	if len(pod.Spec.EphemeralContainers) > 0 {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "ephemeralContainers"), "cannot be set on create"))
	}
	return errs
}

// validatePod checks what both create and update require.
func validatePod(pod *corev1.Pod) field.ErrorList {
	specPath := field.NewPath("spec")
	errs := validateMeta(pod, true, validation.NameIsDNSSubdomain)
	errs = append(errs, validatePodSpec(&pod.Spec, specPath)...)
	for _, list := range []struct {
		name       string
		containers []corev1.Container
	}{{"containers", pod.Spec.Containers}, {"initContainers", pod.Spec.InitContainers}} {
		for i, c := range list.containers {
			if c.Image != strings.TrimSpace(c.Image) {
				errs = append(errs, field.Invalid(specPath.Child(list.name).Index(i).Child("image"), c.Image, "must not have leading or trailing whitespace"))
			}
		}
	}
	return errs
}

func (podStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	pod, oldPod := obj.(*corev1.Pod), old.(*corev1.Pod)
	errs := validatePod(pod)
	errs = append(errs, validateMetaUpdate(pod, oldPod)...)
	return append(errs, validatePodSpecUpdate(&pod.Spec, &oldPod.Spec, field.NewPath("spec"))...)
}

// validatePodSpecUpdate enforces that a pod's spec is immutable except for
// container images, activeDeadlineSeconds (set or lowered), added
// tolerations and terminationGracePeriodSeconds (negative to 1). In
// particular spec.nodeName never changes through an update: pods are bound
// through the binding subresource.
func validatePodSpecUpdate(spec, old *corev1.PodSpec, path *field.Path) field.ErrorList {
	if len(spec.Containers) != len(old.Containers) {
		return field.ErrorList{field.Forbidden(path.Child("containers"), "pod updates may not add or remove containers")}
	}
	if len(spec.InitContainers) != len(old.InitContainers) {
		return field.ErrorList{field.Forbidden(path.Child("initContainers"), "pod updates may not add or remove containers")}
	}
	errs := validateActiveDeadlineUpdate(spec.ActiveDeadlineSeconds, old.ActiveDeadlineSeconds, path.Child("activeDeadlineSeconds"))
	errs = append(errs, validateOnlyAddedTolerations(spec.Tolerations, old.Tolerations, path.Child("tolerations"))...)

	// Compare everything else with the updatable fields put back.
	munged := spec.DeepCopy()
	for i := range munged.Containers {
		munged.Containers[i].Image = old.Containers[i].Image
	}
	for i := range munged.InitContainers {
		munged.InitContainers[i].Image = old.InitContainers[i].Image
	}
	munged.ActiveDeadlineSeconds = old.ActiveDeadlineSeconds
	munged.Tolerations = old.Tolerations
	if g, oldG := spec.TerminationGracePeriodSeconds, old.TerminationGracePeriodSeconds; g != nil && oldG != nil && *oldG < 0 && *g == 1 {
		munged.TerminationGracePeriodSeconds = oldG
	}
	if !semanticEqual(munged, old) {
		errs = append(errs, field.Forbidden(path, podUpdateForbiddenMsg+"\n  changed: "+strings.Join(changedFields(munged, old), ", ")))
	}
	return errs
}

// validateActiveDeadlineUpdate allows setting activeDeadlineSeconds or
// lowering it, never raising or removing it.
func validateActiveDeadlineUpdate(value, old *int64, path *field.Path) field.ErrorList {
	switch {
	case value == nil && old != nil:
		return field.ErrorList{field.Invalid(path, value, "must not update from a positive integer to nil value")}
	case value == nil:
		return nil
	case *value < 0 || *value > maxInt32:
		return validateInt32Range(*value, 0, maxInt32, path)
	case old != nil && *old < *value:
		return field.ErrorList{field.Invalid(path, *value, "must be less than or equal to previous value")}
	}
	return nil
}

// validateOnlyAddedTolerations requires every old toleration to still be
// present; only its tolerationSeconds may change.
func validateOnlyAddedTolerations(tolerations, old []corev1.Toleration, path *field.Path) field.ErrorList {
	for _, o := range old {
		found := false
		for _, t := range tolerations {
			o.TolerationSeconds = t.TolerationSeconds
			if semanticEqual(o, t) {
				found = true
				break
			}
		}
		if !found {
			return field.ErrorList{field.Forbidden(path, "existing toleration can not be modified except its tolerationSeconds")}
		}
	}
	return nil
}

func (podStrategy) FieldSet(obj runtime.Object) fields.Set {
	pod := obj.(*corev1.Pod)
	podIP := pod.Status.PodIP
	if podIP == "" && len(pod.Status.PodIPs) > 0 {
		podIP = pod.Status.PodIPs[0].IP
	}
	return namespacedFields(pod, fields.Set{
		"spec.nodeName":            pod.Spec.NodeName,
		"spec.restartPolicy":       string(pod.Spec.RestartPolicy),
		"spec.schedulerName":       pod.Spec.SchedulerName,
		"spec.serviceAccountName":  pod.Spec.ServiceAccountName,
		"spec.hostNetwork":         strconv.FormatBool(pod.Spec.HostNetwork),
		"status.phase":             string(pod.Status.Phase),
		"status.podIP":             podIP,
		"status.nominatedNodeName": pod.Status.NominatedNodeName,
	})
}
