package nodeipam

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiffk8s/skiff/controllers/internal/nodeutil"
)

// Upstream's node status for an exhausted range, and our reasons on the
// NetworkUnavailable condition.
const (
	cidrNotAvailable   = "CIDRNotAvailable"
	reasonNoCIDR       = "CIDRNotAvailable"
	reasonCIDRAssigned = "CIDRAssigned"
)

// sync gives the node named key a CIDR per cluster CIDR when it has none,
// and releases a deleted node's CIDRs.
func (c *Controller) sync(ctx context.Context, key string) error {
	node, err := c.nodes.Get(key)
	if apierrors.IsNotFound(err) {
		c.mu.Lock()
		_, held := c.allocated[key]
		c.releaseLocked(key)
		c.mu.Unlock()
		if held {
			c.enqueueWaiting()
		}
		return nil
	}
	if err != nil {
		return err
	}
	if len(node.Spec.PodCIDRs) > 0 || node.Spec.PodCIDR != "" {
		c.mu.Lock()
		if a, ok := c.allocated[node.Name]; !ok || a.uid != node.UID || !sameCIDRs(a.cidrs, node.Spec.PodCIDRs) {
			c.releaseLocked(node.Name)
			if len(node.Spec.PodCIDRs) == 0 {
				node = node.DeepCopy()
				node.Spec.PodCIDRs = []string{node.Spec.PodCIDR}
			}
			c.occupyLocked(node)
		}
		c.mu.Unlock()
		return c.clearUnavailable(ctx, node)
	}
	cidrs, err := c.allocate(node)
	if err != nil {
		nodeutil.RecordStatusChange(c.recorder, node.Name, cidrNotAvailable)
		if cerr := c.setUnavailable(ctx, node.Name, err); cerr != nil {
			c.logger.Error("set NetworkUnavailable", "node", node.Name, "err", cerr)
		}
		return fmt.Errorf("allocate a CIDR for node %s: %w", node.Name, err)
	}
	strs := make([]string, len(cidrs))
	for i, p := range cidrs {
		strs[i] = p.String()
	}
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"podCIDR": strs[0], "podCIDRs": strs}})
	updated, err := c.client.CoreV1().Nodes().Patch(ctx, node.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		c.mu.Lock()
		if a := c.allocated[node.Name]; a.uid == node.UID && sameCIDRs(a.cidrs, strs) {
			c.releaseLocked(node.Name)
		}
		c.mu.Unlock()
		if apierrors.IsNotFound(err) {
			return nil
		}
		nodeutil.RecordStatusChange(c.recorder, node.Name, "CIDRAssignmentFailed")
		return fmt.Errorf("set podCIDRs %v on node %s: %w", strs, node.Name, err)
	}
	c.logger.Info("set node podCIDRs", "node", node.Name, "podCIDRs", strs)
	return c.clearUnavailable(ctx, updated)
}

// allocate hands node one CIDR per cluster CIDR, or gives back what the
// node was already handed (a previous patch the informer has not shown
// yet).
func (c *Controller) allocate(node *corev1.Node) ([]netip.Prefix, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if a, ok := c.allocated[node.Name]; ok && a.uid == node.UID && len(a.cidrs) == len(c.sets) {
		return a.cidrs, nil
	}
	c.releaseLocked(node.Name)
	var got []netip.Prefix
	for _, s := range c.sets {
		p, err := s.allocate()
		if err != nil {
			for _, q := range got {
				_ = c.setFor(q.Addr()).release(q)
			}
			return nil, fmt.Errorf("%w (cluster CIDR %s)", err, s.cluster)
		}
		got = append(got, p)
	}
	c.allocated[node.Name] = allocation{uid: node.UID, cidrs: got}
	return got, nil
}

// enqueueWaiting adds the nodes still without a podCIDR (a CIDR was
// just freed).
func (c *Controller) enqueueWaiting() {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return
	}
	for _, n := range nodes {
		if len(n.Spec.PodCIDRs) == 0 && n.Spec.PodCIDR == "" {
			c.queue.Add(n.Name)
		}
	}
}

func (c *Controller) setUnavailable(ctx context.Context, name string, cause error) error {
	now := metav1.NewTime(c.clock.Now())
	cond := corev1.NodeCondition{Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionTrue, Reason: reasonNoCIDR,
		Message: fmt.Sprintf("No pod CIDR available for this node: %v", cause), LastHeartbeatTime: now, LastTransitionTime: now}
	return nodeutil.SetCondition(ctx, c.client, name, cond, func(cur *corev1.NodeCondition) bool {
		return cur != nil && cur.Status == corev1.ConditionTrue && cur.Reason == reasonNoCIDR
	})
}

// clearUnavailable turns our NetworkUnavailable=True condition False
// once the node has its CIDR; a condition set by others is left alone.
func (c *Controller) clearUnavailable(ctx context.Context, node *corev1.Node) error {
	cur := nodeutil.Condition(&node.Status, corev1.NodeNetworkUnavailable)
	if cur == nil || cur.Reason != reasonNoCIDR || cur.Status != corev1.ConditionTrue {
		return nil
	}
	now := metav1.NewTime(c.clock.Now())
	cond := corev1.NodeCondition{Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionFalse, Reason: reasonCIDRAssigned,
		Message: "The node has a pod CIDR", LastHeartbeatTime: now, LastTransitionTime: now}
	return nodeutil.SetCondition(ctx, c.client, node.Name, cond, func(cur *corev1.NodeCondition) bool {
		return cur == nil || cur.Reason != reasonNoCIDR
	})
}

func sameCIDRs(a []netip.Prefix, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].String() != b[i] {
			return false
		}
	}
	return true
}
