package framework

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// NodeInfo is a node and the pods assigned to it (bound or assumed), with
// the sums plugins need. It is read-only for plugins; the scheduler's
// cache builds it and Clone gives preemption a copy to change.
type NodeInfo struct {
	node *corev1.Node
	// Pods are the pods on the node, with their parsed info.
	Pods []*PodInfo
	// PodsWithAffinity have any (anti-)affinity terms;
	// PodsWithRequiredAntiAffinity have required anti-affinity terms.
	PodsWithAffinity             []*PodInfo
	PodsWithRequiredAntiAffinity []*PodInfo
	// Requested is the sum of the pods' requests; NonZeroRequested the
	// same with the scoring defaults; Allocatable the node's allocatable.
	Requested, NonZeroRequested, Allocatable Resource
	// UsedPorts are the host ports the pods hold.
	UsedPorts HostPortInfo
	// ImageStates are the node's images by name (every name of each
	// image in node.status.images).
	ImageStates map[string]*ImageStateSummary
	// Generation changes with every change of the NodeInfo (the cache
	// uses it to update snapshots incrementally).
	Generation int64
}

// NewNodeInfo returns a NodeInfo holding pods (no node yet).
func NewNodeInfo(pods ...*corev1.Pod) *NodeInfo {
	ni := &NodeInfo{UsedPorts: HostPortInfo{}, ImageStates: map[string]*ImageStateSummary{}}
	for _, p := range pods {
		ni.AddPod(p)
	}
	return ni
}

// Node is the node (nil when only pods are known, e.g. a node deleted
// while pods are still assigned to it).
func (n *NodeInfo) Node() *corev1.Node {
	if n == nil {
		return nil
	}
	return n.node
}

// SetNode sets the node and its allocatable.
func (n *NodeInfo) SetNode(node *corev1.Node) {
	n.node = node
	n.Allocatable = *NewResource(node.Status.Allocatable)
	n.Generation++
}

// RemoveNode forgets the node, keeping its pods.
func (n *NodeInfo) RemoveNode() {
	n.node = nil
	n.Generation++
}

// AddPod adds a pod to the node; its info is parsed here (an invalid
// affinity term is dropped from the info, not the pod).
func (n *NodeInfo) AddPod(pod *corev1.Pod) {
	pi, err := NewPodInfo(pod)
	if err != nil {
		pi = &PodInfo{Pod: pod}
		pi.Requested, pi.NonZeroRequested = podResource(pod)
	}
	n.AddPodInfo(pi)
}

// AddPodInfo adds a parsed pod to the node.
func (n *NodeInfo) AddPodInfo(pi *PodInfo) {
	n.Pods = append(n.Pods, pi)
	if hasAffinity(pi) {
		n.PodsWithAffinity = append(n.PodsWithAffinity, pi)
	}
	if len(pi.RequiredAntiAffinityTerms) > 0 {
		n.PodsWithRequiredAntiAffinity = append(n.PodsWithRequiredAntiAffinity, pi)
	}
	n.update(pi, 1)
}

// RemovePod removes the pod with pod's UID; it reports whether it was
// there.
func (n *NodeInfo) RemovePod(pod *corev1.Pod) bool {
	uid := pod.UID
	n.PodsWithAffinity = removeByUID(n.PodsWithAffinity, uid)
	n.PodsWithRequiredAntiAffinity = removeByUID(n.PodsWithRequiredAntiAffinity, uid)
	for i, pi := range n.Pods {
		if pi.Pod.UID == uid {
			n.Pods[i] = n.Pods[len(n.Pods)-1]
			n.Pods = n.Pods[:len(n.Pods)-1]
			n.update(pi, -1)
			return true
		}
	}
	return false
}

func (n *NodeInfo) update(pi *PodInfo, sign int64) {
	n.Requested.plus(&pi.Requested, sign)
	n.NonZeroRequested.plus(&pi.NonZeroRequested, sign)
	if n.UsedPorts == nil {
		n.UsedPorts = HostPortInfo{}
	}
	for _, c := range podPortContainers(pi.Pod) {
		for _, p := range c.Ports {
			if sign > 0 {
				n.UsedPorts.Add(p.HostIP, string(p.Protocol), p.HostPort)
			} else {
				n.UsedPorts.Remove(p.HostIP, string(p.Protocol), p.HostPort)
			}
		}
	}
	n.Generation++
}

// podPortContainers are the containers whose host ports a pod holds: its
// containers and its restartable (sidecar) init containers.
func podPortContainers(pod *corev1.Pod) []corev1.Container {
	out := pod.Spec.Containers
	for _, c := range pod.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			out = append(out[:len(out):len(out)], c)
		}
	}
	return out
}

func hasAffinity(pi *PodInfo) bool {
	return len(pi.RequiredAffinityTerms)+len(pi.RequiredAntiAffinityTerms)+
		len(pi.PreferredAffinityTerms)+len(pi.PreferredAntiAffinityTerms) > 0
}

func removeByUID(pis []*PodInfo, uid types.UID) []*PodInfo {
	for i, pi := range pis {
		if pi.Pod.UID == uid {
			return append(pis[:i:i], pis[i+1:]...)
		}
	}
	return pis
}

// Clone copies the NodeInfo: its slices and sums are its own, the pods
// and node are shared (never mutated).
func (n *NodeInfo) Clone() *NodeInfo {
	out := &NodeInfo{
		node:                         n.node,
		Pods:                         append([]*PodInfo(nil), n.Pods...),
		PodsWithAffinity:             append([]*PodInfo(nil), n.PodsWithAffinity...),
		PodsWithRequiredAntiAffinity: append([]*PodInfo(nil), n.PodsWithRequiredAntiAffinity...),
		Requested:                    *n.Requested.Clone(),
		NonZeroRequested:             *n.NonZeroRequested.Clone(),
		Allocatable:                  *n.Allocatable.Clone(),
		UsedPorts:                    HostPortInfo{},
		ImageStates:                  n.ImageStates,
		Generation:                   n.Generation,
	}
	for ip, m := range n.UsedPorts {
		out.UsedPorts[ip] = make(map[ProtocolPort]struct{}, len(m))
		for pp := range m {
			out.UsedPorts[ip][pp] = struct{}{}
		}
	}
	return out
}
