package frameworkruntime

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiffk8s/skiff/scheduler/framework"
)

// maxPermitTimeout caps how long a Permit plugin may hold a pod.
const maxPermitTimeout = 15 * time.Minute

// RunReservePlugins runs Reserve in order; on the first failure it runs
// Unreserve of all of them (in reverse) and returns the failure.
func (f *Framework) RunReservePlugins(ctx context.Context, state *framework.CycleState, pod *corev1.Pod, nodeName string) *framework.Status {
	for _, p := range f.reserve {
		if s := p.Reserve(ctx, state, pod, nodeName); !s.IsSuccess() {
			f.RunUnreservePlugins(ctx, state, pod, nodeName)
			if s.IsRejected() {
				return s.WithPlugin(p.Name())
			}
			return framework.AsStatus(fmt.Errorf("running Reserve plugin %q: %w", p.Name(), s.AsError())).WithPlugin(p.Name())
		}
	}
	return nil
}

// RunUnreservePlugins runs Unreserve of every Reserve plugin in reverse
// order.
func (f *Framework) RunUnreservePlugins(ctx context.Context, state *framework.CycleState, pod *corev1.Pod, nodeName string) {
	for i := len(f.reserve) - 1; i >= 0; i-- {
		f.reserve[i].Unreserve(ctx, state, pod, nodeName)
	}
}

// RunPermitPlugins runs Permit. A rejection or error is returned; when
// plugins ask to Wait the pod is held (see WaitOnPermit) and the status is
// Wait.
func (f *Framework) RunPermitPlugins(ctx context.Context, state *framework.CycleState, pod *corev1.Pod, nodeName string) *framework.Status {
	timeouts := map[string]time.Duration{}
	for _, p := range f.permit {
		s, timeout := p.Permit(ctx, state, pod, nodeName)
		switch {
		case s.IsSuccess():
		case s.Code() == framework.Wait:
			if timeout > maxPermitTimeout {
				timeout = maxPermitTimeout
			}
			timeouts[p.Name()] = timeout
		case s.IsRejected():
			return s.WithPlugin(p.Name())
		default:
			return framework.AsStatus(fmt.Errorf("running Permit plugin %q: %w", p.Name(), s.AsError())).WithPlugin(p.Name())
		}
	}
	if len(timeouts) > 0 {
		f.waitingPods.add(pod, timeouts)
		return framework.NewStatus(framework.Wait)
	}
	return nil
}

// WaitOnPermit blocks until a pod held by Permit is allowed (nil),
// rejected or timed out; it returns at once for pods not held.
func (f *Framework) WaitOnPermit(ctx context.Context, pod *corev1.Pod) *framework.Status {
	wp := f.waitingPods.get(string(pod.UID))
	if wp == nil {
		return nil
	}
	defer f.waitingPods.remove(string(pod.UID))
	select {
	case s := <-wp.done:
		return s
	case <-ctx.Done():
		wp.Reject("", "scheduler stopped")
		return framework.AsStatus(ctx.Err())
	}
}

// RunPreBindPlugins runs PreBind in order; the first failure is returned.
func (f *Framework) RunPreBindPlugins(ctx context.Context, state *framework.CycleState, pod *corev1.Pod, nodeName string) *framework.Status {
	for _, p := range f.preBind {
		if s := p.PreBind(ctx, state, pod, nodeName); !s.IsSuccess() {
			if s.IsRejected() {
				return s.WithPlugin(p.Name())
			}
			return framework.AsStatus(fmt.Errorf("running PreBind plugin %q: %w", p.Name(), s.AsError())).WithPlugin(p.Name())
		}
	}
	return nil
}

// RunBindPlugins runs Bind plugins until one does not Skip.
func (f *Framework) RunBindPlugins(ctx context.Context, state *framework.CycleState, pod *corev1.Pod, nodeName string) *framework.Status {
	for _, p := range f.bind {
		s := p.Bind(ctx, state, pod, nodeName)
		if s.IsSkip() {
			continue
		}
		if !s.IsSuccess() {
			if s.IsRejected() {
				return s.WithPlugin(p.Name())
			}
			return framework.AsStatus(fmt.Errorf("running Bind plugin %q: %w", p.Name(), s.AsError())).WithPlugin(p.Name())
		}
		return nil
	}
	return framework.AsStatus(fmt.Errorf("no bind plugin bound pod %s/%s", pod.Namespace, pod.Name))
}
