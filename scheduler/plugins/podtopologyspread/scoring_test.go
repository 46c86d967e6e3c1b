package podtopologyspread

import (
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiffk8s/skiff/scheduler/plugins/plugintest"
)

// Expected scores come from upstream's scoring_test.go where the case
// exists there (same pods, nodes and constraints).
func TestScore(t *testing.T) {
	pod := plugintest.MakePod
	hosts := func(names ...string) []*plugintest.NodeBuilder {
		var out []*plugintest.NodeBuilder
		for _, n := range names {
			out = append(out, node(n, ""))
		}
		return out
	}
	foo := func(c corev1.TopologySpreadConstraint) *corev1.Pod {
		return pod("p").Label("foo", "").SpreadConstraint(c).Obj()
	}
	tests := []struct {
		name     string
		args     string
		nodes    []*plugintest.NodeBuilder // candidates
		failed   []*plugintest.NodeBuilder // in the cluster, not candidates
		pods     []*corev1.Pod
		objs     []runtime.Object
		pod      *corev1.Pod
		want     map[string]int64
		wantSkip bool
	}{
		{
			name:  "with no matching pods every node gets 100",
			nodes: hosts("node-a", "node-b"),
			pod:   foo(spread(1, hostKey, corev1.ScheduleAnyway, "foo")),
			want:  map[string]int64{"node-a": 100, "node-b": 100},
		},
		{
			name:  "nodes with fewer matching pods score higher (2/1/0/3)",
			nodes: hosts("node-a", "node-b", "node-c", "node-d"),
			pods:  pods(foos("node-a", 2), foos("node-b", 1), foos("node-d", 3)),
			pod:   foo(spread(1, hostKey, corev1.ScheduleAnyway, "foo")),
			want:  map[string]int64{"node-a": 20, "node-b": 60, "node-c": 100, "node-d": 0},
		},
		{
			name:  "a larger maxSkew waters differences down (2/1/0/3, maxSkew 2)",
			nodes: hosts("node-a", "node-b", "node-c", "node-d"),
			pods:  pods(foos("node-a", 2), foos("node-b", 1), foos("node-d", 3)),
			pod:   foo(spread(2, hostKey, corev1.ScheduleAnyway, "foo")),
			want:  map[string]int64{"node-a": 33, "node-b": 66, "node-c": 100, "node-d": 16},
		},
		{
			name:  "a nil labelSelector matches no pods: every node gets 100",
			nodes: hosts("node-a", "node-b"),
			pods:  pods(foos("node-a", 2)),
			pod:   pod("p").Label("foo", "").SpreadConstraint(corev1.TopologySpreadConstraint{MaxSkew: 1, TopologyKey: hostKey, WhenUnsatisfiable: corev1.ScheduleAnyway}).Obj(),
			want:  map[string]int64{"node-a": 100, "node-b": 100},
		},
		{
			name:   "only candidate nodes are scored (4/2/1/~3~)",
			nodes:  hosts("node-a", "node-b", "node-x"),
			failed: hosts("node-y"),
			pods:   pods(foos("node-a", 4), foos("node-b", 2), foos("node-x", 1), foos("node-y", 3)),
			pod:    foo(spread(1, hostKey, corev1.ScheduleAnyway, "foo")),
			want:   map[string]int64{"node-a": 33, "node-b": 83, "node-x": 100},
		},
		{
			name:   "a candidate without the topology key gets 0 (4/?2?/1/~3~)",
			nodes:  []*plugintest.NodeBuilder{node("node-a", ""), plugintest.MakeNode("node-b").Label("n", "node-b"), node("node-x", "")},
			failed: hosts("node-y"),
			pods:   pods(foos("node-a", 4), foos("node-b", 2), foos("node-x", 1), foos("node-y", 3)),
			pod:    foo(spread(1, hostKey, corev1.ScheduleAnyway, "foo")),
			want:   map[string]int64{"node-a": 16, "node-b": 0, "node-x": 100},
		},
		{
			name:   "zones count the pods of non-candidate nodes too (4/2/1/~3~)",
			nodes:  []*plugintest.NodeBuilder{node("node-a", "zone1"), node("node-b", "zone1"), node("node-x", "zone2")},
			failed: []*plugintest.NodeBuilder{node("node-y", "zone2")},
			pods:   pods(foos("node-a", 4), foos("node-b", 2), foos("node-x", 1), foos("node-y", 3)),
			pod:    foo(spread(1, zoneKey, corev1.ScheduleAnyway, "foo")),
			want:   map[string]int64{"node-a": 75, "node-b": 75, "node-x": 100},
		},
		{
			name:   "zone and hostname constraints add up (2/~1~/2/~4~)",
			nodes:  []*plugintest.NodeBuilder{node("node-a", "zone1"), node("node-x", "zone2")},
			failed: []*plugintest.NodeBuilder{node("node-b", "zone1"), node("node-y", "zone2")},
			pods:   pods(foos("node-a", 2), foos("node-b", 1), foos("node-x", 2), foos("node-y", 4)),
			pod: pod("p").Label("foo", "").
				SpreadConstraint(spread(1, zoneKey, corev1.ScheduleAnyway, "foo")).
				SpreadConstraint(spread(1, hostKey, corev1.ScheduleAnyway, "foo")).Obj(),
			want: map[string]int64{"node-a": 100, "node-x": 63},
		},
		{
			name:  "constraints with different selectors count different pods",
			nodes: []*plugintest.NodeBuilder{node("node-a", "zone1"), node("node-b", "zone1"), node("node-x", "zone2"), node("node-y", "zone2")},
			pods: []*corev1.Pod{
				pod("p-a1").Node("node-a").Label("foo", "").Obj(),
				pod("p-b1").Node("node-b").Label("foo", "").Label("bar", "").Obj(),
				pod("p-y1").Node("node-y").Label("foo", "").Obj(),
				pod("p-y2").Node("node-y").Label("bar", "").Obj(),
			},
			pod: pod("p").Label("foo", "").Label("bar", "").
				SpreadConstraint(spread(1, zoneKey, corev1.ScheduleAnyway, "foo")).
				SpreadConstraint(spread(1, hostKey, corev1.ScheduleAnyway, "bar")).Obj(),
			want: map[string]int64{"node-a": 60, "node-b": 20, "node-x": 100, "node-y": 60},
		},
		{
			name:  "pods in other namespaces do not count",
			nodes: hosts("node-a", "node-b"),
			pods: pods([]*corev1.Pod{pod("p-a1").Namespace("ns1").Node("node-a").Label("foo", "").Obj()},
				foos("node-a", 1), foos("node-b", 2)),
			pod:  foo(spread(1, hostKey, corev1.ScheduleAnyway, "foo")),
			want: map[string]int64{"node-a": 100, "node-b": 33},
		},
		{
			name:  "system defaults spread a pod a Service selects, over hostnames even without zones (4/3/2/1)",
			nodes: hosts("node-a", "node-b", "node-c", "node-d"),
			pods:  pods(foos("node-a", 4), foos("node-b", 3), foos("node-c", 2), foos("node-d", 1)),
			objs:  []runtime.Object{&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "svc", Namespace: "default"}, Spec: corev1.ServiceSpec{Selector: map[string]string{"foo": ""}}}},
			pod:   pod("p").Label("foo", "").Obj(),
			want:  map[string]int64{"node-a": 44, "node-b": 66, "node-c": 77, "node-d": 100},
		},
		{
			name:  "system defaults spread a pod owned by a StatefulSet",
			nodes: hosts("node-a", "node-b", "node-c", "node-d"),
			pods:  pods(foos("node-a", 4), foos("node-b", 3), foos("node-c", 2), foos("node-d", 1)),
			objs:  []runtime.Object{statefulSet("db", map[string]string{"foo": ""})},
			pod:   ownedBy(pod("p").Label("foo", "").Obj(), "StatefulSet", "db"),
			want:  map[string]int64{"node-a": 44, "node-b": 66, "node-c": 77, "node-d": 100},
		},
		{
			name:     "system defaults leave alone a pod that nothing selects",
			nodes:    hosts("node-a", "node-b"),
			pods:     pods(foos("node-a", 4)),
			pod:      pod("p").Label("foo", "").Obj(),
			wantSkip: true,
		},
		{
			name:     "DoNotSchedule constraints do not score",
			nodes:    hosts("node-a", "node-b"),
			pods:     pods(foos("node-a", 4)),
			pod:      foo(spread(1, hostKey, corev1.DoNotSchedule, "foo")),
			wantSkip: true,
		},
		{
			name:  "List default constraints score a pod owned by a ReplicaSet",
			args:  `{"defaultingType": "List", "defaultConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway"}]}`,
			nodes: hosts("node-a", "node-b", "node-c", "node-d"),
			pods:  pods(foos("node-a", 2), foos("node-b", 1), foos("node-d", 3)),
			objs:  []runtime.Object{replicaSet("web", map[string]string{"foo": ""})},
			pod:   ownedBy(pod("p").Label("foo", "").Obj(), "ReplicaSet", "web"),
			want:  map[string]int64{"node-a": 20, "node-b": 60, "node-c": 100, "node-d": 0},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			all := nodes(append(append([]*plugintest.NodeBuilder{}, tc.nodes...), tc.failed...)...)
			h := newHandle(t, all, tc.pods, tc.objs...)
			pl := newPlugin(t, h, tc.args)
			candidates := h.Snap.Nodes[:len(tc.nodes)]
			got, skipped := plugintest.ScoreAll(t, pl, tc.pod, candidates)
			if skipped != tc.wantSkip {
				t.Fatalf("PreScore skipped: %v, want %v", skipped, tc.wantSkip)
			}
			if !tc.wantSkip && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("scores: got %v, want %v", got, tc.want)
			}
		})
	}
}

func statefulSet(name string, matchLabels map[string]string) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec:       appsv1.StatefulSetSpec{Selector: &metav1.LabelSelector{MatchLabels: matchLabels}},
	}
}
