package registry

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func validEndpoints() *corev1.Endpoints {
	ep := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: "10.244.1.5", NodeName: ptrTo("node-1")}},
			Ports:     []corev1.EndpointPort{{Port: 8080}},
		}},
	}
	endpointsStrategy{}.Default(ep)
	return ep
}

func TestEndpointsDefaults(t *testing.T) {
	runDefaultCases(t, endpointsStrategy{}, []defaultCase[*corev1.Endpoints]{
		{"port protocol defaults to TCP", validEndpoints,
			func(ep *corev1.Endpoints) any { return ep.Subsets[0].Ports[0].Protocol }, corev1.ProtocolTCP},
	})
}

func TestEndpointsValidation(t *testing.T) {
	ss := func(f func(*corev1.EndpointSubset)) func(*corev1.Endpoints) {
		return func(ep *corev1.Endpoints) { f(&ep.Subsets[0]) }
	}
	runValidateCases(t, endpointsStrategy{}, validEndpoints, []validateCase[*corev1.Endpoints]{
		{name: "endpoints with one ready address are valid"},
		{"endpoints with only not-ready addresses are valid", ss(func(s *corev1.EndpointSubset) {
			s.NotReadyAddresses, s.Addresses = s.Addresses, nil
		}), nil},
		{"endpoints need a namespace", func(ep *corev1.Endpoints) { ep.Namespace = "" }, []fieldErr{required("metadata.namespace")}},
		{"a subset has addresses", ss(func(s *corev1.EndpointSubset) { s.Addresses = nil }), []fieldErr{required("subsets[0]")}},
		{"an address is an IP", ss(func(s *corev1.EndpointSubset) { s.Addresses[0].IP = "web-1" }), []fieldErr{invalid("subsets[0].addresses[0].ip")}},
		{"an address is not loopback", ss(func(s *corev1.EndpointSubset) { s.Addresses[0].IP = "127.0.0.1" }), []fieldErr{invalid("subsets[0].addresses[0].ip")}},
		{"an address is not link-local", ss(func(s *corev1.EndpointSubset) { s.Addresses[0].IP = "169.254.1.1" }), []fieldErr{invalid("subsets[0].addresses[0].ip")}},
		{"an address hostname is a DNS label", ss(func(s *corev1.EndpointSubset) { s.Addresses[0].Hostname = "a.b" }),
			[]fieldErr{invalid("subsets[0].addresses[0].hostname")}},
		{"an address nodeName is a DNS subdomain", ss(func(s *corev1.EndpointSubset) { s.Addresses[0].NodeName = ptrTo("Node_1") }),
			[]fieldErr{invalid("subsets[0].addresses[0].nodeName")}},
		{"several ports are named", ss(func(s *corev1.EndpointSubset) {
			s.Ports = []corev1.EndpointPort{{Port: 80, Protocol: "TCP"}, {Name: "https", Port: 443, Protocol: "TCP"}}
		}), []fieldErr{required("subsets[0].ports[0].name")}},
		{"a port number is 1 to 65535", ss(func(s *corev1.EndpointSubset) { s.Ports[0].Port = 0 }), []fieldErr{invalid("subsets[0].ports[0].port")}},
		{"a port protocol is TCP, UDP or SCTP", ss(func(s *corev1.EndpointSubset) { s.Ports[0].Protocol = "HTTP" }),
			[]fieldErr{notSupported("subsets[0].ports[0].protocol")}},
	})
}

func TestEndpointsUpdateValidation(t *testing.T) {
	runUpdateCases(t, endpointsStrategy{}, validEndpoints, []updateCase[*corev1.Endpoints]{
		{name: "addresses may change", update: func(ep *corev1.Endpoints) { ep.Subsets[0].Addresses[0].IP = "10.244.2.7" }},
		{name: "an update is validated like a create", update: func(ep *corev1.Endpoints) { ep.Subsets[0].Addresses[0].IP = "0.0.0.0" },
			want: []fieldErr{invalid("subsets[0].addresses[0].ip")}},
	})
}

func TestEndpointsDetailValidation(t *testing.T) {
	runValidateCases(t, endpointsStrategy{}, validEndpoints, []validateCase[*corev1.Endpoints]{
		{"not-ready addresses are valid IPs too", func(ep *corev1.Endpoints) {
			ep.Subsets[0].NotReadyAddresses = []corev1.EndpointAddress{{IP: "10.244.1.300"}}
		}, []fieldErr{invalid("subsets[0].notReadyAddresses[0].ip")}},
		{"a port appProtocol is a qualified name", func(ep *corev1.Endpoints) { ep.Subsets[0].Ports[0].AppProtocol = ptrTo("not valid") },
			[]fieldErr{invalid("subsets[0].ports[0].appProtocol")}},
	})
}
