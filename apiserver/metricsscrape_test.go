package apiserver

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

func TestSummaryUsageIsMetricsServersArithmetic(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	u64 := func(v uint64) *uint64 { return &v }
	cpu := func(ts time.Time, n uint64) *statsv1alpha1.CPUStats {
		return &statsv1alpha1.CPUStats{Time: metav1.NewTime(ts), UsageNanoCores: u64(n)}
	}
	mem := func(ts time.Time, b uint64) *statsv1alpha1.MemoryStats {
		return &statsv1alpha1.MemoryStats{Time: metav1.NewTime(ts), WorkingSetBytes: u64(b)}
	}
	s := &statsv1alpha1.Summary{
		Node: statsv1alpha1.NodeStats{CPU: cpu(t0, 1_234_567), Memory: mem(t0.Add(time.Second), 3<<30)},
		Pods: []statsv1alpha1.PodStats{
			{PodRef: statsv1alpha1.PodReference{Namespace: "ns", Name: "p"}, Containers: []statsv1alpha1.ContainerStats{
				{Name: "a", CPU: cpu(t0, 2_000_000), Memory: mem(t0, 1<<20)},
				{Name: "no-memory", CPU: cpu(t0, 1)},
				{Name: "b", CPU: cpu(t0.Add(2*time.Second), 0), Memory: mem(t0, 0)},
			}},
			{PodRef: statsv1alpha1.PodReference{Namespace: "ns", Name: "nothing"}, Containers: []statsv1alpha1.ContainerStats{{Name: "x"}}},
		},
	}
	node, pods := summaryUsage(s)
	if node == nil || node.usage.Cpu().String() != "1234567n" || node.usage.Memory().String() != "3Gi" || !node.timestamp.Equal(t0.Add(time.Second)) {
		t.Errorf("node usage = %+v", node)
	}
	p, ok := pods[types.NamespacedName{Namespace: "ns", Name: "p"}]
	if !ok || len(p.containers) != 2 || p.containers[0].Name != "a" || p.containers[0].Usage.Cpu().MilliValue() != 2 ||
		p.containers[1].Name != "b" || !p.timestamp.Equal(t0.Add(2*time.Second)) {
		t.Errorf("pod usage = %+v (containers without both numbers are left out)", p)
	}
	if _, ok := pods[types.NamespacedName{Namespace: "ns", Name: "nothing"}]; ok {
		t.Error("a pod without numbers was reported")
	}
	if node, _ := summaryUsage(&statsv1alpha1.Summary{}); node != nil {
		t.Errorf("a node without stats has usage %+v", node)
	}
}

func TestKubeletURLPrefersInternalIPAndDefaultsThePort(t *testing.T) {
	node := &corev1.Node{Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{
		{Type: corev1.NodeHostName, Address: "host-a"}, {Type: corev1.NodeExternalIP, Address: "203.0.113.5"}, {Type: corev1.NodeInternalIP, Address: "10.0.0.5"},
	}}}
	if u, err := kubeletURL(node); err != nil || u.String() != "https://10.0.0.5:10250" {
		t.Errorf("kubelet URL = %v, %v", u, err)
	}
	node.Status.Addresses = node.Status.Addresses[:2]
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = 11250
	if u, err := kubeletURL(node); err != nil || u.String() != "https://203.0.113.5:11250" {
		t.Errorf("kubelet URL without InternalIP = %v, %v", u, err)
	}
	node.Status.Addresses = node.Status.Addresses[:1]
	if u, err := kubeletURL(node); err != nil || u.String() != "https://host-a:11250" {
		t.Errorf("kubelet URL with only a hostname = %v, %v", u, err)
	}
	if _, err := kubeletURL(&corev1.Node{}); err == nil {
		t.Error("a node without addresses has a kubelet URL")
	}
}
