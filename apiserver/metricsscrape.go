package apiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

// metricsWindow is the window reported with every sample. Kubelets report
// usageNanoCores already averaged over their own sampling period (cadvisor
// housekeeping, about 10s), so unlike metrics-server we have no pair of
// cumulative samples to measure the window from; 10s is that period.
const metricsWindow = 10 * time.Second

// nodeUsage is one node's resource usage at a time.
type nodeUsage struct {
	timestamp time.Time
	usage     corev1.ResourceList
}

// podUsage is one pod's containers' usage at a time.
type podUsage struct {
	timestamp  time.Time
	containers []metricsv1beta1.ContainerMetrics
}

// usageSnapshot is what the kubelets reported in one scrape.
type usageSnapshot struct {
	nodes map[string]nodeUsage
	pods  map[types.NamespacedName]podUsage
}

// summaryUsage extracts the metrics API's numbers from a kubelet summary,
// as metrics-server does: CPU is usageNanoCores (a quantity in nanocores),
// memory the working set. A node or container without both numbers is
// left out; a pod is left out when none of its containers has them.
func summaryUsage(s *statsv1alpha1.Summary) (*nodeUsage, map[types.NamespacedName]podUsage) {
	var node *nodeUsage
	if ts, u, ok := usage(s.Node.CPU, s.Node.Memory); ok {
		node = &nodeUsage{timestamp: ts, usage: u}
	}
	pods := map[types.NamespacedName]podUsage{}
	for _, p := range s.Pods {
		var pu podUsage
		for _, c := range p.Containers {
			ts, u, ok := usage(c.CPU, c.Memory)
			if !ok {
				continue
			}
			if ts.After(pu.timestamp) {
				pu.timestamp = ts
			}
			pu.containers = append(pu.containers, metricsv1beta1.ContainerMetrics{Name: c.Name, Usage: u})
		}
		if len(pu.containers) > 0 {
			pods[types.NamespacedName{Namespace: p.PodRef.Namespace, Name: p.PodRef.Name}] = pu
		}
	}
	return node, pods
}

// usage is the cpu and memory of one stats entry and the later of their
// times.
func usage(cpu *statsv1alpha1.CPUStats, mem *statsv1alpha1.MemoryStats) (time.Time, corev1.ResourceList, bool) {
	if cpu == nil || cpu.UsageNanoCores == nil || mem == nil || mem.WorkingSetBytes == nil {
		return time.Time{}, nil, false
	}
	ts := cpu.Time.Time
	if mem.Time.After(ts) {
		ts = mem.Time.Time
	}
	return ts, corev1.ResourceList{
		corev1.ResourceCPU:    *apiresource.NewScaledQuantity(int64(*cpu.UsageNanoCores), apiresource.Nano),
		corev1.ResourceMemory: *apiresource.NewQuantity(int64(*mem.WorkingSetBytes), apiresource.BinarySI),
	}, true
}

// metricsScraper fetches the kubelets' /stats/summary, all at once, and
// keeps the result for ttl so that many `kubectl top` calls cost one scrape.
type metricsScraper struct {
	kubelets *kubeletClient
	ttl      time.Duration // <= 0: no cache
	timeout  time.Duration // per kubelet
	clock    func() time.Time
	log      *slog.Logger

	// mu is held during a scrape, so that concurrent callers share it.
	mu      sync.Mutex
	at      time.Time      // guarded by mu: when last was scraped
	last    *usageSnapshot // guarded by mu
	scraped []string       // guarded by mu: node names last was scraped from
}

// snapshot returns the usage of nodes' kubelets (only Ready nodes are
// asked), from the cache when it is younger than ttl and covers the same
// nodes. A kubelet that cannot be reached or answers garbage is left out
// and logged, as metrics-server does.
func (m *metricsScraper) snapshot(ctx context.Context, nodes []*corev1.Node) *usageSnapshot {
	var ready []*corev1.Node
	var names []string
	for _, n := range nodes {
		if nodeReady(n) {
			ready = append(ready, n)
			names = append(names, n.Name)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.last != nil && m.ttl > 0 && m.clock().Sub(m.at) < m.ttl && equalStrings(m.scraped, names) {
		return m.last
	}
	snap := &usageSnapshot{nodes: map[string]nodeUsage{}, pods: map[types.NamespacedName]podUsage{}}
	type result struct {
		node    string
		summary *statsv1alpha1.Summary
		err     error
	}
	results := make(chan result, len(ready))
	for _, n := range ready {
		go func() {
			s, err := m.fetch(ctx, n)
			results <- result{n.Name, s, err}
		}()
	}
	for range ready {
		r := <-results
		if r.err != nil {
			m.log.Warn("metrics: kubelet left out", "node", r.node, "err", r.err)
			continue
		}
		node, pods := summaryUsage(r.summary)
		if node != nil {
			snap.nodes[r.node] = *node
		}
		for k, v := range pods {
			snap.pods[k] = v
		}
	}
	m.last, m.at, m.scraped = snap, m.clock(), names
	return snap
}

// fetch GETs one kubelet's /stats/summary within m.timeout.
func (m *metricsScraper) fetch(ctx context.Context, node *corev1.Node) (*statsv1alpha1.Summary, error) {
	base, err := kubeletURL(node)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	u := base.ResolveReference(&url.URL{Path: "/stats/summary", RawQuery: "only_cpu_and_memory=true"})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := m.kubelets.transport.RoundTrip(req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("fetch %s: %s: %s", u, resp.Status, b)
	}
	s := &statsv1alpha1.Summary{}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(s); err != nil {
		return nil, fmt.Errorf("decode %s: %w", u, err)
	}
	return s, nil
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// nodeMetrics is the NodeMetrics of node from u.
func nodeMetrics(node *corev1.Node, u nodeUsage) metricsv1beta1.NodeMetrics {
	return metricsv1beta1.NodeMetrics{
		ObjectMeta: metav1.ObjectMeta{Name: node.Name, Labels: node.Labels, CreationTimestamp: metav1.NewTime(u.timestamp)},
		Timestamp:  metav1.NewTime(u.timestamp),
		Window:     metav1.Duration{Duration: metricsWindow},
		Usage:      u.usage,
	}
}

// podMetrics is the PodMetrics of pod from u.
func podMetrics(pod *corev1.Pod, u podUsage) metricsv1beta1.PodMetrics {
	return metricsv1beta1.PodMetrics{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, Labels: pod.Labels, CreationTimestamp: metav1.NewTime(u.timestamp)},
		Timestamp:  metav1.NewTime(u.timestamp),
		Window:     metav1.Duration{Duration: metricsWindow},
		Containers: u.containers,
	}
}
