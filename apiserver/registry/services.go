package registry

import (
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// serviceStrategy holds the rules of core/v1 Services. Cluster IP and node
// port allocation are the handler's; this checks what users write.
type serviceStrategy struct{}

const (
	// defaultClientIPTimeoutSeconds is the ClientIP affinity timeout, 3h.
	defaultClientIPTimeoutSeconds = 10800
	maxClientIPTimeoutSeconds     = 86400
)

func (serviceStrategy) Default(obj runtime.Object) {
	svc := obj.(*corev1.Service)
	spec := &svc.Spec
	if spec.Type == "" {
		spec.Type = corev1.ServiceTypeClusterIP
	}
	if spec.SessionAffinity == "" {
		spec.SessionAffinity = corev1.ServiceAffinityNone
	}
	if spec.SessionAffinity == corev1.ServiceAffinityClientIP &&
		(spec.SessionAffinityConfig == nil || spec.SessionAffinityConfig.ClientIP == nil || spec.SessionAffinityConfig.ClientIP.TimeoutSeconds == nil) {
		spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{
			ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptrTo[int32](defaultClientIPTimeoutSeconds)},
		}
	}
	for i := range spec.Ports {
		p := &spec.Ports[i]
		if p.Protocol == "" {
			p.Protocol = corev1.ProtocolTCP
		}
		if p.TargetPort == intstr.FromInt32(0) || p.TargetPort == intstr.FromString("") {
			p.TargetPort = intstr.FromInt32(p.Port)
		}
	}
	if externallyAccessible(svc) && spec.ExternalTrafficPolicy == "" {
		spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
	}
	if spec.Type == corev1.ServiceTypeLoadBalancer && spec.AllocateLoadBalancerNodePorts == nil {
		spec.AllocateLoadBalancerNodePorts = ptrTo(true)
	}
	if spec.Type == corev1.ServiceTypeExternalName {
		return // no cluster IP, hence no IP family or internal policy
	}
	if spec.InternalTrafficPolicy == nil {
		spec.InternalTrafficPolicy = ptrTo(corev1.ServiceInternalTrafficPolicyCluster)
	}
	// clusterIP and clusterIPs[0] are the same address: fill one from the other.
	if spec.ClusterIP == "" && len(spec.ClusterIPs) > 0 {
		spec.ClusterIP = spec.ClusterIPs[0]
	}
	if spec.ClusterIP != "" && len(spec.ClusterIPs) == 0 {
		spec.ClusterIPs = []string{spec.ClusterIP}
	}
	if spec.IPFamilyPolicy == nil {
		spec.IPFamilyPolicy = ptrTo(corev1.IPFamilyPolicySingleStack)
	}
	if len(spec.IPFamilies) == 0 {
		family := corev1.IPv4Protocol
		if addr, err := netip.ParseAddr(spec.ClusterIP); err == nil && addr.Is6() {
			family = corev1.IPv6Protocol
		}
		spec.IPFamilies = []corev1.IPFamily{family}
	}
}

// externallyAccessible is true for services reachable from outside the
// cluster: NodePort, LoadBalancer, or ClusterIP with external IPs.
func externallyAccessible(svc *corev1.Service) bool {
	switch svc.Spec.Type {
	case corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer:
		return true
	case corev1.ServiceTypeClusterIP:
		return len(svc.Spec.ExternalIPs) > 0
	}
	return false
}

func isHeadless(svc *corev1.Service) bool {
	return svc.Spec.ClusterIP == corev1.ClusterIPNone
}

func (serviceStrategy) Validate(obj runtime.Object) field.ErrorList {
	return validateService(obj.(*corev1.Service), nil)
}

// validateService checks a service; old is the stored service on update.
// Fields that only fit the old type (node ports, traffic policies) may be
// carried over unchanged when the type changes, as upstream drops them;
// the handler clears node ports.
func validateService(svc, old *corev1.Service) field.ErrorList {
	spec := &svc.Spec
	specPath := field.NewPath("spec")
	errs := validateMeta(svc, true, validation.NameIsDNS1035Label)

	errs = append(errs, supported(spec.Type, specPath.Child("type"), corev1.ServiceTypeClusterIP,
		corev1.ServiceTypeExternalName, corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort)...)
	if len(spec.Ports) == 0 && !isHeadless(svc) && spec.Type != corev1.ServiceTypeExternalName {
		errs = append(errs, field.Required(specPath.Child("ports"), ""))
	}
	switch spec.Type {
	case corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer:
		if isHeadless(svc) {
			errs = append(errs, field.Invalid(specPath.Child("clusterIP"), spec.ClusterIP,
				fmt.Sprintf("may not be set to 'None' for %s services", spec.Type)))
		}
	case corev1.ServiceTypeExternalName:
		errs = append(errs, validateExternalName(svc, specPath)...)
	}
	errs = append(errs, validateServicePorts(svc, old, specPath.Child("ports"))...)
	errs = append(errs, metav1validation.ValidateLabels(spec.Selector, specPath.Child("selector"))...)
	errs = append(errs, validateSessionAffinity(spec, specPath)...)
	errs = append(errs, validateClusterIPs(svc, specPath)...)
	for i, ip := range spec.ExternalIPs {
		errs = append(errs, validateEndpointIP(ip, specPath.Child("externalIPs").Index(i))...)
	}
	errs = append(errs, validateTrafficPolicies(svc, old, specPath)...)
	return errs
}

func validateExternalName(svc *corev1.Service, specPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	const msg = "may not be set for ExternalName services"
	if svc.Spec.ClusterIP != "" || len(svc.Spec.ClusterIPs) > 0 {
		errs = append(errs, field.Forbidden(specPath.Child("clusterIP"), msg))
	}
	if len(svc.Spec.IPFamilies) > 0 {
		errs = append(errs, field.Forbidden(specPath.Child("ipFamilies"), msg))
	}
	if svc.Spec.IPFamilyPolicy != nil {
		errs = append(errs, field.Forbidden(specPath.Child("ipFamilyPolicy"), msg))
	}
	// A trailing dot marks the name as fully qualified.
	if name := strings.TrimSuffix(svc.Spec.ExternalName, "."); name == "" {
		errs = append(errs, field.Required(specPath.Child("externalName"), ""))
	} else {
		errs = append(errs, validateDNS1123Subdomain(name, specPath.Child("externalName"))...)
	}
	return errs
}

func validateServicePorts(svc, old *corev1.Service, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := sets.New[string]()
	ports := sets.New[string]()
	nodePorts := sets.New[string]()
	for i, p := range svc.Spec.Ports {
		idx := path.Index(i)
		switch {
		case p.Name == "" && len(svc.Spec.Ports) > 1:
			errs = append(errs, field.Required(idx.Child("name"), ""))
		case p.Name != "":
			errs = append(errs, validateDNS1123Label(p.Name, idx.Child("name"))...)
			if names.Has(p.Name) {
				errs = append(errs, field.Duplicate(idx.Child("name"), p.Name))
			}
			names.Insert(p.Name)
		}
		errs = append(errs, validatePortNumber(p.Port, idx.Child("port"))...)
		errs = append(errs, validateProtocol(p.Protocol, idx.Child("protocol"))...)
		errs = append(errs, validatePortNumOrName(p.TargetPort, idx.Child("targetPort"))...)
		if p.AppProtocol != nil {
			errs = append(errs, validateQualifiedName(*p.AppProtocol, idx.Child("appProtocol"))...)
		}
		if key := fmt.Sprintf("%d/%s", p.Port, p.Protocol); ports.Has(key) {
			errs = append(errs, field.Duplicate(idx, key))
		} else {
			ports.Insert(key)
		}
		if p.NodePort == 0 {
			continue
		}
		switch {
		case needsNodePorts(svc):
			errs = append(errs, validatePortNumber(p.NodePort, idx.Child("nodePort"))...)
		case !hadNodePort(old, p.NodePort):
			errs = append(errs, field.Forbidden(idx.Child("nodePort"), fmt.Sprintf("may not be used when `type` is '%s'", svc.Spec.Type)))
		}
		if key := fmt.Sprintf("%d/%s", p.NodePort, p.Protocol); nodePorts.Has(key) {
			errs = append(errs, field.Duplicate(idx.Child("nodePort"), p.NodePort))
		} else {
			nodePorts.Insert(key)
		}
	}
	return errs
}

func needsNodePorts(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer
}

// hadNodePort is true when old (if any) had node ports, one of them port.
func hadNodePort(old *corev1.Service, port int32) bool {
	if old == nil || !needsNodePorts(old) {
		return false
	}
	for _, p := range old.Spec.Ports {
		if p.NodePort == port {
			return true
		}
	}
	return false
}

func validateSessionAffinity(spec *corev1.ServiceSpec, specPath *field.Path) field.ErrorList {
	errs := supported(spec.SessionAffinity, specPath.Child("sessionAffinity"), corev1.ServiceAffinityClientIP, corev1.ServiceAffinityNone)
	configPath := specPath.Child("sessionAffinityConfig")
	switch spec.SessionAffinity {
	case corev1.ServiceAffinityClientIP:
		c := spec.SessionAffinityConfig
		if c == nil || c.ClientIP == nil || c.ClientIP.TimeoutSeconds == nil {
			return append(errs, field.Required(configPath, fmt.Sprintf("when session affinity type is %s", corev1.ServiceAffinityClientIP)))
		}
		if t := *c.ClientIP.TimeoutSeconds; t <= 0 || t > maxClientIPTimeoutSeconds {
			errs = append(errs, field.Invalid(configPath.Child("clientIP", "timeoutSeconds"), t,
				fmt.Sprintf("must be greater than 0 and less than %d", maxClientIPTimeoutSeconds)))
		}
	case corev1.ServiceAffinityNone:
		if spec.SessionAffinityConfig != nil {
			errs = append(errs, field.Forbidden(configPath, fmt.Sprintf("must not be set when session affinity is %s", corev1.ServiceAffinityNone)))
		}
	}
	return errs
}

// validateClusterIPs checks clusterIP/clusterIPs agreement, the addresses
// themselves and their IP families.
func validateClusterIPs(svc *corev1.Service, specPath *field.Path) field.ErrorList {
	spec := &svc.Spec
	if spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	var errs field.ErrorList
	ipsPath := specPath.Child("clusterIPs")
	switch {
	case spec.ClusterIP != "" && len(spec.ClusterIPs) == 0:
		errs = append(errs, field.Required(ipsPath, ""))
	case spec.ClusterIP != "" && spec.ClusterIPs[0] != spec.ClusterIP:
		errs = append(errs, field.Invalid(ipsPath, spec.ClusterIPs, "first value must match `clusterIP`"))
	case spec.ClusterIP == "" && len(spec.ClusterIPs) > 0:
		errs = append(errs, field.Invalid(ipsPath, spec.ClusterIPs, "must be empty when `clusterIP` is not specified"))
	}
	families := sets.New[corev1.IPFamily]()
	for i, f := range spec.IPFamilies {
		errs = append(errs, supported(f, specPath.Child("ipFamilies").Index(i), corev1.IPv4Protocol, corev1.IPv6Protocol)...)
		if families.Has(f) {
			errs = append(errs, field.Duplicate(specPath.Child("ipFamilies").Index(i), f))
		}
		families.Insert(f)
	}
	if p := spec.IPFamilyPolicy; p != nil {
		errs = append(errs, supported(*p, specPath.Child("ipFamilyPolicy"), corev1.IPFamilyPolicyPreferDualStack,
			corev1.IPFamilyPolicyRequireDualStack, corev1.IPFamilyPolicySingleStack)...)
	}
	if len(spec.ClusterIPs) > 2 {
		return append(errs, field.Invalid(ipsPath, spec.ClusterIPs, "may only hold up to 2 values"))
	}
	if isHeadless(svc) {
		if len(spec.ClusterIPs) > 1 {
			errs = append(errs, field.Invalid(ipsPath, spec.ClusterIPs, "'None' must be the first and only value"))
		}
		return errs
	}
	var addrs []netip.Addr
	for i, ip := range spec.ClusterIPs {
		if ipErrs := utilvalidation.IsValidIP(ipsPath.Index(i), ip); len(ipErrs) > 0 {
			return append(errs, ipErrs...)
		}
		addrs = append(addrs, netip.MustParseAddr(ip))
	}
	if len(addrs) == 2 && addrs[0].Is4() == addrs[1].Is4() {
		errs = append(errs, field.Invalid(ipsPath, spec.ClusterIPs, "may specify no more than one IP for each IP family"))
	}
	for i, addr := range addrs {
		if i >= len(spec.IPFamilies) {
			break
		}
		want := spec.IPFamilies[i]
		if (want == corev1.IPv4Protocol && !addr.Is4()) || (want == corev1.IPv6Protocol && addr.Is4()) {
			errs = append(errs, field.Invalid(ipsPath.Index(i), spec.ClusterIPs[i],
				fmt.Sprintf("expected an %s value as indicated by `ipFamilies[%d]`", want, i)))
		}
	}
	return errs
}

func validateTrafficPolicies(svc, old *corev1.Service, specPath *field.Path) field.ErrorList {
	spec := &svc.Spec
	var errs field.ErrorList
	etpPath := specPath.Child("externalTrafficPolicy")
	var oldSpec corev1.ServiceSpec // a non-empty value equal to the old one was carried over
	if old != nil {
		oldSpec = old.Spec
	}
	if externallyAccessible(svc) {
		errs = append(errs, supported(spec.ExternalTrafficPolicy, etpPath,
			corev1.ServiceExternalTrafficPolicyCluster, corev1.ServiceExternalTrafficPolicyLocal)...)
	} else if spec.ExternalTrafficPolicy != "" && spec.ExternalTrafficPolicy != oldSpec.ExternalTrafficPolicy {
		errs = append(errs, field.Invalid(etpPath, spec.ExternalTrafficPolicy, "may only be set for externally-accessible services"))
	}
	needsHealthCheck := spec.Type == corev1.ServiceTypeLoadBalancer && spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
	if !needsHealthCheck && spec.HealthCheckNodePort != 0 && spec.HealthCheckNodePort != oldSpec.HealthCheckNodePort {
		errs = append(errs, field.Invalid(specPath.Child("healthCheckNodePort"), spec.HealthCheckNodePort,
			"may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"))
	}
	itpPath := specPath.Child("internalTrafficPolicy")
	if p := spec.InternalTrafficPolicy; p != nil {
		errs = append(errs, supported(*p, itpPath,
			corev1.ServiceInternalTrafficPolicyCluster, corev1.ServiceInternalTrafficPolicyLocal)...)
	} else if spec.Type != corev1.ServiceTypeExternalName {
		errs = append(errs, field.Required(itpPath, ""))
	}
	if d := spec.TrafficDistribution; d != nil {
		errs = append(errs, supported(*d, specPath.Child("trafficDistribution"), corev1.ServiceTrafficDistributionPreferClose,
			corev1.ServiceTrafficDistributionPreferSameNode, corev1.ServiceTrafficDistributionPreferSameZone)...)
	}
	return errs
}

func (serviceStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	svc, oldSvc := obj.(*corev1.Service), old.(*corev1.Service)
	errs := validateService(svc, oldSvc)
	errs = append(errs, validateMetaUpdate(svc, oldSvc)...)
	// A cluster IP, once allocated, stays until the service stops having
	// one (it becomes an ExternalName service).
	bothHaveIP := svc.Spec.Type != corev1.ServiceTypeExternalName && oldSvc.Spec.Type != corev1.ServiceTypeExternalName
	if bothHaveIP && oldSvc.Spec.ClusterIP != "" {
		errs = append(errs, immutable(svc.Spec.ClusterIP, oldSvc.Spec.ClusterIP, field.NewPath("spec", "clusterIP"))...)
	}
	return errs
}

func (serviceStrategy) FieldSet(obj runtime.Object) fields.Set {
	svc := obj.(*corev1.Service)
	return namespacedFields(svc, fields.Set{
		"spec.clusterIP": svc.Spec.ClusterIP,
		"spec.type":      string(svc.Spec.Type),
	})
}
