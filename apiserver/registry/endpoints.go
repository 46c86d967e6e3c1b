package registry

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// endpointsStrategy holds the rules of core/v1 Endpoints.
type endpointsStrategy struct{}

func (endpointsStrategy) Default(obj runtime.Object) {
	ep := obj.(*corev1.Endpoints)
	for i := range ep.Subsets {
		for j := range ep.Subsets[i].Ports {
			if p := &ep.Subsets[i].Ports[j]; p.Protocol == "" {
				p.Protocol = corev1.ProtocolTCP
			}
		}
	}
}

func (endpointsStrategy) Validate(obj runtime.Object) field.ErrorList {
	ep := obj.(*corev1.Endpoints)
	errs := validateMeta(ep, true, validation.NameIsDNSSubdomain)
	for i := range ep.Subsets {
		errs = append(errs, validateEndpointSubset(&ep.Subsets[i], field.NewPath("subsets").Index(i))...)
	}
	return errs
}

func validateEndpointSubset(ss *corev1.EndpointSubset, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(ss.Addresses) == 0 && len(ss.NotReadyAddresses) == 0 {
		errs = append(errs, field.Required(path, "must specify `addresses` or `notReadyAddresses`"))
	}
	for i := range ss.Addresses {
		errs = append(errs, validateEndpointAddress(&ss.Addresses[i], path.Child("addresses").Index(i))...)
	}
	for i := range ss.NotReadyAddresses {
		errs = append(errs, validateEndpointAddress(&ss.NotReadyAddresses[i], path.Child("notReadyAddresses").Index(i))...)
	}
	for i, p := range ss.Ports {
		idx := path.Child("ports").Index(i)
		switch {
		case p.Name == "" && len(ss.Ports) > 1:
			errs = append(errs, field.Required(idx.Child("name"), ""))
		case p.Name != "":
			errs = append(errs, validateDNS1123Label(p.Name, idx.Child("name"))...)
		}
		errs = append(errs, validatePortNumber(p.Port, idx.Child("port"))...)
		errs = append(errs, validateProtocol(p.Protocol, idx.Child("protocol"))...)
		if p.AppProtocol != nil {
			errs = append(errs, validateQualifiedName(*p.AppProtocol, idx.Child("appProtocol"))...)
		}
	}
	return errs
}

func validateEndpointAddress(a *corev1.EndpointAddress, path *field.Path) field.ErrorList {
	errs := validateEndpointIP(a.IP, path.Child("ip"))
	if a.Hostname != "" {
		errs = append(errs, validateDNS1123Label(a.Hostname, path.Child("hostname"))...)
	}
	if a.NodeName != nil {
		errs = append(errs, validateDNS1123Subdomain(*a.NodeName, path.Child("nodeName"))...)
	}
	return errs
}

func (s endpointsStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	ep, oldEp := obj.(*corev1.Endpoints), old.(*corev1.Endpoints)
	return append(s.Validate(ep), validateMetaUpdate(ep, oldEp)...)
}

func (endpointsStrategy) FieldSet(obj runtime.Object) fields.Set {
	return namespacedFields(obj.(metav1.Object), nil)
}
