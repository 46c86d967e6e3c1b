package printers_test

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiffk8s/skiff/apiserver/printers"
)

// pod builds a pod with n plain containers in phase.
func pod(n int, phase corev1.PodPhase, statuses ...corev1.ContainerStatus) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", CreationTimestamp: ago(3 * time.Hour)},
		Spec:       corev1.PodSpec{Containers: make([]corev1.Container, n)},
		Status:     corev1.PodStatus{Phase: phase, ContainerStatuses: statuses},
	}
}

// withInit adds n plain init containers and their statuses.
func withInit(p *corev1.Pod, n int, statuses ...corev1.ContainerStatus) *corev1.Pod {
	p.Spec.InitContainers = make([]corev1.Container, n)
	p.Status.InitContainerStatuses = statuses
	return p
}

// withSidecars adds init containers with restartPolicy Always, named
// sidecar-0, sidecar-1, ...
func withSidecars(p *corev1.Pod, statuses ...corev1.ContainerStatus) *corev1.Pod {
	always := corev1.ContainerRestartPolicyAlways
	for i := range statuses {
		name := "sidecar-" + string(rune('0'+i))
		p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: name, RestartPolicy: &always})
		statuses[i].Name = name
	}
	p.Status.InitContainerStatuses = statuses
	return p
}

func withConditions(p *corev1.Pod, conds ...corev1.PodCondition) *corev1.Pod {
	p.Status.Conditions = conds
	return p
}

func deleting(p *corev1.Pod) *corev1.Pod {
	t := ago(10 * time.Second)
	p.DeletionTimestamp = &t
	return p
}

func withReason(p *corev1.Pod, reason string) *corev1.Pod {
	p.Status.Reason = reason
	return p
}

func started(cs corev1.ContainerStatus) corev1.ContainerStatus {
	yes := true
	cs.Started = &yes
	return cs
}

var (
	podReady       = corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue}
	podInitialized = corev1.PodCondition{Type: corev1.PodInitialized, Status: corev1.ConditionTrue}
)

func TestPodColumns(t *testing.T) {
	tests := []struct {
		name                    string
		pod                     *corev1.Pod
		ready, status, restarts string
	}{
		{"a running pod with all containers ready is Running",
			pod(2, corev1.PodRunning, running(true), running(true)),
			"2/2", "Running", "0"},
		{"a ready but not running container does not count as ready",
			pod(2, "podPhase", restarted(running(true), 3, time.Hour), corev1.ContainerStatus{Ready: true, RestartCount: 3}),
			"1/2", "podPhase", "6 (60m ago)"},
		{"a pending pod whose container is being created shows ContainerCreating",
			pod(1, corev1.PodPending, waiting("ContainerCreating")),
			"0/1", "ContainerCreating", "0"},
		{"a crashing container shows CrashLoopBackOff and when it last restarted",
			pod(1, corev1.PodRunning, restarted(waiting("CrashLoopBackOff"), 5, 5*time.Minute)),
			"0/1", "CrashLoopBackOff", "5 (5m ago)"},
		{"an image that cannot be pulled shows ErrImagePull",
			pod(1, corev1.PodPending, waiting("ErrImagePull")),
			"0/1", "ErrImagePull", "0"},
		{"the first container's reason wins over later ones",
			pod(2, "podPhase", restarted(waiting("ContainerWaitingReason"), 3, time.Minute), terminated("ContainerTerminatedReason", 0)),
			"0/2", "ContainerWaitingReason", "3 (60s ago)"},
		{"the pod's status reason replaces the phase",
			withReason(pod(1, corev1.PodFailed), "Evicted"),
			"0/1", "Evicted", "0"},
		{"a succeeded pod is Completed",
			pod(1, corev1.PodSucceeded, terminated("Completed", 0)),
			"0/1", "Completed", "0"},
		{"a failed pod shows its container's termination reason",
			pod(1, corev1.PodFailed, terminated("Error", 1)),
			"0/1", "Error", "0"},
		{"a container terminated without reason shows its exit code",
			pod(1, corev1.PodFailed, terminated("", 137)),
			"0/1", "ExitCode:137", "0"},
		{"a completed container next to a running one without pod readiness is NotReady",
			pod(2, corev1.PodRunning, terminated("Completed", 0), running(true)),
			"1/2", "NotReady", "0"},
		{"a completed container next to a running one in a ready pod is Running",
			withConditions(pod(2, corev1.PodRunning, terminated("Completed", 0), running(true)), podReady),
			"1/2", "Running", "0"},
		{"a pod waiting for its first init container is Init:0/1",
			withInit(pod(1, corev1.PodPending, waiting("PodInitializing")), 1, running(false)),
			"0/1", "Init:0/1", "0"},
		{"a pod past its first of two init containers is Init:1/2 and counts init restarts",
			withInit(pod(1, corev1.PodPending, waiting("PodInitializing")), 2,
				restarted(terminated("", 0), 2, 2*time.Minute), restarted(running(false), 3, 10*time.Second)),
			"0/1", "Init:1/2", "5 (10s ago)"},
		{"a crashing init container shows Init:CrashLoopBackOff",
			withInit(pod(1, corev1.PodPending, waiting("PodInitializing")), 1, restarted(waiting("CrashLoopBackOff"), 4, 30*time.Second)),
			"0/1", "Init:CrashLoopBackOff", "4 (30s ago)"},
		{"a failed init container shows Init:Error",
			withInit(pod(1, corev1.PodPending), 1, terminated("Error", 1)),
			"0/1", "Init:Error", "0"},
		{"an init container killed by a signal without reason shows Init:Signal",
			withInit(pod(1, corev1.PodPending), 1, corev1.ContainerStatus{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 2, Signal: 9}}}),
			"0/1", "Init:Signal:9", "0"},
		{"once init containers are done only the app containers' restarts count",
			withInit(pod(1, corev1.PodRunning, restarted(running(false), 4, 20*time.Second)), 1, restarted(terminated("", 0), 2, 2*time.Minute)),
			"0/1", "Running", "4 (20s ago)"},
		{"restarts add up over containers and show the latest",
			pod(2, corev1.PodRunning, restarted(running(true), 6, 5*24*time.Hour), restarted(running(true), 3, 20*24*time.Hour)),
			"2/2", "Running", "9 (5d ago)"},
		{"a started sidecar counts towards ready and total",
			withConditions(withSidecars(pod(1, corev1.PodRunning, running(true)), started(running(true))), podInitialized, podReady),
			"2/2", "Running", "0"},
		{"a sidecar that has not started yet keeps the pod initializing",
			withSidecars(pod(1, corev1.PodPending, waiting("")), restarted(running(false), 3, 10*time.Second), waiting("")),
			"0/3", "Init:0/2", "3 (10s ago)"},
		{"a sidecar's restarts still count once the pod is initialized",
			withConditions(withSidecars(pod(1, corev1.PodRunning, running(true)), restarted(started(running(true)), 2, time.Minute)), podInitialized),
			"2/2", "Running", "2 (60s ago)"},
		{"a pod behind a scheduling gate is SchedulingGated",
			withConditions(pod(2, corev1.PodPending), corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonSchedulingGated}),
			"0/2", "SchedulingGated", "0"},
		{"a running pod being deleted is Terminating",
			deleting(pod(1, corev1.PodRunning, running(true))),
			"1/1", "Terminating", "0"},
		{"a pending pod being deleted is Terminating",
			deleting(pod(1, corev1.PodPending)),
			"0/1", "Terminating", "0"},
		{"a succeeded pod being deleted stays Completed",
			deleting(pod(1, corev1.PodSucceeded, terminated("Completed", 0))),
			"0/1", "Completed", "0"},
		{"a pod of a lost node being deleted is Unknown",
			withReason(deleting(pod(1, corev1.PodRunning, running(true))), "NodeLost"),
			"1/1", "Unknown", "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := printOne(t, gr("", "pods"), tt.pod)
			if got["Ready"] != tt.ready || got["Status"] != tt.status || got["Restarts"] != tt.restarts {
				t.Errorf("READY STATUS RESTARTS = %q %q %q, want %q %q %q",
					got["Ready"], got["Status"], got["Restarts"], tt.ready, tt.status, tt.restarts)
			}
			if got["Name"] != "web" || got["Age"] != "3h" {
				t.Errorf("NAME AGE = %q %q, want web 3h", got["Name"], got["Age"])
			}
		})
	}
}

func TestPodWideColumns(t *testing.T) {
	scheduled := pod(1, corev1.PodRunning, running(true))
	scheduled.Spec.NodeName = "node-1"
	scheduled.Status.PodIP = "10.244.1.7"
	scheduled.Status.PodIPs = []corev1.PodIP{{IP: "10.244.1.7"}, {IP: "fd00::7"}}
	scheduled.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "example.com/lb"}, {ConditionType: "example.com/dns"}}
	scheduled.Status.Conditions = []corev1.PodCondition{{Type: "example.com/lb", Status: corev1.ConditionTrue}}

	nominated := pod(1, corev1.PodPending)
	nominated.Status.NominatedNodeName = "node-2"

	onlyPodIPs := pod(1, corev1.PodRunning)
	onlyPodIPs.Status.PodIPs = []corev1.PodIP{{IP: "10.244.2.9"}}

	tests := []struct {
		name                       string
		pod                        *corev1.Pod
		ip, node, nominated, gates string
	}{
		{"a scheduled pod shows its IP, node and true readiness gates", scheduled, "10.244.1.7", "node-1", "<none>", "1/2"},
		{"a pod nominated for preemption shows the nominated node", nominated, "<none>", "<none>", "node-2", "<none>"},
		{"a pod with only podIPs shows the first of them", onlyPodIPs, "10.244.2.9", "<none>", "<none>", "<none>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := printOne(t, gr("", "pods"), tt.pod)
			want := map[string]string{"IP": tt.ip, "Node": tt.node, "Nominated Node": tt.nominated, "Readiness Gates": tt.gates}
			for col, w := range want {
				if got[col] != w {
					t.Errorf("%s = %q, want %q", col, got[col], w)
				}
			}
		})
	}
}

func TestPodRowConditions(t *testing.T) {
	tests := []struct {
		name   string
		pod    *corev1.Pod
		reason string // of the Completed row condition; "" for none
	}{
		{"a succeeded pod's row is marked completed", pod(1, corev1.PodSucceeded), "Succeeded"},
		{"a failed pod's row is marked completed", pod(1, corev1.PodFailed), "Failed"},
		{"a running pod's row has no conditions", pod(1, corev1.PodRunning), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table, err := printers.Print(gr("", "pods"), []runtime.Object{tt.pod}, printers.Options{Now: now})
			if err != nil {
				t.Fatal(err)
			}
			conds := table.Rows[0].Conditions
			switch {
			case tt.reason == "" && len(conds) != 0:
				t.Errorf("conditions = %v, want none", conds)
			case tt.reason != "" && (len(conds) != 1 || conds[0].Type != metav1.RowCompleted || conds[0].Status != metav1.ConditionTrue || conds[0].Reason != tt.reason):
				t.Errorf("conditions = %v, want one Completed=True with reason %s", conds, tt.reason)
			}
		})
	}
}
