package cache

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/skiffk8s/skiff/scheduler/framework"
)

func testNode(name string, images ...string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	n.Status.Allocatable = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")}
	for _, img := range images {
		n.Status.Images = append(n.Status.Images, corev1.ContainerImage{Names: []string{img}, SizeBytes: 1000})
	}
	return n
}

func testPod(name, nodeName string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(name)},
		Spec: corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{{Name: "c",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}}}},
	}
}

func requestedCPU(t *testing.T, c *Cache, s *Snapshot, node string) int64 {
	t.Helper()
	c.UpdateSnapshot(s)
	ni, err := s.NodeInfos().Get(node)
	if err != nil {
		t.Fatal(err)
	}
	return ni.Requested.MilliCPU
}

func TestAnAssumedPodCountsOnItsNodeUntilForgotten(t *testing.T) {
	c := New(clocktesting.NewFakeClock(time.Unix(0, 0)), time.Minute)
	s := NewEmptySnapshot()
	c.AddNode(testNode("n1"))
	p := testPod("p", "n1")
	if err := c.AssumePod(p); err != nil {
		t.Fatal(err)
	}
	if got := requestedCPU(t, c, s, "n1"); got != 1000 {
		t.Fatalf("requested cpu with the assumed pod = %dm, want 1000m", got)
	}
	c.ForgetPod(p)
	if got := requestedCPU(t, c, s, "n1"); got != 0 {
		t.Fatalf("requested cpu after forgetting = %dm, want 0", got)
	}
}

func TestAnAssumedPodExpiresAfterItsTTLOnlyOnceBindingFinished(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(0, 0))
	c := New(clk, time.Minute)
	c.AddNode(testNode("n1"))
	p := testPod("p", "n1")
	_ = c.AssumePod(p)
	clk.Step(time.Hour)
	if got := c.CleanupExpiredAssumedPods(); len(got) != 0 {
		t.Fatalf("a pod still binding expired")
	}
	c.FinishBinding(p)
	clk.Step(59 * time.Second)
	if got := c.CleanupExpiredAssumedPods(); len(got) != 0 {
		t.Fatalf("expired before its TTL")
	}
	clk.Step(2 * time.Second)
	if got := c.CleanupExpiredAssumedPods(); len(got) != 1 || c.IsAssumed(p) {
		t.Fatalf("did not expire after its TTL")
	}
}

func TestTheInformerConfirmsAnAssumedPodWhichThenNeverExpires(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(0, 0))
	c := New(clk, time.Minute)
	s := NewEmptySnapshot()
	c.AddNode(testNode("n1"))
	p := testPod("p", "n1")
	_ = c.AssumePod(p)
	c.FinishBinding(p)
	c.AddPod(p)
	clk.Step(time.Hour)
	if got := c.CleanupExpiredAssumedPods(); len(got) != 0 || c.IsAssumed(p) {
		t.Fatalf("a confirmed pod expired or stayed assumed")
	}
	if got := requestedCPU(t, c, s, "n1"); got != 1000 {
		t.Fatalf("requested cpu = %dm, want the pod counted once (1000m)", got)
	}
}

func TestTheSnapshotCopiesOnlyNodesThatChanged(t *testing.T) {
	c := New(clocktesting.NewFakeClock(time.Unix(0, 0)), 0)
	s := NewEmptySnapshot()
	c.AddNode(testNode("n1"))
	c.AddNode(testNode("n2"))
	c.UpdateSnapshot(s)
	n1, _ := s.NodeInfos().Get("n1")
	n2, _ := s.NodeInfos().Get("n2")
	c.AddPod(testPod("p", "n2"))
	c.UpdateSnapshot(s)
	n1After, _ := s.NodeInfos().Get("n1")
	n2After, _ := s.NodeInfos().Get("n2")
	if n1After != n1 {
		t.Errorf("unchanged node n1 was copied again")
	}
	if n2After == n2 || len(n2After.Pods) != 1 || len(n2.Pods) != 0 {
		t.Errorf("changed node n2 was not re-copied (old snapshot copy must not change)")
	}
	if nodes, _ := s.NodeInfos().List(); len(nodes) != 2 {
		t.Errorf("snapshot lists %d nodes, want 2", len(nodes))
	}
}

func TestADeletedNodeLeavesTheSnapshotButItsPodsStayUntilDeleted(t *testing.T) {
	c := New(clocktesting.NewFakeClock(time.Unix(0, 0)), 0)
	s := NewEmptySnapshot()
	n := testNode("n1")
	c.AddNode(n)
	c.AddPod(testPod("p", "n1"))
	c.RemoveNode(n)
	c.UpdateSnapshot(s)
	if s.NumNodes() != 0 {
		t.Fatalf("deleted node is still in the snapshot")
	}
	if _, pods := c.Counts(); pods != 1 {
		t.Fatalf("pods = %d, want the pod kept", pods)
	}
	c.AddNode(n)
	if got := requestedCPU(t, c, s, "n1"); got != 1000 {
		t.Fatalf("node re-added: requested = %dm, want its pod counted", got)
	}
	c.RemovePod(testPod("p", "n1"))
	c.RemoveNode(n)
	if nodes, pods := c.Counts(); nodes != 0 || pods != 0 {
		t.Fatalf("counts = %d nodes, %d pods, want 0, 0", nodes, pods)
	}
}

func TestImageStatesCountTheNodesHoldingEachImage(t *testing.T) {
	c := New(clocktesting.NewFakeClock(time.Unix(0, 0)), 0)
	s := NewEmptySnapshot()
	c.AddNode(testNode("n1", "nginx"))
	c.UpdateSnapshot(s)
	c.AddNode(testNode("n2", "nginx", "redis"))
	c.UpdateSnapshot(s)
	n1, _ := s.NodeInfos().Get("n1")
	n2, _ := s.NodeInfos().Get("n2")
	if got := n1.ImageStates["nginx"].NumNodes; got != 2 {
		t.Errorf("n1 nginx NumNodes = %d, want 2", got)
	}
	if got := n2.ImageStates["redis"].NumNodes; got != 1 {
		t.Errorf("n2 redis NumNodes = %d, want 1", got)
	}
}

func TestAnIncrementalSnapshotKeepsTheNodeOrderAndTheAffinityLists(t *testing.T) {
	c := New(clocktesting.NewFakeClock(time.Unix(0, 0)), 0)
	s := NewEmptySnapshot()
	for _, n := range []string{"n1", "n2", "n3"} {
		c.AddNode(testNode(n))
	}
	c.UpdateSnapshot(s)
	anti := testPod("anti", "n2")
	anti.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
		TopologyKey: corev1.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}},
	}}}}
	c.AddPod(anti)
	c.UpdateSnapshot(s)
	names := func(nis []*framework.NodeInfo) (out []string) {
		for _, ni := range nis {
			out = append(out, ni.Node().Name)
		}
		return out
	}
	all, _ := s.NodeInfos().List()
	withAnti, _ := s.NodeInfos().HavePodsWithRequiredAntiAffinityList()
	withAff, _ := s.NodeInfos().HavePodsWithAffinityList()
	n2, _ := s.NodeInfos().Get("n2")
	if got := fmt.Sprint(names(all), names(withAnti), names(withAff)); got != "[n1 n2 n3] [n2] [n2]" {
		t.Errorf("nodes, with anti-affinity, with affinity = %s, want [n1 n2 n3] [n2] [n2]", got)
	}
	if len(n2.Pods) != 1 || withAnti[0] != n2 {
		t.Errorf("the lists do not hold the new copy of n2")
	}
	c.RemovePod(anti)
	c.UpdateSnapshot(s)
	if withAnti, _ := s.NodeInfos().HavePodsWithRequiredAntiAffinityList(); len(withAnti) != 0 {
		t.Errorf("after the pod left: with anti-affinity = %v, want none", names(withAnti))
	}
}
