package kubelet

import (
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffk8s/skiff/runtime"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func testPod(policy corev1.RestartPolicy, names ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "uid-1"},
		Spec: corev1.PodSpec{RestartPolicy: policy, NodeName: "n1"}}
	for _, n := range names {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: n, Image: "busybox:1.36"})
	}
	return p
}

func withInit(p *corev1.Pod, names ...string) *corev1.Pod {
	for _, n := range names {
		p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: n, Image: "busybox:1.36"})
	}
	return p
}

// inst builds a container instance: state "running", "created" or
// "exited:<code>"; ran is how long it ran before exiting at finished.
func inst(id, name string, restart, streak int, state string, started, finished time.Time) runtime.ContainerStatus {
	c := runtime.ContainerStatus{ID: id, Labels: map[string]string{
		LabelPodUID: "uid-1", LabelContainerName: name,
		LabelRestart: strconv.Itoa(restart), LabelBackOff: strconv.Itoa(streak)},
		CreatedAt: started, StartedAt: started, ImageID: "sha256:abc"}
	switch {
	case state == "running":
		c.State = runtime.StateRunning
	case state == "created":
		c.State, c.StartedAt = runtime.StateCreated, time.Time{}
	case strings.HasPrefix(state, "exited:"):
		code, _ := strconv.Atoi(strings.TrimPrefix(state, "exited:"))
		c.State, c.ExitCode, c.FinishedAt = runtime.StateExited, int32(code), finished
	}
	return c
}

func state(pod *corev1.Pod, cs ...runtime.ContainerStatus) *podState {
	st := newPodState(pod, cs)
	st.NetworkReady = true
	return st
}

func started(a podActions) []string {
	var out []string
	for _, s := range a.Start {
		out = append(out, s.Container.Name+"#"+strconv.Itoa(s.Restart))
	}
	return out
}

func TestComputePodActions(t *testing.T) {
	sec := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
	tests := []struct {
		name        string
		pod         *corev1.Pod
		st          func(*corev1.Pod) *podState
		now         time.Time
		wantStart   []string
		wantWaiting string // "<container>=<reason>"
		wantRequeue time.Duration
		wantNetwork bool
		wantKill    int
		wantRemove  []string
	}{
		{
			name:        "a new pod gets its network and starts every container",
			pod:         testPod(corev1.RestartPolicyAlways, "a", "b"),
			st:          func(p *corev1.Pod) *podState { return newPodState(p, nil) },
			now:         t0,
			wantStart:   []string{"a#0", "b#0"},
			wantNetwork: true,
		},
		{
			name: "a running container is left alone",
			pod:  testPod(corev1.RestartPolicyAlways, "a"),
			st: func(p *corev1.Pod) *podState {
				return state(p, inst("c1", "a", 0, 0, "running", t0, time.Time{}))
			},
			now: sec(100),
		},
		{
			name: "a pod with restartPolicy Never whose container exited 1 is Failed and nothing restarts",
			pod:  testPod(corev1.RestartPolicyNever, "a"),
			st: func(p *corev1.Pod) *podState {
				return state(p, inst("c1", "a", 0, 0, "exited:1", t0, sec(5)))
			},
			now: sec(100),
		},
		{
			name: "a container that exited 0 under OnFailure is not restarted",
			pod:  testPod(corev1.RestartPolicyOnFailure, "a"),
			st: func(p *corev1.Pod) *podState {
				return state(p, inst("c1", "a", 0, 0, "exited:0", t0, sec(5)))
			},
			now: sec(6),
		},
		{
			name: "a container that exited 0 under Always restarts",
			pod:  testPod(corev1.RestartPolicyAlways, "a"),
			st: func(p *corev1.Pod) *podState {
				return state(p, inst("c1", "a", 0, 0, "exited:0", t0, sec(5)))
			},
			now:       sec(6),
			wantStart: []string{"a#1"},
		},
		{
			name: "the first crash under OnFailure restarts at once",
			pod:  testPod(corev1.RestartPolicyOnFailure, "a"),
			st: func(p *corev1.Pod) *podState {
				return state(p, inst("c1", "a", 0, 0, "exited:2", t0, sec(5)))
			},
			now:       sec(5),
			wantStart: []string{"a#1"},
		},
		{
			name: "the second crash waits 10s in CrashLoopBackOff",
			pod:  testPod(corev1.RestartPolicyOnFailure, "a"),
			st: func(p *corev1.Pod) *podState {
				return state(p, inst("c2", "a", 1, 1, "exited:2", sec(5), sec(6)),
					inst("c1", "a", 0, 0, "exited:2", t0, sec(5)))
			},
			now:         sec(9),
			wantWaiting: "a=CrashLoopBackOff",
			wantRequeue: 7 * time.Second,
		},
		{
			name: "the second crash restarts once 10s have passed",
			pod:  testPod(corev1.RestartPolicyOnFailure, "a"),
			st: func(p *corev1.Pod) *podState {
				return state(p, inst("c2", "a", 1, 1, "exited:2", sec(5), sec(6)))
			},
			now:       sec(16),
			wantStart: []string{"a#2"},
		},
		{
			name: "the back-off doubles: the fourth crash waits 40s",
			pod:  testPod(corev1.RestartPolicyAlways, "a"),
			st: func(p *corev1.Pod) *podState {
				return state(p, inst("c4", "a", 3, 3, "exited:1", sec(100), sec(101)))
			},
			now:         sec(140),
			wantWaiting: "a=CrashLoopBackOff",
			wantRequeue: time.Second,
		},
		{
			name: "the back-off stops growing at 5 minutes",
			pod:  testPod(corev1.RestartPolicyAlways, "a"),
			st: func(p *corev1.Pod) *podState {
				return state(p, inst("c9", "a", 20, 20, "exited:1", sec(100), sec(101)))
			},
			now:         sec(101),
			wantWaiting: "a=CrashLoopBackOff",
			wantRequeue: 5 * time.Minute,
		},
		{
			name: "a container that ran 10 minutes before crashing restarts at once (back-off reset)",
			pod:  testPod(corev1.RestartPolicyAlways, "a"),
			st: func(p *corev1.Pod) *podState {
				return state(p, inst("c9", "a", 7, 7, "exited:1", sec(0), sec(600)))
			},
			now:       sec(600),
			wantStart: []string{"a#8"},
		},
		{
			name:        "init containers run first, one at a time",
			pod:         withInit(testPod(corev1.RestartPolicyAlways, "a"), "i1", "i2"),
			st:          func(p *corev1.Pod) *podState { return state(p) },
			now:         t0,
			wantStart:   []string{"i1#0"},
			wantNetwork: false,
		},
		{
			name: "the second init container starts after the first succeeded",
			pod:  withInit(testPod(corev1.RestartPolicyAlways, "a"), "i1", "i2"),
			st: func(p *corev1.Pod) *podState {
				return state(p, inst("c1", "i1", 0, 0, "exited:0", t0, sec(1)))
			},
			now:       sec(1),
			wantStart: []string{"i2#0"},
		},
		{
			name: "a running init container holds the app containers back",
			pod:  withInit(testPod(corev1.RestartPolicyAlways, "a"), "i1"),
			st: func(p *corev1.Pod) *podState {
				return state(p, inst("c1", "i1", 0, 0, "running", t0, time.Time{}))
			},
			now: sec(1),
		},
		{
			name: "app containers start when every init container succeeded",
			pod:  withInit(testPod(corev1.RestartPolicyAlways, "a", "b"), "i1", "i2"),
			st: func(p *corev1.Pod) *podState {
				return state(p, inst("c1", "i1", 0, 0, "exited:0", t0, sec(1)), inst("c2", "i2", 0, 0, "exited:0", sec(1), sec(2)))
			},
			now:       sec(2),
			wantStart: []string{"a#0", "b#0"},
		},
		{
			name: "a failed init container under Never fails the pod: nothing starts",
			pod:  withInit(testPod(corev1.RestartPolicyNever, "a"), "i1"),
			st: func(p *corev1.Pod) *podState {
				return state(p, inst("c1", "i1", 0, 0, "exited:1", t0, sec(1)))
			},
			now: sec(30),
		},
		{
			name: "a failed init container under Always is restarted, the app containers wait",
			pod:  withInit(testPod(corev1.RestartPolicyAlways, "a"), "i1"),
			st: func(p *corev1.Pod) *podState {
				return state(p, inst("c1", "i1", 0, 0, "exited:1", t0, sec(1)))
			},
			now:       sec(1),
			wantStart: []string{"i1#1"},
		},
		{
			name: "an image pull that failed 3s ago backs off: ImagePullBackOff, nothing starts",
			pod:  testPod(corev1.RestartPolicyAlways, "a"),
			st: func(p *corev1.Pod) *podState {
				st := state(p)
				st.PullFailures["a"] = pullFailure{Image: "busybox:1.36", Count: 1, Last: sec(0), Reason: "ErrImagePull", Message: "not found"}
				return st
			},
			now:         sec(3),
			wantWaiting: "a=ImagePullBackOff",
			wantRequeue: 7 * time.Second,
		},
		{
			name: "an image pull is tried again after its back-off",
			pod:  testPod(corev1.RestartPolicyAlways, "a"),
			st: func(p *corev1.Pod) *podState {
				st := state(p)
				st.PullFailures["a"] = pullFailure{Image: "busybox:1.36", Count: 2, Last: sec(0), Reason: "ErrImagePull"}
				return st
			},
			now:       sec(20),
			wantStart: []string{"a#0"},
		},
		{
			name: "only the newest two instances of a container are kept",
			pod:  testPod(corev1.RestartPolicyAlways, "a"),
			st: func(p *corev1.Pod) *podState {
				return state(p, inst("c3", "a", 2, 0, "running", sec(20), time.Time{}),
					inst("c2", "a", 1, 0, "exited:1", sec(10), sec(11)), inst("c1", "a", 0, 0, "exited:1", sec(0), sec(1)))
			},
			now:        sec(30),
			wantRemove: []string{"c1"},
		},
		{
			name: "a Succeeded pod tears its network down and stops what still runs",
			pod: func() *corev1.Pod {
				p := testPod(corev1.RestartPolicyAlways, "a")
				p.Status.Phase = corev1.PodSucceeded
				return p
			}(),
			st: func(p *corev1.Pod) *podState {
				return state(p, inst("c1", "a", 0, 0, "running", t0, time.Time{}))
			},
			now:      sec(1),
			wantKill: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := computePodActions(tt.pod, tt.st(tt.pod), tt.now)
			if got := strings.Join(started(a), ","); got != strings.Join(tt.wantStart, ",") {
				t.Errorf("started %q, want %q", got, strings.Join(tt.wantStart, ","))
			}
			var waiting []string
			for n, w := range a.Waiting {
				waiting = append(waiting, n+"="+w.Reason)
			}
			if got := strings.Join(waiting, ","); got != tt.wantWaiting {
				t.Errorf("waiting %q, want %q", got, tt.wantWaiting)
			}
			if a.RequeueAfter != tt.wantRequeue {
				t.Errorf("requeue after %v, want %v", a.RequeueAfter, tt.wantRequeue)
			}
			if tt.wantNetwork && !a.SetupNetwork {
				t.Errorf("network not set up")
			}
			if len(a.Kill) != tt.wantKill {
				t.Errorf("killed %d, want %d", len(a.Kill), tt.wantKill)
			}
			if got := strings.Join(a.Remove, ","); got != strings.Join(tt.wantRemove, ",") {
				t.Errorf("removed %q, want %q", got, strings.Join(tt.wantRemove, ","))
			}
		})
	}
}

func TestCrashLoopMessageNamesBackOffAndPod(t *testing.T) {
	p := testPod(corev1.RestartPolicyAlways, "a")
	st := state(p, inst("c2", "a", 2, 2, "exited:1", t0, t0.Add(time.Second)))
	a := computePodActions(p, st, t0.Add(2*time.Second))
	want := "back-off 20s restarting failed container=a pod=web_default(uid-1)"
	if got := a.Waiting["a"].Message; got != want {
		t.Errorf("message %q, want %q", got, want)
	}
}

func TestDeletingPodIsKilled(t *testing.T) {
	p := testPod(corev1.RestartPolicyAlways, "a")
	p.DeletionTimestamp = &metav1.Time{Time: t0}
	if a := computePodActions(p, state(p), t0); !a.KillPod || len(a.Start) != 0 {
		t.Errorf("actions %+v, want KillPod and nothing started", a)
	}
}

func requests(cpu, mem string) corev1.ResourceRequirements {
	r := corev1.ResourceRequirements{Requests: corev1.ResourceList{}}
	if cpu != "" {
		r.Requests[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "" {
		r.Requests[corev1.ResourceMemory] = resource.MustParse(mem)
	}
	return r
}

func TestAdmitPod(t *testing.T) {
	alloc := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("2"),
		corev1.ResourceMemory: resource.MustParse("1Gi"),
		corev1.ResourcePods:   resource.MustParse("3"),
	}
	withReq := func(cpu, mem string) *corev1.Pod {
		p := testPod(corev1.RestartPolicyAlways, "a")
		p.Spec.Containers[0].Resources = requests(cpu, mem)
		return p
	}
	tests := []struct {
		name       string
		pod        *corev1.Pod
		others     []*corev1.Pod
		wantOK     bool
		wantReason string
		wantMsg    string
	}{
		{name: "a pod that fits is admitted", pod: withReq("500m", "100Mi"), others: []*corev1.Pod{withReq("1", "500Mi")}, wantOK: true},
		{name: "a pod without requests is admitted", pod: withReq("", ""), wantOK: true},
		{
			name: "a pod asking more cpu than is left is OutOfcpu", pod: withReq("1500m", ""), others: []*corev1.Pod{withReq("1", "")},
			wantReason: "OutOfcpu", wantMsg: "Pod was rejected: Node didn't have enough resource: cpu, requested: 1500, used: 1000, capacity: 2000",
		},
		{
			name: "a pod asking more memory than the node has is OutOfmemory", pod: withReq("", "2Gi"),
			wantReason: "OutOfmemory", wantMsg: "Pod was rejected: Node didn't have enough resource: memory, requested: 2147483648, used: 0, capacity: 1073741824",
		},
		{
			name: "the largest init container counts when it is more than the containers' sum",
			pod: func() *corev1.Pod {
				p := withInit(withReq("100m", ""), "i")
				p.Spec.InitContainers[0].Resources = requests("3", "")
				return p
			}(),
			wantReason: "OutOfcpu", wantMsg: "Pod was rejected: Node didn't have enough resource: cpu, requested: 3000, used: 0, capacity: 2000",
		},
		{
			name: "a pod beyond maxPods is OutOfpods", pod: withReq("", ""), others: []*corev1.Pod{withReq("", ""), withReq("", ""), withReq("", "")},
			wantReason: "OutOfpods", wantMsg: "Pod was rejected: Node didn't have enough resource: pods, requested: 1, used: 3, capacity: 3",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, reason, msg := admitPod(tt.pod, tt.others, alloc)
			if ok != tt.wantOK || reason != tt.wantReason || msg != tt.wantMsg {
				t.Errorf("admitPod = %v, %q, %q; want %v, %q, %q", ok, reason, msg, tt.wantOK, tt.wantReason, tt.wantMsg)
			}
		})
	}
}
