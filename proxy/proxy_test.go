package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffk8s/skiff/apiserver/apitest"
	"github.com/skiffk8s/skiff/test/nodetest"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHealthz(t *testing.T) {
	p := newProxier(Config{SyncPeriod: 30 * time.Second, Logger: slog.New(slog.DiscardHandler)})
	srv := httptest.NewServer(p.handler())
	defer srv.Close()
	if code, body := get(t, srv.URL+"/healthz"); code != http.StatusServiceUnavailable {
		t.Errorf("/healthz before the first sync = %d %s, want 503", code, body)
	}
	synced := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	for _, tc := range []struct {
		name string
		last time.Time
		code int
	}{
		{"after a recent sync", time.Now(), http.StatusOK},
		{"after 2 missed resyncs", time.Now().Add(-71 * time.Second), http.StatusServiceUnavailable},
	} {
		synced = tc.last.UTC()
		p.mu.Lock()
		p.lastSync = tc.last
		p.mu.Unlock()
		code, body := get(t, srv.URL+"/healthz")
		if code != tc.code {
			t.Errorf("%s: /healthz = %d, want %d", tc.name, code, tc.code)
		}
		var got struct{ LastUpdated, CurrentTime time.Time }
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("%s: /healthz body %q: %v", tc.name, body, err)
		}
		if !got.LastUpdated.Equal(synced) || got.CurrentTime.IsZero() {
			t.Errorf("%s: /healthz = %+v, want lastUpdated %v", tc.name, got, synced)
		}
	}
}

func TestSyncMetrics(t *testing.T) {
	nodetest.RequireRoot(t)
	ns := nodetest.NewNetNS(t)
	p := newProxier(Config{SyncPeriod: 30 * time.Second, NetNS: ns, Logger: slog.New(slog.DiscardHandler)})
	in := bigCluster(3, 2)
	p.input = func() (Input, error) { return in, nil }
	p.sync(context.Background(), true)
	srv := httptest.NewServer(p.handler())
	defer srv.Close()
	if code, _ := get(t, srv.URL+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz after a sync = %d, want 200", code)
	}
	rs := Render(in)
	nat, filter := 0, 0
	for _, c := range rs.NAT {
		nat += len(c.Rules)
	}
	for _, c := range rs.Filter {
		filter += len(c.Rules)
	}
	_, body := get(t, srv.URL+"/metrics")
	for _, w := range []string{
		fmt.Sprintf("skiff_proxy_iptables_rules{table=\"nat\"} %d\n", nat),
		fmt.Sprintf("skiff_proxy_iptables_rules{table=\"filter\"} %d\n", filter),
		"skiff_proxy_sync_proxy_rules_duration_seconds_count 1\n",
		"skiff_proxy_sync_proxy_rules_duration_seconds_bucket{le=\"+Inf\"} 1\n",
	} {
		if !strings.Contains(body, w) {
			t.Errorf("/metrics lacks %q:\n%s", w, body)
		}
	}
}

// TestRunSyncsAServiceFromTheAPI runs the proxy against an API server in
// a test network namespace: a Service and EndpointSlice created through
// the API become rules, /healthz turns 200, its Node's zone picks among
// zone hints, and deleting the Service removes its rules.
func TestRunSyncsAServiceFromTheAPI(t *testing.T) {
	nodetest.RequireRoot(t)
	srv := apitest.Start(t)
	ns := nodetest.NewNetNS(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Client: srv.Client, NodeName: "node-a", ClusterCIDR: "10.244.0.0/16", NetNS: ns,
			HealthzBindAddress: addr, MinSyncPeriod: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	cs := srv.Client
	svc, err := cs.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	es := slice("default", "web", ready("10.244.3.4", "node-b"))
	es.Name = "web-1"
	if _, err := cs.DiscoveryV1().EndpointSlices("default").Create(ctx, es, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		fmt.Sprintf("-d %s/32 -p tcp -m comment --comment \"default/web:http cluster IP\" -m tcp --dport 80 -j %s", svc.Spec.ClusterIP, svcChain("default/web:http", "tcp")),
		"--to-destination 10.244.3.4:8080",
	}
	var nat string
	deadline := time.Now().Add(15 * time.Second)
	for {
		nat = nsenter(t, ns, "iptables-save", "-t", "nat")
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(nat, w)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the nat table does not hold %q after 15 s:\n%s", want, nat)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, body := get(t, "http://"+addr+"/healthz"); code != http.StatusOK || !strings.Contains(body, "lastUpdated") {
		t.Errorf("/healthz = %d %s, want 200 with the last sync time", code, body)
	}

	// Its own Node's zone label selects among zone hints: with the node in
	// zone-a only the zone-a endpoint is used, and relabelling the node
	// to zone-b switches to the other one.
	waitNAT := func(what string, cond func(nat string) bool) {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			nat = nsenter(t, ns, "iptables-save", "-t", "nat")
			if cond(nat) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("after 15 s the nat table does not show %s:\n%s", what, nat)
			}
		}
	}
	node, err := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a",
		Labels: map[string]string{corev1.LabelTopologyZone: "zone-a"}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	es, err = cs.DiscoveryV1().EndpointSlices("default").Get(ctx, "web-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hintedSlice := slice("default", "web", hinted("10.244.3.4", "node-b", []string{"zone-b"}, nil), hinted("10.244.3.5", "node-a", []string{"zone-a"}, nil))
	es.Endpoints = hintedSlice.Endpoints
	if _, err := cs.DiscoveryV1().EndpointSlices("default").Update(ctx, es, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitNAT("only the zone-a endpoint", func(nat string) bool {
		return strings.Contains(nat, "10.244.3.5:8080") && !strings.Contains(nat, "10.244.3.4")
	})
	node.Labels[corev1.LabelTopologyZone] = "zone-b"
	if _, err := cs.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitNAT("only the zone-b endpoint after relabelling the node", func(nat string) bool {
		return strings.Contains(nat, "10.244.3.4:8080") && !strings.Contains(nat, "10.244.3.5")
	})

	// Deleting the service through the API removes its rules.
	if err := cs.CoreV1().Services("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(15 * time.Second); strings.Contains(nat, "10.244.3.4"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the nat table still holds the deleted service after 15 s:\n%s", nat)
		}
		nat = nsenter(t, ns, "iptables-save", "-t", "nat")
	}
}
