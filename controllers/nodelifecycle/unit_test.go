package nodelifecycle

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	testclock "k8s.io/utils/clock/testing"

	"github.com/skiffk8s/skiff/controllers/internal/ctrltest"
)

func secs(n int64) *int64 { return &n }

func TestEvictionDelay(t *testing.T) {
	unreachable := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}
	dedicated := corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoExecute}
	tol := func(key string, s *int64) corev1.Toleration {
		return corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: s}
	}
	for _, tc := range []struct {
		name   string
		taints []corev1.Taint
		tols   []corev1.Toleration
		evict  bool
		delay  time.Duration
	}{
		{"a pod without tolerations goes at once", []corev1.Taint{unreachable}, nil, true, 0},
		{"a pod tolerating for 30 s goes after 30 s", []corev1.Taint{unreachable}, []corev1.Toleration{tol(corev1.TaintNodeUnreachable, secs(30))}, true, 30 * time.Second},
		{"a pod tolerating forever stays", []corev1.Taint{unreachable}, []corev1.Toleration{tol(corev1.TaintNodeUnreachable, nil)}, false, 0},
		{"the smallest tolerationSeconds wins", []corev1.Taint{unreachable, dedicated},
			[]corev1.Toleration{tol(corev1.TaintNodeUnreachable, secs(300)), tol("dedicated", secs(60))}, true, 60 * time.Second},
		{"one untolerated taint means at once", []corev1.Taint{unreachable, dedicated}, []corev1.Toleration{tol(corev1.TaintNodeUnreachable, secs(300))}, true, 0},
		{"NoSchedule taints evict nobody", []corev1.Taint{{Key: "x", Effect: corev1.TaintEffectNoSchedule}}, nil, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evict, delay := EvictionDelay(tc.taints, tc.tols)
			if evict != tc.evict || delay != tc.delay {
				t.Errorf("got %v after %v, want %v after %v", evict, delay, tc.evict, tc.delay)
			}
		})
	}
}

func TestConditionTaints(t *testing.T) {
	n := &corev1.Node{Spec: corev1.NodeSpec{Unschedulable: true}, Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
		{Type: corev1.NodeReady, Status: corev1.ConditionFalse},
		{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionTrue},
		{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse},
		{Type: corev1.NodePIDPressure, Status: corev1.ConditionUnknown},
		{Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionTrue},
	}}}
	got := map[string]bool{}
	for _, tt := range ConditionTaints(n) {
		if tt.Effect != corev1.TaintEffectNoSchedule {
			t.Errorf("effect %s", tt.Effect)
		}
		got[tt.Key] = true
	}
	want := []string{corev1.TaintNodeNotReady, corev1.TaintNodeMemoryPressure, corev1.TaintNodeNetworkUnavailable, corev1.TaintNodeUnschedulable}
	if len(got) != len(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, k := range want {
		if !got[k] {
			t.Errorf("missing %s in %v", k, got)
		}
	}
}

func TestZoneState(t *testing.T) {
	c := &Controller{opts: DefaultOptions()}
	T, F, U := corev1.ConditionTrue, corev1.ConditionFalse, corev1.ConditionUnknown
	for _, tc := range []struct {
		name  string
		ready []corev1.ConditionStatus
		want  zoneState
	}{
		{"a zone with no ready node is fully disrupted", []corev1.ConditionStatus{F, U}, stateFullDisruption},
		{"two not-ready nodes never make a partial disruption", []corev1.ConditionStatus{F, U, T}, stateNormal},
		{"three of four not ready is a partial disruption", []corev1.ConditionStatus{F, U, U, T}, statePartialDisruption},
		{"three of ten not ready is normal", []corev1.ConditionStatus{F, U, U, T, T, T, T, T, T, T}, stateNormal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := c.computeState(tc.ready); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
	if r := c.rateFor(statePartialDisruption, 10); r != 0 {
		t.Errorf("small partially disrupted zone rate %v, want 0", r)
	}
	if r := c.rateFor(statePartialDisruption, 100); r != 0.01 {
		t.Errorf("large partially disrupted zone rate %v, want 0.01", r)
	}
}

// TestTaintingIsRateLimitedPerZone: two silent nodes of one zone (with
// healthy ones beside them) are tainted 10 s apart at 0.1 nodes/s.
func TestTaintingIsRateLimitedPerZone(t *testing.T) {
	clk := testclock.NewFakeClock(time.Now())
	var nodes []*corev1.Node
	for _, name := range []string{"a", "b", "c", "d", "e"} {
		st := corev1.ConditionTrue
		if name == "a" || name == "b" {
			st = corev1.ConditionUnknown
		}
		nodes = append(nodes, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelTopologyZone: "z"}},
			Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: st}}}})
	}
	client := fake.NewClientset(nodes[0], nodes[1], nodes[2], nodes[3], nodes[4])
	c := ctrltest.Context(t, client, Name, clk, nil)
	ctl, err := New(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		_ = c.Informers.Core().V1().Nodes().Informer().GetIndexer().Add(n)
	}
	x := ctl.(*Controller)
	ctx := context.Background()
	x.monitor(ctx)
	client.ClearActions()
	tainted := func() int {
		n := 0
		for _, a := range client.Actions() {
			if u, ok := a.(k8stesting.UpdateAction); ok && a.GetSubresource() == "" {
				if node, ok := u.GetObject().(*corev1.Node); ok && hasTaint(node.Spec.Taints, unreachableTaint) {
					n++
				}
			}
		}
		return n
	}
	x.taintPass(ctx)
	if got := tainted(); got != 1 {
		t.Fatalf("first pass tainted %d nodes, want 1", got)
	}
	clk.Step(5 * time.Second)
	x.taintPass(ctx)
	if got := tainted(); got != 1 {
		t.Fatalf("after 5 s %d nodes tainted, want 1", got)
	}
	clk.Step(5 * time.Second)
	x.taintPass(ctx)
	if got := tainted(); got != 2 {
		t.Fatalf("after 10 s %d nodes tainted, want 2", got)
	}
}

func TestSyncPodDeletesAtOnceWithoutToleration(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}, Spec: corev1.NodeSpec{Taints: []corev1.Taint{unreachableTaint}}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u"}, Spec: corev1.PodSpec{NodeName: "n"}}
	client := fake.NewClientset(node, pod)
	c := ctrltest.Context(t, client, Name, testclock.NewFakeClock(time.Now()), nil)
	ctl, err := New(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Informers.Core().V1().Nodes().Informer().GetIndexer().Add(node)
	_ = c.Informers.Core().V1().Pods().Informer().GetIndexer().Add(pod)
	client.ClearActions()
	if err := ctl.(*Controller).syncPod(context.Background(), "ns/p"); err != nil {
		t.Fatal(err)
	}
	var acts []k8stesting.Action // events are written asynchronously: look at pods only
	for _, a := range client.Actions() {
		if a.GetResource().Resource == "pods" {
			acts = append(acts, a)
		}
	}
	if len(acts) != 2 || !acts[0].Matches("update", "pods") || acts[0].GetSubresource() != "status" || !acts[1].Matches("delete", "pods") {
		t.Fatalf("actions: %v", acts)
	}
	st := acts[0].(k8stesting.UpdateAction).GetObject().(*corev1.Pod).Status.Conditions
	if len(st) != 1 || st[0].Type != corev1.DisruptionTarget || st[0].Reason != "DeletionByTaintManager" {
		t.Errorf("conditions: %+v", st)
	}
}
