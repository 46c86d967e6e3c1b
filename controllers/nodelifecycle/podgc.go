package nodelifecycle

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Upstream pod GC's DisruptionTarget condition for orphaned pods.
const (
	reasonPodGC  = "DeletionByPodGC"
	messagePodGC = "PodGC: node no longer exists"
)

// collectOrphans deletes the pods bound to nodes that no longer exist
// (checked with the API server, not only the cache).
func (c *Controller) collectOrphans(ctx context.Context, nodes []*corev1.Node) {
	known := map[string]bool{}
	for _, n := range nodes {
		known[n.Name] = true
	}
	pods, err := c.pods.List(labels.Everything())
	if err != nil {
		return
	}
	gone := map[string]bool{}
	for _, p := range pods {
		if p.Spec.NodeName != "" && !known[p.Spec.NodeName] {
			gone[p.Spec.NodeName] = true
		}
	}
	for name := range gone {
		if err := c.deleteOrphans(ctx, name); err != nil {
			c.logger.Info("delete orphaned pods", "node", name, "err", err)
		}
	}
}

// deleteOrphans deletes the pods of node name once the API server
// confirms the node is gone: non-terminal pods are first marked Failed
// with upstream's DisruptionTarget condition, then deleted at once.
func (c *Controller) deleteOrphans(ctx context.Context, name string) error {
	pods := c.podsOn(name)
	if len(pods) == 0 {
		return nil
	}
	if _, err := c.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		return err // the node exists (or we cannot tell)
	}
	var errs []error
	zero := int64(0)
	for _, p := range pods {
		if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			upd := p.DeepCopy()
			upd.Status.Phase = corev1.PodFailed
			setCondition(upd, corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
				Reason: reasonPodGC, Message: messagePodGC, LastTransitionTime: metav1.NewTime(c.clock.Now())})
			if _, err := c.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, upd, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
				c.logger.Info("mark orphaned pod failed", "pod", p.Namespace+"/"+p.Name, "err", err)
			}
		}
		err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete pod %s/%s: %w", p.Namespace, p.Name, err))
			continue
		}
		c.logger.Info("deleted orphaned pod", "pod", p.Namespace+"/"+p.Name, "node", name)
	}
	return errors.Join(errs...)
}
