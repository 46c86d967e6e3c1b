package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// httpGet and tcpSocket probes dial pod IPs from the node's network
// namespace (agent.Config.HostNetNS, created by the test), so their traffic
// stays inside the test's namespaces.

func podReady(p *corev1.Pod) corev1.ConditionStatus {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status
		}
	}
	return ""
}

func execProbe(cmd string) *corev1.Probe {
	return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", cmd}}},
		PeriodSeconds: 1, FailureThreshold: 1, SuccessThreshold: 1, TimeoutSeconds: 1}
}

func TestNodeProbesAndHooks(t *testing.T) {
	n := startNode(t)
	hostDir := t.TempDir()

	group(t, "pods", map[string]func(t *testing.T){
		"a failing liveness probe restarts the container": func(t *testing.T) {
			p := busyboxPod("liveness", corev1.RestartPolicyAlways, "touch /tmp/healthy; sleep 1; rm /tmp/healthy; sleep 3600")
			p.Spec.Containers[0].LivenessProbe = execProbe("test -f /tmp/healthy")
			n.create(t, p)
			pod := n.waitPod(t, "liveness", "restartCount >= 1", 30*time.Second, func(p *corev1.Pod) bool {
				return status(p, "main").RestartCount >= 1
			})
			if lt := status(pod, "main").LastTerminationState.Terminated; lt == nil {
				t.Errorf("no lastState.terminated after a liveness restart: %+v", status(pod, "main"))
			}
			n.waitEvent(t, "liveness", "Warning Unhealthy", "Liveness probe failed")
			n.waitEvent(t, "liveness", "Killing", "main")
		},

		"an httpGet readiness probe follows the server's answers": func(t *testing.T) {
			p := busyboxPod("httpready", corev1.RestartPolicyAlways,
				"mkdir -p /www; httpd -p 8080 -h /www; sleep 2; echo ok > /www/healthz; sleep 3600")
			p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: "/healthz", Port: intstr.FromInt32(8080)}}, PeriodSeconds: 1, FailureThreshold: 1, SuccessThreshold: 1, TimeoutSeconds: 1}
			n.create(t, p)
			pod := n.waitPhase(t, "httpready", corev1.PodRunning)
			if status(pod, "main").Ready {
				t.Errorf("ready before /healthz exists (404)")
			}
			n.waitPod(t, "httpready", "Ready True once /healthz answers 200", 20*time.Second, func(p *corev1.Pod) bool {
				return podReady(p) == corev1.ConditionTrue
			})
		},

		"a tcpSocket liveness probe restarts a container that stops listening": func(t *testing.T) {
			p := busyboxPod("tcplive", corev1.RestartPolicyAlways,
				"mkdir -p /www; httpd -f -p 8081 -h /www & sleep 3; kill $!; sleep 3600")
			p.Spec.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{
				Port: intstr.FromInt32(8081)}}, PeriodSeconds: 1, FailureThreshold: 2, TimeoutSeconds: 1}
			n.create(t, p)
			n.waitPod(t, "tcplive", "restartCount >= 1", 30*time.Second, func(p *corev1.Pod) bool {
				return status(p, "main").RestartCount >= 1
			})
			n.waitEvent(t, "tcplive", "Warning Unhealthy", "Liveness probe failed")
		},

		"readiness drives the Ready condition": func(t *testing.T) {
			p := busyboxPod("readiness", corev1.RestartPolicyAlways, "sleep 2; touch /tmp/ready; sleep 3; rm /tmp/ready; sleep 3600")
			p.Spec.Containers[0].ReadinessProbe = execProbe("test -f /tmp/ready")
			n.create(t, p)
			pod := n.waitPhase(t, "readiness", corev1.PodRunning)
			if podReady(pod) == corev1.ConditionTrue && !status(pod, "main").Ready {
				t.Errorf("Ready condition true while the container is not ready")
			}
			n.waitPod(t, "readiness", "Ready True", 15*time.Second, func(p *corev1.Pod) bool {
				return podReady(p) == corev1.ConditionTrue && status(p, "main").Ready
			})
			pod = n.waitPod(t, "readiness", "Ready False again", 15*time.Second, func(p *corev1.Pod) bool {
				return podReady(p) == corev1.ConditionFalse && !status(p, "main").Ready
			})
			if st := status(pod, "main"); st.RestartCount != 0 || st.State.Running == nil {
				t.Errorf("an unready container must keep running: %+v", st)
			}
		},

		"postStart runs in the container after it starts": func(t *testing.T) {
			p := busyboxPod("poststart", corev1.RestartPolicyNever,
				"for i in $(seq 100); do [ -s /tmp/hook ] && break; sleep 0.1; done; echo hook: $(cat /tmp/hook)")
			p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{
				Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "echo from-poststart > /tmp/hook"}}}}
			pod := n.create(t, p)
			n.waitLog(t, pod, "main", 0, "hook: from-poststart")
		},

		"preStop runs before SIGTERM on delete": func(t *testing.T) {
			dir := filepath.Join(hostDir, "prestop")
			p := busyboxPod("prestop", corev1.RestartPolicyAlways,
				"trap 'echo sigterm >> /host/order; exit 0' TERM; echo started; while true; do sleep 0.1; done")
			create := corev1.HostPathDirectoryOrCreate
			grace := int64(10)
			p.Spec.TerminationGracePeriodSeconds = &grace
			p.Spec.Volumes = []corev1.Volume{{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir, Type: &create}}}}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "host", MountPath: "/host"}}
			p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{
				Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "echo prestop >> /host/order"}}}}
			pod := n.create(t, p)
			n.waitPhase(t, "prestop", corev1.PodRunning)
			n.waitLog(t, pod, "main", 0, "started")
			if err := n.cs.CoreV1().Pods("default").Delete(context.Background(), "prestop", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			waitGone(t, n, "prestop", 15*time.Second)
			b, err := os.ReadFile(filepath.Join(dir, "order"))
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Fields(string(b)); strings.Join(got, ",") != "prestop,sigterm" {
				t.Errorf("order %q, want prestop then sigterm", got)
			}
		},
	})
}
