package nodeload

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiffk8s/skiff/kubelet/stats/nodeusage"
	"github.com/skiffk8s/skiff/scheduler/framework"
	pt "github.com/skiffk8s/skiff/scheduler/plugins/plugintest"
)

var now = time.Date(2025, 1, 2, 15, 4, 5, 0, time.UTC)

// node has 4 cores and 8 GiB; it publishes cpuMillis and memGiB of
// usage measured age ago (age < 0: no usage published).
func node(name string, cpuMillis, memGiB int64, age time.Duration) *corev1.Node {
	b := pt.MakeNode(name).Capacity("cpu", "4", "memory", "8Gi")
	if age >= 0 {
		b.Annotation(nodeusage.AnnotationKey, nodeusage.Format(nodeusage.Usage{
			CPUMillis: cpuMillis, MemoryBytes: memGiB << 30, Window: time.Minute, Time: now.Add(-age)}))
	}
	return b.Obj()
}

func TestScore(t *testing.T) {
	tests := []struct {
		name     string
		args     string
		nodes    []*corev1.Node
		wantSkip bool
		want     []int64
	}{
		{"an idle node scores 100 and a busier one less",
			"", []*corev1.Node{node("idle", 0, 0, time.Second), node("busy", 2000, 6, time.Second)},
			false, []int64{100, 37}}, // busy: 1 − (0.5 + 0.75)/2 = 0.375
		{"weights shift the mean towards one resource",
			`{"cpuWeight":3,"memoryWeight":1}`, []*corev1.Node{node("busy", 2000, 6, time.Second)},
			false, []int64{43}}, // 1 − (3×0.5 + 0.75)/4 = 0.4375
		{"a zero weight leaves the resource out",
			`{"cpuWeight":0}`, []*corev1.Node{node("busy", 2000, 6, time.Second)},
			false, []int64{25}},
		{"usage above allocatable counts as full",
			"", []*corev1.Node{node("over", 8000, 16, time.Second)},
			false, []int64{0}},
		{"a node with stale usage scores the mean of the others",
			"", []*corev1.Node{node("idle", 0, 0, time.Second), node("half", 2000, 4, time.Second), node("stale", 4000, 8, 3*time.Minute)},
			false, []int64{100, 50, 75}},
		{"a node without usage scores the mean of the others",
			"", []*corev1.Node{node("half", 2000, 4, time.Second), node("silent", 0, 0, -1)},
			false, []int64{50, 50}},
		{"a longer staleness limit keeps older usage",
			`{"maxUsageAge":"5m"}`, []*corev1.Node{node("half", 2000, 4, 3*time.Minute)},
			false, []int64{50}},
		{"no published usage turns the plugin off",
			"", []*corev1.Node{node("a", 0, 0, -1), node("b", 0, 0, -1)}, true, nil},
		{"only stale usage turns the plugin off",
			"", []*corev1.Node{node("a", 0, 0, 3*time.Minute)}, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var args []byte
			if tt.args != "" {
				args = []byte(tt.args)
			}
			pl, err := newWithClock(args, func() time.Time { return now })
			if err != nil {
				t.Fatal(err)
			}
			ctx, state, pod := context.Background(), framework.NewCycleState(), pt.MakePod("p").Obj()
			var infos []*framework.NodeInfo
			for _, n := range tt.nodes {
				infos = append(infos, pt.NodeInfo(n))
			}
			st := pl.PreScore(ctx, state, pod, infos)
			if st.IsSkip() != tt.wantSkip || (!st.IsSkip() && !st.IsSuccess()) {
				t.Fatalf("PreScore = %v, want skip %v", st, tt.wantSkip)
			}
			if tt.wantSkip {
				return
			}
			var got []int64
			for _, ni := range infos {
				s, st := pl.Score(ctx, state, pod, ni)
				if !st.IsSuccess() {
					t.Fatalf("Score = %v", st)
				}
				got = append(got, s)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("scores = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestArgsErrorsNameTheField(t *testing.T) {
	tests := []struct{ name, args, want string }{
		{"an unknown field is an error", `{"cpuWeigth":1}`, `unknown field "cpuWeigth"`},
		{"a weight above 100 is an error", `{"memoryWeight":101}`, `memoryWeight: Invalid value: 101: must be in range 0-100`},
		{"both weights 0 is an error", `{"cpuWeight":0,"memoryWeight":0}`, `cpuWeight: Invalid value: 0: cpuWeight and memoryWeight must not both be 0`},
		{"a non-positive staleness limit is an error", `{"maxUsageAge":"0s"}`, `maxUsageAge: Invalid value: "0s": must be positive`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(context.Background(), []byte(tt.args), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestEventsToRegister(t *testing.T) {
	want := []framework.ClusterEvent{{Resource: framework.NodeResource, ActionType: framework.UpdateNodeAnnotation}}
	if got := (&NodeLoad{}).EventsToRegister(); !reflect.DeepEqual(got, want) {
		t.Errorf("EventsToRegister = %v, want %v", got, want)
	}
}
