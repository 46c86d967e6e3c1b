package defaultpreemption

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	k8stesting "k8s.io/client-go/testing"

	"github.com/skiffk8s/skiff/scheduler/framework"
)

func TestPostFilter(t *testing.T) {
	cases := []struct {
		name  string
		nodes []*corev1.Node
		pods  []*corev1.Pod // on nodes
		pdbs  []*policyv1.PodDisruptionBudget
		pod   *corev1.Pod
		// unresolvable marks nodes whose Filter status is
		// UnschedulableAndUnresolvable instead of cpuFits's.
		unresolvable []string
		wantNode     string
		wantVictims  []string
		wantCode     framework.Code
		wantMsg      string
	}{
		{
			name:        "the lowest-priority pod that frees enough cpu is the only victim",
			nodes:       []*corev1.Node{makeNode("n1", "2")},
			pods:        []*corev1.Pod{makePod("low", 1, "1").on("n1").obj(), makePod("mid", 5, "1").on("n1").obj()},
			pod:         makePod("p", 10, "1").obj(),
			wantNode:    "n1",
			wantVictims: []string{"low"},
		},
		{
			name:  "as many pods as needed are evicted, the more important ones kept",
			nodes: []*corev1.Node{makeNode("n1", "4")},
			pods: []*corev1.Pod{makePod("a", 1, "1").on("n1").obj(), makePod("b", 2, "1").on("n1").obj(),
				makePod("c", 3, "1").on("n1").obj(), makePod("d", 4, "1").on("n1").obj()},
			pod:         makePod("p", 10, "2").obj(),
			wantNode:    "n1",
			wantVictims: []string{"b", "a"},
		},
		{
			name:  "the node whose most important victim has the lowest priority is chosen",
			nodes: []*corev1.Node{makeNode("n1", "1"), makeNode("n2", "1")},
			pods:  []*corev1.Pod{makePod("mid", 5, "1").on("n1").obj(), makePod("low", 1, "1").on("n2").obj()},
			pod:   makePod("p", 10, "1").obj(), wantNode: "n2", wantVictims: []string{"low"},
		},
		{
			name:  "of equal highest priorities, the node with the smaller sum of victim priorities is chosen",
			nodes: []*corev1.Node{makeNode("n1", "2"), makeNode("n2", "2")},
			pods: []*corev1.Pod{makePod("a1", 1, "1").on("n1").obj(), makePod("a2", 1, "1").on("n1").obj(),
				makePod("b1", 1, "2").on("n2").obj()},
			pod: makePod("p", 10, "2").obj(), wantNode: "n2", wantVictims: []string{"b1"},
		},
		{
			name:  "of otherwise equal nodes, the one whose victim started last is chosen",
			nodes: []*corev1.Node{makeNode("n1", "1"), makeNode("n2", "1")},
			pods: []*corev1.Pod{makePod("old", 1, "1").on("n1").started(time.Hour).obj(),
				makePod("new", 1, "1").on("n2").started(time.Minute).obj()},
			pod: makePod("p", 10, "1").obj(), wantNode: "n2", wantVictims: []string{"new"},
		},
		{
			name:  "of fully tied nodes, the first is chosen",
			nodes: []*corev1.Node{makeNode("n1", "1"), makeNode("n2", "1")},
			pods: []*corev1.Pod{makePod("x", 1, "1").on("n1").started(time.Hour).obj(),
				makePod("y", 1, "1").on("n2").started(time.Hour).obj()},
			pod: makePod("p", 10, "1").obj(), wantNode: "n1", wantVictims: []string{"x"},
		},
		{
			name:     "a pod of higher priority is never a victim",
			nodes:    []*corev1.Node{makeNode("n1", "2")},
			pods:     []*corev1.Pod{makePod("high", 100, "2").on("n1").obj()},
			pod:      makePod("p", 10, "1").obj(),
			wantCode: framework.Unschedulable,
			wantMsg:  "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
		},
		{
			name:     "a pod of equal priority is never a victim",
			nodes:    []*corev1.Node{makeNode("n1", "2")},
			pods:     []*corev1.Pod{makePod("peer", 10, "2").on("n1").obj()},
			pod:      makePod("p", 10, "1").obj(),
			wantCode: framework.Unschedulable,
			wantMsg:  "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
		},
		{
			name:     "higher-priority pods that leave no room keep the node from being a candidate",
			nodes:    []*corev1.Node{makeNode("n1", "2")},
			pods:     []*corev1.Pod{makePod("high", 100, "2").on("n1").obj(), makePod("low", 1, "0").on("n1").obj()},
			pod:      makePod("p", 10, "1").obj(),
			wantCode: framework.Unschedulable,
			wantMsg:  "preemption: 0/1 nodes are available: 1 Insufficient cpu.",
		},
		{
			name:     "a pod with preemptionPolicy Never preempts nothing",
			nodes:    []*corev1.Node{makeNode("n1", "1")},
			pods:     []*corev1.Pod{makePod("low", 1, "1").on("n1").obj()},
			pod:      makePod("p", 10, "1").policy(corev1.PreemptNever).obj(),
			wantCode: framework.Unschedulable,
			wantMsg:  "preemption: not eligible due to preemptionPolicy=Never.",
		},
		{
			name:  "a pod whose budget allows no disruption is kept when another pod can go",
			nodes: []*corev1.Node{makeNode("n1", "2")},
			pods: []*corev1.Pod{makePod("guarded", 1, "1").on("n1").label("app", "db").started(time.Minute).obj(),
				makePod("free", 1, "1").on("n1").started(time.Hour).obj()},
			pdbs:        []*policyv1.PodDisruptionBudget{makePDB("db", "db", 0)},
			pod:         makePod("p", 10, "1").obj(),
			wantNode:    "n1",
			wantVictims: []string{"free"},
		},
		{
			name:  "without a budget the more recently started of equal pods is the victim",
			nodes: []*corev1.Node{makeNode("n1", "2")},
			pods: []*corev1.Pod{makePod("guarded", 1, "1").on("n1").label("app", "db").started(time.Minute).obj(),
				makePod("free", 1, "1").on("n1").started(time.Hour).obj()},
			pod:         makePod("p", 10, "1").obj(),
			wantNode:    "n1",
			wantVictims: []string{"guarded"},
		},
		{
			name:  "a node where no budget is violated is preferred to one of lower victim priority",
			nodes: []*corev1.Node{makeNode("n1", "1"), makeNode("n2", "1")},
			pods: []*corev1.Pod{makePod("guarded", 1, "1").on("n1").label("app", "db").obj(),
				makePod("free", 5, "1").on("n2").obj()},
			pdbs:        []*policyv1.PodDisruptionBudget{makePDB("db", "db", 0)},
			pod:         makePod("p", 10, "1").obj(),
			wantNode:    "n2",
			wantVictims: []string{"free"},
		},
		{
			name:        "a budget with disruptions left does not protect its pod",
			nodes:       []*corev1.Node{makeNode("n1", "1"), makeNode("n2", "1")},
			pods:        []*corev1.Pod{makePod("guarded", 1, "1").on("n1").label("app", "db").obj(), makePod("free", 5, "1").on("n2").obj()},
			pdbs:        []*policyv1.PodDisruptionBudget{makePDB("db", "db", 1)},
			pod:         makePod("p", 10, "1").obj(),
			wantNode:    "n1",
			wantVictims: []string{"guarded"},
		},
		{
			name:        "a pod is evicted despite its budget when nothing else helps",
			nodes:       []*corev1.Node{makeNode("n1", "1")},
			pods:        []*corev1.Pod{makePod("guarded", 1, "1").on("n1").label("app", "db").obj()},
			pdbs:        []*policyv1.PodDisruptionBudget{makePDB("db", "db", 0)},
			pod:         makePod("p", 10, "1").obj(),
			wantNode:    "n1",
			wantVictims: []string{"guarded"},
		},
		{
			name:         "a node UnschedulableAndUnresolvable is not a candidate",
			nodes:        []*corev1.Node{makeNode("n1", "1"), makeNode("n2", "1")},
			pods:         []*corev1.Pod{makePod("low", 1, "1").on("n1").obj(), makePod("high", 100, "1").on("n2").obj()},
			pod:          makePod("p", 10, "1").obj(),
			unresolvable: []string{"n1"},
			wantCode:     framework.Unschedulable,
			wantMsg:      "preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling.",
		},
		{
			name:     "a pod nominated to a node whose victims are still terminating does not preempt again",
			nodes:    []*corev1.Node{makeNode("n1", "1"), makeNode("n2", "1")},
			pods:     []*corev1.Pod{makePod("going", 1, "1").on("n1").terminatingByPreemption().obj(), makePod("low", 1, "1").on("n2").obj()},
			pod:      makePod("p", 10, "1").nominated("n1").obj(),
			wantCode: framework.Unschedulable,
			wantMsg:  "preemption: not eligible due to a terminating pod on the nominated node.",
		},
		{
			name:  "a pod nominated to a node that now rejects it for good preempts elsewhere",
			nodes: []*corev1.Node{makeNode("n1", "1"), makeNode("n2", "1")},
			pods: []*corev1.Pod{makePod("going", 1, "1").on("n1").terminatingByPreemption().obj(),
				makePod("low", 1, "1").on("n2").obj()},
			pod:          makePod("p", 10, "1").nominated("n1").obj(),
			unresolvable: []string{"n1"},
			wantNode:     "n2",
			wantVictims:  []string{"low"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pl, h := newPlugin(t, cluster{nodes: tc.nodes, pods: append(slices.Clone(tc.pods), tc.pod), pdbs: tc.pdbs}, nil)
			filtered := filterStatuses(h.snapshot, tc.pod)
			for _, n := range tc.unresolvable {
				filtered[n] = framework.NewStatus(framework.UnschedulableAndUnresolvable, "node(s) didn't match Pod's node affinity/selector")
			}
			res, s := pl.PostFilter(context.Background(), framework.NewCycleState(), tc.pod, filtered)
			if tc.wantNode == "" {
				if s.Code() != tc.wantCode || s.Message() != tc.wantMsg {
					t.Fatalf("got status %v, want %v: %q", s, tc.wantCode, tc.wantMsg)
				}
				if res != nil && res.NominatedNodeName != "" {
					t.Fatalf("nominated %q, want none", res.NominatedNodeName)
				}
				if got := deleted(h); len(got) > 0 {
					t.Fatalf("deleted %v, want nothing", got)
				}
				return
			}
			if s.Code() != framework.Unschedulable || s.Message() != "" {
				t.Fatalf("got status %v, want Unschedulable without reasons", s)
			}
			if res == nil || res.NominatedNodeName != tc.wantNode {
				t.Fatalf("got result %+v, want node %s", res, tc.wantNode)
			}
			if got := deleted(h); !slices.Equal(got, tc.wantVictims) {
				t.Fatalf("deleted %v, want %v", got, tc.wantVictims)
			}
		})
	}
}

// deleted is the names of the pods deleted through the API, in order.
func deleted(h *fakeHandle) []string {
	var out []string
	for _, a := range h.client.Actions() {
		if d, ok := a.(k8stesting.DeleteAction); ok && a.GetVerb() == "delete" {
			out = append(out, d.GetName())
		}
	}
	return out
}

// TestDryRunStopsAtEnoughCandidates: with minCandidateNodesAbsolute 2 and
// no percentage, only two of four possible nodes are simulated, starting
// at the offset.
func TestDryRunStopsAtEnoughCandidates(t *testing.T) {
	var nodes []*corev1.Node
	var pods []*corev1.Pod
	for _, n := range []string{"n1", "n2", "n3", "n4"} {
		nodes = append(nodes, makeNode(n, "1"))
		pods = append(pods, makePod("low-"+n, 1, "1").on(n).obj())
	}
	pod := makePod("p", 10, "1").obj()
	pl, h := newPlugin(t, cluster{nodes: nodes, pods: append(pods, pod)}, []byte(`{"minCandidateNodesPercentage":0,"minCandidateNodesAbsolute":2}`))
	pl.offset = func(n int32) int32 {
		if n != 4 {
			t.Errorf("offset asked for %d nodes, want 4", n)
		}
		return 3
	}
	all, _ := h.snapshot.List()
	cands, _, err := pl.findCandidates(context.Background(), framework.NewCycleState(), pod, all, filterStatuses(h.snapshot, pod))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cands {
		got = append(got, c.node)
	}
	if want := []string{"n4", "n1"}; !slices.Equal(got, want) {
		t.Fatalf("candidates %v, want %v", got, want)
	}
}

// TestParallelDryRun: simulated on goroutines, the choice is the same:
// the node whose victim has the lowest priority.
func TestParallelDryRun(t *testing.T) {
	var nodes []*corev1.Node
	var pods []*corev1.Pod
	for i := range 20 {
		n := fmt.Sprintf("n%02d", i)
		nodes = append(nodes, makeNode(n, "1"))
		pods = append(pods, makePod("v-"+n, int32(20-i), "1").on(n).obj())
	}
	pod := makePod("p", 100, "1").obj()
	pl, h := newPlugin(t, cluster{nodes: nodes, pods: append(pods, pod)}, nil)
	h.parallel = onGoroutines{}
	res, _ := pl.PostFilter(context.Background(), framework.NewCycleState(), pod, filterStatuses(h.snapshot, pod))
	if res == nil || res.NominatedNodeName != "n19" {
		t.Fatalf("got %+v, want n19", res)
	}
	if got := deleted(h); !slices.Equal(got, []string{"v-n19"}) {
		t.Fatalf("deleted %v, want [v-n19]", got)
	}
}
