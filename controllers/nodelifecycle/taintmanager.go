package nodelifecycle

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// Upstream's DisruptionTarget condition of a taint manager deletion.
const (
	reasonTaintManager  = "DeletionByTaintManager"
	messageTaintManager = "Taint manager: deleting due to NoExecute taint"
)

// EvictionDelay is the taint manager's decision for a pod on a node with
// the given taints: evict reports whether the pod must go, after delay
// (0: at once). A pod that does not tolerate every NoExecute taint goes
// at once; one that tolerates them all goes after the smallest
// tolerationSeconds of the tolerations used (never when none has one).
func EvictionDelay(taints []corev1.Taint, tolerations []corev1.Toleration) (evict bool, delay time.Duration) {
	shortest := time.Duration(-1)
	noExecute := false
	for i := range taints {
		t := &taints[i]
		if t.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		noExecute = true
		tolerated := false
		for j := range tolerations {
			tol := &tolerations[j]
			if !tol.ToleratesTaint(klog.Background(), t, false) {
				continue
			}
			tolerated = true
			if tol.TolerationSeconds == nil {
				continue
			}
			d := time.Duration(max(*tol.TolerationSeconds, 0)) * time.Second
			if shortest < 0 || d < shortest {
				shortest = d
			}
		}
		if !tolerated {
			return true, 0
		}
	}
	if !noExecute || shortest < 0 {
		return false, 0
	}
	return true, shortest
}

// syncPod is the taint manager for one pod: it deletes the pod when its
// node's NoExecute taints say so, now or once its toleration time has
// passed (counted from when the taint manager first planned it), and
// forgets the plan when the taints go.
func (c *Controller) syncPod(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := c.pods.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.cancel(key, nil)
		return nil
	}
	if err != nil {
		return err
	}
	if pod.DeletionTimestamp != nil || pod.Spec.NodeName == "" {
		c.cancel(key, nil)
		return nil
	}
	node, err := c.nodes.Get(pod.Spec.NodeName)
	if err != nil {
		c.cancel(key, pod)
		return nil
	}
	evict, delay := EvictionDelay(node.Spec.Taints, pod.Spec.Tolerations)
	if !evict {
		c.cancel(key, pod)
		return nil
	}
	now := c.clock.Now()
	c.mu.Lock()
	start, ok := c.evictions[key]
	if !ok {
		start = now
		c.evictions[key] = now
	}
	c.mu.Unlock()
	if at := start.Add(delay); now.Before(at) {
		c.podQueue.AddAfter(key, at.Sub(now))
		return nil
	}
	return c.evict(ctx, pod)
}

// cancel forgets a planned eviction, with upstream's event when pod is
// known.
func (c *Controller) cancel(key string, pod *corev1.Pod) {
	c.mu.Lock()
	_, had := c.evictions[key]
	delete(c.evictions, key)
	c.mu.Unlock()
	if had && pod != nil {
		c.recorder.Eventf(pod, corev1.EventTypeNormal, "TaintManagerEviction", "Cancelling deletion of Pod %s", key)
	}
}

// evict deletes pod with upstream's event and DisruptionTarget condition.
func (c *Controller) evict(ctx context.Context, pod *corev1.Pod) error {
	key := pod.Namespace + "/" + pod.Name
	c.recorder.Eventf(pod, corev1.EventTypeNormal, "TaintManagerEviction", "Marking for deletion Pod %s", key)
	upd := pod.DeepCopy()
	setCondition(upd, corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
		Reason: reasonTaintManager, Message: messageTaintManager, LastTransitionTime: metav1.NewTime(c.clock.Now())})
	if _, err := c.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, upd, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		c.logger.Info("set DisruptionTarget", "pod", key, "err", err)
	}
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pod.UID}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete pod %s: %w", key, err)
	}
	c.mu.Lock()
	delete(c.evictions, key)
	c.mu.Unlock()
	return nil
}

// setCondition replaces or appends cond in pod's status.
func setCondition(pod *corev1.Pod, cond corev1.PodCondition) {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == cond.Type {
			pod.Status.Conditions[i] = cond
			return
		}
	}
	pod.Status.Conditions = append(pod.Status.Conditions, cond)
}
