package kubelet

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiffk8s/skiff/kubelet/prober"
	"github.com/skiffk8s/skiff/runtime"
)

// proberReadiness is the ReadinessSource of a kubelet with a prober.
type proberReadiness struct{ p Prober }

func (r proberReadiness) Ready(pod *corev1.Pod, name, _ string) bool {
	return r.p.Readiness(pod.UID, name) && r.p.Started(pod.UID, name)
}

// startProber builds the prober, if configured; it runs before any pod
// worker.
func (k *kubelet) startProber() {
	if k.cfg.NewProber == nil {
		return
	}
	k.prober = k.cfg.NewProber(ProberDeps{Clock: k.clock, Recorder: k.recorder, OnUpdate: k.onProbeUpdate, Dial: k.cfg.Dial})
	if k.cfg.Readiness == nil {
		k.cfg.Readiness = proberReadiness{k.prober}
	}
}

// stopProber stops the prober's workers when it can be stopped.
func (k *kubelet) stopProber() {
	if s, ok := k.prober.(interface{ Stop() }); ok {
		s.Stop()
	}
}

// onProbeUpdate records liveness and startup failures and wakes the pod.
// It runs on a probe worker's goroutine: it only records and wakes.
func (k *kubelet) onProbeUpdate(u prober.Update) {
	if u.Result == prober.Failure && (u.Type == prober.Liveness || u.Type == prober.Startup) {
		k.mu.Lock()
		m := k.unhealthy[u.PodUID]
		if m == nil {
			m = map[string]prober.Update{}
			k.unhealthy[u.PodUID] = m
		}
		m[u.ContainerID] = u
		k.mu.Unlock()
	}
	k.wakeUID(u.PodUID)
}

// unhealthyOf returns the pod's running containers that failed their
// liveness or startup probe, by container ID, forgetting those that no
// longer run.
func (k *kubelet) unhealthyOf(uid types.UID, containers []runtime.ContainerStatus) map[string]prober.Update {
	k.mu.Lock()
	defer k.mu.Unlock()
	m := k.unhealthy[uid]
	if len(m) == 0 {
		return nil
	}
	running := map[string]bool{}
	for _, c := range containers {
		if c.State == runtime.StateRunning {
			running[c.ID] = true
		}
	}
	out := map[string]prober.Update{}
	for id, u := range m {
		if running[id] {
			out[id] = u
		} else {
			delete(m, id)
		}
	}
	if len(m) == 0 {
		delete(k.unhealthy, uid)
	}
	return out
}

// forgetProbes stops a pod's probes: it is terminating or gone.
func (k *kubelet) forgetProbes(uid types.UID) {
	if k.prober == nil {
		return
	}
	k.prober.RemovePod(uid)
	k.mu.Lock()
	delete(k.unhealthy, uid)
	k.mu.Unlock()
}

// updateProber tells the prober the pod's running containers.
func (k *kubelet) updateProber(pod *corev1.Pod, st *podState, podIP string) {
	if k.prober == nil {
		return
	}
	var cs []prober.ContainerState
	for i := range pod.Spec.Containers {
		name := pod.Spec.Containers[i].Name
		if in := st.latest(name); in != nil && in.State == runtime.StateRunning {
			cs = append(cs, prober.ContainerState{Name: name, ID: in.ID, StartedAt: in.StartedAt})
		}
	}
	k.prober.UpdatePod(pod, podIP, cs)
}

// probeKillMessage is the Killing event of a container that failed a
// probe, as upstream words it.
func probeKillMessage(u prober.Update) string {
	return "Container " + u.Container + " failed " + probeWord(u.Type) + " probe, will be restarted"
}

// probeGrace is the failed probe's terminationGracePeriodSeconds, which
// overrides the pod's for the kill it causes (nil: none).
func probeGrace(c *corev1.Container, t prober.ProbeType) *int64 {
	p := c.LivenessProbe
	if t == prober.Startup {
		p = c.StartupProbe
	}
	if p == nil {
		return nil
	}
	return p.TerminationGracePeriodSeconds
}

func probeWord(t prober.ProbeType) string {
	switch t {
	case prober.Startup:
		return "startup"
	case prober.Readiness:
		return "readiness"
	}
	return "liveness"
}

// startedFunc reports started for running containers.
func (k *kubelet) startedFunc(pod *corev1.Pod) func(name string) bool {
	if k.prober == nil {
		return nil
	}
	return func(name string) bool { return k.prober.Started(pod.UID, name) }
}
