package registry

import (
	"net/netip"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// nodeStrategy holds the rules of core/v1 Nodes.
type nodeStrategy struct{}

const podCIDRChangeMsg = "node updates may not change podCIDR except from \"\" to valid"

func (nodeStrategy) Default(obj runtime.Object) {
	node := obj.(*corev1.Node)
	// podCIDR is podCIDRs[0]: fill one from the other.
	if node.Spec.PodCIDR == "" && len(node.Spec.PodCIDRs) > 0 {
		node.Spec.PodCIDR = node.Spec.PodCIDRs[0]
	}
	if node.Spec.PodCIDR != "" && len(node.Spec.PodCIDRs) == 0 {
		node.Spec.PodCIDRs = []string{node.Spec.PodCIDR}
	}
	if node.Status.Allocatable == nil && node.Status.Capacity != nil {
		node.Status.Allocatable = node.Status.Capacity.DeepCopy()
	}
}

func (nodeStrategy) Validate(obj runtime.Object) field.ErrorList {
	node := obj.(*corev1.Node)
	errs := validateMeta(node, false, validation.NameIsDNSSubdomain)
	errs = append(errs, validateTaints(node.Spec.Taints, field.NewPath("spec", "taints"))...)
	errs = append(errs, validatePodCIDRs(&node.Spec, field.NewPath("spec"))...)
	for _, list := range []struct {
		name      string
		resources corev1.ResourceList
	}{{"capacity", node.Status.Capacity}, {"allocatable", node.Status.Allocatable}} {
		for _, name := range sortedResourceNames(list.resources) {
			if q := list.resources[name]; q.Sign() < 0 {
				errs = append(errs, field.Invalid(field.NewPath("status", list.name).Key(string(name)), q.String(), "must be greater than or equal to 0"))
			}
		}
	}
	return errs
}

func validateTaints(taints []corev1.Taint, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := sets.New[string]()
	for i, t := range taints {
		idx := path.Index(i)
		errs = append(errs, metav1validation.ValidateLabelName(t.Key, idx.Child("key"))...)
		errs = append(errs, validateLabelValue(t.Value, idx.Child("value"))...)
		errs = append(errs, validateTaintEffect(t.Effect, idx.Child("effect"))...)
		if key := t.Key + ":" + string(t.Effect); seen.Has(key) {
			dup := field.Duplicate(idx, t)
			dup.Detail = "taints must be unique by key and effect pair"
			errs = append(errs, dup)
		} else {
			seen.Insert(key)
		}
	}
	return errs
}

// validatePodCIDRs checks that the pod CIDRs are CIDRs, at most one per IP
// family, and that podCIDR is podCIDRs[0].
func validatePodCIDRs(spec *corev1.NodeSpec, specPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if spec.PodCIDR != "" && len(spec.PodCIDRs) > 0 && spec.PodCIDR != spec.PodCIDRs[0] {
		errs = append(errs, field.Invalid(specPath.Child("podCIDR"), spec.PodCIDR, "must match the first element of `podCIDRs`"))
	}
	path := specPath.Child("podCIDRs")
	var prefixes []netip.Prefix
	for i, cidr := range spec.PodCIDRs {
		if cidrErrs := utilvalidation.IsValidCIDR(path.Index(i), cidr); len(cidrErrs) > 0 {
			errs = append(errs, cidrErrs...)
			continue
		}
		prefixes = append(prefixes, netip.MustParsePrefix(cidr))
	}
	if len(spec.PodCIDRs) > 2 || (len(prefixes) == 2 && prefixes[0].Addr().Is4() == prefixes[1].Addr().Is4()) {
		errs = append(errs, field.Invalid(path, spec.PodCIDRs, "may specify no more than one CIDR for each IP family"))
	}
	return errs
}

func (s nodeStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	node, oldNode := obj.(*corev1.Node), old.(*corev1.Node)
	errs := s.Validate(node)
	errs = append(errs, validateMetaUpdate(node, oldNode)...)
	// The controller manager assigns pod CIDRs once; they never change.
	if len(oldNode.Spec.PodCIDRs) > 0 {
		path := field.NewPath("spec", "podCIDRs")
		if len(oldNode.Spec.PodCIDRs) != len(node.Spec.PodCIDRs) {
			errs = append(errs, field.Forbidden(path, podCIDRChangeMsg))
		} else {
			for i, cidr := range oldNode.Spec.PodCIDRs {
				if node.Spec.PodCIDRs[i] != cidr {
					errs = append(errs, field.Forbidden(path.Index(i), podCIDRChangeMsg))
				}
			}
		}
	}
	if oldNode.Spec.ProviderID != "" && node.Spec.ProviderID != oldNode.Spec.ProviderID {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "providerID"), "node updates may not change providerID except from \"\" to valid"))
	}
	addresses := sets.New[corev1.NodeAddress]()
	for i, a := range node.Status.Addresses {
		if addresses.Has(a) {
			errs = append(errs, field.Duplicate(field.NewPath("status", "addresses").Index(i), a))
		}
		addresses.Insert(a)
	}
	return errs
}

func (nodeStrategy) FieldSet(obj runtime.Object) fields.Set {
	node := obj.(*corev1.Node)
	return clusterFields(node, fields.Set{"spec.unschedulable": strconv.FormatBool(node.Spec.Unschedulable)})
}
