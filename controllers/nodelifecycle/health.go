package nodelifecycle

import (
	"context"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/skiffk8s/skiff/controllers/internal/nodeutil"
)

// nodeHealth is what the monitor last saw of a node. probe is when (on
// the controller's clock) it last saw a heartbeat: a new Ready
// heartbeat time or a newer Lease renewTime.
type nodeHealth struct {
	probe  time.Time
	status *corev1.NodeStatus
	lease  *coordv1.Lease
}

// The conditions the controller turns Unknown, upstream's messages.
var (
	watchedConditions = []corev1.NodeConditionType{corev1.NodeReady, corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure}
)

const (
	reasonUnknown      = "NodeStatusUnknown"
	messageUnknown     = "Kubelet stopped posting node status."
	reasonNeverUpdated = "NodeStatusNeverUpdated"
	messageNever       = "Kubelet never posted node status."
)

// monitor is one health pass over all nodes, then the zones' disruption
// states and the orphaned pods.
func (c *Controller) monitor(ctx context.Context) {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return
	}
	c.forgetDeleted(nodes)
	readiness := map[string][]corev1.ConditionStatus{}
	for _, node := range nodes {
		observed, current := c.updateHealth(ctx, node)
		status := corev1.ConditionUnknown
		if current != nil {
			status = current.Status
		}
		readiness[zoneKey(node)] = append(readiness[zoneKey(node)], status)
		if current == nil {
			continue
		}
		c.markForTainting(ctx, node, observed)
		if current.Status != corev1.ConditionTrue && (observed == nil || observed.Status == corev1.ConditionTrue) {
			nodeutil.RecordStatusChange(c.recorder, node.Name, "NodeNotReady")
			c.markPodsNotReady(ctx, node.Name)
		}
	}
	c.handleDisruption(ctx, readiness, nodes)
	c.collectOrphans(ctx, nodes)
}

// forgetDeleted drops the health and tainting state of nodes gone.
func (c *Controller) forgetDeleted(nodes []*corev1.Node) {
	live := map[string]bool{}
	for _, n := range nodes {
		live[n.Name] = true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for name := range c.health {
		if !live[name] {
			delete(c.health, name)
			for _, z := range c.zones {
				z.remove(name)
			}
		}
	}
}

// updateHealth notes node's heartbeats and, when it has been silent
// longer than the grace period, writes its watched conditions Unknown.
// It returns the Ready condition as observed (nil when the node has
// none) and as it is now.
func (c *Controller) updateHealth(ctx context.Context, node *corev1.Node) (observed, current *corev1.NodeCondition) {
	now := c.clock.Now()
	ready := nodeutil.Condition(&node.Status, corev1.NodeReady)
	grace := c.opts.GracePeriod
	if ready == nil {
		grace = c.opts.StartupGracePeriod
	}
	lease, err := c.leases.Leases(corev1.NamespaceNodeLease).Get(node.Name)
	if err != nil {
		lease = nil
	}
	c.mu.Lock()
	h := c.health[node.Name]
	if h == nil {
		h = &nodeHealth{probe: now, status: node.Status.DeepCopy(), lease: lease}
		c.health[node.Name] = h
	} else {
		saved := nodeutil.Condition(h.status, corev1.NodeReady)
		if ready != nil && (saved == nil || !saved.LastHeartbeatTime.Equal(&ready.LastHeartbeatTime)) {
			h.probe = now
		}
		h.status = node.Status.DeepCopy()
		if lease != nil && lease.Spec.RenewTime != nil &&
			(h.lease == nil || h.lease.Spec.RenewTime == nil || h.lease.Spec.RenewTime.Before(lease.Spec.RenewTime)) {
			h.lease = lease
			h.probe = now
		}
	}
	probe := h.probe
	c.mu.Unlock()

	if ready != nil {
		r := *ready
		observed = &r
	}
	if !now.After(probe.Add(grace)) {
		return observed, observed
	}
	upd := node.DeepCopy()
	changed := false
	mnow := metav1.NewTime(now)
	for _, t := range watchedConditions {
		cond := nodeutil.Condition(&upd.Status, t)
		switch {
		case cond == nil:
			upd.Status.Conditions = append(upd.Status.Conditions, corev1.NodeCondition{Type: t, Status: corev1.ConditionUnknown,
				Reason: reasonNeverUpdated, Message: messageNever, LastHeartbeatTime: node.CreationTimestamp, LastTransitionTime: mnow})
			changed = true
		case cond.Status != corev1.ConditionUnknown:
			cond.Status, cond.Reason, cond.Message, cond.LastTransitionTime = corev1.ConditionUnknown, reasonUnknown, messageUnknown, mnow
			changed = true
		}
	}
	if !changed {
		return observed, observed
	}
	got, err := c.client.CoreV1().Nodes().UpdateStatus(ctx, upd, metav1.UpdateOptions{})
	if err != nil {
		c.logger.Info("mark node status unknown", "node", node.Name, "err", err)
		return observed, observed
	}
	c.logger.Info("node stopped posting status; marked Unknown", "node", node.Name)
	c.mu.Lock()
	if h := c.health[node.Name]; h != nil {
		h.status = got.Status.DeepCopy()
	}
	c.mu.Unlock()
	cur := *nodeutil.Condition(&got.Status, corev1.NodeReady)
	return observed, &cur
}

// markPodsNotReady sets the Ready condition of the node's pods False
// with a NodeNotReady event on each, as upstream's MarkPodsNotReady.
func (c *Controller) markPodsNotReady(ctx context.Context, node string) {
	for _, pod := range c.podsOn(node) {
		i := podReadyIndex(pod)
		if i < 0 || pod.Status.Conditions[i].Status != corev1.ConditionTrue {
			continue
		}
		upd := pod.DeepCopy()
		upd.Status.Conditions[i].Status = corev1.ConditionFalse
		upd.Status.Conditions[i].LastTransitionTime = metav1.NewTime(c.clock.Now())
		if _, err := c.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, upd, metav1.UpdateOptions{}); err != nil {
			if !apierrors.IsNotFound(err) {
				c.logger.Info("mark pod not ready", "pod", pod.Namespace+"/"+pod.Name, "err", err)
			}
			continue
		}
		c.recorder.Eventf(pod, corev1.EventTypeWarning, "NodeNotReady", "Node is not ready")
	}
}

func podReadyIndex(pod *corev1.Pod) int {
	for i, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return i
		}
	}
	return -1
}

// podsOn lists the pods bound to node.
func (c *Controller) podsOn(node string) []*corev1.Pod {
	objs, err := c.podIndex.ByIndex(nodeNameIndex, node)
	if err != nil {
		return nil
	}
	out := make([]*corev1.Pod, 0, len(objs))
	for _, o := range objs {
		if p, ok := o.(*corev1.Pod); ok {
			out = append(out, p)
		}
	}
	return out
}
