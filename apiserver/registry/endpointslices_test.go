package registry

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func validEndpointSlice() *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "web-abc12", Namespace: "default", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.244.1.5"}, NodeName: ptrTo("node-1")}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptrTo("http"), Port: ptrTo[int32](8080)}},
	}
	endpointSliceStrategy{}.Default(s)
	return s
}

func TestEndpointSliceDefaults(t *testing.T) {
	runDefaultCases(t, endpointSliceStrategy{}, []defaultCase[*discoveryv1.EndpointSlice]{
		{"port protocol defaults to TCP", validEndpointSlice,
			func(s *discoveryv1.EndpointSlice) any { return *s.Ports[0].Protocol }, corev1.ProtocolTCP},
		{"port name defaults to empty",
			func() *discoveryv1.EndpointSlice { s := validEndpointSlice(); s.Ports[0].Name = nil; return s },
			func(s *discoveryv1.EndpointSlice) any { return *s.Ports[0].Name }, ""},
	})
}

func TestEndpointSliceValidation(t *testing.T) {
	runValidateCases(t, endpointSliceStrategy{}, validEndpointSlice, []validateCase[*discoveryv1.EndpointSlice]{
		{name: "a slice of IPv4 endpoints is valid"},
		{"a slice of FQDN endpoints is valid", func(s *discoveryv1.EndpointSlice) {
			s.AddressType = discoveryv1.AddressTypeFQDN
			s.Endpoints[0].Addresses = []string{"db.example.com"}
		}, nil},
		{"addressType is required", func(s *discoveryv1.EndpointSlice) { s.AddressType = "" }, []fieldErr{required("addressType")}},
		{"addressType is IPv4, IPv6 or FQDN", func(s *discoveryv1.EndpointSlice) { s.AddressType = "MAC" }, []fieldErr{notSupported("addressType")}},
		{"an endpoint has an address", func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses = nil }, []fieldErr{required("endpoints[0].addresses")}},
		{"addresses match an IPv4 slice", func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses = []string{"fd00::5"} },
			[]fieldErr{invalid("endpoints[0].addresses[0]")}},
		{"addresses match an IPv6 slice", func(s *discoveryv1.EndpointSlice) { s.AddressType = discoveryv1.AddressTypeIPv6 },
			[]fieldErr{invalid("endpoints[0].addresses[0]")}},
		{"addresses are not loopback", func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses = []string{"127.0.0.1"} },
			[]fieldErr{invalid("endpoints[0].addresses[0]")}},
		{"FQDN addresses are domain names", func(s *discoveryv1.EndpointSlice) {
			s.AddressType = discoveryv1.AddressTypeFQDN
			s.Endpoints[0].Addresses = []string{"db_1"}
		}, []fieldErr{invalid("endpoints[0].addresses[0]")}},
		{"an endpoint nodeName is a DNS subdomain", func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].NodeName = ptrTo("Node 1") },
			[]fieldErr{invalid("endpoints[0].nodeName")}},
		{"a slice holds at most 1000 endpoints", func(s *discoveryv1.EndpointSlice) {
			s.Endpoints = make([]discoveryv1.Endpoint, 1001)
		}, []fieldErr{tooMany("endpoints")}},
		{"port names are unique", func(s *discoveryv1.EndpointSlice) { s.Ports = append(s.Ports, s.Ports[0]) },
			[]fieldErr{duplicate("ports[1].name")}},
		{"port names are DNS labels", func(s *discoveryv1.EndpointSlice) { s.Ports[0].Name = ptrTo("HTTP") }, []fieldErr{invalid("ports[0].name")}},
		{"a port protocol is TCP, UDP or SCTP", func(s *discoveryv1.EndpointSlice) { s.Ports[0].Protocol = ptrTo[corev1.Protocol]("QUIC") },
			[]fieldErr{notSupported("ports[0].protocol")}},
		{"a port number is 1 to 65535", func(s *discoveryv1.EndpointSlice) { s.Ports[0].Port = ptrTo[int32](65536) },
			[]fieldErr{invalid("ports[0].port")}},
	})
}

func TestEndpointSliceUpdateValidation(t *testing.T) {
	runUpdateCases(t, endpointSliceStrategy{}, validEndpointSlice, []updateCase[*discoveryv1.EndpointSlice]{
		{name: "endpoints may change", update: func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses = []string{"10.244.3.3"} }},
		{name: "addressType does not change", update: func(s *discoveryv1.EndpointSlice) {
			s.AddressType = discoveryv1.AddressTypeIPv6
			s.Endpoints[0].Addresses = []string{"fd00::5"}
		}, want: []fieldErr{invalid("addressType")}},
	})
}

func TestEndpointSliceDetailValidation(t *testing.T) {
	runValidateCases(t, endpointSliceStrategy{}, validEndpointSlice, []validateCase[*discoveryv1.EndpointSlice]{
		{"an endpoint hostname is a DNS label", func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Hostname = ptrTo("web.1") },
			[]fieldErr{invalid("endpoints[0].hostname")}},
		{"a target namespace is a namespace name", func(s *discoveryv1.EndpointSlice) {
			s.Endpoints[0].TargetRef = &corev1.ObjectReference{Kind: "Pod", Name: "web", Namespace: "Default"}
		}, []fieldErr{invalid("endpoints[0].targetRef.namespace")}},
		{"an endpoint has at most 100 addresses", func(s *discoveryv1.EndpointSlice) {
			for i := 0; i < 100; i++ {
				s.Endpoints[0].Addresses = append(s.Endpoints[0].Addresses, "10.244.1.5")
			}
		}, []fieldErr{tooMany("endpoints[0].addresses")}},
		{"a port appProtocol is a qualified name", func(s *discoveryv1.EndpointSlice) { s.Ports[0].AppProtocol = ptrTo("not valid") },
			[]fieldErr{invalid("ports[0].appProtocol")}},
	})
}
