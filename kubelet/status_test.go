package kubelet

import (
	"net"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/skiffk8s/skiff/runtime"
)

func condStatus(s corev1.PodStatus, t corev1.PodConditionType) string {
	for _, c := range s.Conditions {
		if c.Type == t {
			return string(c.Status) + "/" + c.Reason
		}
	}
	return "missing"
}

func TestComputePodStatus(t *testing.T) {
	sec := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
	tests := []struct {
		name        string
		pod         *corev1.Pod
		cs          []runtime.ContainerStatus
		waiting     map[string]*corev1.ContainerStateWaiting
		wantPhase   corev1.PodPhase
		wantReady   string
		wantInit    string
		wantState   string // state of the first container: waiting:<reason>, running, terminated:<code>
		wantRestart int32
		wantLast    bool
	}{
		{
			name: "a pod whose containers are not created yet is Pending and ContainerCreating",
			pod:  testPod(corev1.RestartPolicyAlways, "a"), wantPhase: corev1.PodPending,
			wantReady: "False/ContainersNotReady", wantInit: "True/", wantState: "waiting:ContainerCreating",
		},
		{
			name: "a pod with every container running is Running and Ready",
			pod:  testPod(corev1.RestartPolicyAlways, "a"), cs: []runtime.ContainerStatus{inst("c1", "a", 0, 0, "running", t0, time.Time{})},
			wantPhase: corev1.PodRunning, wantReady: "True/", wantInit: "True/", wantState: "running",
		},
		{
			name: "a pod with restartPolicy Never whose container exited 1 is Failed",
			pod:  testPod(corev1.RestartPolicyNever, "a"), cs: []runtime.ContainerStatus{inst("c1", "a", 0, 0, "exited:1", t0, sec(1))},
			wantPhase: corev1.PodFailed, wantReady: "False/PodFailed", wantInit: "True/", wantState: "terminated:1",
		},
		{
			name: "a pod whose containers all exited 0 under OnFailure is Succeeded",
			pod:  testPod(corev1.RestartPolicyOnFailure, "a"), cs: []runtime.ContainerStatus{inst("c1", "a", 0, 0, "exited:0", t0, sec(1))},
			wantPhase: corev1.PodSucceeded, wantReady: "False/PodCompleted", wantInit: "True/", wantState: "terminated:0",
		},
		{
			name: "a crash-looping container is waiting in CrashLoopBackOff with its last state, the pod Running",
			pod:  testPod(corev1.RestartPolicyAlways, "a"),
			cs:   []runtime.ContainerStatus{inst("c2", "a", 3, 3, "exited:1", t0, sec(1))},
			waiting: map[string]*corev1.ContainerStateWaiting{
				"a": {Reason: "CrashLoopBackOff"}},
			wantPhase: corev1.PodRunning, wantReady: "False/ContainersNotReady", wantInit: "True/",
			wantState: "waiting:CrashLoopBackOff", wantRestart: 3, wantLast: true,
		},
		{
			name: "a restarted container reports the previous instance as lastState",
			pod:  testPod(corev1.RestartPolicyAlways, "a"),
			cs: []runtime.ContainerStatus{inst("c2", "a", 1, 1, "running", sec(2), time.Time{}),
				inst("c1", "a", 0, 0, "exited:1", t0, sec(1))},
			wantPhase: corev1.PodRunning, wantReady: "True/", wantInit: "True/", wantState: "running", wantRestart: 1, wantLast: true,
		},
		{
			name:      "a pod whose init container runs is Pending, not Initialized, app containers PodInitializing",
			pod:       withInit(testPod(corev1.RestartPolicyAlways, "a"), "i1"),
			cs:        []runtime.ContainerStatus{inst("c1", "i1", 0, 0, "running", t0, time.Time{})},
			wantPhase: corev1.PodPending, wantReady: "False/ContainersNotReady", wantInit: "False/ContainersNotInitialized", wantState: "waiting:PodInitializing",
		},
		{
			name:      "a pod whose init container failed under Never is Failed",
			pod:       withInit(testPod(corev1.RestartPolicyNever, "a"), "i1"),
			cs:        []runtime.ContainerStatus{inst("c1", "i1", 0, 0, "exited:1", t0, sec(1))},
			wantPhase: corev1.PodFailed, wantReady: "False/PodFailed", wantInit: "False/ContainersNotInitialized", wantState: "waiting:PodInitializing",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := state(tt.pod, tt.cs...)
			s := computePodStatus(tt.pod, statusInput{State: st, Waiting: tt.waiting, PodIP: net.IPv4(10, 244, 0, 5), HostIP: net.IPv4(192, 168, 1, 2)}, sec(10))
			if s.Phase != tt.wantPhase {
				t.Errorf("phase %s, want %s", s.Phase, tt.wantPhase)
			}
			if got := condStatus(s, corev1.PodReady); got != tt.wantReady {
				t.Errorf("Ready %s, want %s", got, tt.wantReady)
			}
			if got := condStatus(s, corev1.PodInitialized); got != tt.wantInit {
				t.Errorf("Initialized %s, want %s", got, tt.wantInit)
			}
			if got := condStatus(s, corev1.PodScheduled); got != "True/" {
				t.Errorf("PodScheduled %s", got)
			}
			if got := condStatus(s, corev1.PodReadyToStartContainers); got != "True/" && s.Phase != corev1.PodFailed && s.Phase != corev1.PodSucceeded {
				t.Errorf("PodReadyToStartContainers %s", got)
			}
			c := s.ContainerStatuses[0]
			var got string
			switch {
			case c.State.Waiting != nil:
				got = "waiting:" + c.State.Waiting.Reason
			case c.State.Running != nil:
				got = "running"
			case c.State.Terminated != nil:
				got = "terminated:" + string(rune('0'+c.State.Terminated.ExitCode))
			}
			if got != tt.wantState {
				t.Errorf("state %s, want %s", got, tt.wantState)
			}
			if c.RestartCount != tt.wantRestart {
				t.Errorf("restartCount %d, want %d", c.RestartCount, tt.wantRestart)
			}
			if (c.LastTerminationState.Terminated != nil) != tt.wantLast {
				t.Errorf("lastState %+v, want present=%v", c.LastTerminationState, tt.wantLast)
			}
			if s.PodIP != "10.244.0.5" || s.HostIP != "192.168.1.2" || s.StartTime == nil || s.QOSClass != corev1.PodQOSBestEffort {
				t.Errorf("podIP %q hostIP %q startTime %v qos %s", s.PodIP, s.HostIP, s.StartTime, s.QOSClass)
			}
			if c.ContainerID != "" && c.ContainerID[:13] != "containerd://" {
				t.Errorf("containerID %q", c.ContainerID)
			}
		})
	}
}

func TestStatusIsStableAcrossSyncs(t *testing.T) {
	p := testPod(corev1.RestartPolicyAlways, "a")
	st := state(p, inst("c1", "a", 0, 0, "running", t0.Add(123*time.Millisecond), time.Time{}))
	in := statusInput{State: st, PodIP: net.IPv4(10, 244, 0, 5)}
	first := computePodStatus(p, in, t0.Add(time.Second))
	p.Status = first
	second := computePodStatus(p, in, t0.Add(time.Minute))
	if !statusEqual(first, second) {
		t.Errorf("status changed without a change in state:\n%+v\n%+v", first, second)
	}
}

func TestQOSClass(t *testing.T) {
	g := testPod(corev1.RestartPolicyAlways, "a")
	g.Spec.Containers[0].Resources = corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")},
	}
	b := testPod(corev1.RestartPolicyAlways, "a")
	b.Spec.Containers[0].Resources = requests("100m", "")
	for pod, want := range map[*corev1.Pod]corev1.PodQOSClass{g: corev1.PodQOSGuaranteed, b: corev1.PodQOSBurstable, testPod(corev1.RestartPolicyAlways, "a"): corev1.PodQOSBestEffort} {
		if got := qosClass(pod); got != want {
			t.Errorf("qosClass = %s, want %s", got, want)
		}
	}
}

func TestMeasureMachineReadsThisHost(t *testing.T) {
	m, err := measureMachine(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if m.CPUs < 1 || m.MemoryBytes < 64<<20 || m.EphemeralBytes <= 0 || m.OperatingSystem != "linux" {
		t.Errorf("machine %+v", m)
	}
}
