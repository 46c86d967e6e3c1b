package dns_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// BenchmarkServiceQuery measures queries per second and p99 latency for a
// service name from 16 concurrent clients over UDP on loopback. Service
// names are answered from the informer cache (no upstream). Reports qps
// and p99-µs.
func BenchmarkServiceQuery(b *testing.B) {
	client := fake.NewClientset(&corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec:       corev1.ServiceSpec{ClusterIP: "10.96.0.20", ClusterIPs: []string{"10.96.0.20"}, Ports: []corev1.ServicePort{{Port: 80}}},
	})
	srv := startDNS(b, client)
	const clients = 16
	conns := make([]*mdns.Conn, clients)
	for i := range conns {
		c, err := mdns.Dial("udp", srv.Addr())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}
	if r := query(b, srv.Addr(), "web.default.svc.cluster.local", mdns.TypeA); len(r.Answer) != 1 {
		b.Fatalf("answer %v, want one A", r.Answer)
	}
	lat := make([][]time.Duration, clients)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	per := b.N/clients + 1
	for i := range clients {
		wg.Go(func() {
			m := new(mdns.Msg)
			m.SetQuestion("web.default.svc.cluster.local.", mdns.TypeA)
			c := conns[i]
			for range per {
				t0 := time.Now()
				if err := c.WriteMsg(m); err != nil {
					b.Error(err)
					return
				}
				_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
				r, err := c.ReadMsg()
				if err != nil || len(r.Answer) != 1 {
					b.Errorf("reply %v, %v", r, err)
					return
				}
				lat[i] = append(lat[i], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "qps")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
}
