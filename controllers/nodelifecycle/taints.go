package nodelifecycle

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/skiffk8s/skiff/controllers/internal/nodeutil"
)

// The NoExecute taints this controller owns.
var (
	unreachableTaint = corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}
	notReadyTaint    = corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute}
)

// conditionTaints maps node conditions to the NoSchedule taint keys
// they bring (upstream's TaintNodesByCondition).
var conditionTaints = map[corev1.NodeConditionType]map[corev1.ConditionStatus]string{
	corev1.NodeReady:              {corev1.ConditionFalse: corev1.TaintNodeNotReady, corev1.ConditionUnknown: corev1.TaintNodeUnreachable},
	corev1.NodeMemoryPressure:     {corev1.ConditionTrue: corev1.TaintNodeMemoryPressure},
	corev1.NodeDiskPressure:       {corev1.ConditionTrue: corev1.TaintNodeDiskPressure},
	corev1.NodeNetworkUnavailable: {corev1.ConditionTrue: corev1.TaintNodeNetworkUnavailable},
	corev1.NodePIDPressure:        {corev1.ConditionTrue: corev1.TaintNodePIDPressure},
}

// noScheduleKeys are the NoSchedule taint keys this controller owns.
var noScheduleKeys = []string{corev1.TaintNodeNotReady, corev1.TaintNodeUnreachable, corev1.TaintNodeMemoryPressure,
	corev1.TaintNodeDiskPressure, corev1.TaintNodeNetworkUnavailable, corev1.TaintNodePIDPressure, corev1.TaintNodeUnschedulable}

func hasTaint(taints []corev1.Taint, t corev1.Taint) bool {
	return slices.ContainsFunc(taints, func(x corev1.Taint) bool { return x.MatchTaint(&t) })
}

// markForTainting acts on the Ready status the monitor observed: a node
// already carrying the other NoExecute taint gets it swapped at once;
// otherwise a not-ready or unknown node joins its zone's tainting queue;
// a ready node loses both taints.
func (c *Controller) markForTainting(ctx context.Context, node *corev1.Node, observed *corev1.NodeCondition) {
	status := corev1.ConditionUnknown
	if observed != nil {
		status = observed.Status
	}
	switch status {
	case corev1.ConditionFalse, corev1.ConditionUnknown:
		want, other := notReadyTaint, unreachableTaint
		if status == corev1.ConditionUnknown {
			want, other = unreachableTaint, notReadyTaint
		}
		if hasTaint(node.Spec.Taints, other) {
			if err := c.swapTaints(ctx, node.Name, []corev1.Taint{want}, []corev1.Taint{other}); err != nil {
				c.logger.Info("swap NoExecute taint", "node", node.Name, "err", err)
			}
			return
		}
		c.mu.Lock()
		c.zoneLocked(zoneKey(node)).add(node.Name)
		c.mu.Unlock()
	case corev1.ConditionTrue:
		c.markReachable(ctx, node)
	}
}

// markReachable removes the node's not-ready/unreachable NoExecute
// taints and takes it off its zone's queue.
func (c *Controller) markReachable(ctx context.Context, node *corev1.Node) {
	c.mu.Lock()
	for _, z := range c.zones {
		z.remove(node.Name)
	}
	c.mu.Unlock()
	if !hasTaint(node.Spec.Taints, unreachableTaint) && !hasTaint(node.Spec.Taints, notReadyTaint) {
		return
	}
	if err := c.swapTaints(ctx, node.Name, nil, []corev1.Taint{unreachableTaint, notReadyTaint}); err != nil {
		c.logger.Info("remove NoExecute taints", "node", node.Name, "err", err)
	}
}

// taintPass taints the queued nodes of each zone as its rate limiter
// allows, by their current Ready status.
func (c *Controller) taintPass(ctx context.Context) {
	var todo []string
	c.mu.Lock()
	for _, z := range c.zones {
		for len(z.queue) > 0 && z.limiter.TryAccept() {
			todo = append(todo, z.queue[0])
			z.queue = z.queue[1:]
		}
	}
	c.mu.Unlock()
	for _, name := range todo {
		node, err := c.nodes.Get(name)
		if err != nil {
			continue
		}
		ready := nodeutil.Condition(&node.Status, corev1.NodeReady)
		var add, del corev1.Taint
		switch {
		case ready != nil && ready.Status == corev1.ConditionFalse:
			add, del = notReadyTaint, unreachableTaint
		case ready == nil || ready.Status == corev1.ConditionUnknown:
			add, del = unreachableTaint, notReadyTaint
		default:
			continue // ready again: nothing to taint
		}
		if err := c.swapTaints(ctx, name, []corev1.Taint{add}, []corev1.Taint{del}); err != nil {
			c.logger.Info("add NoExecute taint; requeued", "node", name, "err", err)
			c.mu.Lock()
			z := c.zoneLocked(zoneKey(node))
			z.queue = append(z.queue, name)
			c.mu.Unlock()
			continue
		}
		c.logger.Info("tainted node", "node", name, "taint", add.Key)
	}
}

// syncNode keeps the node's NoSchedule condition taints and hands its
// pods to the taint manager; a deleted node's pods are deleted.
func (c *Controller) syncNode(ctx context.Context, name string) error {
	node, err := c.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		return c.deleteOrphans(ctx, name)
	}
	if err != nil {
		return err
	}
	want := ConditionTaints(node)
	var have []corev1.Taint
	for _, t := range node.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoSchedule && slices.Contains(noScheduleKeys, t.Key) {
			have = append(have, t)
		}
	}
	var add, del []corev1.Taint
	for _, t := range want {
		if !hasTaint(have, t) {
			add = append(add, t)
		}
	}
	for _, t := range have {
		if !hasTaint(want, t) {
			del = append(del, t)
		}
	}
	if len(add)+len(del) > 0 {
		if err := c.swapTaints(ctx, name, add, del); err != nil {
			return err
		}
	}
	for _, p := range c.podsOn(name) {
		c.podQueue.Add(p.Namespace + "/" + p.Name)
	}
	return nil
}

// ConditionTaints are the NoSchedule taints node's conditions and
// spec.unschedulable call for.
func ConditionTaints(node *corev1.Node) []corev1.Taint {
	var out []corev1.Taint
	for _, cond := range node.Status.Conditions {
		if key, ok := conditionTaints[cond.Type][cond.Status]; ok {
			out = append(out, corev1.Taint{Key: key, Effect: corev1.TaintEffectNoSchedule})
		}
	}
	if node.Spec.Unschedulable {
		out = append(out, corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule})
	}
	return out
}

// swapTaints adds add (timeAdded now) and removes del on the node named
// name, read fresh and retried on conflicts.
func (c *Controller) swapTaints(ctx context.Context, name string, add, del []corev1.Taint) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		node, err := c.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		var taints []corev1.Taint
		changed := false
		for _, t := range node.Spec.Taints {
			if hasTaint(del, t) {
				changed = true
				continue
			}
			taints = append(taints, t)
		}
		now := metav1.NewTime(c.clock.Now())
		for _, t := range add {
			if hasTaint(taints, t) {
				continue
			}
			t.TimeAdded = &now
			taints = append(taints, t)
			changed = true
		}
		if !changed {
			return nil
		}
		node.Spec.Taints = taints
		if _, err := c.client.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("update taints of node %s: %w", name, err)
		}
		return nil
	})
}
