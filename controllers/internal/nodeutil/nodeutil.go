// Package nodeutil holds the node helpers that the nodeipam and
// nodelifecycle controllers share, as upstream's controller/util/node:
// node events and node conditions.
package nodeutil

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/retry"
)

// Ref is the event reference of a node (upstream uses the node's name as
// its UID in node events).
func Ref(name string) *corev1.ObjectReference {
	return &corev1.ObjectReference{APIVersion: "v1", Kind: "Node", Name: name, UID: types.UID(name)}
}

// RecordStatusChange records upstream's node status event: reason
// status, message "Node <name> status is now: <status>".
func RecordStatusChange(rec record.EventRecorder, name, status string) {
	rec.Eventf(Ref(name), corev1.EventTypeNormal, status, "Node %s status is now: %s", name, status)
}

// Condition returns node's condition of type t, or nil.
func Condition(status *corev1.NodeStatus, t corev1.NodeConditionType) *corev1.NodeCondition {
	for i := range status.Conditions {
		if status.Conditions[i].Type == t {
			return &status.Conditions[i]
		}
	}
	return nil
}

// SetCondition writes cond into the status of the node named name (read
// fresh, retried on conflicts) when keep(current) is false; current is
// nil when the node has no such condition. LastTransitionTime is kept
// when the status does not change.
func SetCondition(ctx context.Context, client kubernetes.Interface, name string, cond corev1.NodeCondition, keep func(current *corev1.NodeCondition) bool) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		node, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur := Condition(&node.Status, cond.Type)
		if keep(cur) {
			return nil
		}
		if cur != nil {
			if cur.Status == cond.Status {
				cond.LastTransitionTime = cur.LastTransitionTime
			}
			*cur = cond
		} else {
			node.Status.Conditions = append(node.Status.Conditions, cond)
		}
		if _, err := client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("update node %s status: %w", name, err)
		}
		return nil
	})
}
