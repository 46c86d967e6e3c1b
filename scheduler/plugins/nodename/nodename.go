// Package nodename is the NodeName filter plugin: a pod that names a node
// in spec.nodeName fits only that node.
package nodename

import (
	"context"
	"errors"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiffk8s/skiff/scheduler/framework"
)

// Name is the plugin's name in the scheduler configuration.
const Name = "NodeName"

// ErrReason is the reason a node other than the requested one is
// rejected with.
const ErrReason = "node(s) didn't match the requested node name"

// NodeName rejects every node but the one a pod names.
type NodeName struct{}

var (
	_ framework.FilterPlugin      = (*NodeName)(nil)
	_ framework.EnqueueExtensions = (*NodeName)(nil)
)

// New builds the plugin. It takes no args; args are ignored, as upstream.
func New(_ context.Context, _ []byte, _ framework.Handle) (framework.Plugin, error) {
	return &NodeName{}, nil
}

// Name implements framework.Plugin.
func (*NodeName) Name() string { return Name }

// Filter rejects the node, UnschedulableAndUnresolvable, when the pod
// names another node.
func (*NodeName) Filter(_ context.Context, _ *framework.CycleState, pod *corev1.Pod, nodeInfo *framework.NodeInfo) *framework.Status {
	node := nodeInfo.Node()
	if node == nil {
		return framework.AsStatus(errors.New("node not found"))
	}
	if !Fits(pod, node) {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReason)
	}
	return nil
}

// Fits reports whether pod may run on node as far as spec.nodeName goes.
func Fits(pod *corev1.Pod, node *corev1.Node) bool {
	return pod.Spec.NodeName == "" || pod.Spec.NodeName == node.Name
}

// EventsToRegister: only a new node can be the one the pod names. Label
// and taint updates are registered too, as upstream does for every plugin
// that registers Node/Add when its queue runs without queueing hints (an
// Add may have been seen while the node was not yet ready).
func (*NodeName) EventsToRegister() []framework.ClusterEvent {
	return []framework.ClusterEvent{
		{Resource: framework.NodeResource, ActionType: framework.Add | framework.UpdateNodeTaint | framework.UpdateNodeLabel},
	}
}
