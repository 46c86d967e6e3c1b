// Package plugintest has tiny builders of Nodes, Pods and NodeInfos for
// the scheduler plugins' table tests:
//
//	node := plugintest.MakeNode("n1").Capacity("cpu", "2", "memory", "4Gi").Label("zone", "a").Obj()
//	pod := plugintest.MakePod("p").Req("cpu", "500m").NodeSelector("zone", "a").Obj()
//	ni := plugintest.NodeInfo(node, otherPods...)
//
// Resources are given as name/quantity pairs ("cpu", "500m", "memory",
// "1Gi"); an odd count or a bad quantity panics (tests only).
//
// For plugins that read the snapshot or listers, NewHandle is a fake
// framework.Handle over a snapshot and a fake clientset's informers, and
// FilterAll and ScoreAll run a plugin's filter or score points over its
// nodes:
//
//	h := plugintest.NewHandle(t, nodes, pods, objs, func(f informers.SharedInformerFactory) { f.Core().V1().Namespaces().Informer() })
//	pl := plugintest.MustNew[*InterPodAffinity](t, New, h, `{"hardPodAffinityWeight": 2}`)
//	plugintest.AssertStatuses(t, plugintest.FilterAll(t, pl, framework.NewCycleState(), h, pod), want)
package plugintest

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiffk8s/skiff/scheduler/framework"
)

// ResourceList parses name/quantity pairs.
func ResourceList(pairs ...string) corev1.ResourceList {
	if len(pairs)%2 != 0 {
		panic(fmt.Sprintf("plugintest: odd resource pairs %q", pairs))
	}
	rl := corev1.ResourceList{}
	for i := 0; i < len(pairs); i += 2 {
		rl[corev1.ResourceName(pairs[i])] = resource.MustParse(pairs[i+1])
	}
	return rl
}

// NodeBuilder builds a Node. The zero node allows 110 pods and nothing
// else.
type NodeBuilder struct{ n *corev1.Node }

// MakeNode starts a node called name.
func MakeNode(name string) *NodeBuilder {
	rl := ResourceList("pods", "110")
	return &NodeBuilder{n: &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("node-" + name), Labels: map[string]string{}},
		Status:     corev1.NodeStatus{Capacity: rl, Allocatable: rl.DeepCopy()},
	}}
}

// Capacity sets capacity and allocatable of the given resources (pairs).
func (b *NodeBuilder) Capacity(pairs ...string) *NodeBuilder {
	for name, q := range ResourceList(pairs...) {
		b.n.Status.Capacity[name] = q
		b.n.Status.Allocatable[name] = q.DeepCopy()
	}
	return b
}

// Label sets a label.
func (b *NodeBuilder) Label(key, value string) *NodeBuilder {
	b.n.Labels[key] = value
	return b
}

// Annotation sets an annotation.
func (b *NodeBuilder) Annotation(key, value string) *NodeBuilder {
	if b.n.Annotations == nil {
		b.n.Annotations = map[string]string{}
	}
	b.n.Annotations[key] = value
	return b
}

// Taint adds a taint.
func (b *NodeBuilder) Taint(key, value string, effect corev1.TaintEffect) *NodeBuilder {
	b.n.Spec.Taints = append(b.n.Spec.Taints, corev1.Taint{Key: key, Value: value, Effect: effect})
	return b
}

// Unschedulable marks the node cordoned (spec.unschedulable).
func (b *NodeBuilder) Unschedulable() *NodeBuilder {
	b.n.Spec.Unschedulable = true
	return b
}

// Image adds an image of size bytes known by names to node.status.images.
func (b *NodeBuilder) Image(size int64, names ...string) *NodeBuilder {
	b.n.Status.Images = append(b.n.Status.Images, corev1.ContainerImage{Names: names, SizeBytes: size})
	return b
}

// Obj returns the node.
func (b *NodeBuilder) Obj() *corev1.Node { return b.n }

// PodBuilder builds a Pod in namespace "default" whose UID is its name.
type PodBuilder struct{ p *corev1.Pod }

// MakePod starts a pod called name with no containers.
func MakePod(name string) *PodBuilder {
	return &PodBuilder{p: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name: name, Namespace: "default", UID: types.UID(name), Labels: map[string]string{},
	}}}
}

// Container adds a container with image and the requests (pairs).
func (b *PodBuilder) Container(image string, pairs ...string) *PodBuilder {
	b.p.Spec.Containers = append(b.p.Spec.Containers, container(b.p, image, pairs))
	return b
}

// Req adds a container (image "busybox") requesting the pairs.
func (b *PodBuilder) Req(pairs ...string) *PodBuilder { return b.Container("busybox", pairs...) }

// InitReq adds an init container requesting the pairs.
func (b *PodBuilder) InitReq(pairs ...string) *PodBuilder {
	b.p.Spec.InitContainers = append(b.p.Spec.InitContainers, container(b.p, "busybox", pairs))
	return b
}

// SidecarReq adds a sidecar (an init container with restartPolicy
// Always) requesting the pairs.
func (b *PodBuilder) SidecarReq(pairs ...string) *PodBuilder {
	c := container(b.p, "busybox", pairs)
	always := corev1.ContainerRestartPolicyAlways
	c.RestartPolicy = &always
	b.p.Spec.InitContainers = append(b.p.Spec.InitContainers, c)
	return b
}

// InitImage adds an init container running image.
func (b *PodBuilder) InitImage(image string) *PodBuilder {
	b.p.Spec.InitContainers = append(b.p.Spec.InitContainers, container(b.p, image, nil))
	return b
}

func container(p *corev1.Pod, image string, pairs []string) corev1.Container {
	c := corev1.Container{Name: fmt.Sprintf("c%d", len(p.Spec.Containers)+len(p.Spec.InitContainers)), Image: image}
	if len(pairs) > 0 {
		c.Resources.Requests = ResourceList(pairs...)
	}
	return c
}

// Overhead sets spec.overhead (pairs).
func (b *PodBuilder) Overhead(pairs ...string) *PodBuilder {
	b.p.Spec.Overhead = ResourceList(pairs...)
	return b
}

// HostPort adds a container (image "busybox") with one host port; an
// empty protocol means TCP, an empty ip all addresses.
func (b *PodBuilder) HostPort(ip string, protocol corev1.Protocol, port int32) *PodBuilder {
	c := container(b.p, "busybox", nil)
	c.Ports = []corev1.ContainerPort{{HostIP: ip, Protocol: protocol, HostPort: port, ContainerPort: port}}
	b.p.Spec.Containers = append(b.p.Spec.Containers, c)
	return b
}

// Node sets spec.nodeName (the pod is bound or asks for that node).
func (b *PodBuilder) Node(name string) *PodBuilder {
	b.p.Spec.NodeName = name
	return b
}

// Label sets a label.
func (b *PodBuilder) Label(key, value string) *PodBuilder {
	b.p.Labels[key] = value
	return b
}

// NodeSelector adds a nodeSelector entry.
func (b *PodBuilder) NodeSelector(key, value string) *PodBuilder {
	if b.p.Spec.NodeSelector == nil {
		b.p.Spec.NodeSelector = map[string]string{}
	}
	b.p.Spec.NodeSelector[key] = value
	return b
}

// Toleration adds a toleration.
func (b *PodBuilder) Toleration(key string, op corev1.TolerationOperator, value string, effect corev1.TaintEffect) *PodBuilder {
	b.p.Spec.Tolerations = append(b.p.Spec.Tolerations, corev1.Toleration{Key: key, Operator: op, Value: value, Effect: effect})
	return b
}

// NodeAffinity sets spec.affinity.nodeAffinity.
func (b *PodBuilder) NodeAffinity(na *corev1.NodeAffinity) *PodBuilder {
	if b.p.Spec.Affinity == nil {
		b.p.Spec.Affinity = &corev1.Affinity{}
	}
	b.p.Spec.Affinity.NodeAffinity = na
	return b
}

// PodAffinity sets spec.affinity.podAffinity.
func (b *PodBuilder) PodAffinity(pa *corev1.PodAffinity) *PodBuilder {
	if b.p.Spec.Affinity == nil {
		b.p.Spec.Affinity = &corev1.Affinity{}
	}
	b.p.Spec.Affinity.PodAffinity = pa
	return b
}

// PodAntiAffinity sets spec.affinity.podAntiAffinity.
func (b *PodBuilder) PodAntiAffinity(pa *corev1.PodAntiAffinity) *PodBuilder {
	if b.p.Spec.Affinity == nil {
		b.p.Spec.Affinity = &corev1.Affinity{}
	}
	b.p.Spec.Affinity.PodAntiAffinity = pa
	return b
}

// SpreadConstraint adds a topology spread constraint.
func (b *PodBuilder) SpreadConstraint(c corev1.TopologySpreadConstraint) *PodBuilder {
	b.p.Spec.TopologySpreadConstraints = append(b.p.Spec.TopologySpreadConstraints, c)
	return b
}

// Priority sets spec.priority.
func (b *PodBuilder) Priority(p int32) *PodBuilder {
	b.p.Spec.Priority = &p
	return b
}

// Namespace sets the namespace.
func (b *PodBuilder) Namespace(ns string) *PodBuilder {
	b.p.Namespace = ns
	return b
}

// Obj returns the pod.
func (b *PodBuilder) Obj() *corev1.Pod { return b.p }

// NodeInfo returns a NodeInfo of node holding pods. Its ImageStates are
// the node's images, each counted as present on one node.
func NodeInfo(node *corev1.Node, pods ...*corev1.Pod) *framework.NodeInfo {
	ni := framework.NewNodeInfo(pods...)
	ni.SetNode(node)
	for _, img := range node.Status.Images {
		for _, name := range img.Names {
			ni.ImageStates[name] = &framework.ImageStateSummary{Size: img.SizeBytes, NumNodes: 1}
		}
	}
	return ni
}

// Expr is a NodeSelectorRequirement (for node affinity terms).
func Expr(key string, op corev1.NodeSelectorOperator, values ...string) corev1.NodeSelectorRequirement {
	return corev1.NodeSelectorRequirement{Key: key, Operator: op, Values: values}
}

// SameStatus reports whether two statuses have the same code and
// reasons (nil is Success with no reasons).
func SameStatus(got, want *framework.Status) bool {
	if got.Code() != want.Code() || len(got.Reasons()) != len(want.Reasons()) {
		return false
	}
	for i, r := range got.Reasons() {
		if want.Reasons()[i] != r {
			return false
		}
	}
	return true
}
