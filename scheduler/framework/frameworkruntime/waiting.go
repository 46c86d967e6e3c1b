package frameworkruntime

import (
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiffk8s/skiff/scheduler/framework"
)

// WaitingPod is a pod that Permit plugins hold: it is bound once every
// holding plugin allows it, and rejected when one rejects it or a hold
// times out.
type WaitingPod struct {
	Pod     *corev1.Pod
	mu      sync.Mutex
	pending map[string]*time.Timer // guarded by mu
	done    chan *framework.Status
}

// Allow releases the hold of plugin.
func (w *WaitingPod) Allow(plugin string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if t, ok := w.pending[plugin]; ok {
		t.Stop()
		delete(w.pending, plugin)
	}
	if len(w.pending) == 0 {
		w.finish(nil)
	}
}

// Reject rejects the pod on behalf of plugin.
func (w *WaitingPod) Reject(plugin, msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, t := range w.pending {
		t.Stop()
	}
	w.finish(framework.NewStatus(framework.Unschedulable, msg).WithPlugin(plugin))
}

// finish sends the outcome once; mu held.
func (w *WaitingPod) finish(s *framework.Status) {
	select {
	case w.done <- s:
	default:
	}
}

type waitingPods struct {
	mu   sync.Mutex
	pods map[string]*WaitingPod // by pod UID; guarded by mu
}

func newWaitingPods() *waitingPods { return &waitingPods{pods: map[string]*WaitingPod{}} }

func (w *waitingPods) get(uid string) *WaitingPod {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pods[uid]
}

// add holds pod for the plugins in timeouts, each up to its timeout.
func (w *waitingPods) add(pod *corev1.Pod, timeouts map[string]time.Duration) *WaitingPod {
	wp := &WaitingPod{Pod: pod, pending: map[string]*time.Timer{}, done: make(chan *framework.Status, 1)}
	wp.mu.Lock()
	for plugin, d := range timeouts {
		wp.pending[plugin] = time.AfterFunc(d, func() {
			wp.Reject(plugin, fmt.Sprintf("rejected due to timeout after waiting %v at plugin %v", d, plugin))
		})
	}
	wp.mu.Unlock()
	w.mu.Lock()
	w.pods[string(pod.UID)] = wp
	w.mu.Unlock()
	return wp
}

func (w *waitingPods) remove(uid string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.pods, uid)
}
