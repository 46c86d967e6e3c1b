package prober

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// worker probes one container with one probe, period after period.
type worker struct {
	m     *Manager
	key   workerKey
	probe *corev1.Probe
	spec  *corev1.Container

	stopCh  chan struct{}
	trigger chan struct{}

	// Guarded by m.mu.
	pod   *corev1.Pod
	podIP string
	state ContainerState

	// Owned by the worker's goroutine.
	lastID     string
	lastResult Result
	resultRun  int
	onHold     bool
}

func newWorker(m *Manager, key workerKey, pod *corev1.Pod, c *corev1.Container, p *corev1.Probe) *worker {
	return &worker{
		m:       m,
		key:     key,
		probe:   withDefaults(p),
		spec:    c.DeepCopy(),
		stopCh:  make(chan struct{}),
		trigger: make(chan struct{}, 1),
		pod:     pod,
	}
}

// withDefaults fills the API server's defaults for unset fields.
func withDefaults(p *corev1.Probe) *corev1.Probe {
	p = p.DeepCopy()
	if p.TimeoutSeconds <= 0 {
		p.TimeoutSeconds = 1
	}
	if p.PeriodSeconds <= 0 {
		p.PeriodSeconds = 10
	}
	if p.SuccessThreshold <= 0 {
		p.SuccessThreshold = 1
	}
	if p.FailureThreshold <= 0 {
		p.FailureThreshold = 3
	}
	return p
}

func (w *worker) setStateLocked(pod *corev1.Pod, podIP string, st ContainerState) {
	changed := st.ID != w.state.ID
	w.pod, w.podIP, w.state = pod, podIP, st
	if changed {
		select {
		case w.trigger <- struct{}{}:
		default:
		}
	}
}

func (w *worker) stop() {
	select {
	case <-w.stopCh:
	default:
		close(w.stopCh)
	}
}

func (w *worker) run() {
	defer w.m.wg.Done()
	ticker := w.m.clock.NewTicker(time.Duration(w.probe.PeriodSeconds) * time.Second)
	defer ticker.Stop()
	for {
		w.doProbe()
		if w.m.afterProbe != nil {
			w.m.afterProbe(w)
		}
		select {
		case <-w.stopCh:
			return
		case <-ticker.C():
		case <-w.trigger:
		}
	}
}

// doProbe runs one probe attempt if it is due and applies the thresholds.
func (w *worker) doProbe() {
	w.m.mu.Lock()
	pod, podIP, st := w.pod, w.podIP, w.state
	w.m.mu.Unlock()
	select {
	case <-w.stopCh:
		return
	default:
	}
	if st.ID == "" || st.StartedAt.IsZero() {
		// Not running: nothing to probe; a readiness result goes back to
		// not ready.
		if w.lastID != "" && w.key.typ == Readiness {
			w.m.setResult(w, w.lastID, Failure, "")
		}
		w.lastID = ""
		return
	}
	if st.ID != w.lastID {
		w.lastID = st.ID
		w.lastResult = Unknown
		w.resultRun = 0
		w.onHold = false
		w.m.setResult(w, st.ID, initialResult(w.key.typ), "")
	}
	if w.onHold {
		return
	}
	if w.key.typ == Startup {
		if w.m.startedFor(w.key.uid, w.key.container, st.ID) {
			return
		}
	} else if !w.m.startedFor(w.key.uid, w.key.container, st.ID) {
		return
	}
	if w.m.clock.Since(st.StartedAt) < time.Duration(w.probe.InitialDelaySeconds)*time.Second {
		return
	}

	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-w.stopCh:
			cancel()
		case <-ctx.Done():
		}
	}()
	res, msg := w.m.runProbe(ctx, w.probe, w.spec, podIP, st.ID)
	cancel()

	if res == Failure {
		w.m.event(pod, w.key.typ, msg)
	}
	if res == w.lastResult {
		w.resultRun++
	} else {
		w.lastResult = res
		w.resultRun = 1
	}
	if (res == Failure && w.resultRun < int(w.probe.FailureThreshold)) ||
		(res == Success && w.resultRun < int(w.probe.SuccessThreshold)) {
		return
	}
	w.m.setResult(w, st.ID, res, msg)
	if res == Failure && (w.key.typ == Liveness || w.key.typ == Startup) {
		// The kubelet restarts the container; wait for the new one.
		w.onHold = true
		w.resultRun = 0
	}
}
