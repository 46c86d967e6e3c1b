package dns_test

import (
	"fmt"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// exchange asks addr for name/qtype over network ("udp" or "tcp"),
// advertising an EDNS0 buffer of edns bytes unless it is 0.
func exchange(t testing.TB, network, addr, name string, qtype uint16, edns uint16) *mdns.Msg {
	t.Helper()
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(name), qtype)
	if edns != 0 {
		m.SetEdns0(edns, false)
	}
	// UDPSize keeps the client from rejecting a large UDP reply itself.
	c := &mdns.Client{Net: network, Timeout: 3 * time.Second, UDPSize: mdns.MaxMsgSize}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s over %s: %v", name, mdns.TypeToString[qtype], network, err)
	}
	return r
}

// headlessWithEndpoints is a headless service default/<name> and one
// EndpointSlice with n ready endpoints 10.244.<i/250>.<i%250+1>.
func headlessWithEndpoints(name string, n int) (*corev1.Service, *discoveryv1.EndpointSlice) {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec:       corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{{Name: "http", Port: 80}}},
	}
	es := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name + "-1", Namespace: "default", Labels: map[string]string{discoveryv1.LabelServiceName: name}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for i := range n {
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{fmt.Sprintf("10.244.%d.%d", i/250, i%250+1)},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)},
		})
	}
	return svc, es
}

func TestLargeAnswersOverTCP(t *testing.T) {
	svc, es := headlessWithEndpoints("big", 100)
	srv := startDNS(t, fake.NewClientset(svc, es, webService()))
	const name = "big.default.svc.cluster.local"
	countA := func(r *mdns.Msg) int {
		n := 0
		for _, rr := range r.Answer {
			if _, ok := rr.(*mdns.A); ok {
				n++
			}
		}
		return n
	}

	t.Run("UDP without EDNS0 is truncated to 512 bytes", func(t *testing.T) {
		r := exchange(t, "udp", srv.Addr(), name, mdns.TypeA, 0)
		if !r.Truncated || countA(r) >= 100 {
			t.Errorf("TC %v with %d A records, want TC set and fewer than 100", r.Truncated, countA(r))
		}
		r.Compress = true // as sent
		if r.Len() > mdns.MinMsgSize {
			t.Errorf("reply of %d bytes, want at most %d", r.Len(), mdns.MinMsgSize)
		}
	})
	t.Run("the same query over TCP gets all endpoints", func(t *testing.T) {
		r := exchange(t, "tcp", srv.Addr(), name, mdns.TypeA, 0)
		if r.Truncated || countA(r) != 100 || r.Rcode != mdns.RcodeSuccess {
			t.Errorf("TC %v rcode %s with %d A records, want all 100 untruncated", r.Truncated, mdns.RcodeToString[r.Rcode], countA(r))
		}
	})
	t.Run("UDP with an EDNS0 buffer of 4096 gets all endpoints", func(t *testing.T) {
		r := exchange(t, "udp", srv.Addr(), name, mdns.TypeA, 4096)
		if r.Truncated || countA(r) != 100 {
			t.Errorf("TC %v with %d A records, want all 100 untruncated", r.Truncated, countA(r))
		}
		if opt := r.IsEdns0(); opt == nil || opt.UDPSize() != 4096 {
			t.Errorf("reply OPT %v, want a buffer size of 4096", opt)
		}
	})
	t.Run("a ClusterIP service over TCP", func(t *testing.T) {
		r := exchange(t, "tcp", srv.Addr(), "web.default.svc.cluster.local", mdns.TypeA, 0)
		if got := values(r); len(got) != 1 || got[0] != "A 10.96.0.20" || !r.Authoritative {
			t.Errorf("answers %q authoritative %v, want [A 10.96.0.20] authoritative", got, r.Authoritative)
		}
	})
}
