package printers_test

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func service(typ corev1.ServiceType, clusterIP string, ports ...corev1.ServicePort) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", CreationTimestamp: ago(90 * time.Second)},
		Spec:       corev1.ServiceSpec{Type: typ, ClusterIP: clusterIP, Ports: ports, Selector: map[string]string{"app": "web"}},
	}
	if clusterIP != "" {
		svc.Spec.ClusterIPs = []string{clusterIP}
	}
	return svc
}

func port(p, nodePort int32, proto corev1.Protocol) corev1.ServicePort {
	return corev1.ServicePort{Port: p, NodePort: nodePort, Protocol: proto}
}

func TestServiceColumns(t *testing.T) {
	withExternalIPs := service(corev1.ServiceTypeClusterIP, "10.96.0.20", port(443, 0, corev1.ProtocolTCP))
	withExternalIPs.Spec.ExternalIPs = []string{"192.0.2.1", "192.0.2.2"}

	balanced := service(corev1.ServiceTypeLoadBalancer, "10.96.0.30", port(80, 31000, corev1.ProtocolTCP))
	balanced.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "203.0.113.9"}, {Hostname: "lb.example.com"}, {IP: "203.0.113.10"}, {IP: "203.0.113.9"}}

	external := service(corev1.ServiceTypeExternalName, "")
	external.Spec.ExternalName = "db.example.com"
	external.Spec.Selector = nil

	tests := []struct {
		name  string
		svc   *corev1.Service
		cells map[string]string
	}{
		{"a NodePort service shows port:nodePort/protocol",
			service(corev1.ServiceTypeNodePort, "10.96.0.10", port(80, 30080, corev1.ProtocolTCP), port(53, 30053, corev1.ProtocolUDP)),
			map[string]string{"Name": "web", "Type": "NodePort", "Cluster-IP": "10.96.0.10", "External-IP": "<none>", "Port(s)": "80:30080/TCP,53:30053/UDP", "Age": "90s", "Selector": "app=web"}},
		{"a ClusterIP service shows port/protocol",
			service(corev1.ServiceTypeClusterIP, "10.96.0.1", port(443, 0, corev1.ProtocolTCP)),
			map[string]string{"Type": "ClusterIP", "Cluster-IP": "10.96.0.1", "External-IP": "<none>", "Port(s)": "443/TCP"}},
		{"a headless service without ports shows None and <none>",
			service(corev1.ServiceTypeClusterIP, "None"),
			map[string]string{"Cluster-IP": "None", "Port(s)": "<none>"}},
		{"external IPs are listed",
			withExternalIPs,
			map[string]string{"External-IP": "192.0.2.1,192.0.2.2"}},
		{"a LoadBalancer without ingress is <pending>",
			service(corev1.ServiceTypeLoadBalancer, "10.96.0.31", port(80, 31001, corev1.ProtocolTCP)),
			map[string]string{"External-IP": "<pending>", "Port(s)": "80:31001/TCP"}},
		{"a LoadBalancer lists its ingress addresses sorted, once each and uncut",
			balanced,
			map[string]string{"External-IP": "203.0.113.10,203.0.113.9,lb.example.com"}},
		{"an ExternalName service shows the name and no cluster IP",
			external,
			map[string]string{"Type": "ExternalName", "Cluster-IP": "<none>", "External-IP": "db.example.com", "Port(s)": "<none>", "Selector": "<none>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := printOne(t, gr("", "services"), tt.svc)
			for col, want := range tt.cells {
				if got[col] != want {
					t.Errorf("%s = %q, want %q", col, got[col], want)
				}
			}
		})
	}
}

func TestEndpointsColumns(t *testing.T) {
	addrs := func(ips ...string) []corev1.EndpointAddress {
		var out []corev1.EndpointAddress
		for _, ip := range ips {
			out = append(out, corev1.EndpointAddress{IP: ip})
		}
		return out
	}
	tests := []struct {
		name    string
		subsets []corev1.EndpointSubset
		want    string
	}{
		{"endpoints without subsets are <none>", nil, "<none>"},
		{"addresses are joined with their port",
			[]corev1.EndpointSubset{{Addresses: addrs("10.244.1.2", "fd00::2"), Ports: []corev1.EndpointPort{{Port: 8080}}}},
			"10.244.1.2:8080,[fd00::2]:8080"},
		{"a subset without ports lists bare addresses",
			[]corev1.EndpointSubset{{Addresses: addrs("10.244.1.2")}},
			"10.244.1.2"},
		{"more than three endpoints are summarised",
			[]corev1.EndpointSubset{{Addresses: addrs("10.0.0.1", "10.0.0.2", "10.0.0.3"), Ports: []corev1.EndpointPort{{Port: 80}, {Port: 443}}}},
			"10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 3 more..."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Subsets: tt.subsets}
			got := printOne(t, gr("", "endpoints"), ep)
			if got["Endpoints"] != tt.want {
				t.Errorf("Endpoints = %q, want %q", got["Endpoints"], tt.want)
			}
			if got["Age"] != "<unknown>" {
				t.Errorf("Age of an object without creationTimestamp = %q, want <unknown>", got["Age"])
			}
		})
	}
}

func TestEndpointSliceColumns(t *testing.T) {
	p := func(n int32) *int32 { return &n }
	s := func(v string) *string { return &v }
	tests := []struct {
		name             string
		slice            *discoveryv1.EndpointSlice
		ports, endpoints string
	}{
		{"an empty slice is <unset>",
			&discoveryv1.EndpointSlice{AddressType: discoveryv1.AddressTypeIPv4},
			"<unset>", "<unset>"},
		{"ports print by number, else by name, else *",
			&discoveryv1.EndpointSlice{AddressType: discoveryv1.AddressTypeIPv4,
				Ports:     []discoveryv1.EndpointPort{{Port: p(80)}, {Name: s("metrics")}, {}},
				Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.244.0.5"}}}},
			"80,metrics,*", "10.244.0.5"},
		{"more than three ports and addresses are summarised",
			&discoveryv1.EndpointSlice{AddressType: discoveryv1.AddressTypeIPv4,
				Ports:     []discoveryv1.EndpointPort{{Port: p(1)}, {Port: p(2)}, {Port: p(3)}, {Port: p(4)}},
				Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1", "10.0.0.2"}}, {Addresses: []string{"10.0.0.3", "10.0.0.4", "10.0.0.5"}}}},
			"1,2,3 + 1 more...", "10.0.0.1,10.0.0.2,10.0.0.3 + 2 more..."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.slice.Name = "web-abcde"
			got := printOne(t, gr("discovery.k8s.io", "endpointslices"), tt.slice)
			if got["AddressType"] != "IPv4" || got["Ports"] != tt.ports || got["Endpoints"] != tt.endpoints {
				t.Errorf("ADDRESSTYPE PORTS ENDPOINTS = %q %q %q, want IPv4 %q %q", got["AddressType"], got["Ports"], got["Endpoints"], tt.ports, tt.endpoints)
			}
		})
	}
}
