// Package nodeports is the NodePorts filter plugin: a pod's host ports
// must be free on the node (hostIP 0.0.0.0 or empty clashes with every
// address of the same protocol and port).
package nodeports

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiffk8s/skiff/scheduler/framework"
)

// Name is the plugin's name in the scheduler configuration.
const Name = "NodePorts"

// ErrReason is the reason a node whose ports clash is rejected with.
const ErrReason = "node(s) didn't have free ports for the requested pod ports"

const preFilterStateKey framework.StateKey = "PreFilter" + Name

// NodePorts rejects nodes where a host port the pod wants is taken.
type NodePorts struct{}

var (
	_ framework.PreFilterPlugin   = (*NodePorts)(nil)
	_ framework.FilterPlugin      = (*NodePorts)(nil)
	_ framework.EnqueueExtensions = (*NodePorts)(nil)
)

// New builds the plugin. It takes no args; args are ignored, as upstream.
func New(_ context.Context, _ []byte, _ framework.Handle) (framework.Plugin, error) {
	return &NodePorts{}, nil
}

// Name implements framework.Plugin.
func (*NodePorts) Name() string { return Name }

// preFilterState is the host ports the pod wants.
type preFilterState []corev1.ContainerPort

// Clone implements framework.StateData; the state never changes.
func (s preFilterState) Clone() framework.StateData { return s }

// HostPorts are the ports of pod's containers and sidecars (init
// containers with restartPolicy Always) that have a host port.
func HostPorts(pod *corev1.Pod) []corev1.ContainerPort {
	var out []corev1.ContainerPort
	add := func(cs []corev1.Container, sidecarsOnly bool) {
		for _, c := range cs {
			if sidecarsOnly && (c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways) {
				continue
			}
			for _, p := range c.Ports {
				if p.HostPort > 0 {
					out = append(out, p)
				}
			}
		}
	}
	add(pod.Spec.Containers, false)
	add(pod.Spec.InitContainers, true)
	return out
}

// PreFilter records the pod's host ports; it returns Skip for a pod with
// none.
func (*NodePorts) PreFilter(_ context.Context, state *framework.CycleState, pod *corev1.Pod, _ []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	ports := HostPorts(pod)
	if len(ports) == 0 {
		return nil, framework.NewStatus(framework.Skip)
	}
	state.Write(preFilterStateKey, preFilterState(ports))
	return nil, nil
}

// PreFilterExtensions implements framework.PreFilterPlugin: the state
// does not depend on other pods.
func (*NodePorts) PreFilterExtensions() framework.PreFilterExtensions { return nil }

// Filter rejects the node, Unschedulable, when one of the pod's host
// ports is in use there.
func (*NodePorts) Filter(_ context.Context, state *framework.CycleState, _ *corev1.Pod, nodeInfo *framework.NodeInfo) *framework.Status {
	data, err := state.Read(preFilterStateKey)
	if err != nil {
		return framework.AsStatus(fmt.Errorf("reading %q from cycle state: %w", preFilterStateKey, err))
	}
	ports, ok := data.(preFilterState)
	if !ok {
		return framework.AsStatus(fmt.Errorf("%q holds %T, not the NodePorts state", preFilterStateKey, data))
	}
	if !Fits(ports, nodeInfo.UsedPorts) {
		return framework.NewStatus(framework.Unschedulable, ErrReason)
	}
	return nil
}

// Fits reports whether none of want clashes with used.
func Fits(want []corev1.ContainerPort, used framework.HostPortInfo) bool {
	for _, p := range want {
		if used.CheckConflict(p.HostIP, string(p.Protocol), p.HostPort) {
			return false
		}
	}
	return true
}

// EventsToRegister: a pod deleted frees its ports (ports are immutable,
// so pod updates cannot); a new node may have them free. Taint and label
// updates as upstream without queueing hints.
func (*NodePorts) EventsToRegister() []framework.ClusterEvent {
	return []framework.ClusterEvent{
		{Resource: framework.PodResource, ActionType: framework.Delete},
		{Resource: framework.NodeResource, ActionType: framework.Add | framework.UpdateNodeTaint | framework.UpdateNodeLabel},
	}
}
