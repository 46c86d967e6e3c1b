package scheduler

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/skiffk8s/skiff/scheduler/queue"
)

// Results of a scheduling attempt (the result label).
const (
	resultScheduled     = "scheduled"
	resultUnschedulable = "unschedulable"
	resultError         = "error"
)

// metrics are one scheduler's Prometheus metrics, in its own registry.
type metrics struct {
	registry *prometheus.Registry
	attempts *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(q *queue.Queue) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scheduler_schedule_attempts_total",
			Help: "Number of attempts to schedule pods, by the result.",
		}, []string{"result", "profile"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "scheduler_e2e_scheduling_duration_seconds",
			Help:    "E2e scheduling latency in seconds (scheduling algorithm + binding).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}, []string{"result", "profile"}),
	}
	m.registry.MustRegister(m.attempts, m.duration)
	for _, name := range []string{"active", "backoff", "unschedulable"} {
		m.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "scheduler_pending_pods",
			Help:        "Number of pending pods, by the queue type.",
			ConstLabels: prometheus.Labels{"queue": name},
		}, func() float64 {
			a, b, u := q.Lengths()
			return float64(map[string]int{"active": a, "backoff": b, "unschedulable": u}[name])
		}))
	}
	return m
}

func (m *metrics) observe(profile, result string, d time.Duration) {
	m.attempts.WithLabelValues(result, profile).Inc()
	m.duration.WithLabelValues(result, profile).Observe(d.Seconds())
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}
