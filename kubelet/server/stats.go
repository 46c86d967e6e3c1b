package server

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// handleSummary serves the StatsProvider's summary as JSON.
func (s *Server) handleSummary(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Stats == nil {
		http.Error(w, "stats are not available on this kubelet", http.StatusNotFound)
		return
	}
	sum, err := s.cfg.Stats.Summary(r.Context())
	if err != nil {
		http.Error(w, fmt.Sprintf("stats summary: %v", err), http.StatusInternalServerError)
		return
	}
	writeJSON(w, sum)
}

// handleMetricsResource serves the summary's CPU and memory as upstream's
// /metrics/resource (what metrics-server scrapes).
func (s *Server) handleMetricsResource(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Stats == nil {
		http.Error(w, "stats are not available on this kubelet", http.StatusNotFound)
		return
	}
	sum, err := s.cfg.Stats.Summary(r.Context())
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	writeResourceMetrics(w, sum, err)
}

// writeResourceMetrics renders sum in the Prometheus text format, as
// upstream's resource metrics collector: cumulative CPU in seconds and
// working set in bytes for the node, pods and containers, each sample
// stamped with its measurement time in milliseconds; scrape_error is 1
// when the summary failed (and then nothing else is reported).
func writeResourceMetrics(w io.Writer, sum *statsv1alpha1.Summary, err error) {
	var b strings.Builder
	family := func(name, help, typ string) {
		fmt.Fprintf(&b, "# HELP %s [STABLE] %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	type sample struct {
		labels string
		value  float64
		t      time.Time
	}
	var nodeCPU, nodeMem, podCPU, podMem, ctrCPU, ctrMem []sample
	if err == nil && sum != nil {
		if c := sum.Node.CPU; c != nil && c.UsageCoreNanoSeconds != nil {
			nodeCPU = append(nodeCPU, sample{"", float64(*c.UsageCoreNanoSeconds) / 1e9, c.Time.Time})
		}
		if m := sum.Node.Memory; m != nil && m.WorkingSetBytes != nil {
			nodeMem = append(nodeMem, sample{"", float64(*m.WorkingSetBytes), m.Time.Time})
		}
		for _, p := range sum.Pods {
			pl := fmt.Sprintf(`namespace=%q,pod=%q`, p.PodRef.Namespace, p.PodRef.Name)
			if c := p.CPU; c != nil && c.UsageCoreNanoSeconds != nil {
				podCPU = append(podCPU, sample{pl, float64(*c.UsageCoreNanoSeconds) / 1e9, c.Time.Time})
			}
			if m := p.Memory; m != nil && m.WorkingSetBytes != nil {
				podMem = append(podMem, sample{pl, float64(*m.WorkingSetBytes), m.Time.Time})
			}
			for _, c := range p.Containers {
				cl := fmt.Sprintf(`container=%q,namespace=%q,pod=%q`, c.Name, p.PodRef.Namespace, p.PodRef.Name)
				if cpu := c.CPU; cpu != nil && cpu.UsageCoreNanoSeconds != nil {
					ctrCPU = append(ctrCPU, sample{cl, float64(*cpu.UsageCoreNanoSeconds) / 1e9, cpu.Time.Time})
				}
				if m := c.Memory; m != nil && m.WorkingSetBytes != nil {
					ctrMem = append(ctrMem, sample{cl, float64(*m.WorkingSetBytes), m.Time.Time})
				}
			}
		}
	}
	put := func(name, help, typ string, samples []sample) {
		if len(samples) == 0 {
			return
		}
		family(name, help, typ)
		for _, s := range samples {
			labels := ""
			if s.labels != "" {
				labels = "{" + s.labels + "}"
			}
			fmt.Fprintf(&b, "%s%s %v %d\n", name, labels, s.value, s.t.UnixMilli())
		}
	}
	put("container_cpu_usage_seconds_total", "Cumulative cpu time consumed by the container in core-seconds", "counter", ctrCPU)
	put("container_memory_working_set_bytes", "Current working set of the container in bytes", "gauge", ctrMem)
	put("node_cpu_usage_seconds_total", "Cumulative cpu time consumed by the node in core-seconds", "counter", nodeCPU)
	put("node_memory_working_set_bytes", "Current working set of the node in bytes", "gauge", nodeMem)
	put("pod_cpu_usage_seconds_total", "Cumulative cpu time consumed by the pod in core-seconds", "counter", podCPU)
	put("pod_memory_working_set_bytes", "Current working set of the pod in bytes", "gauge", podMem)
	family("scrape_error", "1 if there was an error while getting container metrics, 0 otherwise", "gauge")
	if err != nil || sum == nil {
		b.WriteString("scrape_error 1\n")
	} else {
		b.WriteString("scrape_error 0\n")
	}
	_, _ = io.WriteString(w, b.String())
}
