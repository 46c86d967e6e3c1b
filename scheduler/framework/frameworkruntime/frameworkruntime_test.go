package frameworkruntime

import (
	"context"
	"errors"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/skiffk8s/skiff/scheduler/framework"
)

func TestNumFeasibleNodesToFind(t *testing.T) {
	for _, tc := range []struct {
		name       string
		percentage int32
		nodes      int32
		want       int32
	}{
		{"fewer than 100 nodes are all filtered", 0, 99, 99},
		{"100 nodes are all filtered", 0, 100, 100},
		{"1000 nodes adaptively look for 42 percent", 0, 1000, 420},
		{"5000 nodes adaptively look for 10 percent", 0, 5000, 500},
		{"6000 nodes floor the adaptive percentage at 5", 0, 6000, 300},
		{"a small percentage still finds 100 nodes", 1, 1000, 100},
		{"a configured 30 percent of 1000 nodes is 300", 30, 1000, 300},
		{"100 percent filters every node", 100, 1000, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := NumFeasibleNodesToFind(tc.percentage, tc.nodes); got != tc.want {
				t.Errorf("NumFeasibleNodesToFind(%d, %d) = %d, want %d", tc.percentage, tc.nodes, got, tc.want)
			}
		})
	}
}

func statuses(reasons ...string) framework.NodeToStatusMap {
	m := framework.NodeToStatusMap{}
	for i, r := range reasons {
		m[fmt.Sprintf("n%d", i)] = framework.NewStatus(framework.Unschedulable, r)
	}
	return m
}

func TestFitErrorMessage(t *testing.T) {
	taint := "node(s) had untolerated taint {key: value}"
	for _, tc := range []struct {
		name string
		err  FitError
		want string
	}{
		{
			name: "reasons are counted across nodes and sorted",
			err:  FitError{NumAllNodes: 3, Diagnosis: Diagnosis{NodeToStatus: statuses(taint, "Insufficient cpu", taint)}},
			want: "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {key: value}.",
		},
		{
			name: "the preemption message follows when a PostFilter ran",
			err: FitError{NumAllNodes: 3, Diagnosis: Diagnosis{NodeToStatus: statuses(taint, "Insufficient cpu", taint),
				PostFilterMsg: "preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod"}},
			want: "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {key: value}. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.",
		},
		{
			name: "a PreFilter rejection replaces the per-node counts",
			err: FitError{NumAllNodes: 2, Diagnosis: Diagnosis{NodeToStatus: statuses("x", "x"),
				PreFilterMsg: "node(s) didn't match pod topology spread constraints (missing required label)"}},
			want: "0/2 nodes are available: node(s) didn't match pod topology spread constraints (missing required label).",
		},
		{
			name: "a node with two reasons counts in both",
			err: FitError{NumAllNodes: 1, Diagnosis: Diagnosis{NodeToStatus: framework.NodeToStatusMap{
				"n": framework.NewStatus(framework.Unschedulable, "Insufficient cpu", "Insufficient memory")}}},
			want: "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory.",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

// fits rejects nodes whose name is in no.
type fits struct{ no map[string]bool }

func (fits) Name() string { return "Fits" }
func (f fits) Filter(_ context.Context, _ *framework.CycleState, _ *corev1.Pod, ni *framework.NodeInfo) *framework.Status {
	if f.no[ni.Node().Name] {
		return framework.NewStatus(framework.Unschedulable, "does not fit")
	}
	return nil
}

// byName scores node "n-best" 100 and others 10 (raw 0..10, normalized x10).
type byName struct{}

func (byName) Name() string { return "ByName" }
func (byName) Score(_ context.Context, _ *framework.CycleState, _ *corev1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	if ni.Node().Name == "n-best" {
		return 10, nil
	}
	return 1, nil
}
func (b byName) ScoreExtensions() framework.ScoreExtensions { return b }
func (byName) NormalizeScore(_ context.Context, _ *framework.CycleState, _ *corev1.Pod, scores framework.NodeScoreList) *framework.Status {
	for i := range scores {
		scores[i].Score *= 10
	}
	return nil
}

type binder struct{}

func (binder) Name() string { return "Binder" }
func (binder) Bind(context.Context, *framework.CycleState, *corev1.Pod, string) *framework.Status {
	return nil
}

func newTestFramework(t *testing.T, plugins ...framework.Plugin) *Framework {
	t.Helper()
	reg := framework.Registry{}
	var refs []PluginRef
	for _, p := range append(plugins, binder{}) {
		reg[p.Name()] = func(context.Context, []byte, framework.Handle) (framework.Plugin, error) { return p, nil }
		refs = append(refs, PluginRef{Name: p.Name(), Path: "test"})
	}
	f, err := New(context.Background(), reg, Profile{SchedulerName: "test", MultiPoint: refs}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func nodes(names ...string) []*corev1.Node {
	var out []*corev1.Node
	for _, n := range names {
		out = append(out, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}})
	}
	return out
}

func TestSchedulePodChoosesTheBestScoringNodeThatPassesFilters(t *testing.T) {
	f := newTestFramework(t, fits{no: map[string]bool{"n-bad": true}}, byName{})
	f.SetSnapshot(framework.NewSnapshot(nodes("n-bad", "n-ok", "n-best"), nil))
	res, err := f.SchedulePod(context.Background(), framework.NewCycleState(), &corev1.Pod{})
	if err != nil {
		t.Fatal(err)
	}
	if res.SuggestedHost != "n-best" || res.FeasibleNodes != 2 {
		t.Errorf("result = %+v, want n-best with 2 feasible nodes", res)
	}
}

func TestSchedulePodReportsEachNodesRejection(t *testing.T) {
	f := newTestFramework(t, fits{no: map[string]bool{"a": true, "b": true}})
	f.SetSnapshot(framework.NewSnapshot(nodes("a", "b"), nil))
	_, err := f.SchedulePod(context.Background(), framework.NewCycleState(), &corev1.Pod{})
	fitErr, ok := err.(*FitError)
	if !ok {
		t.Fatalf("err = %v, want a FitError", err)
	}
	if got, want := fitErr.Error(), "0/2 nodes are available: 2 does not fit."; got != want {
		t.Errorf("message = %q, want %q", got, want)
	}
	if !fitErr.Diagnosis.UnschedulablePlugins["Fits"] {
		t.Errorf("unschedulable plugins = %v, want Fits", fitErr.Diagnosis.UnschedulablePlugins)
	}
}

func TestFilterStartsWhereThePreviousCycleStopped(t *testing.T) {
	f := newTestFramework(t, fits{})
	var names []string
	for i := range 300 {
		names = append(names, fmt.Sprintf("n%03d", i))
	}
	f.SetSnapshot(framework.NewSnapshot(nodes(names...), nil))
	// 300 nodes: 48% adaptive → 144 nodes found per cycle.
	_, err := f.SchedulePod(context.Background(), framework.NewCycleState(), &corev1.Pod{})
	if err != nil {
		t.Fatal(err)
	}
	if f.nextStartNodeIndex != 144 {
		t.Errorf("next start = %d, want 144", f.nextStartNodeIndex)
	}
}

type nominatedOn map[string][]*framework.PodInfo

func (n nominatedOn) NominatedPodsForNode(node string) []*framework.PodInfo { return n[node] }
func (n nominatedOn) NominatedPods() map[string][]*framework.PodInfo        { return n }

// roomForOne rejects a node that already holds a pod.
type roomForOne struct{}

func (roomForOne) Name() string { return "RoomForOne" }
func (roomForOne) Filter(_ context.Context, _ *framework.CycleState, _ *corev1.Pod, ni *framework.NodeInfo) *framework.Status {
	if len(ni.Pods) > 0 {
		return framework.NewStatus(framework.Unschedulable, "node is full")
	}
	return nil
}

func TestAPodDoesNotTakeTheRoomOfAHigherPriorityNominatedPod(t *testing.T) {
	prio := func(p int32) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprint("p", p), UID: types.UID(fmt.Sprint("uid", p))}, Spec: corev1.PodSpec{Priority: &p}}
	}
	f := newTestFramework(t, roomForOne{})
	f.opts.Nominator = nominatedOn{"a": {framework.MustPodInfo(prio(100))}}
	f.SetSnapshot(framework.NewSnapshot(nodes("a", "b"), nil))
	res, err := f.SchedulePod(context.Background(), framework.NewCycleState(), prio(10))
	if err != nil || res.SuggestedHost != "b" {
		t.Errorf("lower-priority pod went to %q (%v), want b", res.SuggestedHost, err)
	}
	res, err = f.SchedulePod(context.Background(), framework.NewCycleState(), prio(1000))
	if err != nil || res.FeasibleNodes != 2 {
		t.Errorf("higher-priority pod: %+v (%v), want both nodes feasible", res, err)
	}
}

// onlyNode's PreFilter narrows the nodes to one.
type onlyNode struct{ name string }

func (onlyNode) Name() string { return "OnlyNode" }
func (o onlyNode) PreFilter(context.Context, *framework.CycleState, *corev1.Pod, []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	return &framework.PreFilterResult{NodeNames: sets.New(o.name)}, nil
}
func (onlyNode) PreFilterExtensions() framework.PreFilterExtensions { return nil }

func TestNodesLeftOutByAPreFilterResultAreReportedAsUpstreamDoes(t *testing.T) {
	f := newTestFramework(t, onlyNode{"a"}, fits{no: map[string]bool{"a": true}})
	f.SetSnapshot(framework.NewSnapshot(nodes("a", "b", "c"), nil))
	_, err := f.SchedulePod(context.Background(), framework.NewCycleState(), &corev1.Pod{})
	var fitErr *FitError
	if !errors.As(err, &fitErr) {
		t.Fatalf("SchedulePod = %v, want a FitError", err)
	}
	want := "0/3 nodes are available: 1 does not fit, 2 node(s) didn't satisfy plugin(s) [OnlyNode]."
	if fitErr.Error() != want {
		t.Errorf("message = %q, want %q", fitErr.Error(), want)
	}
	if !fitErr.Diagnosis.UnschedulablePlugins["OnlyNode"] || !fitErr.Diagnosis.UnschedulablePlugins["Fits"] {
		t.Errorf("unschedulable plugins = %v, want OnlyNode and Fits", fitErr.Diagnosis.UnschedulablePlugins)
	}
}
