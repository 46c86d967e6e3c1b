package kubelet

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/skiffk8s/skiff/kubelet/prober"
	"io"
	"net/http"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// minStopGrace is the least grace a container gets after its preStop
// hook used up the pod's grace period (upstream's
// minimumGracePeriodInSeconds).
const minStopGrace = 2 * time.Second

// hookBody is how much of an HTTP hook's response is kept for messages.
const hookBody = 1024

// runHook runs a postStart or preStop handler against the running
// container id: exec through the runtime, httpGet from the kubelet's
// process (to podIP unless the handler names a host), or sleep on the
// kubelet's clock. timeout bounds exec and httpGet.
func (k *kubelet) runHook(ctx context.Context, c *corev1.Container, id, podIP string, h *corev1.LifecycleHandler, timeout time.Duration) error {
	switch {
	case h.Exec != nil:
		code, out, err := k.cfg.Runtime.Exec(ctx, id, h.Exec.Command, timeout)
		if err != nil {
			return fmt.Errorf("command %q failed: %w", strings.Join(h.Exec.Command, " "), err)
		}
		if code != 0 {
			return fmt.Errorf("command %q exited with %d: %s", strings.Join(h.Exec.Command, " "), code, out)
		}
		return nil
	case h.HTTPGet != nil:
		return httpHook(ctx, k.cfg.Dial, c, podIP, h.HTTPGet, timeout)
	case h.Sleep != nil:
		select {
		case <-k.clock.After(time.Duration(h.Sleep.Seconds) * time.Second):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	case h.TCPSocket != nil:
		return errors.New("tcpSocket lifecycle hooks are not supported")
	}
	return errors.New("lifecycle hook has no handler")
}

// httpHook sends the hook's GET; a status outside 200-399 is a failure.
func httpHook(ctx context.Context, dial prober.DialFunc, c *corev1.Container, podIP string, g *corev1.HTTPGetAction, timeout time.Duration) error {
	req, err := prober.HTTPGetRequest(ctx, g, c, podIP)
	if err != nil {
		return fmt.Errorf("http lifecycle hook: %w", err)
	}
	path := req.URL.Path
	transport := &http.Transport{Proxy: nil, DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // upstream's hooks do not verify either
	if dial != nil {
		transport.DialContext = dial
	}
	client := &http.Client{Timeout: timeout, Transport: transport}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("http lifecycle hook (%s) failed: %w", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, hookBody))
	if resp.StatusCode < http.StatusOK || resp.StatusCode >= http.StatusBadRequest {
		return fmt.Errorf("http lifecycle hook (%s) failed with statuscode: %d, message: %q", path, resp.StatusCode, body)
	}
	return nil
}

// postStart runs the container's postStart hook, if any, right after it
// started. A failure is a FailedPostStartHook event and the container is
// killed; its restart policy decides what follows.
func (k *kubelet) postStart(ctx context.Context, w *podWorker, pod *corev1.Pod, c *corev1.Container, id string) {
	if c.Lifecycle == nil || c.Lifecycle.PostStart == nil {
		return
	}
	grace := terminationGrace(pod)
	hctx, cancel := context.WithTimeout(ctx, grace)
	err := k.runHook(hctx, c, id, k.podIPOf(w, pod), c.Lifecycle.PostStart, grace)
	cancel()
	if err == nil {
		return
	}
	k.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedPostStartHook", "PostStartHook failed: %v", err)
	if err := k.killContainer(ctx, w, pod, c.Name, id, grace, "FailedPostStartHook"); err != nil {
		k.log.Warn("stop container", "id", id, "err", err)
	}
}

// killContainer stops a running container: its preStop hook first (when
// pod is known), within the grace period, then SIGTERM with what is left
// of the grace (at least minStopGrace), then SIGKILL. msg is the Killing
// event's message ("" for none).
func (k *kubelet) killContainer(ctx context.Context, w *podWorker, pod *corev1.Pod, name, id string, grace time.Duration, msg string) error {
	if pod != nil && msg != "" {
		k.recorder.Event(pod, corev1.EventTypeNormal, "Killing", msg)
	}
	if pod != nil {
		if c := specOf(pod, name); c != nil && c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
			began := k.clock.Now()
			hctx, cancel := context.WithTimeout(ctx, grace)
			err := k.runHook(hctx, c, id, k.podIPOf(w, pod), c.Lifecycle.PreStop, grace)
			cancel()
			if err != nil {
				k.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedPreStopHook", "PreStopHook failed: %v", err)
			}
			grace = max(grace-k.clock.Since(began), minStopGrace)
		}
	}
	return k.cfg.Runtime.StopContainer(ctx, id, grace)
}

// specOf is the pod's container (regular or init) of that name, or nil.
func specOf(pod *corev1.Pod, name string) *corev1.Container {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i]
		}
	}
	return nil
}

// podIPOf is where hooks' httpGet goes: the pod's IP, or the node's for
// hostNetwork pods.
func (k *kubelet) podIPOf(w *podWorker, pod *corev1.Pod) string {
	if w != nil && w.attachment != nil && w.attachment.IP != nil {
		return w.attachment.IP.String()
	}
	if k.hostIP != nil && (pod == nil || pod.Spec.HostNetwork) {
		return k.hostIP.String()
	}
	return ""
}
