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

func newBalanced(t *testing.T, args string) *BalancedAllocation {
	t.Helper()
	return pt.MustNew[*BalancedAllocation](t, NewBalancedAllocation, nil, args)
}

func TestBalancedAllocationScore(t *testing.T) {
	small := pt.MakeNode("n1").Capacity("cpu", "4000m", "memory", "10000").Obj()
	large := pt.MakeNode("n2").Capacity("cpu", "6000m", "memory", "10000").Obj()
	pod := pt.MakePod("p").Req("cpu", "3000m", "memory", "5000").Obj()
	tests := []struct {
		name  string
		args  string
		pod   *corev1.Pod
		nodes []*corev1.Node
		on    []*corev1.Pod
		want  []int64
	}{
		{"the node whose cpu and memory would be equally used scores 100", "",
			pod, []*corev1.Node{small, large}, nil, []int64{87, 100}},
		{"the pods already on the node count by their requests", "",
			pod, []*corev1.Node{small, large}, []*corev1.Pod{pt.MakePod("o").Node("n2").Req("memory", "5000").Obj()}, []int64{87, 75}},
		{"best-effort pods on the node count for nothing", "",
			pod, []*corev1.Node{small, large}, []*corev1.Pod{pt.MakePod("o").Node("n2").Req().Obj()}, []int64{87, 100}},
		{"a fraction above 1 counts as 1", "",
			pt.MakePod("p").Req("cpu", "8", "memory", "5000").Obj(), []*corev1.Node{small}, nil, []int64{75}},
		{"three resources use the standard deviation",
			`{"resources":[{"name":"cpu"},{"name":"memory"},{"name":"example.com/foo"}]}`,
			pt.MakePod("p").Req("cpu", "3000m", "memory", "5000", "example.com/foo", "1").Obj(),
			[]*corev1.Node{pt.MakeNode("n").Capacity("cpu", "4000m", "memory", "10000", "example.com/foo", "4").Obj()}, nil, []int64{79}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := scoreNodes(t, newBalanced(t, tt.args), tt.pod, tt.nodes, tt.on...); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("scores = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBalancedAllocationSkipsBestEffortPods(t *testing.T) {
	st := newBalanced(t, "").PreScore(context.Background(), framework.NewCycleState(), pt.MakePod("p").Req().Obj(), nil)
	if !st.IsSkip() {
		t.Errorf("PreScore = %v, want Skip", st)
	}
}

func TestBalancedAllocationArgsErrorsNameTheField(t *testing.T) {
	tests := []struct{ name, args, want string }{
		{"an unknown field is an error", `{"resource":[]}`, `unknown field "resource"`},
		{"a weight other than 1 is an error", `{"resources":[{"name":"cpu","weight":2}]}`, `resources[0].weight: Invalid value: 2: must be 1`},
		{"a repeated resource is an error", `{"resources":[{"name":"cpu"},{"name":"cpu"}]}`, `resources[1].name: Duplicate value: "cpu"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewBalancedAllocation(context.Background(), []byte(tt.args), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
