package dns_test

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/skiffk8s/skiff/apiserver/apitest"
	"github.com/skiffk8s/skiff/dns"
)

// startDNS starts a DNS server on 127.0.0.1:0 for client, with the given
// upstreams, closed when the test ends.
func startDNS(t testing.TB, client kubernetes.Interface, upstreams ...string) *dns.Server {
	t.Helper()
	srv, err := dns.Start(context.Background(), dns.Config{Client: client, Listen: "127.0.0.1:0", Upstreams: append([]string{}, upstreams...)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return srv
}

// query asks addr for name/qtype over UDP.
func query(t testing.TB, addr, name string, qtype uint16) *mdns.Msg {
	t.Helper()
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(name), qtype)
	r, _, err := (&mdns.Client{Timeout: 3 * time.Second}).Exchange(m, addr)
	if err != nil {
		t.Fatalf("query %s %s: %v", name, mdns.TypeToString[qtype], err)
	}
	return r
}

// values returns the answer section as sorted "TYPE value" strings.
func values(m *mdns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		f := strings.Fields(rr.String())
		out = append(out, strings.Join(f[3:], " "))
	}
	sort.Strings(out)
	return out
}

func create[T any](t *testing.T, f func(context.Context, T, metav1.CreateOptions) (T, error), obj T) T {
	t.Helper()
	got, err := f(context.Background(), obj, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func ptr[T any](v T) *T { return &v }

func TestClusterDNS(t *testing.T) {
	api := apitest.Start(t)
	c := api.Client
	svcs := c.CoreV1().Services("default")
	web := create(t, svcs.Create, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}}})
	create(t, svcs.Create, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: corev1.ServiceSpec{ClusterIP: "None", Ports: []corev1.ServicePort{{Name: "pg", Port: 5432}}}})
	create(t, svcs.Create, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "ext"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.org"}})
	create(t, c.DiscoveryV1().EndpointSlices("default").Create, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "db-1", Labels: map[string]string{discoveryv1.LabelServiceName: "db"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr("pg"), Port: ptr(int32(5432)), Protocol: ptr(corev1.ProtocolTCP)}},
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.244.0.5"}, Hostname: ptr("db-0"), Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)}},
			{Addresses: []string{"10.244.0.6"}, Hostname: ptr("db-1"), Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)}},
			{Addresses: []string{"10.244.0.7"}, Conditions: discoveryv1.EndpointConditions{}},
			{Addresses: []string{"10.244.0.8"}, Hostname: ptr("db-3"), Conditions: discoveryv1.EndpointConditions{Ready: ptr(false)}},
		},
	})

	up := startUpstream(t)
	srv := startDNS(t, c, up.addr)
	addr := srv.Addr()
	kube, err := svcs.Get(context.Background(), "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	check := func(name string, qtype uint16, rcode int, want ...string) *mdns.Msg {
		t.Helper()
		r := query(t, addr, name, qtype)
		if r.Rcode != rcode {
			t.Errorf("%s %s: rcode %s, want %s", name, mdns.TypeToString[qtype], mdns.RcodeToString[r.Rcode], mdns.RcodeToString[rcode])
		}
		sort.Strings(want)
		if got := values(r); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s %s: answers %q, want %q", name, mdns.TypeToString[qtype], got, want)
		}
		return r
	}
	check("web.default.svc.cluster.local", mdns.TypeA, mdns.RcodeSuccess, "A "+web.Spec.ClusterIP)
	check("WEB.Default.svc.cluster.local", mdns.TypeA, mdns.RcodeSuccess, "A "+web.Spec.ClusterIP)
	check("kubernetes.default.svc.cluster.local", mdns.TypeA, mdns.RcodeSuccess, "A "+kube.Spec.ClusterIP)
	if r := check("web.default.svc.cluster.local", mdns.TypeAAAA, mdns.RcodeSuccess); len(r.Ns) != 1 {
		t.Errorf("AAAA of an IPv4 service: authority %v, want the SOA", r.Ns)
	}
	r := check("web.default.svc.cluster.local", mdns.TypeA, mdns.RcodeSuccess, "A "+web.Spec.ClusterIP)
	if ttl := r.Answer[0].Header().Ttl; ttl != 5 || !r.Authoritative {
		t.Errorf("TTL %d authoritative %v, want 5 true", ttl, r.Authoritative)
	}

	t.Run("headless service has one A per ready endpoint", func(t *testing.T) {
		check("db.default.svc.cluster.local", mdns.TypeA, mdns.RcodeSuccess, "A 10.244.0.5", "A 10.244.0.6", "A 10.244.0.7")
		check("db-1.db.default.svc.cluster.local", mdns.TypeA, mdns.RcodeSuccess, "A 10.244.0.6")
		check("10-244-0-7.db.default.svc.cluster.local", mdns.TypeA, mdns.RcodeSuccess, "A 10.244.0.7")
		check("db-3.db.default.svc.cluster.local", mdns.TypeA, mdns.RcodeNameError)
	})
	t.Run("SRV for named ports", func(t *testing.T) {
		r := check("_http._tcp.web.default.svc.cluster.local", mdns.TypeSRV, mdns.RcodeSuccess, "SRV 0 100 80 web.default.svc.cluster.local.")
		if len(r.Extra) != 1 || !strings.Contains(r.Extra[0].String(), web.Spec.ClusterIP) {
			t.Errorf("SRV additional: %v, want the ClusterIP", r.Extra)
		}
		check("_pg._tcp.db.default.svc.cluster.local", mdns.TypeSRV, mdns.RcodeSuccess,
			"SRV 0 100 5432 db-0.db.default.svc.cluster.local.", "SRV 0 100 5432 db-1.db.default.svc.cluster.local.",
			"SRV 0 100 5432 10-244-0-7.db.default.svc.cluster.local.")
		check("_http._udp.web.default.svc.cluster.local", mdns.TypeSRV, mdns.RcodeNameError)
	})
	t.Run("PTR for ClusterIPs and headless endpoints", func(t *testing.T) {
		rev, _ := mdns.ReverseAddr(web.Spec.ClusterIP)
		check(rev, mdns.TypePTR, mdns.RcodeSuccess, "PTR web.default.svc.cluster.local.")
		check("6.0.244.10.in-addr.arpa", mdns.TypePTR, mdns.RcodeSuccess, "PTR db-1.db.default.svc.cluster.local.")
	})
	t.Run("ExternalName is a CNAME followed upstream", func(t *testing.T) {
		check("ext.default.svc.cluster.local", mdns.TypeA, mdns.RcodeSuccess, "CNAME example.org.", "A 192.0.2.1")
	})
	t.Run("missing names are NXDOMAIN with the SOA", func(t *testing.T) {
		r := check("nope.default.svc.cluster.local", mdns.TypeA, mdns.RcodeNameError)
		if len(r.Ns) != 1 {
			t.Fatalf("authority %v, want the SOA", r.Ns)
		}
		soa, ok := r.Ns[0].(*mdns.SOA)
		if !ok || soa.Minttl != 5 || soa.Hdr.Name != "cluster.local." {
			t.Errorf("authority %v, want cluster.local. SOA with minimum 5", r.Ns[0])
		}
		check("a.b.c.d.e.cluster.local", mdns.TypeA, mdns.RcodeNameError)
	})
	t.Run("pod names spell their address", func(t *testing.T) {
		check("10-244-1-9.default.pod.cluster.local", mdns.TypeA, mdns.RcodeSuccess, "A 10.244.1.9")
	})
	t.Run("a new service answers within a second", func(t *testing.T) {
		n := create(t, svcs.Create, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "late"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}})
		deadline := time.Now().Add(time.Second)
		for {
			if r := query(t, addr, "late.default.svc.cluster.local", mdns.TypeA); len(r.Answer) == 1 {
				if got := values(r)[0]; got != "A "+n.Spec.ClusterIP {
					t.Errorf("answer %q, want A %s", got, n.Spec.ClusterIP)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no answer for a new service after 1 s")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	t.Run("other names are forwarded and cached", func(t *testing.T) {
		before := up.count.Load()
		for range 3 {
			check("example.org", mdns.TypeA, mdns.RcodeSuccess, "A 192.0.2.1")
		}
		// ExternalName above may have cached example.org already.
		if n := up.count.Load() - before; n > 1 {
			t.Errorf("upstream asked %d times for one name, want at most once (cache)", n)
		}
		before = up.count.Load()
		check("www.example.com", mdns.TypeA, mdns.RcodeSuccess, "A 192.0.2.1")
		check("www.example.com", mdns.TypeA, mdns.RcodeSuccess, "A 192.0.2.1")
		if n := up.count.Load() - before; n != 1 {
			t.Errorf("upstream asked %d times, want 1", n)
		}
		check("missing.example.com", mdns.TypeA, mdns.RcodeNameError)
	})
}

// upstream is a fake upstream resolver: 192.0.2.1 for every name except
// missing.* (NXDOMAIN), with TTL 60; count counts queries.
type upstream struct {
	addr  string
	count atomic.Int64
}

func startUpstream(t testing.TB) *upstream {
	t.Helper()
	u := &upstream{}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.addr = pc.LocalAddr().String()
	srv := &mdns.Server{PacketConn: pc, Handler: mdns.HandlerFunc(func(w mdns.ResponseWriter, req *mdns.Msg) {
		u.count.Add(1)
		m := new(mdns.Msg)
		m.SetReply(req)
		q := req.Question[0]
		switch {
		case strings.HasPrefix(q.Name, "missing."):
			m.Rcode = mdns.RcodeNameError
			m.Ns = []mdns.RR{&mdns.SOA{Hdr: mdns.RR_Header{Name: "example.com.", Rrtype: mdns.TypeSOA, Class: mdns.ClassINET, Ttl: 60},
				Ns: "ns.example.com.", Mbox: "h.example.com.", Minttl: 60}}
		case q.Qtype == mdns.TypeA:
			rr, _ := mdns.NewRR(fmt.Sprintf("%s 60 IN A 192.0.2.1", q.Name))
			m.Answer = []mdns.RR{rr}
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return u
}
