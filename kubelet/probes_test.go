package kubelet

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffk8s/skiff/kubelet/prober"
)

// withProber runs the real prober on the harness's fake runtime's Exec.
func withProber(c *Config) {
	rt := c.Runtime
	c.NewProber = func(d ProberDeps) Prober {
		return prober.New(prober.Config{Exec: rt.Exec, Clock: d.Clock, Recorder: d.Recorder, OnUpdate: d.OnUpdate})
	}
}

func execProbe(cmd string) *corev1.Probe {
	return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", cmd}}},
		PeriodSeconds: 1, FailureThreshold: 2}
}

// hasEvent reports whether an event with reason and a message containing
// msg was recorded.
func (h *harness) hasEvent(reason, msg string) (bool, string) {
	evs, err := h.srv.Client.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return false, err.Error()
	}
	var seen []string
	for _, e := range evs.Items {
		if e.Reason == reason && strings.Contains(e.Message, msg) {
			return true, ""
		}
		seen = append(seen, e.Reason+": "+e.Message)
	}
	return false, strings.Join(seen, "; ")
}

func TestReadinessProbeDrivesReadyCondition(t *testing.T) {
	// No periodic resync: only the probe's result can wake the pod.
	h := newHarnessWith(t, func(c *Config) {
		withProber(c)
		c.PodResyncInterval = time.Hour
	})
	var ready atomic.Bool
	h.rt.setExec(func(_ string, cmd []string) (int, []byte, error) {
		if ready.Load() {
			return 0, nil, nil
		}
		return 1, []byte("not yet"), nil
	})
	pod := simplePod("web", corev1.RestartPolicyAlways, "busybox:1.36")
	pod.Spec.Containers[0].ReadinessProbe = execProbe("test -f /ready")
	h.createPod(pod)

	p := h.waitPod("web", "Running but not ready", time.Second, func(p *corev1.Pod) bool {
		return running(p) && condStatus(p.Status, corev1.PodReady) == "False/ContainersNotReady" && len(h.rt.execsRun()) >= 2
	})
	if cs := p.Status.ContainerStatuses[0]; cs.Ready || cs.Started == nil || !*cs.Started {
		t.Errorf("container status ready=%v started=%v; want not ready, started", cs.Ready, cs.Started)
	}
	if got := condStatus(p.Status, corev1.ContainersReady); got != "False/ContainersNotReady" {
		t.Errorf("ContainersReady = %s", got)
	}
	h.eventually("Unhealthy event", 0, func() (bool, string) { return h.hasEvent("Unhealthy", "Readiness probe failed: not yet") })

	// The probe passes: the probe's update wakes the pod's worker.
	ready.Store(true)
	p = h.waitPod("web", "Ready", 500*time.Millisecond, func(p *corev1.Pod) bool {
		return condStatus(p.Status, corev1.PodReady) == "True/"
	})
	if !p.Status.ContainerStatuses[0].Ready || condStatus(p.Status, corev1.ContainersReady) != "True/" {
		t.Errorf("status %+v", p.Status)
	}
}

func TestFailedLivenessProbeRestartsContainer(t *testing.T) {
	h := newHarnessWith(t, withProber)
	// The probe fails in the container named by sick, only.
	var sick atomic.Value
	sick.Store("")
	h.rt.setExec(func(id string, _ []string) (int, []byte, error) {
		if id == sick.Load() {
			return 1, []byte("unhealthy"), nil
		}
		return 0, nil, nil
	})
	pod := simplePod("live", corev1.RestartPolicyAlways, "busybox:1.36")
	pod.Spec.Containers[0].LivenessProbe = execProbe("true")
	pod.Spec.Containers[0].LivenessProbe.TerminationGracePeriodSeconds = new(int64(3))
	h.createPod(pod)
	p := h.waitPod("live", "Running", 0, running)
	first := p.Status.ContainerStatuses[0].ContainerID
	id := strings.TrimPrefix(first, "containerd://")

	sick.Store(id)
	p = h.waitPod("live", "restarted", time.Second, func(p *corev1.Pod) bool {
		return running(p) && p.Status.ContainerStatuses[0].RestartCount == 1
	})
	cs := p.Status.ContainerStatuses[0]
	if cs.ContainerID == first || cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ContainerID != first {
		t.Errorf("container status %+v; want a new container, the failed one as last state", cs)
	}
	h.eventually("Killing event", 0, func() (bool, string) {
		return h.hasEvent("Killing", "Container main failed liveness probe, will be restarted")
	})
	h.eventually("Unhealthy event", 0, func() (bool, string) {
		return h.hasEvent("Unhealthy", "Liveness probe failed: unhealthy")
	})
	h.rt.mu.Lock()
	g := h.rt.stops[id]
	h.rt.mu.Unlock()
	if g != 3*time.Second {
		t.Errorf("killed with grace %v, want the probe's 3s", g)
	}
	// The new container is probed afresh and, healthy, stays.
	n := len(h.rt.execsRun())
	h.eventually("probes of the new container", time.Second, func() (bool, string) {
		return len(h.rt.execsRun()) >= n+4, "fewer than 4 more probes"
	})
	if p, _ = h.getPod("live"); !running(p) || p.Status.ContainerStatuses[0].RestartCount != 1 {
		t.Errorf("after recovery: running=%v restartCount=%d, want running with 1", running(p), p.Status.ContainerStatuses[0].RestartCount)
	}
}

func TestStartupProbeGatesStartedAndReady(t *testing.T) {
	h := newHarnessWith(t, withProber)
	var up atomic.Bool
	h.rt.setExec(func(_ string, cmd []string) (int, []byte, error) {
		if up.Load() {
			return 0, nil, nil
		}
		return 1, nil, nil
	})
	pod := simplePod("slow", corev1.RestartPolicyAlways, "busybox:1.36")
	p := execProbe("true")
	p.FailureThreshold = 1000
	pod.Spec.Containers[0].StartupProbe = p
	h.createPod(pod)
	got := h.waitPod("slow", "Running, not started", time.Second, func(p *corev1.Pod) bool {
		return running(p) && len(h.rt.execsRun()) >= 2
	})
	if cs := got.Status.ContainerStatuses[0]; cs.Started == nil || *cs.Started || cs.Ready {
		t.Errorf("started=%v ready=%v before the startup probe passed; want false, false", cs.Started, cs.Ready)
	}
	up.Store(true)
	h.waitPod("slow", "started and ready", 500*time.Millisecond, func(p *corev1.Pod) bool {
		cs := p.Status.ContainerStatuses[0]
		return cs.Started != nil && *cs.Started && cs.Ready
	})
}
