package kubelet

import (
	"fmt"
	"net"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffk8s/skiff/runtime"
)

// statusInput is what computePodStatus needs besides the pod.
type statusInput struct {
	State *podState
	// Waiting are reasons from this sync's decisions (back-offs).
	Waiting map[string]*corev1.ContainerStateWaiting
	// Errors are reasons from this sync's failures (pulls, creation), by
	// container name; they apply to containers without a live instance.
	Errors map[string]*corev1.ContainerStateWaiting
	PodIP  net.IP
	HostIP net.IP
	// Ready reports readiness of a running container.
	Ready func(name, id string) bool
	// Started reports whether a running container passed its startup
	// probe (nil: all have).
	Started func(name string) bool
}

func mtime(t time.Time) metav1.Time { return metav1.NewTime(t).Rfc3339Copy() }

func mtimePtr(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	m := mtime(t)
	return &m
}

func containerID(id string) string {
	if id == "" {
		return ""
	}
	return "containerd://" + id
}

func terminatedState(in *instance) *corev1.ContainerStateTerminated {
	reason := in.Reason
	if reason == "" {
		reason = "Error"
		if in.ExitCode == 0 {
			reason = "Completed"
		}
	}
	t := &corev1.ContainerStateTerminated{
		ExitCode:    in.ExitCode,
		Reason:      reason,
		Message:     in.Message,
		ContainerID: containerID(in.ID),
	}
	if in.StartedAt.IsZero() {
		t.StartedAt = mtime(in.CreatedAt)
	} else {
		t.StartedAt = mtime(in.StartedAt)
	}
	t.FinishedAt = mtime(in.FinishedAt)
	return t
}

// containerStatus is one container's status; pending is the waiting
// reason of a container with no instance yet.
func containerStatus(c *corev1.Container, in statusInput, pending string) corev1.ContainerStatus {
	cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, Started: new(false)}
	l := in.State.Containers[c.Name]
	var cur *instance
	if len(l) > 0 {
		cur = &l[0]
		cs.RestartCount = int32(cur.Restart)
		cs.ContainerID = containerID(cur.ID)
		cs.ImageID = cur.ImageID
		if len(l) > 1 && l[1].State == runtime.StateExited {
			cs.LastTerminationState.Terminated = terminatedState(&l[1])
		}
	}
	w := in.Waiting[c.Name]
	if w == nil {
		w = in.Errors[c.Name]
	}
	switch {
	case cur == nil:
		if w == nil {
			w = &corev1.ContainerStateWaiting{Reason: pending}
		}
		cs.State.Waiting = w
	case cur.State == runtime.StateRunning:
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: mtime(cur.StartedAt)}
		cs.Started = new(in.Started == nil || in.Started(c.Name))
		cs.Ready = in.Ready == nil || in.Ready(c.Name, cur.ID)
	case cur.State == runtime.StateExited && w != nil:
		// Waiting to be restarted: the dead instance is the last state.
		cs.State.Waiting = w
		cs.LastTerminationState = corev1.ContainerState{Terminated: terminatedState(cur)}
	case cur.State == runtime.StateExited:
		cs.State.Terminated = terminatedState(cur)
	default:
		if w == nil {
			w = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
		}
		cs.State.Waiting = w
	}
	return cs
}

// computePodStatus derives the pod's status from its actual state, as
// upstream's kubelet reports it. old is the current status (to keep
// transition times and startTime).
func computePodStatus(pod *corev1.Pod, in statusInput, now time.Time) corev1.PodStatus {
	old := pod.Status
	s := corev1.PodStatus{
		QOSClass:  qosClass(pod),
		StartTime: old.StartTime,
		Reason:    old.Reason,
		Message:   old.Message,
	}
	if s.StartTime == nil {
		s.StartTime = mtimePtr(now)
	}
	if in.HostIP != nil {
		s.HostIP = in.HostIP.String()
		s.HostIPs = []corev1.HostIP{{IP: s.HostIP}}
	}
	if in.PodIP != nil {
		s.PodIP = in.PodIP.String()
		s.PodIPs = []corev1.PodIP{{IP: s.PodIP}}
	} else {
		s.PodIP, s.PodIPs = old.PodIP, old.PodIPs
	}

	// Init containers.
	initDone, initFailed := true, false
	var incomplete []string
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		cs := containerStatus(c, in, "PodInitializing")
		s.InitContainerStatuses = append(s.InitContainerStatuses, cs)
		if t := cs.State.Terminated; t != nil && t.ExitCode == 0 {
			continue
		}
		initDone = false
		incomplete = append(incomplete, c.Name)
		if t := cs.State.Terminated; t != nil && pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
			initFailed = true
		}
	}

	// Regular containers.
	pending := "ContainerCreating"
	if !initDone {
		pending = "PodInitializing"
	}
	var waiting, running, stopped, succeeded int
	var unready []string
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		cs := containerStatus(c, in, pending)
		s.ContainerStatuses = append(s.ContainerStatuses, cs)
		if !cs.Ready {
			unready = append(unready, c.Name)
		}
		switch {
		case cs.State.Running != nil:
			running++
		case cs.State.Terminated != nil:
			stopped++
			if cs.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case cs.LastTerminationState.Terminated != nil:
			stopped++
		default:
			waiting++
		}
	}

	// Phase, as upstream's getPhase.
	switch {
	case isTerminal(old.Phase):
		s.Phase = old.Phase
	case initFailed:
		s.Phase = corev1.PodFailed
	case !initDone:
		s.Phase = corev1.PodPending
	case waiting > 0:
		s.Phase = corev1.PodPending
	case running > 0:
		s.Phase = corev1.PodRunning
	case stopped > 0 && pod.Spec.RestartPolicy == corev1.RestartPolicyAlways:
		s.Phase = corev1.PodRunning
	case stopped > 0 && stopped == succeeded:
		s.Phase = corev1.PodSucceeded
	case stopped > 0 && pod.Spec.RestartPolicy == corev1.RestartPolicyNever:
		s.Phase = corev1.PodFailed
	case stopped > 0:
		s.Phase = corev1.PodRunning
	default:
		s.Phase = corev1.PodPending
	}

	// Conditions.
	cond := func(t corev1.PodConditionType, ok bool, reason, msg string) {
		st := corev1.ConditionFalse
		if ok {
			st = corev1.ConditionTrue
			reason, msg = "", ""
		}
		c := corev1.PodCondition{Type: t, Status: st, Reason: reason, Message: msg, LastTransitionTime: mtime(now)}
		for _, o := range old.Conditions {
			if o.Type == t && o.Status == st {
				c.LastTransitionTime = o.LastTransitionTime
				c.LastProbeTime = o.LastProbeTime
			}
		}
		s.Conditions = append(s.Conditions, c)
	}
	scheduled := true
	for _, o := range old.Conditions {
		if o.Type == corev1.PodScheduled {
			scheduled = o.Status == corev1.ConditionTrue
		}
	}
	cond(corev1.PodReadyToStartContainers, (in.PodIP != nil || pod.Spec.HostNetwork) && in.State.NetworkReady && !isTerminal(s.Phase), "", "")
	if initDone {
		cond(corev1.PodInitialized, true, "", "")
	} else {
		cond(corev1.PodInitialized, false, "ContainersNotInitialized", fmt.Sprintf("containers with incomplete status: [%s]", strings.Join(incomplete, " ")))
	}
	notReady, notReadyMsg := "ContainersNotReady", fmt.Sprintf("containers with unready status: [%s]", strings.Join(unready, " "))
	if s.Phase == corev1.PodSucceeded || s.Phase == corev1.PodFailed {
		notReady = "PodCompleted"
		if s.Phase == corev1.PodFailed {
			notReady = "PodFailed"
		}
		notReadyMsg = ""
	}
	ready := len(unready) == 0 && s.Phase == corev1.PodRunning
	cond(corev1.ContainersReady, ready, notReady, notReadyMsg)
	cond(corev1.PodReady, ready, notReady, notReadyMsg)
	cond(corev1.PodScheduled, scheduled, "", "")
	return s
}

// statusEqual reports whether two statuses say the same thing.
func statusEqual(a, b corev1.PodStatus) bool {
	return equality.Semantic.DeepEqual(a, b)
}

// qosClass is the pod's QoS class, as upstream computes it.
func qosClass(pod *corev1.Pod) corev1.PodQOSClass {
	requests, limits := corev1.ResourceList{}, corev1.ResourceList{}
	zero := true
	guaranteed := true
	all := append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...)
	for _, c := range all {
		for n, q := range c.Resources.Requests {
			if n != corev1.ResourceCPU && n != corev1.ResourceMemory || q.IsZero() {
				continue
			}
			zero = false
			v := requests[n]
			v.Add(q)
			requests[n] = v
		}
		have := 0
		for n, q := range c.Resources.Limits {
			if n != corev1.ResourceCPU && n != corev1.ResourceMemory || q.IsZero() {
				continue
			}
			zero = false
			have++
			v := limits[n]
			v.Add(q)
			limits[n] = v
		}
		if have < 2 {
			guaranteed = false
		}
	}
	if zero {
		return corev1.PodQOSBestEffort
	}
	if guaranteed {
		for n, r := range requests {
			if l, ok := limits[n]; !ok || l.Cmp(r) != 0 {
				guaranteed = false
			}
		}
	}
	if guaranteed {
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}
