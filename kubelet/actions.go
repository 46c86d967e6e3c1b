package kubelet

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiffk8s/skiff/kubelet/prober"
	"github.com/skiffk8s/skiff/runtime"
)

// Labels the kubelet puts on every container it creates. A restarted
// kubelet rebuilds its view of the node from them.
const (
	LabelPodUID        = "io.skiff.pod.uid"
	LabelPodName       = "io.skiff.pod.name"
	LabelPodNamespace  = "io.skiff.pod.namespace"
	LabelContainerName = "io.skiff.container.name"
	// LabelRestart is the container instance's restart index (0, 1, ...):
	// the pod's restartCount for it.
	LabelRestart = "io.skiff.container.restart"
	// LabelBackOff is the crash-loop streak the instance was started in:
	// it decides the back-off before the next restart.
	LabelBackOff = "io.skiff.container.backoff"
	// LabelInit is "true" on init containers.
	LabelInit = "io.skiff.container.init"
)

// Back-off parameters, as upstream's kubelet.
const (
	backOffInitial = 10 * time.Second
	backOffMax     = 5 * time.Minute
	// backOffReset: a container that ran this long starts a new streak.
	backOffReset = 10 * time.Minute
)

// instance is one container instance of a pod, from the runtime.
type instance struct {
	runtime.ContainerStatus
	Restart int
	Streak  int
	// Message is an exited container's termination message.
	Message string
}

func instanceOf(c runtime.ContainerStatus) instance {
	r, _ := strconv.Atoi(c.Labels[LabelRestart])
	s, _ := strconv.Atoi(c.Labels[LabelBackOff])
	return instance{ContainerStatus: c, Restart: r, Streak: s}
}

// pullFailure remembers failed pulls of one container's image.
type pullFailure struct {
	Image   string
	Count   int
	Last    time.Time
	Reason  string // ErrImagePull, InvalidImageName, ErrImageNeverPull
	Message string
}

// podState is the actual state of one pod: its container instances from
// the runtime and what the kubelet remembers about it.
type podState struct {
	// Containers by container name, newest (highest restart) first.
	Containers map[string][]instance
	// Unknown are containers of the pod whose name is not in the spec.
	Unknown []instance
	// PullFailures by container name.
	PullFailures map[string]pullFailure
	// NetworkReady is true once the pod's network is set up.
	NetworkReady bool
	// Unhealthy are running instances (by ID) whose liveness or startup
	// probe failed: they are killed so the restart policy applies.
	Unhealthy map[string]prober.Update
}

// newPodState groups a pod's runtime containers.
func newPodState(pod *corev1.Pod, containers []runtime.ContainerStatus) *podState {
	st := &podState{Containers: map[string][]instance{}, PullFailures: map[string]pullFailure{}}
	known := map[string]bool{}
	for _, c := range pod.Spec.InitContainers {
		known[c.Name] = true
	}
	for _, c := range pod.Spec.Containers {
		known[c.Name] = true
	}
	for _, c := range containers {
		in := instanceOf(c)
		name := c.Labels[LabelContainerName]
		if !known[name] {
			st.Unknown = append(st.Unknown, in)
			continue
		}
		st.Containers[name] = append(st.Containers[name], in)
	}
	for _, l := range st.Containers {
		sort.Slice(l, func(i, j int) bool {
			if l[i].Restart != l[j].Restart {
				return l[i].Restart > l[j].Restart
			}
			return l[i].CreatedAt.After(l[j].CreatedAt)
		})
	}
	return st
}

// latest is the newest instance of a container, or nil.
func (s *podState) latest(name string) *instance {
	if l := s.Containers[name]; len(l) > 0 {
		return &l[0]
	}
	return nil
}

// containerStart is a new container instance to create and start.
type containerStart struct {
	Container *corev1.Container
	Init      bool
	Restart   int
	Streak    int
}

// podActions is what a pod sync does, decided by computePodActions.
type podActions struct {
	// KillPod: the pod is being deleted: stop everything, tear down.
	KillPod bool
	// SetupNetwork: create (or look up) the pod's network.
	SetupNetwork bool
	// TeardownNetwork: the pod is finished; release its network.
	TeardownNetwork bool
	// Start are new instances to create and start, in order.
	Start []containerStart
	// StartExisting are created-but-not-started instances to start.
	StartExisting []instance
	// Kill are running instances to stop; KillMessage, by instance ID,
	// replaces the Killing event's "Stopping container x", and KillGrace
	// the pod's grace period (a probe's terminationGracePeriodSeconds).
	Kill        []instance
	KillMessage map[string]string
	KillGrace   map[string]time.Duration
	// Remove are exited instances no longer needed (IDs).
	Remove []string
	// Waiting are reasons for containers that wait (CrashLoopBackOff,
	// ImagePullBackOff), by container name.
	Waiting map[string]*corev1.ContainerStateWaiting
	// RequeueAfter asks for another sync after this long (0: no need).
	RequeueAfter time.Duration
}

func (a *podActions) requeue(d time.Duration) {
	if d > 0 && (a.RequeueAfter == 0 || d < a.RequeueAfter) {
		a.RequeueAfter = d
	}
}

func (a *podActions) wait(name, reason, msg string) {
	if a.Waiting == nil {
		a.Waiting = map[string]*corev1.ContainerStateWaiting{}
	}
	a.Waiting[name] = &corev1.ContainerStateWaiting{Reason: reason, Message: msg}
}

// backOffFor is the delay before restarting after an instance of the
// given streak exits: none for the first crash, then 10s, 20s, ... 5m.
func backOffFor(streak int) time.Duration {
	if streak <= 0 {
		return 0
	}
	d := backOffInitial
	for i := 1; i < streak && d < backOffMax; i++ {
		d *= 2
	}
	return min(d, backOffMax)
}

// restartAt says when an exited instance may be replaced and the streak
// of its replacement.
func restartAt(in *instance) (at time.Time, streak int) {
	if !in.StartedAt.IsZero() && in.FinishedAt.Sub(in.StartedAt) >= backOffReset {
		return in.FinishedAt, 1
	}
	return in.FinishedAt.Add(backOffFor(in.Streak)), in.Streak + 1
}

// pullBackOff says whether a container's image pull is backing off.
func pullBackOff(st *podState, c *corev1.Container, now time.Time) (time.Duration, *pullFailure) {
	pf, ok := st.PullFailures[c.Name]
	if !ok || pf.Image != c.Image {
		return 0, nil
	}
	next := pf.Last.Add(backOffFor(pf.Count))
	if now.Before(next) {
		return next.Sub(now), &pf
	}
	return 0, nil
}

// shouldRestart applies the pod's restartPolicy to an exited container.
func shouldRestart(policy corev1.RestartPolicy, exitCode int32) bool {
	switch policy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return exitCode != 0
	default:
		return true
	}
}

func isTerminal(phase corev1.PodPhase) bool {
	return phase == corev1.PodSucceeded || phase == corev1.PodFailed
}

// computePodActions decides what to do to bring the pod's containers from
// st towards its spec at time now. It has no side effects.
func computePodActions(pod *corev1.Pod, st *podState, now time.Time) podActions {
	var a podActions
	if pod.DeletionTimestamp != nil {
		a.KillPod = true
		return a
	}
	// Containers not in the spec (a changed pod) are stopped and removed.
	for _, in := range st.Unknown {
		if in.State == runtime.StateRunning {
			a.Kill = append(a.Kill, in)
		} else {
			a.Remove = append(a.Remove, in.ID)
		}
	}
	// Keep the newest two instances of each container (status and
	// lastState); older exited ones go.
	for _, l := range st.Containers {
		for _, in := range l[min(2, len(l)):] {
			if in.State != runtime.StateRunning {
				a.Remove = append(a.Remove, in.ID)
			}
		}
	}
	sort.Strings(a.Remove)
	if isTerminal(pod.Status.Phase) {
		// Finished: nothing starts again; anything still running stops.
		for _, l := range st.Containers {
			for _, in := range l {
				if in.State == runtime.StateRunning {
					a.Kill = append(a.Kill, in)
				}
			}
		}
		a.TeardownNetwork = st.NetworkReady
		return a
	}
	if !st.NetworkReady {
		a.SetupNetwork = true
	}
	// Containers that failed a liveness or startup probe are killed; the
	// next sync restarts them as their restart policy says.
	for i := range pod.Spec.Containers {
		in := st.latest(pod.Spec.Containers[i].Name)
		if in == nil || in.State != runtime.StateRunning {
			continue
		}
		if u, ok := st.Unhealthy[in.ID]; ok {
			a.Kill = append(a.Kill, *in)
			if a.KillMessage == nil {
				a.KillMessage = map[string]string{}
			}
			a.KillMessage[in.ID] = probeKillMessage(u)
			if g := probeGrace(&pod.Spec.Containers[i], u.Type); g != nil {
				if a.KillGrace == nil {
					a.KillGrace = map[string]time.Duration{}
				}
				a.KillGrace[in.ID] = time.Duration(*g) * time.Second
			}
		}
	}
	policy := pod.Spec.RestartPolicy
	podName := fmt.Sprintf("%s_%s(%s)", pod.Name, pod.Namespace, pod.UID)

	// start decides about one container.
	start := func(c *corev1.Container, init bool) {
		in := st.latest(c.Name)
		if in == nil {
			if d, pf := pullBackOff(st, c, now); pf != nil {
				a.wait(c.Name, "ImagePullBackOff", fmt.Sprintf("Back-off pulling image %q: %s: %s", c.Image, pf.Reason, pf.Message))
				a.requeue(d)
				return
			}
			a.Start = append(a.Start, containerStart{Container: c, Init: init})
			return
		}
		switch in.State {
		case runtime.StateCreated:
			a.StartExisting = append(a.StartExisting, *in)
		case runtime.StateExited:
			if !shouldRestart(policy, in.ExitCode) {
				return
			}
			if d, pf := pullBackOff(st, c, now); pf != nil {
				a.wait(c.Name, "ImagePullBackOff", fmt.Sprintf("Back-off pulling image %q: %s: %s", c.Image, pf.Reason, pf.Message))
				a.requeue(d)
				return
			}
			at, streak := restartAt(in)
			if now.Before(at) {
				a.wait(c.Name, "CrashLoopBackOff", fmt.Sprintf("back-off %s restarting failed container=%s pod=%s", backOffFor(in.Streak), c.Name, podName))
				a.requeue(at.Sub(now))
				return
			}
			a.Start = append(a.Start, containerStart{Container: c, Init: init, Restart: in.Restart + 1, Streak: streak})
		}
	}

	// Init containers run one at a time, in order, each to success.
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		in := st.latest(c.Name)
		if in != nil && in.State == runtime.StateExited && in.ExitCode == 0 {
			continue
		}
		if in != nil && in.State == runtime.StateExited && policy == corev1.RestartPolicyNever {
			return a // the pod has failed
		}
		if in != nil && in.State == runtime.StateExited {
			// Init containers restart on failure under Always too.
			saved := policy
			policy = corev1.RestartPolicyOnFailure
			start(c, true)
			policy = saved
		} else {
			start(c, true)
		}
		return a
	}
	for i := range pod.Spec.Containers {
		start(&pod.Spec.Containers[i], false)
	}
	return a
}
