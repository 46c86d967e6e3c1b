// Package prober runs a pod's liveness, readiness and startup probes for
// the kubelet: exec (through the runtime's Exec), httpGet and tcpSocket
// (dialled from the kubelet's process into the pod's IP), each on its own
// worker honouring initialDelaySeconds, periodSeconds, timeoutSeconds,
// successThreshold and failureThreshold, with upstream's semantics:
// readiness starts false, liveness starts true, liveness and readiness
// wait until the startup probe has succeeded, and a liveness (or startup)
// failure is reported once and then held until the container is
// replaced. Failed probes are recorded as Unhealthy events with
// upstream's messages ("Liveness probe failed: HTTP probe failed with
// statuscode: 500").
//
// The kubelet reads Readiness and Started when it writes status and acts
// on the Updates it is handed (a liveness or startup Failure means:
// restart the container).
package prober

import (
	"context"
	"net"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
)

// ExecFunc runs cmd in a running container, as runtime.Runtime's Exec.
type ExecFunc func(ctx context.Context, containerID string, cmd []string, timeout time.Duration) (exitCode int, output []byte, err error)

// ProbeType names a kind of probe as upstream's events do.
type ProbeType string

// Probe types.
const (
	Liveness  ProbeType = "Liveness"
	Readiness ProbeType = "Readiness"
	Startup   ProbeType = "Startup"
)

// Result is a probe's outcome after the thresholds are applied.
type Result int

// Results.
const (
	Unknown Result = iota
	Success
	Failure
)

func (r Result) String() string {
	switch r {
	case Success:
		return "Success"
	case Failure:
		return "Failure"
	}
	return "Unknown"
}

// Update reports a change of a container's probe result.
type Update struct {
	PodUID      types.UID
	Container   string
	ContainerID string
	Type        ProbeType
	Result      Result
	// Message is the last probe's output for a Failure.
	Message string
}

// ContainerState is what the kubelet tells the Manager about one of the
// pod's containers.
type ContainerState struct {
	Name string
	// ID is the runtime container's ID; StartedAt is when it started.
	// An empty ID or zero StartedAt means the container is not running.
	ID        string
	StartedAt time.Time
}

// Manager runs the probes of the pods it is given. Create it with New;
// its methods are safe for concurrent use.
type Manager struct {
	exec     ExecFunc
	clock    clock.WithTicker
	recorder record.EventRecorder
	onUpdate func(Update)
	http     *httpProber
	dial     DialFunc // nil: net.Dialer

	// afterProbe, if set, is called after each probe attempt (tests).
	afterProbe func(w *worker)

	mu      sync.Mutex
	workers map[workerKey]*worker // guarded by mu
	results map[workerKey]result  // guarded by mu
	wg      sync.WaitGroup
}

type workerKey struct {
	uid       types.UID
	container string
	typ       ProbeType
}

type result struct {
	containerID string
	value       Result
}

// Config holds a Manager's dependencies.
type Config struct {
	// Exec runs exec probes (runtime.Runtime's Exec method).
	Exec ExecFunc
	// Clock paces the probes; nil: the real clock.
	Clock clock.WithTicker
	// Recorder receives Unhealthy events (optional).
	Recorder record.EventRecorder
	// OnUpdate is called, from a worker's goroutine, each time a result
	// changes. It must not block for long. A Liveness or Startup Failure
	// asks for the container to be restarted.
	OnUpdate func(Update)
	// Dial opens httpGet and tcpSocket probe connections; nil dials from
	// the process's own network namespace. A kubelet whose pod network
	// lives in another namespace dials from there.
	Dial DialFunc
}

// DialFunc opens a network connection (net.Dialer.DialContext's shape).
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// New returns a Manager with no pods.
func New(cfg Config) *Manager {
	m := &Manager{
		exec:     cfg.Exec,
		clock:    cfg.Clock,
		recorder: cfg.Recorder,
		onUpdate: cfg.OnUpdate,
		http:     newHTTPProber(cfg.Dial),
		dial:     cfg.Dial,
		workers:  map[workerKey]*worker{},
		results:  map[workerKey]result{},
	}
	if m.clock == nil {
		m.clock = clock.RealClock{}
	}
	return m
}

// UpdatePod tells the Manager about a pod and the current state of its
// containers: workers start for each probe in the spec, and learn about
// new container IDs (a restarted container starts over: not ready,
// alive, not started). podIP is where httpGet and tcpSocket probes go
// when they name no host.
func (m *Manager) UpdatePod(pod *corev1.Pod, podIP string, containers []ContainerState) {
	states := map[string]ContainerState{}
	for _, c := range containers {
		states[c.Name] = c
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	want := map[workerKey]bool{}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		for _, p := range []struct {
			typ   ProbeType
			probe *corev1.Probe
		}{{Liveness, c.LivenessProbe}, {Readiness, c.ReadinessProbe}, {Startup, c.StartupProbe}} {
			if p.probe == nil || p.probe.GRPC != nil && p.probe.Exec == nil && p.probe.HTTPGet == nil && p.probe.TCPSocket == nil {
				// gRPC probes are not supported: the container is treated
				// as having no such probe.
				continue
			}
			key := workerKey{pod.UID, c.Name, p.typ}
			want[key] = true
			if w, ok := m.workers[key]; ok {
				if w.state.ID != states[c.Name].ID {
					// A new (or no) instance: the old one's result does
					// not apply to it, even before the worker runs.
					delete(m.results, key)
				}
				w.setStateLocked(pod, podIP, states[c.Name])
				continue
			}
			w := newWorker(m, key, pod, c, p.probe)
			w.podIP, w.state = podIP, states[c.Name]
			m.workers[key] = w
			m.wg.Add(1)
			go w.run()
		}
	}
	for key, w := range m.workers {
		if key.uid == pod.UID && !want[key] {
			w.stop()
			delete(m.workers, key)
			delete(m.results, key)
		}
	}
}

// RemovePod stops the pod's probes and forgets their results.
func (m *Manager) RemovePod(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for key, w := range m.workers {
		if key.uid == uid {
			w.stop()
			delete(m.workers, key)
		}
	}
	for key := range m.results {
		if key.uid == uid {
			delete(m.results, key)
		}
	}
}

// Stop stops every worker and waits for them.
func (m *Manager) Stop() {
	m.mu.Lock()
	for key, w := range m.workers {
		w.stop()
		delete(m.workers, key)
	}
	m.mu.Unlock()
	m.wg.Wait()
}

// Readiness reports whether the container passes its readiness probe
// (true when it has none; false until the first success after a start).
func (m *Manager) Readiness(uid types.UID, container string) bool {
	return m.resultOr(workerKey{uid, container, Readiness}, true) == Success
}

// Started reports whether the container's startup probe has succeeded
// (true when it has none).
func (m *Manager) Started(uid types.UID, container string) bool {
	return m.resultOr(workerKey{uid, container, Startup}, true) == Success
}

// Alive reports whether the container's liveness probe has not failed
// (true when it has none).
func (m *Manager) Alive(uid types.UID, container string) bool {
	return m.resultOr(workerKey{uid, container, Liveness}, true) != Failure
}

func (m *Manager) resultOr(key workerKey, noProbe bool) Result {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.workers[key]; !ok {
		if noProbe {
			return Success
		}
		return Failure
	}
	r, ok := m.results[key]
	if !ok {
		return initialResult(key.typ)
	}
	return r.value
}

// startedFor reports whether container id has passed its startup probe
// (true when there is none).
func (m *Manager) startedFor(uid types.UID, container, id string) bool {
	key := workerKey{uid, container, Startup}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.workers[key]; !ok {
		return true
	}
	r, ok := m.results[key]
	return ok && r.value == Success && r.containerID == id
}

// setResult records a worker's result and reports a change.
func (m *Manager) setResult(w *worker, id string, value Result, msg string) {
	m.mu.Lock()
	if m.workers[w.key] != w {
		m.mu.Unlock()
		return
	}
	prev, ok := m.results[w.key]
	m.results[w.key] = result{containerID: id, value: value}
	m.mu.Unlock()
	if ok && prev.value == value && prev.containerID == id {
		return
	}
	if !ok && value == initialResult(w.key.typ) {
		return
	}
	if m.onUpdate != nil {
		m.onUpdate(Update{PodUID: w.key.uid, Container: w.key.container, ContainerID: id, Type: w.key.typ, Result: value, Message: msg})
	}
}

// initialResult is the value before the first probe of a container:
// not ready, alive, not started.
func initialResult(t ProbeType) Result {
	switch t {
	case Liveness:
		return Success
	case Readiness:
		return Failure
	}
	return Unknown
}

func (m *Manager) event(pod *corev1.Pod, typ ProbeType, msg string) {
	if m.recorder == nil || pod == nil {
		return
	}
	m.recorder.Eventf(pod, corev1.EventTypeWarning, "Unhealthy", "%s probe failed: %s", typ, msg)
}
