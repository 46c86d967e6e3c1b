package registry

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// endpointSliceStrategy holds the rules of discovery.k8s.io/v1
// EndpointSlices.
type endpointSliceStrategy struct{}

const (
	maxEndpointsPerSlice    = 1000
	maxPortsPerSlice        = 100
	maxAddressesPerEndpoint = 100
)

func (endpointSliceStrategy) Default(obj runtime.Object) {
	slice := obj.(*discoveryv1.EndpointSlice)
	for i := range slice.Ports {
		p := &slice.Ports[i]
		if p.Name == nil {
			p.Name = ptrTo("")
		}
		if p.Protocol == nil {
			p.Protocol = ptrTo(corev1.ProtocolTCP)
		}
	}
}

func (endpointSliceStrategy) Validate(obj runtime.Object) field.ErrorList {
	slice := obj.(*discoveryv1.EndpointSlice)
	errs := validateMeta(slice, true, validation.NameIsDNSSubdomain)
	errs = append(errs, supported(slice.AddressType, field.NewPath("addressType"),
		discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6, discoveryv1.AddressTypeFQDN)...)
	errs = append(errs, validateSliceEndpoints(slice.Endpoints, slice.AddressType, field.NewPath("endpoints"))...)
	errs = append(errs, validateSlicePorts(slice.Ports, field.NewPath("ports"))...)
	return errs
}

func validateSliceEndpoints(endpoints []discoveryv1.Endpoint, addressType discoveryv1.AddressType, path *field.Path) field.ErrorList {
	if len(endpoints) > maxEndpointsPerSlice {
		return field.ErrorList{field.TooMany(path, len(endpoints), maxEndpointsPerSlice)}
	}
	var errs field.ErrorList
	for i, ep := range endpoints {
		idx := path.Index(i)
		addrPath := idx.Child("addresses")
		switch {
		case len(ep.Addresses) == 0:
			errs = append(errs, field.Required(addrPath, "must contain at least 1 address"))
		case len(ep.Addresses) > maxAddressesPerEndpoint:
			errs = append(errs, field.TooMany(addrPath, len(ep.Addresses), maxAddressesPerEndpoint))
		}
		for j, addr := range ep.Addresses {
			errs = append(errs, validateSliceAddress(addr, addressType, addrPath.Index(j))...)
		}
		if ep.NodeName != nil {
			errs = append(errs, validateDNS1123Subdomain(*ep.NodeName, idx.Child("nodeName"))...)
		}
		if ep.Hostname != nil {
			errs = append(errs, validateDNS1123Label(*ep.Hostname, idx.Child("hostname"))...)
		}
		if ep.TargetRef != nil && ep.TargetRef.Namespace != "" {
			errs = append(errs, invalidEach(idx.Child("targetRef", "namespace"), ep.TargetRef.Namespace, validation.ValidateNamespaceName(ep.TargetRef.Namespace, false))...)
		}
		errs = append(errs, metav1validation.ValidateLabels(ep.DeprecatedTopology, idx.Child("deprecatedTopology"))...)
	}
	return errs
}

// validateSliceAddress checks an address against the slice's type;
// addresses of unknown types are left alone, as upstream does.
func validateSliceAddress(addr string, addressType discoveryv1.AddressType, path *field.Path) field.ErrorList {
	switch addressType {
	case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6:
		if errs := validateEndpointIP(addr, path); len(errs) > 0 {
			return errs
		}
		if is4 := netip.MustParseAddr(addr).Is4(); is4 != (addressType == discoveryv1.AddressTypeIPv4) {
			return field.ErrorList{field.Invalid(path, addr, "must be a valid "+string(addressType)+" address")}
		}
	case discoveryv1.AddressTypeFQDN:
		return utilvalidation.IsFullyQualifiedDomainName(path, addr)
	}
	return nil
}

func validateSlicePorts(ports []discoveryv1.EndpointPort, path *field.Path) field.ErrorList {
	if len(ports) > maxPortsPerSlice {
		return field.ErrorList{field.TooMany(path, len(ports), maxPortsPerSlice)}
	}
	var errs field.ErrorList
	names := sets.New[string]()
	for i, p := range ports {
		idx := path.Index(i)
		name := ""
		if p.Name != nil {
			name = *p.Name
		}
		if name != "" {
			errs = append(errs, validateDNS1123Label(name, idx.Child("name"))...)
		}
		if names.Has(name) {
			errs = append(errs, field.Duplicate(idx.Child("name"), name))
		}
		names.Insert(name)
		if p.Protocol == nil {
			errs = append(errs, field.Required(idx.Child("protocol"), ""))
		} else {
			errs = append(errs, validateProtocol(*p.Protocol, idx.Child("protocol"))...)
		}
		if p.Port != nil {
			errs = append(errs, validatePortNumber(*p.Port, idx.Child("port"))...)
		}
		if p.AppProtocol != nil {
			errs = append(errs, validateQualifiedName(*p.AppProtocol, idx.Child("appProtocol"))...)
		}
	}
	return errs
}

func (s endpointSliceStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	slice, oldSlice := obj.(*discoveryv1.EndpointSlice), old.(*discoveryv1.EndpointSlice)
	errs := s.Validate(slice)
	errs = append(errs, validateMetaUpdate(slice, oldSlice)...)
	return append(errs, immutable(slice.AddressType, oldSlice.AddressType, field.NewPath("addressType"))...)
}

func (endpointSliceStrategy) FieldSet(obj runtime.Object) fields.Set {
	return namespacedFields(obj.(metav1.Object), nil)
}
