package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestNodePodLifecycle(t *testing.T) {
	n := startNode(t)

	group(t, "pods", map[string]func(t *testing.T){
		"limits are the container's cgroup": func(t *testing.T) {
			p := busyboxPod("limits", corev1.RestartPolicyAlways, "cat /proc/self/cgroup; sleep 3600")
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{Limits: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("64Mi")}}
			n.create(t, p)
			pod := n.waitPhase(t, "limits", corev1.PodRunning)
			id := strings.TrimPrefix(status(pod, "main").ContainerID, "containerd://")
			// The container's own view names its cgroup; the host's cgroupfs
			// (v1) holds the limits there.
			log := n.waitLog(t, pod, "main", 0, "memory:")
			var cgroup string
			for _, l := range strings.Split(log, "\n") {
				if i := strings.Index(l, ":memory:"); i >= 0 {
					cgroup = strings.TrimSpace(l[i+len(":memory:"):])
				}
			}
			if !strings.Contains(cgroup, "kubepods") || !strings.Contains(cgroup, string(pod.UID)) || !strings.HasSuffix(cgroup, "/"+id) {
				t.Fatalf("memory cgroup %q, want kubepods/.../pod%s/%s:\n%s", cgroup, pod.UID, id, log)
			}
			read := func(ctrl, file string) string {
				b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", ctrl, cgroup, file))
				if err != nil {
					t.Errorf("read %s: %v", file, err)
				}
				return strings.TrimSpace(string(b))
			}
			for _, c := range []struct{ ctrl, file, want string }{
				{"memory", "memory.limit_in_bytes", "67108864"},
				{"cpu", "cpu.cfs_quota_us", "50000"},
				{"cpu", "cpu.cfs_period_us", "100000"},
				{"cpu", "cpu.shares", "512"},
			} {
				if got := read(c.ctrl, c.file); got != c.want {
					t.Errorf("%s/%s = %q, want %s", cgroup, c.file, got, c.want)
				}
			}
			if pod.Status.QOSClass != corev1.PodQOSGuaranteed {
				t.Errorf("qosClass %q, want Guaranteed (requests default to limits)", pod.Status.QOSClass)
			}
		},

		"limits are visible inside the container (/sys/fs/cgroup)": func(t *testing.T) {
			p := busyboxPod("inside", corev1.RestartPolicyNever, "echo limit=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)")
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{Limits: corev1.ResourceList{
				corev1.ResourceMemory: resource.MustParse("64Mi"), corev1.ResourceCPU: resource.MustParse("500m")}}
			n.create(t, p)
			pod := n.waitPhase(t, "inside", corev1.PodSucceeded)
			if log := n.logOf(t, pod); !strings.Contains(log, "limit=67108864") {
				t.Errorf("the container sees %q, want its 64Mi limit from /sys/fs/cgroup", log)
			}
		},

		"init containers run first, in order": func(t *testing.T) {
			p := busyboxPod("init", corev1.RestartPolicyNever, "cat /work/order; echo main-done")
			p.Spec.Volumes = []corev1.Volume{{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
			mount := []corev1.VolumeMount{{Name: "work", MountPath: "/work"}}
			p.Spec.Containers[0].VolumeMounts = mount
			for _, name := range []string{"first", "second", "third"} {
				p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{
					Name: name, Image: busyboxRef, ImagePullPolicy: corev1.PullNever, VolumeMounts: mount,
					// A later init container would see no file if it ran early.
					Command: []string{"sh", "-c", "sleep 0.2; echo " + name + " >> /work/order"},
				})
			}
			pod := n.waitPhase(t, n.create(t, p).Name, corev1.PodSucceeded)
			log := n.waitLog(t, pod, "main", 0, "main-done")
			var lines []string
			for _, l := range strings.Split(strings.TrimSpace(log), "\n") {
				if f := strings.Fields(l); len(f) == 4 {
					lines = append(lines, f[3])
				}
			}
			if got := strings.Join(lines, ","); got != "first,second,third,main-done" {
				t.Errorf("main saw %q, want first,second,third then main-done:\n%s", got, log)
			}
			for _, name := range []string{"first", "second", "third"} {
				st := status(pod, name)
				if st.State.Terminated == nil || st.State.Terminated.ExitCode != 0 || st.State.Terminated.Reason != "Completed" {
					t.Errorf("init container %s: %+v, want terminated Completed exit 0", name, st.State)
				}
			}
			for _, c := range pod.Status.Conditions {
				if c.Type == corev1.PodInitialized && c.Status != corev1.ConditionTrue {
					t.Errorf("condition Initialized %s", c.Status)
				}
			}
		},

		"a container trapping SIGTERM sees it on delete": func(t *testing.T) {
			p := busyboxPod("sigterm", corev1.RestartPolicyAlways,
				"trap 'echo got SIGTERM; exit 0' TERM; echo trapping; while true; do sleep 0.1; done")
			grace := int64(10)
			p.Spec.TerminationGracePeriodSeconds = &grace
			pod := n.create(t, p)
			n.waitPhase(t, "sigterm", corev1.PodRunning)
			n.waitLog(t, pod, "main", 0, "trapping")
			began := time.Now()
			if err := n.cs.CoreV1().Pods("default").Delete(context.Background(), "sigterm", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			n.waitLog(t, pod, "main", 0, "got SIGTERM")
			waitGone(t, n, "sigterm", 15*time.Second)
			if d := time.Since(began); d > 5*time.Second {
				t.Errorf("a container that exits on SIGTERM took %v to go (grace 10 s)", d)
			}
		},

		"a container ignoring SIGTERM is killed after the grace period": func(t *testing.T) {
			p := busyboxPod("ignoreterm", corev1.RestartPolicyAlways, "trap '' TERM; echo ignoring; while true; do sleep 0.1; done")
			grace := int64(2)
			p.Spec.TerminationGracePeriodSeconds = &grace
			pod := n.create(t, p)
			n.waitPhase(t, "ignoreterm", corev1.PodRunning)
			n.waitLog(t, pod, "main", 0, "ignoring")
			began := time.Now()
			if err := n.cs.CoreV1().Pods("default").Delete(context.Background(), "ignoreterm", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			waitGone(t, n, "ignoreterm", 15*time.Second)
			if d := time.Since(began); d < 1800*time.Millisecond || d > 8*time.Second {
				t.Errorf("the pod went %v after delete, want about its 2 s grace period", d)
			}
		},

		"OnFailure restarts a failed container, then CrashLoopBackOff": func(t *testing.T) {
			n.create(t, busyboxPod("onfailure", corev1.RestartPolicyOnFailure, "echo failing; exit 1"))
			pod := n.waitPod(t, "onfailure", "restartCount >= 1", 20*time.Second, func(p *corev1.Pod) bool {
				return status(p, "main").RestartCount >= 1
			})
			pod = n.waitPod(t, "onfailure", "CrashLoopBackOff", 20*time.Second, func(p *corev1.Pod) bool {
				w := waiting(p, "main")
				return w != nil && w.Reason == "CrashLoopBackOff"
			})
			st := status(pod, "main")
			if lt := st.LastTerminationState.Terminated; lt == nil || lt.ExitCode != 1 || lt.Reason != "Error" {
				t.Errorf("lastState %+v, want terminated Error exit 1", st.LastTerminationState)
			}
			if !strings.Contains(st.State.Waiting.Message, "back-off") {
				t.Errorf("CrashLoopBackOff message %q", st.State.Waiting.Message)
			}
			if pod.Status.Phase != corev1.PodRunning && pod.Status.Phase != corev1.PodPending {
				t.Errorf("phase %s while restarting", pod.Status.Phase)
			}
			n.waitLog(t, pod, "main", 1, "failing")
			n.waitEvent(t, "onfailure", "Warning BackOff", "Back-off restarting failed container main")
			// The first back-off is 10 s: the next restart comes no sooner.
			backOffSeen := time.Now()
			pod = n.waitPod(t, "onfailure", "restartCount >= 2", 20*time.Second, func(p *corev1.Pod) bool {
				return status(p, "main").RestartCount >= 2
			})
			if d := time.Since(backOffSeen); d < 8*time.Second || d > 13*time.Second {
				t.Errorf("restart %d came %v after CrashLoopBackOff was seen, want about 10 s", status(pod, "main").RestartCount, d)
			}
		},

		"OnFailure does not restart a container that succeeded": func(t *testing.T) {
			n.create(t, busyboxPod("onfailure-ok", corev1.RestartPolicyOnFailure, "exit 0"))
			pod := n.waitPhase(t, "onfailure-ok", corev1.PodSucceeded)
			time.Sleep(500 * time.Millisecond)
			if st := status(n.get(t, "onfailure-ok"), "main"); st.RestartCount != 0 || st.State.Terminated == nil || st.State.Terminated.Reason != "Completed" {
				t.Errorf("container status %+v, want terminated Completed, no restart", st)
			}
			_ = pod
		},

		"Always restarts a container that exited 0": func(t *testing.T) {
			n.create(t, busyboxPod("always", corev1.RestartPolicyAlways, "echo done; exit 0"))
			pod := n.waitPod(t, "always", "restartCount >= 1", 20*time.Second, func(p *corev1.Pod) bool {
				return status(p, "main").RestartCount >= 1
			})
			st := status(pod, "main")
			if lt := st.LastTerminationState.Terminated; lt == nil || lt.ExitCode != 0 || lt.Reason != "Completed" {
				t.Errorf("lastState %+v, want terminated Completed exit 0", st.LastTerminationState)
			}
			if pod.Status.Phase != corev1.PodRunning {
				t.Errorf("phase %s, want Running", pod.Status.Phase)
			}
		},

		"a pod asking for more cpu than the node has fails with OutOfcpu": func(t *testing.T) {
			p := busyboxPod("toomanycpus", corev1.RestartPolicyAlways, "echo must-not-run; sleep 3600")
			p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1000")}
			pod := n.create(t, p)
			got := n.waitPhase(t, "toomanycpus", corev1.PodFailed)
			if got.Status.Reason != "OutOfcpu" || !strings.Contains(got.Status.Message, "cpu") {
				t.Errorf("reason %q message %q, want OutOfcpu", got.Status.Reason, got.Status.Message)
			}
			if log := n.logFile(pod, "main", 0); log != "" {
				t.Errorf("the container ran: %q", log)
			}
		},

		"the QoS class is recorded in status": func(t *testing.T) {
			burstable := busyboxPod("burstable", corev1.RestartPolicyAlways, "sleep 3600")
			burstable.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("16Mi")}
			n.create(t, burstable)
			n.create(t, busyboxPod("besteffort", corev1.RestartPolicyAlways, "sleep 3600"))
			for name, want := range map[string]corev1.PodQOSClass{"burstable": corev1.PodQOSBurstable, "besteffort": corev1.PodQOSBestEffort} {
				if got := n.waitPhase(t, name, corev1.PodRunning).Status.QOSClass; got != want {
					t.Errorf("%s: qosClass %q, want %q", name, got, want)
				}
			}
		},

		"a pod asking for more memory than the node has fails with OutOfmemory": func(t *testing.T) {
			p := busyboxPod("toobig", corev1.RestartPolicyAlways, "echo must-not-run; sleep 3600")
			p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1000Gi")}
			pod := n.create(t, p)
			got := n.waitPhase(t, "toobig", corev1.PodFailed)
			if got.Status.Reason != "OutOfmemory" || !strings.Contains(got.Status.Message, "memory") {
				t.Errorf("reason %q message %q, want OutOfmemory", got.Status.Reason, got.Status.Message)
			}
			time.Sleep(500 * time.Millisecond)
			got = n.get(t, "toobig")
			for _, st := range got.Status.ContainerStatuses {
				if st.ContainerID != "" || st.State.Running != nil {
					t.Errorf("a container was started: %+v", st)
				}
			}
			if got.Status.Phase != corev1.PodFailed {
				t.Errorf("phase went from Failed to %s", got.Status.Phase)
			}
			if log := n.logFile(pod, "main", 0); log != "" {
				t.Errorf("the container ran: %q", log)
			}
		},
	})
}

// waitGone waits until the pod object is deleted.
func waitGone(t testing.TB, n *node, name string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		_, err := n.cs.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod %s still there %v after delete (err %v)", name, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
