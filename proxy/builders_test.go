package proxy

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func ptr[T any](v T) *T { return &v }

// service builds a ClusterIP service with TCP port 80 named "http".
func service(ns, name, ip string, mods ...func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP, ClusterIP: ip,
			Ports: []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80}},
		},
	}
	for _, m := range mods {
		m(s)
	}
	return s
}

func nodePort(np int32) func(*corev1.Service) {
	return func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort; s.Spec.Ports[0].NodePort = np }
}

// ep is an endpoint "ip@node" with conditions.
type ep struct {
	ip, node                    string
	ready, serving, terminating bool
	forZones, forNodes          []string // topology hints
}

func ready(ip, node string) ep { return ep{ip: ip, node: node, ready: true, serving: true} }

// hinted is a ready endpoint with zone and node hints.
func hinted(ip, node string, zones, nodes []string) ep {
	e := ready(ip, node)
	e.forZones, e.forNodes = zones, nodes
	return e
}

// slice builds the EndpointSlice of service ns/name with target port 8080
// named "http".
func slice(ns, name string, eps ...ep) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name + "-abc", Labels: map[string]string{discoveryv1.LabelServiceName: name}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr("http"), Protocol: ptr(corev1.ProtocolTCP), Port: ptr(int32(8080))}},
	}
	for _, e := range eps {
		de := discoveryv1.Endpoint{
			Addresses: []string{e.ip}, NodeName: ptr(e.node),
			Conditions: discoveryv1.EndpointConditions{Ready: ptr(e.ready), Serving: ptr(e.serving), Terminating: ptr(e.terminating)},
		}
		if e.forZones != nil || e.forNodes != nil {
			de.Hints = &discoveryv1.EndpointHints{}
			for _, z := range e.forZones {
				de.Hints.ForZones = append(de.Hints.ForZones, discoveryv1.ForZone{Name: z})
			}
			for _, n := range e.forNodes {
				de.Hints.ForNodes = append(de.Hints.ForNodes, discoveryv1.ForNode{Name: n})
			}
		}
		s.Endpoints = append(s.Endpoints, de)
	}
	return s
}

// dump renders a ruleset as iptables-restore text (every chain).
func dump(rs Ruleset) string {
	b, _ := restoreDelta(nil, rs)
	return string(b)
}

// bigCluster is n services with m ready endpoints each.
func bigCluster(n, m int) Input {
	in := Input{NodeName: "node-a", ClusterCIDR: "10.244.0.0/16", NodeIPs: []string{"192.168.1.10"}}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("svc-%04d", i)
		in.Services = append(in.Services, service("bench", name, fmt.Sprintf("10.96.%d.%d", i/250, i%250+1)))
		var eps []ep
		for j := 0; j < m; j++ {
			eps = append(eps, ready(fmt.Sprintf("10.244.%d.%d", j, i%250+1+(i/250)), "node-b"))
		}
		in.Slices = append(in.Slices, slice("bench", name, eps...))
	}
	return in
}

func countLines(s, sub string) int { return strings.Count(s, sub) }
