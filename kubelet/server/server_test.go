package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAnonymousAndForeignCertificatesAreRefusedOnEveryPath(t *testing.T) {
	ts := startServer(t, Config{})
	other := newTestCA(t, "other-ca")
	foreignCert, foreignKey := other.clientCert(t, "admin", "system:masters")
	for _, path := range []string{"/healthz", "/pods", "/containerLogs/a/b/c", "/stats/summary"} {
		if code, _ := get(t, ts.client(t, nil, nil), ts.URL+path); code != http.StatusUnauthorized {
			t.Errorf("anonymous GET %s = %d, want 401", path, code)
		}
		if code, _ := get(t, ts.client(t, foreignCert, foreignKey), ts.URL+path); code != http.StatusUnauthorized {
			t.Errorf("GET %s with another CA's cert = %d, want 401", path, code)
		}
	}
	if code, body := get(t, ts.authed(t), ts.URL+"/healthz"); code != 200 || body != "ok" {
		t.Fatalf("authenticated /healthz = %d %q, want 200 ok", code, body)
	}
}

func TestTheAuthorizerDecidesByUserAndPath(t *testing.T) {
	ts := startServer(t, Config{Authorizer: AllowUsers{Users: []string{"kube-apiserver-kubelet-client"}, Groups: []string{"system:masters"}}})
	c, k := ts.ca.clientCert(t, "bob", "developers")
	code, body := get(t, ts.client(t, c, k), ts.URL+"/pods")
	if code != http.StatusForbidden || !strings.Contains(body, `user "bob" may not GET /pods`) {
		t.Fatalf("bob: %d %q, want 403 naming user and path", code, body)
	}
	c, k = ts.ca.clientCert(t, "kube-apiserver-kubelet-client")
	if code, _ := get(t, ts.client(t, c, k), ts.URL+"/pods"); code != 200 {
		t.Fatalf("apiserver client: %d, want 200", code)
	}
	if code, _ := get(t, ts.authed(t), ts.URL+"/pods"); code != 200 {
		t.Fatalf("system:masters member: %d, want 200", code)
	}
}

func TestPodsListsTheKubeletsPods(t *testing.T) {
	pods := []*corev1.Pod{testPod("default", "web", "nginx"), testPod("kube-system", "dns", "coredns")}
	ts := startServer(t, Config{Pods: func() []*corev1.Pod { return pods }})
	code, body := get(t, ts.authed(t), ts.URL+"/pods")
	if code != 200 {
		t.Fatalf("/pods = %d %s", code, body)
	}
	var list corev1.PodList
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatal(err)
	}
	if list.Kind != "PodList" || list.APIVersion != "v1" || len(list.Items) != 2 || list.Items[1].Name != "dns" || list.Items[0].Spec.Containers[0].Name != "nginx" {
		t.Fatalf("list = %+v", list)
	}
}

type fakeStats struct {
	sum *statsv1alpha1.Summary
	err error
}

func (f fakeStats) Summary(context.Context) (*statsv1alpha1.Summary, error) { return f.sum, f.err }

func u64(v uint64) *uint64 { return &v }

func TestStatsSummaryAndResourceMetrics(t *testing.T) {
	at := metav1.NewTime(time.UnixMilli(1700000000123))
	sum := &statsv1alpha1.Summary{
		Node: statsv1alpha1.NodeStats{
			NodeName: "node-a",
			CPU:      &statsv1alpha1.CPUStats{Time: at, UsageCoreNanoSeconds: u64(12_500_000_000)},
			Memory:   &statsv1alpha1.MemoryStats{Time: at, WorkingSetBytes: u64(1 << 30)},
		},
		Pods: []statsv1alpha1.PodStats{{
			PodRef: statsv1alpha1.PodReference{Name: "web", Namespace: "default", UID: "u1"},
			CPU:    &statsv1alpha1.CPUStats{Time: at, UsageCoreNanoSeconds: u64(2_000_000_000)},
			Memory: &statsv1alpha1.MemoryStats{Time: at, WorkingSetBytes: u64(4096)},
			Containers: []statsv1alpha1.ContainerStats{{
				Name:   "nginx",
				CPU:    &statsv1alpha1.CPUStats{Time: at, UsageCoreNanoSeconds: u64(1_500_000_000)},
				Memory: &statsv1alpha1.MemoryStats{Time: at, WorkingSetBytes: u64(2048)},
			}},
		}},
	}
	t.Run("NoProviderIs404", func(t *testing.T) {
		ts := startServer(t, Config{})
		for _, p := range []string{"/stats/summary", "/metrics/resource"} {
			if code, _ := get(t, ts.authed(t), ts.URL+p); code != 404 {
				t.Errorf("%s = %d, want 404", p, code)
			}
		}
	})
	t.Run("SummaryIsTheProvidersJSON", func(t *testing.T) {
		ts := startServer(t, Config{Stats: fakeStats{sum: sum}})
		code, body := get(t, ts.authed(t), ts.URL+"/stats/summary")
		var got statsv1alpha1.Summary
		if code != 200 || json.Unmarshal([]byte(body), &got) != nil || got.Node.NodeName != "node-a" || *got.Pods[0].Containers[0].Memory.WorkingSetBytes != 2048 {
			t.Fatalf("%d %s", code, body)
		}
	})
	t.Run("MetricsResourceInUpstreamsShape", func(t *testing.T) {
		ts := startServer(t, Config{Stats: fakeStats{sum: sum}})
		code, body := get(t, ts.authed(t), ts.URL+"/metrics/resource")
		if code != 200 {
			t.Fatalf("%d %s", code, body)
		}
		for _, want := range []string{
			"# TYPE container_cpu_usage_seconds_total counter\n",
			`container_cpu_usage_seconds_total{container="nginx",namespace="default",pod="web"} 1.5 1700000000123` + "\n",
			`container_memory_working_set_bytes{container="nginx",namespace="default",pod="web"} 2048 1700000000123` + "\n",
			"node_cpu_usage_seconds_total 12.5 1700000000123\n",
			"node_memory_working_set_bytes 1.073741824e+09 1700000000123\n",
			`pod_cpu_usage_seconds_total{namespace="default",pod="web"} 2 1700000000123` + "\n",
			`pod_memory_working_set_bytes{namespace="default",pod="web"} 4096 1700000000123` + "\n",
			"# TYPE scrape_error gauge\nscrape_error 0\n",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("missing %q in:\n%s", want, body)
			}
		}
	})
	t.Run("AFailedSummaryIsAScrapeError", func(t *testing.T) {
		ts := startServer(t, Config{Stats: fakeStats{err: errors.New("cadvisor down")}})
		code, body := get(t, ts.authed(t), ts.URL+"/metrics/resource")
		if code != 200 || !strings.HasSuffix(body, "scrape_error 1\n") || strings.Contains(body, "node_cpu") {
			t.Fatalf("%d %s", code, body)
		}
		if code, body := get(t, ts.authed(t), ts.URL+"/stats/summary"); code != 500 || !strings.Contains(body, "cadvisor down") {
			t.Fatalf("summary: %d %s", code, body)
		}
	})
}

func TestRunServesTLSFromFilesUntilCancelled(t *testing.T) {
	ca := newTestCA(t, "cluster-ca")
	certPEM, keyPEM := ca.servingCert(t, "127.0.0.1")
	dir := t.TempDir()
	files := map[string][]byte{"kubelet.crt": certPEM, "kubelet.key": keyPEM, "ca.crt": ca.certPEM}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- Run(ctx, Config{
			Addr:     addr,
			CertFile: filepath.Join(dir, "kubelet.crt"), KeyFile: filepath.Join(dir, "kubelet.key"),
			ClientCAFile: filepath.Join(dir, "ca.crt"),
		})
	}()
	ts := &testServer{URL: "https://" + addr, ca: ca}
	var code int
	var body string
	for i := 0; i < 100; i++ {
		resp, err := ts.authed(t).Get(ts.URL + "/healthz")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			code, body = resp.StatusCode, string(b)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code != 200 || body != "ok" {
		t.Fatalf("/healthz = %d %q", code, body)
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Run = %v, want nil after cancel", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestRunWithoutAClientCAIsAnError(t *testing.T) {
	err := Run(context.Background(), Config{Addr: "127.0.0.1:0"})
	if err == nil || !strings.Contains(err.Error(), "no client CA") {
		t.Fatalf("err = %v", err)
	}
}

// TestStreamOptionsAcceptUpstreamAPIServerNames: upstream's API server
// forwards pods/exec to kubelets as input/output/error/tty=1; direct
// callers may use the pods/exec names.
func TestStreamOptionsAcceptUpstreamAPIServerNames(t *testing.T) {
	for query, want := range map[string]streamOptions{
		"command=ls&input=1&output=1&error=1":    {stdin: true, stdout: true, stderr: true},
		"command=ls&output=1&tty=1&input=1":      {stdin: true, stdout: true, tty: true},
		"command=ls&stdout=true&stderr=false":    {stdout: true},
		"command=ls&output=1&error=1&tty=1":      {stdout: true, tty: true}, // a terminal has one output
		"command=ls&stdin=true&output=1&error=0": {stdin: true, stdout: true},
	} {
		r := httptest.NewRequest(http.MethodPost, "/exec/ns/pod/c?"+query, nil)
		got, herr := parseStreamOptions(r)
		if herr != nil || got != want {
			t.Errorf("%s: got %+v, %v; want %+v", query, got, herr, want)
		}
	}
	r := httptest.NewRequest(http.MethodPost, "/exec/ns/pod/c?command=ls&input=maybe", nil)
	if _, herr := parseStreamOptions(r); herr == nil || herr.code != http.StatusBadRequest {
		t.Errorf("input=maybe: %v, want 400", herr)
	}
}
