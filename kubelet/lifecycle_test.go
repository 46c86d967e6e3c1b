package kubelet

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func execHook(cmd ...string) *corev1.LifecycleHandler {
	return &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: cmd}}
}

func TestPostStartExecRunsAfterStart(t *testing.T) {
	h := newHarness(t)
	pod := simplePod("hooked", corev1.RestartPolicyAlways, "busybox:1.36")
	pod.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PostStart: execHook("touch", "/started")}
	h.createPod(pod)
	p := h.waitPod("hooked", "Running", 0, running)
	if got := h.rt.execsRun(); !slices.Equal(got, []string{"touch /started"}) {
		t.Errorf("execs = %q, want the postStart command once", got)
	}
	if p.Status.ContainerStatuses[0].RestartCount != 0 {
		t.Errorf("restartCount = %d", p.Status.ContainerStatuses[0].RestartCount)
	}
}

func TestFailedPostStartHookKillsContainer(t *testing.T) {
	h := newHarness(t)
	h.rt.setExec(func(string, []string) (int, []byte, error) { return 1, []byte("no such file"), nil })
	pod := simplePod("hooked", corev1.RestartPolicyAlways, "busybox:1.36")
	pod.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PostStart: execHook("cat", "/missing")}
	h.createPod(pod)
	h.eventually("FailedPostStartHook event", 0, func() (bool, string) {
		return h.hasEvent("FailedPostStartHook", `command "cat /missing" exited with 1: no such file`)
	})
	h.eventually("Killing event", 0, func() (bool, string) { return h.hasEvent("Killing", "FailedPostStartHook") })
	p := h.waitPod("hooked", "restarted", time.Second, func(p *corev1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 1
	})
	if lt := p.Status.ContainerStatuses[0].LastTerminationState.Terminated; lt == nil {
		t.Errorf("no last termination state: %+v", p.Status.ContainerStatuses[0])
	}
}

func TestPostStartHTTPGet(t *testing.T) {
	var hits atomic.Int32
	var gotPath, gotHeader atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		gotPath.Store(r.URL.Path)
		gotHeader.Store(r.Header.Get("X-Hook"))
	}))
	defer srv.Close()
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	pn, _ := strconv.Atoi(port)

	h := newHarness(t)
	pod := simplePod("web", corev1.RestartPolicyAlways, "busybox:1.36")
	pod.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: int32(pn)}}
	pod.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{
		Host: host, Port: intstr.FromString("http"), Path: "warm-up", HTTPHeaders: []corev1.HTTPHeader{{Name: "X-Hook", Value: "yes"}}}}}
	h.createPod(pod)
	h.waitPod("web", "Running", 0, running)
	if hits.Load() != 1 || gotPath.Load() != "/warm-up" || gotHeader.Load() != "yes" {
		t.Errorf("hook requests = %d, path %v, header %v; want one GET /warm-up with X-Hook", hits.Load(), gotPath.Load(), gotHeader.Load())
	}
}

func TestPreStopRunsBeforeStopWithinGrace(t *testing.T) {
	h := newHarness(t)
	pod := simplePod("graceful", corev1.RestartPolicyAlways, "busybox:1.36")
	pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "sleeper", Image: "busybox:1.36"})
	pod.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: execHook("nginx", "-s", "quit")}
	pod.Spec.Containers[1].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 5}}}
	h.createPod(pod)
	h.waitPod("graceful", "Running", 0, func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodRunning && condStatus(p.Status, corev1.ContainersReady) == "True/"
	})
	mainID, sleeperID := h.rt.byName("main")[0].ID, h.rt.byName("sleeper")[0].ID

	grace := int64(7)
	if err := h.srv.Client.CoreV1().Pods("default").Delete(context.Background(), "graceful", metav1.DeleteOptions{GracePeriodSeconds: &grace}); err != nil {
		t.Fatal(err)
	}
	h.eventually("pod object removed", time.Second, func() (bool, string) {
		_, err := h.getPod("graceful")
		return apierrors.IsNotFound(err), "pod still there"
	})
	if got := h.rt.execsRun(); !slices.Equal(got, []string{"nginx -s quit"}) {
		t.Errorf("execs = %q, want the preStop command", got)
	}
	h.rt.mu.Lock()
	mainGrace, sleeperGrace := h.rt.stops[mainID], h.rt.stops[sleeperID]
	h.rt.mu.Unlock()
	// The exec hook took no (fake) time; the 5 s sleep left 2 s of 7.
	if mainGrace != 7*time.Second || sleeperGrace != 2*time.Second {
		t.Errorf("stop grace main=%v sleeper=%v; want 7s and 2s", mainGrace, sleeperGrace)
	}
}
