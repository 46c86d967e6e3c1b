package registry

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// newService is a service as a user writes it.
func newService(ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: ports},
	}
}

// validService is a defaulted ClusterIP service on port 80.
func validService() *corev1.Service {
	s := newService(corev1.ServicePort{Port: 80})
	serviceStrategy{}.Default(s)
	return s
}

// allocatedService is validService with the cluster IP the handler gives it.
func allocatedService() *corev1.Service {
	s := validService()
	s.Spec.ClusterIP = "10.96.0.20"
	s.Spec.ClusterIPs = []string{"10.96.0.20"}
	return s
}

func TestServiceDefaults(t *testing.T) {
	bare := func() *corev1.Service { return newService(corev1.ServicePort{Port: 80}) }
	ofType := func(typ corev1.ServiceType) func() *corev1.Service {
		return func() *corev1.Service { s := bare(); s.Spec.Type = typ; return s }
	}
	runDefaultCases(t, serviceStrategy{}, []defaultCase[*corev1.Service]{
		{"type defaults to ClusterIP", bare, func(s *corev1.Service) any { return s.Spec.Type }, corev1.ServiceTypeClusterIP},
		{"sessionAffinity defaults to None", bare, func(s *corev1.Service) any { return s.Spec.SessionAffinity }, corev1.ServiceAffinityNone},
		{"ClientIP affinity times out after three hours",
			func() *corev1.Service { s := bare(); s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP; return s },
			func(s *corev1.Service) any { return *s.Spec.SessionAffinityConfig.ClientIP.TimeoutSeconds }, int32(10800)},
		{"port protocol defaults to TCP", bare, func(s *corev1.Service) any { return s.Spec.Ports[0].Protocol }, corev1.ProtocolTCP},
		{"targetPort defaults to port", bare, func(s *corev1.Service) any { return s.Spec.Ports[0].TargetPort }, intstr.FromInt32(80)},
		{"a named targetPort is kept",
			func() *corev1.Service { s := bare(); s.Spec.Ports[0].TargetPort = intstr.FromString("http"); return s },
			func(s *corev1.Service) any { return s.Spec.Ports[0].TargetPort }, intstr.FromString("http")},
		{"ipFamilyPolicy defaults to SingleStack", bare, func(s *corev1.Service) any { return *s.Spec.IPFamilyPolicy }, corev1.IPFamilyPolicySingleStack},
		{"ipFamilies default to IPv4", bare, func(s *corev1.Service) any { return s.Spec.IPFamilies }, []corev1.IPFamily{corev1.IPv4Protocol}},
		{"ipFamilies follow a requested IPv6 cluster IP",
			func() *corev1.Service { s := bare(); s.Spec.ClusterIP = "fd00::10"; return s },
			func(s *corev1.Service) any { return s.Spec.IPFamilies }, []corev1.IPFamily{corev1.IPv6Protocol}},
		{"clusterIPs follow a requested clusterIP",
			func() *corev1.Service { s := bare(); s.Spec.ClusterIP = "10.96.0.30"; return s },
			func(s *corev1.Service) any { return s.Spec.ClusterIPs }, []string{"10.96.0.30"}},
		{"internalTrafficPolicy defaults to Cluster", bare, func(s *corev1.Service) any { return *s.Spec.InternalTrafficPolicy }, corev1.ServiceInternalTrafficPolicyCluster},
		{"a ClusterIP service has no externalTrafficPolicy", bare, func(s *corev1.Service) any { return s.Spec.ExternalTrafficPolicy }, corev1.ServiceExternalTrafficPolicy("")},
		{"a NodePort service routes external traffic cluster-wide", ofType(corev1.ServiceTypeNodePort),
			func(s *corev1.Service) any { return s.Spec.ExternalTrafficPolicy }, corev1.ServiceExternalTrafficPolicyCluster},
		{"a LoadBalancer service routes external traffic cluster-wide", ofType(corev1.ServiceTypeLoadBalancer),
			func(s *corev1.Service) any { return s.Spec.ExternalTrafficPolicy }, corev1.ServiceExternalTrafficPolicyCluster},
		{"a LoadBalancer service allocates node ports", ofType(corev1.ServiceTypeLoadBalancer),
			func(s *corev1.Service) any { return *s.Spec.AllocateLoadBalancerNodePorts }, true},
		{"an ExternalName service gets no IP families",
			func() *corev1.Service {
				s := ofType(corev1.ServiceTypeExternalName)()
				s.Spec.ExternalName = "db.example.com"
				return s
			},
			func(s *corev1.Service) any {
				return []any{s.Spec.IPFamilyPolicy, s.Spec.IPFamilies, s.Spec.InternalTrafficPolicy}
			},
			[]any{(*corev1.IPFamilyPolicy)(nil), []corev1.IPFamily(nil), (*corev1.ServiceInternalTrafficPolicy)(nil)}},
	})
}

func TestServiceValidation(t *testing.T) {
	port := func(name string, p int32) corev1.ServicePort {
		return corev1.ServicePort{Name: name, Port: p, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(p)}
	}
	externalName := func(s *corev1.Service) {
		*s = *newService()
		s.Spec.Type = corev1.ServiceTypeExternalName
		s.Spec.ExternalName = "db.example.com."
		serviceStrategy{}.Default(s)
	}
	nodePort := func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeNodePort
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
	}
	runValidateCases(t, serviceStrategy{}, validService, []validateCase[*corev1.Service]{
		{name: "a defaulted ClusterIP service is valid"},
		{"a service name must be a DNS-1035 label", func(s *corev1.Service) { s.Name = "1web" }, []fieldErr{invalid("metadata.name")}},
		{"a service name may not contain dots", func(s *corev1.Service) { s.Name = "web.v1" }, []fieldErr{invalid("metadata.name")}},
		{"a service needs a namespace", func(s *corev1.Service) { s.Namespace = "" }, []fieldErr{required("metadata.namespace")}},
		{"a service needs ports", func(s *corev1.Service) { s.Spec.Ports = nil }, []fieldErr{required("spec.ports")}},
		{"a headless service needs no ports", func(s *corev1.Service) {
			s.Spec.Ports = nil
			s.Spec.ClusterIP = corev1.ClusterIPNone
			s.Spec.ClusterIPs = []string{corev1.ClusterIPNone}
		}, nil},
		{"an ExternalName service needs no ports", externalName, nil},
		{"an ExternalName service needs an external name", func(s *corev1.Service) { externalName(s); s.Spec.ExternalName = "" },
			[]fieldErr{required("spec.externalName")}},
		{"an external name must be a DNS name", func(s *corev1.Service) { externalName(s); s.Spec.ExternalName = "db_1.example.com" },
			[]fieldErr{invalid("spec.externalName")}},
		{"an ExternalName service has no cluster IP", func(s *corev1.Service) { externalName(s); s.Spec.ClusterIP = "10.96.0.5" },
			[]fieldErr{forbidden("spec.clusterIP")}},
		{"a service type must be known", func(s *corev1.Service) { s.Spec.Type = "Ingress" }, []fieldErr{notSupported("spec.type")}},
		{"several ports are named", func(s *corev1.Service) { s.Spec.Ports = []corev1.ServicePort{port("", 80), port("https", 443)} },
			[]fieldErr{required("spec.ports[0].name")}},
		{"port names are unique", func(s *corev1.Service) { s.Spec.Ports = []corev1.ServicePort{port("http", 80), port("http", 443)} },
			[]fieldErr{duplicate("spec.ports[1].name")}},
		{"port names are DNS labels", func(s *corev1.Service) { s.Spec.Ports = []corev1.ServicePort{port("HTTP", 80)} },
			[]fieldErr{invalid("spec.ports[0].name")}},
		{"a port number is 1 to 65535", func(s *corev1.Service) { s.Spec.Ports[0].Port = 0 }, []fieldErr{invalid("spec.ports[0].port")}},
		{"a port and protocol appear once", func(s *corev1.Service) { s.Spec.Ports = []corev1.ServicePort{port("a", 80), port("b", 80)} },
			[]fieldErr{duplicate("spec.ports[1]")}},
		{"the same port may serve TCP and UDP", func(s *corev1.Service) {
			udp := port("dns-udp", 53)
			udp.Protocol = corev1.ProtocolUDP
			s.Spec.Ports = []corev1.ServicePort{port("dns", 53), udp}
		}, nil},
		{"a port protocol is TCP, UDP or SCTP", func(s *corev1.Service) { s.Spec.Ports[0].Protocol = "ICMP" }, []fieldErr{notSupported("spec.ports[0].protocol")}},
		{"a targetPort number is a valid port", func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromInt32(70000) },
			[]fieldErr{invalid("spec.ports[0].targetPort")}},
		{"a targetPort name is an IANA service name", func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromString("web_port") },
			[]fieldErr{invalid("spec.ports[0].targetPort")}},
		{"a NodePort service may choose its node port", func(s *corev1.Service) { nodePort(s); s.Spec.Ports[0].NodePort = 30080 }, nil},
		{"a ClusterIP service has no node port", func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30080 },
			[]fieldErr{forbidden("spec.ports[0].nodePort")}},
		{"node ports are unique", func(s *corev1.Service) {
			nodePort(s)
			s.Spec.Ports = []corev1.ServicePort{port("a", 80), port("b", 81)}
			s.Spec.Ports[0].NodePort, s.Spec.Ports[1].NodePort = 30080, 30080
		}, []fieldErr{duplicate("spec.ports[1].nodePort")}},
		{"a NodePort service is not headless", func(s *corev1.Service) {
			nodePort(s)
			s.Spec.ClusterIP = corev1.ClusterIPNone
			s.Spec.ClusterIPs = []string{corev1.ClusterIPNone}
		}, []fieldErr{invalid("spec.clusterIP")}},
		{"the selector holds valid labels", func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": "web site"} },
			[]fieldErr{invalid("spec.selector")}},
		{"sessionAffinity is ClientIP or None", func(s *corev1.Service) { s.Spec.SessionAffinity = "Cookie" },
			[]fieldErr{notSupported("spec.sessionAffinity")}},
		{"a ClientIP affinity timeout is at most a day", func(s *corev1.Service) {
			s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptrTo[int32](86401)}}
		}, []fieldErr{invalid("spec.sessionAffinityConfig.clientIP.timeoutSeconds")}},
		{"a requested cluster IP is valid", func(s *corev1.Service) {
			s.Spec.ClusterIP = "10.96.0.30"
			s.Spec.ClusterIPs = []string{"10.96.0.30"}
		}, nil},
		{"a cluster IP must be an IP address", func(s *corev1.Service) {
			s.Spec.ClusterIP = "10.96.0.300"
			s.Spec.ClusterIPs = []string{"10.96.0.300"}
		}, []fieldErr{invalid("spec.clusterIPs[0]")}},
		{"clusterIPs start with clusterIP", func(s *corev1.Service) {
			s.Spec.ClusterIP = "10.96.0.30"
			s.Spec.ClusterIPs = []string{"10.96.0.31"}
		}, []fieldErr{invalid("spec.clusterIPs")}},
		{"a cluster IP matches its IP family", func(s *corev1.Service) {
			s.Spec.ClusterIP = "fd00::10"
			s.Spec.ClusterIPs = []string{"fd00::10"}
		}, []fieldErr{invalid("spec.clusterIPs[0]")}},
		{"ipFamilyPolicy must be known", func(s *corev1.Service) { s.Spec.IPFamilyPolicy = ptrTo[corev1.IPFamilyPolicy]("DualStack") },
			[]fieldErr{notSupported("spec.ipFamilyPolicy")}},
		{"external IPs must be routable addresses", func(s *corev1.Service) {
			s.Spec.ExternalIPs = []string{"127.0.0.1"}
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
		}, []fieldErr{invalid("spec.externalIPs[0]")}},
		{"externalTrafficPolicy is for externally reachable services", func(s *corev1.Service) {
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		}, []fieldErr{invalid("spec.externalTrafficPolicy")}},
		{"a NodePort service needs an externalTrafficPolicy", func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort },
			[]fieldErr{required("spec.externalTrafficPolicy")}},
		{"internalTrafficPolicy is Cluster or Local", func(s *corev1.Service) {
			s.Spec.InternalTrafficPolicy = ptrTo[corev1.ServiceInternalTrafficPolicy]("Node")
		}, []fieldErr{notSupported("spec.internalTrafficPolicy")}},
		{"trafficDistribution is PreferClose, PreferSameZone or PreferSameNode", func(s *corev1.Service) {
			s.Spec.TrafficDistribution = ptrTo("PreferFar")
		}, []fieldErr{notSupported("spec.trafficDistribution")}},
	})
}

func TestServiceUpdateValidation(t *testing.T) {
	toClusterIP := func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeClusterIP }
	runUpdateCases(t, serviceStrategy{}, allocatedService, []updateCase[*corev1.Service]{
		{name: "an unchanged service is valid"},
		{name: "ports may change", update: func(s *corev1.Service) { s.Spec.Ports[0].Port = 8080 }},
		{name: "the cluster IP does not change once set",
			update: func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.0.21", []string{"10.96.0.21"} },
			want:   []fieldErr{invalid("spec.clusterIP")}},
		{name: "the cluster IP is not dropped", update: func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "", nil },
			want: []fieldErr{invalid("spec.clusterIP")}},
		{name: "a service may become an ExternalName service without its cluster IP", update: func(s *corev1.Service) {
			*s = corev1.Service{ObjectMeta: s.ObjectMeta, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com"}}
			serviceStrategy{}.Default(s)
		}},
		{name: "a NodePort service may become ClusterIP with its old node ports and policy carried over",
			old: func(s *corev1.Service) {
				s.Spec.Type = corev1.ServiceTypeNodePort
				s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
				s.Spec.Ports[0].NodePort = 30080
			},
			update: toClusterIP},
		{name: "a ClusterIP service may not gain a node port",
			update: func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30080 },
			want:   []fieldErr{forbidden("spec.ports[0].nodePort")}},
	})
}

func TestServiceFieldSet(t *testing.T) {
	want := fields.Set{"metadata.name": "web", "metadata.namespace": "default", "spec.clusterIP": "10.96.0.20", "spec.type": "ClusterIP"}
	if got := (serviceStrategy{}).FieldSet(allocatedService()); !semanticEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestServiceAddressAndPolicyValidation(t *testing.T) {
	ips := func(ips ...string) func(*corev1.Service) {
		return func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = ips[0], ips }
	}
	dualStack := func(s *corev1.Service) {
		ips("10.96.0.30", "fd00::30")(s)
		s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
		s.Spec.IPFamilyPolicy = ptrTo(corev1.IPFamilyPolicyRequireDualStack)
	}
	runValidateCases(t, serviceStrategy{}, validService, []validateCase[*corev1.Service]{
		{"a dual-stack service has one IP per family", dualStack, nil},
		{"a service has at most one IP per family", func(s *corev1.Service) { dualStack(s); ips("10.96.0.30", "10.96.0.31")(s) },
			[]fieldErr{invalid("spec.clusterIPs"), invalid("spec.clusterIPs[1]")}},
		{"a service has at most two cluster IPs", ips("10.96.0.30", "fd00::30", "10.96.0.31"), []fieldErr{invalid("spec.clusterIPs")}},
		{"a headless service has only None", ips("None", "fd00::30"), []fieldErr{invalid("spec.clusterIPs")}},
		{"IP families are IPv4 or IPv6", func(s *corev1.Service) { s.Spec.IPFamilies = []corev1.IPFamily{"IPv5"} },
			[]fieldErr{notSupported("spec.ipFamilies[0]")}},
		{"IP families appear once", func(s *corev1.Service) { s.Spec.IPFamilies = []corev1.IPFamily{"IPv4", "IPv4"} },
			[]fieldErr{duplicate("spec.ipFamilies[1]")}},
		{"a health check node port needs a Local load balancer", func(s *corev1.Service) { s.Spec.HealthCheckNodePort = 30999 },
			[]fieldErr{invalid("spec.healthCheckNodePort")}},
		{"a Local load balancer may have a health check node port", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeLoadBalancer
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
			s.Spec.HealthCheckNodePort = 30999
		}, nil},
		{"None affinity has no affinity config", func(s *corev1.Service) {
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptrTo[int32](60)}}
		}, []fieldErr{forbidden("spec.sessionAffinityConfig")}},
		{"an appProtocol is a qualified name", func(s *corev1.Service) { s.Spec.Ports[0].AppProtocol = ptrTo("h2 c") },
			[]fieldErr{invalid("spec.ports[0].appProtocol")}},
		{"an ExternalName service has no IP families", func(s *corev1.Service) {
			s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com", SessionAffinity: corev1.ServiceAffinityNone,
				IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol}, IPFamilyPolicy: ptrTo(corev1.IPFamilyPolicySingleStack)}
		}, []fieldErr{forbidden("spec.ipFamilies"), forbidden("spec.ipFamilyPolicy")}},
	})
}
