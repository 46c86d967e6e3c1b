package printers_test

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func node(name string, ready corev1.ConditionStatus, labels map[string]string) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, CreationTimestamp: ago(50 * time.Hour)},
		Status: corev1.NodeStatus{
			NodeInfo: corev1.NodeSystemInfo{KubeletVersion: "v1.37.2", OSImage: "Debian GNU/Linux 12 (bookworm)", KernelVersion: "6.1.0-28-amd64", ContainerRuntimeVersion: "containerd://1.6.20"},
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeHostName, Address: name},
				{Type: corev1.NodeInternalIP, Address: "192.168.56.11"},
			},
		},
	}
	if ready != "" {
		n.Status.Conditions = []corev1.NodeCondition{
			{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse},
			{Type: corev1.NodeReady, Status: ready},
		}
	}
	return n
}

func TestNodeColumns(t *testing.T) {
	cordoned := node("cp-1", corev1.ConditionTrue, map[string]string{
		"node-role.kubernetes.io/control-plane": "",
		"node-role.kubernetes.io/etcd":          "true",
		"kubernetes.io/hostname":                "cp-1",
	})
	cordoned.Spec.Unschedulable = true

	bare := node("bare", "", nil)
	bare.Status.NodeInfo = corev1.NodeSystemInfo{}
	bare.Status.Addresses = nil

	tests := []struct {
		name  string
		node  *corev1.Node
		cells map[string]string
	}{
		{"a cordoned control-plane node is Ready,SchedulingDisabled with its roles sorted",
			cordoned,
			map[string]string{"Name": "cp-1", "Status": "Ready,SchedulingDisabled", "Roles": "control-plane,etcd", "Age": "2d2h", "Version": "v1.37.2"}},
		{"a node without role labels has roles <none>",
			node("worker-1", corev1.ConditionTrue, map[string]string{"kubernetes.io/os": "linux"}),
			map[string]string{"Status": "Ready", "Roles": "<none>"}},
		{"a kubernetes.io/role label names a role by its value",
			node("worker-2", corev1.ConditionTrue, map[string]string{"kubernetes.io/role": "worker", "node-role.kubernetes.io/": ""}),
			map[string]string{"Roles": "worker"}},
		{"a node whose Ready condition is false is NotReady",
			node("worker-3", corev1.ConditionFalse, nil),
			map[string]string{"Status": "NotReady"}},
		{"a node whose Ready condition is unknown is NotReady",
			node("worker-4", corev1.ConditionUnknown, nil),
			map[string]string{"Status": "NotReady"}},
		{"a node that never reported is Unknown",
			bare,
			map[string]string{"Status": "Unknown", "Version": ""}},
		{"the wide columns show addresses and system info",
			node("worker-5", corev1.ConditionTrue, nil),
			map[string]string{"Internal-IP": "192.168.56.11", "External-IP": "<none>", "OS-Image": "Debian GNU/Linux 12 (bookworm)", "Kernel-Version": "6.1.0-28-amd64", "Container-Runtime": "containerd://1.6.20"}},
		{"missing system info is <unknown> in the wide columns",
			bare,
			map[string]string{"Internal-IP": "<none>", "OS-Image": "<unknown>", "Kernel-Version": "<unknown>", "Container-Runtime": "<unknown>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := printOne(t, gr("", "nodes"), tt.node)
			for col, want := range tt.cells {
				if got[col] != want {
					t.Errorf("%s = %q, want %q", col, got[col], want)
				}
			}
		})
	}
}
