package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// get returns the pod's current object.
func (n *node) get(t testing.TB, name string) *corev1.Pod {
	t.Helper()
	p, err := n.cs.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// waitPod polls the pod until cond holds, for at most timeout.
func (n *node) waitPod(t testing.TB, name, what string, timeout time.Duration, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		p, err := n.cs.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("waiting for pod %s: %v", name, err)
		}
		if cond(p) {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for pod %s: %s; status %+v", name, what, p.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitLog waits until the container's log file for restart contains want and
// returns it.
func (n *node) waitLog(t testing.TB, pod *corev1.Pod, container string, restart int, want string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		log := n.logFile(pod, container, restart)
		if strings.Contains(log, want) {
			return log
		}
		if time.Now().After(deadline) {
			t.Fatalf("log of %s/%s (%d) lacks %q:\n%s", pod.Name, container, restart, want, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// logFile reads the CRI log of one container instance of a pod.
func (n *node) logFile(pod *corev1.Pod, container string, restart int) string {
	b, _ := os.ReadFile(filepath.Join(n.logs, fmt.Sprintf("default_%s_%s", pod.Name, pod.UID), container, fmt.Sprintf("%d.log", restart)))
	return string(b)
}

// events returns the events about the pod, as "Type Reason: Message" lines.
func (n *node) events(t testing.TB, name string) []string {
	t.Helper()
	l, err := n.cs.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range l.Items {
		if e.InvolvedObject.Kind == "Pod" && e.InvolvedObject.Name == name {
			out = append(out, fmt.Sprintf("%s %s: %s", e.Type, e.Reason, e.Message))
		}
	}
	return out
}

// waitEvent waits for an event about the pod whose line contains all of
// want, and returns it.
func (n *node) waitEvent(t testing.TB, name string, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		evs := n.events(t, name)
	next:
		for _, e := range evs {
			for _, w := range want {
				if !strings.Contains(e, w) {
					continue next
				}
			}
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("no event about %s with %q; events:\n%s", name, want, strings.Join(evs, "\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// watchPod watches one pod from now on and sends every version it sees.
func (n *node) watchPod(t testing.TB, name string) <-chan *corev1.Pod {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w, err := n.cs.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ch := make(chan *corev1.Pod, 1000)
	go func() {
		defer close(ch)
		for ev := range w.ResultChan() {
			if p, ok := ev.Object.(*corev1.Pod); ok && ev.Type != watch.Error {
				select {
				case ch <- p:
				default:
				}
			}
		}
	}()
	t.Cleanup(func() { w.Stop(); cancel() })
	return ch
}

// waiting returns the waiting state of the pod's container name, or nil.
func waiting(p *corev1.Pod, name string) *corev1.ContainerStateWaiting {
	for _, s := range append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if s.Name == name {
			return s.State.Waiting
		}
	}
	return nil
}

// status returns the status of the pod's container name.
func status(p *corev1.Pod, name string) corev1.ContainerStatus {
	for _, s := range append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if s.Name == name {
			return s
		}
	}
	return corev1.ContainerStatus{}
}

// group runs the subtests of fns in parallel and returns when all ended.
func group(t *testing.T, name string, fns map[string]func(t *testing.T)) {
	t.Run(name, func(t *testing.T) {
		for name, fn := range fns {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				fn(t)
			})
		}
	})
}
