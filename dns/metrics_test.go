package dns_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/skiffk8s/skiff/dns"
)

// webService is a ClusterIP service default/web at 10.96.0.20.
func webService() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec:       corev1.ServiceSpec{ClusterIP: "10.96.0.20", ClusterIPs: []string{"10.96.0.20"}, Ports: []corev1.ServicePort{{Port: 80}}},
	}
}

// get fetches http://addr/path and returns the status code and body.
func get(t *testing.T, addr, path string) (int, string, error) {
	t.Helper()
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// skiffSeries returns the skiff_dns_ series of a /metrics text page with
// a non-zero value as `name{label="value",...}` → value; histograms as
// name_count.
func skiffSeries(t *testing.T, page string) map[string]float64 {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(page))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, page)
	}
	out := map[string]float64{}
	for name, f := range families {
		if !strings.HasPrefix(name, "skiff_dns_") {
			continue
		}
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+`"`+l.GetValue()+`"`)
			}
			sort.Strings(labels)
			key, v := name, 0.0
			switch {
			case m.GetCounter() != nil:
				v = m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				key, v = name+"_count", float64(m.GetHistogram().GetSampleCount())
			default:
				t.Errorf("%s: unexpected type %v", name, f.GetType())
			}
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			if v != 0 {
				out[key] = v
			}
		}
	}
	return out
}

func TestMetricsEndpoints(t *testing.T) {
	up := startUpstream(t)
	srv, err := dns.Start(context.Background(), dns.Config{
		Client: fake.NewClientset(webService()), Listen: "127.0.0.1:0", Upstreams: []string{up.addr},
		MetricsBindAddress: "127.0.0.1:0",
	})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = srv.Close()
		}
	})
	maddr := srv.MetricsAddr()
	if !strings.HasPrefix(maddr, "127.0.0.1:") || strings.HasSuffix(maddr, ":0") {
		t.Fatalf("MetricsAddr %q, want 127.0.0.1 with a port", maddr)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body, err := get(t, maddr, path); err != nil || code != http.StatusOK || body != "ok" {
			t.Errorf("GET %s: %d %q %v, want 200 ok", path, code, body, err)
		}
	}

	ask := func(network, name string, qtype uint16, rcode int) {
		t.Helper()
		r := exchange(t, network, srv.Addr(), name, qtype, 0)
		if r.Rcode != rcode {
			t.Errorf("%s %s over %s: rcode %s, want %s", name, mdns.TypeToString[qtype], network,
				mdns.RcodeToString[r.Rcode], mdns.RcodeToString[rcode])
		}
	}
	ask("udp", "web.default.svc.cluster.local", mdns.TypeA, mdns.RcodeSuccess)
	ask("tcp", "web.default.svc.cluster.local", mdns.TypeA, mdns.RcodeSuccess)
	ask("udp", "nope.default.svc.cluster.local", mdns.TypeA, mdns.RcodeNameError)
	ask("udp", "20.0.96.10.in-addr.arpa", mdns.TypePTR, mdns.RcodeSuccess)
	ask("tcp", "dns-version.cluster.local", mdns.TypeTXT, mdns.RcodeSuccess)
	ask("udp", "example.org", mdns.TypeA, mdns.RcodeSuccess)
	ask("udp", "example.org", mdns.TypeA, mdns.RcodeSuccess)
	if n := up.count.Load(); n != 1 {
		t.Errorf("upstream asked %d times, want 1 (the second from the cache)", n)
	}

	code, page, err := get(t, maddr, "/metrics")
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", code, err)
	}
	want := map[string]float64{
		`skiff_dns_requests_total{proto="udp",type="A"}`:           4,
		`skiff_dns_requests_total{proto="udp",type="PTR"}`:         1,
		`skiff_dns_requests_total{proto="tcp",type="A"}`:           1,
		`skiff_dns_requests_total{proto="tcp",type="TXT"}`:         1,
		`skiff_dns_responses_total{rcode="NOERROR"}`:               6,
		`skiff_dns_responses_total{rcode="NXDOMAIN"}`:              1,
		`skiff_dns_request_duration_seconds_count{zone="cluster"}`: 5,
		`skiff_dns_request_duration_seconds_count{zone="forward"}`: 2,
		`skiff_dns_cache_hits_total`:                               1,
		`skiff_dns_cache_misses_total`:                             1,
	}
	got := skiffSeries(t, page)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected %s = %v", k, v)
		}
	}
	if !strings.Contains(page, "process_resident_memory_bytes") {
		t.Errorf("/metrics lacks the process metrics (process_resident_memory_bytes)")
	}

	if err := srv.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	closed = true
	if code, body, err := get(t, maddr, "/healthz"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("GET /healthz after Close: %d %q %v, want connection refused", code, body, err)
	}
}

func TestMetricsEndpointsStopWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := dns.Start(ctx, dns.Config{Client: fake.NewClientset(), Listen: "127.0.0.1:0", Upstreams: []string{},
		MetricsBindAddress: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if code, _, err := get(t, srv.MetricsAddr(), "/readyz"); err != nil || code != http.StatusOK {
		t.Fatalf("GET /readyz: %d %v, want 200", code, err)
	}
	cancel()
	deadline := time.Now().Add(3 * time.Second)
	for {
		_, _, err := get(t, srv.MetricsAddr(), "/healthz")
		if errors.Is(err, syscall.ECONNREFUSED) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /healthz 3 s after the context ended: %v, want connection refused", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNoMetricsServerByDefault(t *testing.T) {
	srv := startDNS(t, fake.NewClientset())
	if a := srv.MetricsAddr(); a != "" {
		t.Errorf("MetricsAddr %q without MetricsBindAddress, want \"\"", a)
	}
}

func TestBadMetricsBindAddress(t *testing.T) {
	for _, addr := range []string{"nope", "127.0.0.1:http-nope"} {
		srv, err := dns.Start(context.Background(), dns.Config{Client: fake.NewClientset(), Listen: "127.0.0.1:0", Upstreams: []string{},
			MetricsBindAddress: addr})
		if err == nil {
			srv.Close()
			t.Fatalf("MetricsBindAddress %q: Start succeeded, want an error", addr)
		}
		if !strings.Contains(err.Error(), "Config.MetricsBindAddress") {
			t.Errorf("MetricsBindAddress %q: error %q does not name the field", addr, err)
		}
	}
}

// metricsAddrLogger is a slog.Handler that sends the addr of the
// "serving /healthz ..." message on ch.
type metricsAddrLogger struct{ ch chan string }

func (h metricsAddrLogger) Enabled(context.Context, slog.Level) bool { return true }
func (h metricsAddrLogger) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h metricsAddrLogger) WithGroup(string) slog.Handler            { return h }
func (h metricsAddrLogger) Handle(_ context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, "serving /healthz") {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "addr" {
				h.ch <- a.Value.String()
			}
			return true
		})
	}
	return nil
}

func TestNotReadyWhileCachesSync(t *testing.T) {
	client := fake.NewClientset(webService())
	release := make(chan struct{})
	client.PrependReactor("list", "endpointslices", func(k8stesting.Action) (bool, runtime.Object, error) {
		<-release
		return false, nil, nil // on to the fake's object tracker
	})
	addrs := make(chan string, 1)
	type started struct {
		srv *dns.Server
		err error
	}
	done := make(chan started, 1)
	go func() {
		srv, err := dns.Start(context.Background(), dns.Config{Client: client, Listen: "127.0.0.1:0", Upstreams: []string{},
			MetricsBindAddress: "127.0.0.1:0", Logger: slog.New(metricsAddrLogger{addrs})})
		done <- started{srv, err}
	}()
	var maddr string
	select {
	case maddr = <-addrs:
	case <-time.After(5 * time.Second):
		close(release)
		t.Fatal("no metrics server 5 s into Start")
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, _, err := get(t, maddr, path); err != nil || code != http.StatusServiceUnavailable {
			t.Errorf("GET %s while the caches sync: %d %v, want 503", path, code, err)
		}
	}
	close(release)
	s := <-done
	if s.err != nil {
		t.Fatal(s.err)
	}
	defer s.srv.Close()
	if s.srv.MetricsAddr() != maddr {
		t.Errorf("MetricsAddr %q, logged %q", s.srv.MetricsAddr(), maddr)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body, err := get(t, maddr, path); err != nil || code != http.StatusOK || body != "ok" {
			t.Errorf("GET %s once Start returned: %d %q %v, want 200 ok", path, code, body, err)
		}
	}
}
