package registry

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
)

func validNode() *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "node-1.lab"},
		Spec:       corev1.NodeSpec{PodCIDR: "10.244.1.0/24"},
		Status:     corev1.NodeStatus{Capacity: resources("cpu", "2", "memory", "4Gi", "pods", "110")},
	}
	nodeStrategy{}.Default(n)
	return n
}

func TestNodeDefaults(t *testing.T) {
	runDefaultCases(t, nodeStrategy{}, []defaultCase[*corev1.Node]{
		{"podCIDRs follow podCIDR", validNode, func(n *corev1.Node) any { return n.Spec.PodCIDRs }, []string{"10.244.1.0/24"}},
		{"podCIDR follows podCIDRs",
			func() *corev1.Node { return &corev1.Node{Spec: corev1.NodeSpec{PodCIDRs: []string{"10.244.2.0/24"}}} },
			func(n *corev1.Node) any { return n.Spec.PodCIDR }, "10.244.2.0/24"},
		{"allocatable defaults to capacity", validNode, func(n *corev1.Node) any { return n.Status.Allocatable }, resources("cpu", "2", "memory", "4Gi", "pods", "110")},
	})
}

func TestNodeValidation(t *testing.T) {
	taint := func(key string, effect corev1.TaintEffect) corev1.Taint {
		return corev1.Taint{Key: key, Effect: effect}
	}
	runValidateCases(t, nodeStrategy{}, validNode, []validateCase[*corev1.Node]{
		{name: "a registered node is valid"},
		{"a node name is a DNS subdomain", func(n *corev1.Node) { n.Name = "Node_1" }, []fieldErr{invalid("metadata.name")}},
		{"a node has no namespace", func(n *corev1.Node) { n.Namespace = "default" }, []fieldErr{forbidden("metadata.namespace")}},
		{"pod CIDRs are CIDRs", func(n *corev1.Node) { n.Spec.PodCIDR, n.Spec.PodCIDRs = "10.244.1.0", []string{"10.244.1.0"} },
			[]fieldErr{invalid("spec.podCIDRs[0]")}},
		{"a dual-stack node has one CIDR per family", func(n *corev1.Node) { n.Spec.PodCIDRs = []string{"10.244.1.0/24", "fd00:1::/64"} }, nil},
		{"a node has at most one CIDR per family", func(n *corev1.Node) { n.Spec.PodCIDRs = []string{"10.244.1.0/24", "10.245.1.0/24"} },
			[]fieldErr{invalid("spec.podCIDRs")}},
		{"podCIDR is the first of podCIDRs", func(n *corev1.Node) { n.Spec.PodCIDR = "10.244.9.0/24" }, []fieldErr{invalid("spec.podCIDR")}},
		{"taints with known effects are valid", func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{taint("dedicated", corev1.TaintEffectNoSchedule), taint("dedicated", corev1.TaintEffectNoExecute)}
		}, nil},
		{"a taint effect is NoSchedule, PreferNoSchedule or NoExecute", func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{taint("dedicated", "NoRun")}
		}, []fieldErr{notSupported("spec.taints[0].effect")}},
		{"a taint needs an effect", func(n *corev1.Node) { n.Spec.Taints = []corev1.Taint{taint("dedicated", "")} },
			[]fieldErr{required("spec.taints[0].effect")}},
		{"a taint key is a qualified name", func(n *corev1.Node) { n.Spec.Taints = []corev1.Taint{taint("bad key", corev1.TaintEffectNoSchedule)} },
			[]fieldErr{invalid("spec.taints[0].key")}},
		{"taints are unique by key and effect", func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{taint("dedicated", corev1.TaintEffectNoSchedule), taint("dedicated", corev1.TaintEffectNoSchedule)}
		}, []fieldErr{duplicate("spec.taints[1]")}},
		{"capacity is not negative", func(n *corev1.Node) { n.Status.Capacity = resources("cpu", "-1") },
			[]fieldErr{invalid("status.capacity[cpu]")}},
	})
}

func TestNodeUpdateValidation(t *testing.T) {
	runUpdateCases(t, nodeStrategy{}, validNode, []updateCase[*corev1.Node]{
		{name: "a node may be cordoned", update: func(n *corev1.Node) { n.Spec.Unschedulable = true }},
		{name: "taints may change", update: func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "node.kubernetes.io/unreachable", Effect: corev1.TaintEffectNoExecute}}
		}},
		{name: "a pod CIDR may be assigned once",
			old:    func(n *corev1.Node) { n.Spec.PodCIDR, n.Spec.PodCIDRs = "", nil },
			update: func(n *corev1.Node) { n.Spec.PodCIDR, n.Spec.PodCIDRs = "10.244.3.0/24", []string{"10.244.3.0/24"} }},
		{name: "a pod CIDR does not change",
			update: func(n *corev1.Node) { n.Spec.PodCIDR, n.Spec.PodCIDRs = "10.244.3.0/24", []string{"10.244.3.0/24"} },
			want:   []fieldErr{forbidden("spec.podCIDRs[0]")}},
		{name: "a providerID does not change",
			old:    func(n *corev1.Node) { n.Spec.ProviderID = "skiff://node-1" },
			update: func(n *corev1.Node) { n.Spec.ProviderID = "skiff://node-2" },
			want:   []fieldErr{forbidden("spec.providerID")}},
		{name: "node addresses are unique", update: func(n *corev1.Node) {
			a := corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "192.168.1.10"}
			n.Status.Addresses = []corev1.NodeAddress{a, a}
		}, want: []fieldErr{duplicate("status.addresses[1]")}},
	})
}

func TestNodeFieldSet(t *testing.T) {
	n := validNode()
	n.Spec.Unschedulable = true
	want := fields.Set{"metadata.name": "node-1.lab", "spec.unschedulable": "true"}
	if got := (nodeStrategy{}).FieldSet(n); !semanticEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestNodeDetailValidation(t *testing.T) {
	runValidateCases(t, nodeStrategy{}, validNode, []validateCase[*corev1.Node]{
		{"a taint value is a label value", func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "gpu nodes", Effect: corev1.TaintEffectNoSchedule}}
		}, []fieldErr{invalid("spec.taints[0].value")}},
		{"allocatable is not negative", func(n *corev1.Node) { n.Status.Allocatable = resources("memory", "-1Gi") },
			[]fieldErr{invalid("status.allocatable[memory]")}},
		{"a node has at most two pod CIDRs", func(n *corev1.Node) {
			n.Spec.PodCIDRs = []string{"10.244.1.0/24", "fd00:1::/64", "10.245.1.0/24"}
		}, []fieldErr{invalid("spec.podCIDRs")}},
	})
}
