package noderesources

import (
	"context"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiffk8s/skiff/scheduler/framework"
	pt "github.com/skiffk8s/skiff/scheduler/plugins/plugintest"
)

func newFit(t *testing.T, args string) *Fit {
	t.Helper()
	return pt.MustNew[*Fit](t, NewFit, nil, args)
}

func TestFitFilter(t *testing.T) {
	unsched := func(reasons ...string) *framework.Status {
		return framework.NewStatus(framework.Unschedulable, reasons...)
	}
	unresolvable := func(reasons ...string) *framework.Status {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, reasons...)
	}
	// node has 10 cpu, 20 bytes of memory, 4 pods, 100 bytes of
	// ephemeral storage and 4 example.com/foo; a pod on it uses 5 cpu and
	// 19 bytes.
	node := pt.MakeNode("n").Capacity("cpu", "10", "memory", "20", "pods", "4", "ephemeral-storage", "100", "example.com/foo", "4").Obj()
	busy := pt.MakePod("busy").Req("cpu", "5", "memory", "19").Obj()
	tests := []struct {
		name string
		args string
		pod  *corev1.Pod
		on   []*corev1.Pod
		want *framework.Status
	}{
		{"a pod requesting nothing fits", "", pt.MakePod("p").Obj(), []*corev1.Pod{busy}, nil},
		{"a pod asking for what is free fits", "", pt.MakePod("p").Req("cpu", "5", "memory", "1").Obj(), []*corev1.Pod{busy}, nil},
		{"a pod asking for more cpu than is free does not fit", "",
			pt.MakePod("p").Req("cpu", "6", "memory", "1").Obj(), []*corev1.Pod{busy}, unsched("Insufficient cpu")},
		{"a pod short of cpu and memory gets both reasons", "",
			pt.MakePod("p").Req("cpu", "6", "memory", "2").Obj(), []*corev1.Pod{busy}, unsched("Insufficient cpu", "Insufficient memory")},
		{"a pod asking for more than the node's whole allocatable is unresolvable", "",
			pt.MakePod("p").Req("cpu", "11").Obj(), nil, unresolvable("Insufficient cpu")},
		{"the largest init container counts when it exceeds the containers", "",
			pt.MakePod("p").Req("cpu", "1").InitReq("cpu", "6").Obj(), []*corev1.Pod{busy}, unsched("Insufficient cpu")},
		{"sidecars add to the containers", "",
			pt.MakePod("p").Req("cpu", "3").SidecarReq("cpu", "3").Obj(), []*corev1.Pod{busy}, unsched("Insufficient cpu")},
		{"the pod's overhead counts", "",
			pt.MakePod("p").Req("cpu", "4").Overhead("cpu", "2").Obj(), []*corev1.Pod{busy}, unsched("Insufficient cpu")},
		{"a node holding as many pods as it allows takes no more, even an empty pod", "",
			pt.MakePod("p").Obj(), []*corev1.Pod{pt.MakePod("a").Obj(), pt.MakePod("b").Obj(), pt.MakePod("c").Obj(), pt.MakePod("d").Obj()},
			unsched("Too many pods")},
		{"a full node short of cpu too gets both reasons", "",
			pt.MakePod("p").Req("cpu", "7").Obj(), []*corev1.Pod{busy, pt.MakePod("b").Obj(), pt.MakePod("c").Obj(), pt.MakePod("d").Obj()},
			unsched("Too many pods", "Insufficient cpu")},
		{"a pod asking for more ephemeral storage than is free does not fit", "",
			pt.MakePod("p").Req("ephemeral-storage", "60").Obj(), []*corev1.Pod{pt.MakePod("o").Req("ephemeral-storage", "50").Obj()},
			unsched("Insufficient ephemeral-storage")},
		{"a pod asking for more of an extended resource than is free does not fit", "",
			pt.MakePod("p").Req("example.com/foo", "3").Obj(), []*corev1.Pod{pt.MakePod("o").Req("example.com/foo", "2").Obj()},
			unsched("Insufficient example.com/foo")},
		{"a pod asking for an extended resource the node lacks is unresolvable", "",
			pt.MakePod("p").Req("example.com/bar", "1").Obj(), nil, unresolvable("Insufficient example.com/bar")},
		{"an ignored extended resource is not checked", `{"ignoredResources":["example.com/bar"]}`,
			pt.MakePod("p").Req("example.com/bar", "1").Obj(), nil, nil},
		{"an ignored resource group is not checked", `{"ignoredResourceGroups":["example.com"]}`,
			pt.MakePod("p").Req("example.com/bar", "1").Obj(), nil, nil},
		{"ignoring a group does not ignore other groups", `{"ignoredResourceGroups":["example.org"]}`,
			pt.MakePod("p").Req("example.com/bar", "1").Obj(), nil, unresolvable("Insufficient example.com/bar")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl, state := newFit(t, tt.args), framework.NewCycleState()
			if _, st := pl.PreFilter(context.Background(), state, tt.pod, nil); !st.IsSuccess() {
				t.Fatalf("PreFilter = %v", st)
			}
			got := pl.Filter(context.Background(), state, tt.pod, pt.NodeInfo(node, tt.on...))
			if !pt.SameStatus(got, tt.want) {
				t.Errorf("Filter = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFitFilterWithoutPreFilterIsAnError(t *testing.T) {
	st := newFit(t, "").Filter(context.Background(), framework.NewCycleState(), pt.MakePod("p").Obj(), pt.NodeInfo(pt.MakeNode("n").Obj()))
	if st.Code() != framework.Error {
		t.Errorf("Filter = %v, want Error", st)
	}
}

// scoreNodes runs PreScore and Score of pl for pod on each node (with the
// pods bound to it by spec.nodeName) and returns the scores.
func scoreNodes(t *testing.T, pl framework.ScorePlugin, pod *corev1.Pod, nodes []*corev1.Node, pods ...*corev1.Pod) []int64 {
	t.Helper()
	ctx, state := context.Background(), framework.NewCycleState()
	snap := framework.NewSnapshot(nodes, pods)
	if st := pl.(framework.PreScorePlugin).PreScore(ctx, state, pod, snap.Nodes); !st.IsSuccess() {
		t.Fatalf("PreScore = %v", st)
	}
	var out []int64
	for _, ni := range snap.Nodes {
		s, st := pl.Score(ctx, state, pod, ni)
		if !st.IsSuccess() {
			t.Fatalf("Score = %v", st)
		}
		out = append(out, s)
	}
	return out
}

func TestFitScore(t *testing.T) {
	small := pt.MakeNode("n1").Capacity("cpu", "4000m", "memory", "10000").Obj()
	large := pt.MakeNode("n2").Capacity("cpu", "6000m", "memory", "10000").Obj()
	pod := pt.MakePod("p").Req("cpu", "1000m", "memory", "2000").Req("cpu", "2000m", "memory", "3000").Obj()
	rtcr := func(shape string) string {
		return `{"scoringStrategy":{"type":"RequestedToCapacityRatio","requestedToCapacityRatio":{"shape":` + shape + `}}}`
	}
	tests := []struct {
		name  string
		args  string
		pod   *corev1.Pod
		nodes []*corev1.Node
		on    []*corev1.Pod
		want  []int64
	}{
		{"LeastAllocated favours the node with more free, averaging cpu and memory", "",
			pod, []*corev1.Node{small, large}, nil, []int64{37, 50}},
		{"LeastAllocated counts the pods already on the node", "",
			pod, []*corev1.Node{small, large}, []*corev1.Pod{pt.MakePod("o").Node("n2").Req("cpu", "3000m", "memory", "5000").Obj()}, []int64{37, 0}},
		{"LeastAllocated weighs resources by their weights",
			`{"scoringStrategy":{"type":"LeastAllocated","resources":[{"name":"cpu","weight":3},{"name":"memory","weight":1}]}}`,
			pod, []*corev1.Node{small, large}, nil, []int64{31, 50}},
		{"a pod requesting nothing is scored as requesting 100m cpu and 200Mi memory", "",
			pt.MakePod("p").Req().Obj(), []*corev1.Node{pt.MakeNode("n").Capacity("cpu", "4", "memory", "1Gi").Obj()}, nil, []int64{88}},
		{"MostAllocated favours the fuller node", `{"scoringStrategy":{"type":"MostAllocated"}}`,
			pod, []*corev1.Node{small, large}, nil, []int64{62, 50}},
		{"MostAllocated caps a resource at its allocatable", `{"scoringStrategy":{"type":"MostAllocated"}}`,
			pt.MakePod("p").Req("cpu", "8", "memory", "5000").Obj(), []*corev1.Node{small}, nil, []int64{75}},
		{"RequestedToCapacityRatio interpolates the shape and rounds the mean", rtcr(`[{"utilization":0,"score":10},{"utilization":100,"score":0}]`),
			pod, []*corev1.Node{small, large}, nil, []int64{38, 50}},
		{"RequestedToCapacityRatio with a bin-packing shape favours the fuller node", rtcr(`[{"utilization":0,"score":0},{"utilization":100,"score":10}]`),
			pod, []*corev1.Node{small, large}, nil, []int64{63, 50}},
		{"RequestedToCapacityRatio is flat past the last point", rtcr(`[{"utilization":20,"score":2},{"utilization":50,"score":8}]`),
			pod, []*corev1.Node{small, large}, nil, []int64{80, 80}},
		{"RequestedToCapacityRatio scores an extended resource and skips nodes without it",
			`{"scoringStrategy":{"type":"RequestedToCapacityRatio","resources":[{"name":"example.com/foo","weight":1}],"requestedToCapacityRatio":{"shape":[{"utilization":0,"score":0},{"utilization":100,"score":10}]}}}`,
			pt.MakePod("p").Req("example.com/foo", "1").Obj(),
			[]*corev1.Node{pt.MakeNode("n1").Capacity("example.com/foo", "4").Obj(), pt.MakeNode("n2").Obj()},
			[]*corev1.Pod{pt.MakePod("o").Node("n1").Req("example.com/foo", "2").Obj()}, []int64{75, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := scoreNodes(t, newFit(t, tt.args), tt.pod, tt.nodes, tt.on...); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("scores = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFitArgsErrorsNameTheField(t *testing.T) {
	tests := []struct{ name, args, want string }{
		{"an unknown field is an error", `{"scoringStrateg":{}}`, `unknown field "scoringStrateg"`},
		{"an unknown strategy is an error naming the supported ones", `{"scoringStrategy":{"type":"Foo"}}`,
			`scoringStrategy.type: Unsupported value: "Foo": supported values: "LeastAllocated", "MostAllocated", "RequestedToCapacityRatio"`},
		{"a weight above 100 is an error", `{"scoringStrategy":{"type":"LeastAllocated","resources":[{"name":"cpu","weight":101}]}}`,
			`scoringStrategy.resources[0].weight: Invalid value: 101: resource weight of cpu should be in range 1-100`},
		{"RequestedToCapacityRatio needs its parameters", `{"scoringStrategy":{"type":"RequestedToCapacityRatio"}}`,
			`scoringStrategy.requestedToCapacityRatio: Required value`},
		{"shape points must be sorted by utilization",
			`{"scoringStrategy":{"type":"RequestedToCapacityRatio","requestedToCapacityRatio":{"shape":[{"utilization":50,"score":1},{"utilization":10,"score":2}]}}}`,
			`scoringStrategy.requestedToCapacityRatio.shape[1].utilization: Invalid value: 10: utilization values must be sorted in increasing order`},
		{"shape scores above 10 are an error",
			`{"scoringStrategy":{"type":"RequestedToCapacityRatio","requestedToCapacityRatio":{"shape":[{"utilization":50,"score":11}]}}}`,
			`scoringStrategy.requestedToCapacityRatio.shape[0].score: Invalid value: 11: not in valid range [0, 10]`},
		{"an empty shape is an error",
			`{"scoringStrategy":{"type":"RequestedToCapacityRatio","requestedToCapacityRatio":{"shape":[]}}}`,
			`scoringStrategy.requestedToCapacityRatio.shape: Required value: at least one point must be specified`},
		{"a resource group with a slash is an error", `{"ignoredResourceGroups":["example.com/foo"]}`,
			`ignoredResourceGroups[0]: Invalid value: "example.com/foo": resource group name can't contain '/'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewFit(context.Background(), []byte(tt.args), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewFit error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestFitEventsToRegister(t *testing.T) {
	want := []framework.ClusterEvent{
		{Resource: framework.PodResource, ActionType: framework.Delete | framework.UpdatePodScaleDown},
		{Resource: framework.NodeResource, ActionType: framework.Add | framework.UpdateNodeAllocatable | framework.UpdateNodeTaint | framework.UpdateNodeLabel},
	}
	if got := newFit(t, "").EventsToRegister(); !reflect.DeepEqual(got, want) {
		t.Errorf("EventsToRegister = %v, want %v", got, want)
	}
}
