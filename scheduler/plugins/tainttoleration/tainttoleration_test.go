package tainttoleration

import (
	"context"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiffk8s/skiff/scheduler/framework"
	pt "github.com/skiffk8s/skiff/scheduler/plugins/plugintest"
)

const (
	noSchedule = corev1.TaintEffectNoSchedule
	noExecute  = corev1.TaintEffectNoExecute
	prefer     = corev1.TaintEffectPreferNoSchedule
	equal      = corev1.TolerationOpEqual
	exists     = corev1.TolerationOpExists
)

func untolerated(msg string) *framework.Status {
	return framework.NewStatus(framework.UnschedulableAndUnresolvable, msg)
}

func TestFilter(t *testing.T) {
	tests := []struct {
		name string
		pod  *corev1.Pod
		node *corev1.Node
		want *framework.Status
	}{
		{"a pod without tolerations fits a node without taints", pt.MakePod("p").Obj(), pt.MakeNode("n").Obj(), nil},
		{"a pod without tolerations does not fit a control-plane node",
			pt.MakePod("p").Obj(), pt.MakeNode("n").Taint("node-role.kubernetes.io/control-plane", "", noSchedule).Obj(),
			untolerated("node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }")},
		{"the reason names the taint's value",
			pt.MakePod("p").Obj(), pt.MakeNode("n").Taint("dedicated", "gpu", noExecute).Obj(),
			untolerated("node(s) had untolerated taint {dedicated: gpu}")},
		{"a pod tolerating the key and value fits",
			pt.MakePod("p").Toleration("dedicated", equal, "gpu", noSchedule).Obj(), pt.MakeNode("n").Taint("dedicated", "gpu", noSchedule).Obj(), nil},
		{"a pod tolerating another value does not fit",
			pt.MakePod("p").Toleration("dedicated", equal, "db", noSchedule).Obj(), pt.MakeNode("n").Taint("dedicated", "gpu", noSchedule).Obj(),
			untolerated("node(s) had untolerated taint {dedicated: gpu}")},
		{"a pod tolerating the key with Exists and no effect fits",
			pt.MakePod("p").Toleration("dedicated", exists, "", "").Obj(), pt.MakeNode("n").Taint("dedicated", "gpu", noExecute).Obj(), nil},
		{"a pod tolerating NoSchedule does not fit a NoExecute taint of the same key",
			pt.MakePod("p").Toleration("dedicated", exists, "", noSchedule).Obj(), pt.MakeNode("n").Taint("dedicated", "gpu", noExecute).Obj(),
			untolerated("node(s) had untolerated taint {dedicated: gpu}")},
		{"a PreferNoSchedule taint never filters a pod out",
			pt.MakePod("p").Obj(), pt.MakeNode("n").Taint("soft", "x", prefer).Obj(), nil},
		{"the reason names the first untolerated taint",
			pt.MakePod("p").Toleration("a", exists, "", "").Obj(),
			pt.MakeNode("n").Taint("a", "1", noSchedule).Taint("b", "2", noSchedule).Taint("c", "3", noSchedule).Obj(),
			untolerated("node(s) had untolerated taint {b: 2}")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := (&TaintToleration{}).Filter(context.Background(), framework.NewCycleState(), tt.pod, pt.NodeInfo(tt.node))
			if !pt.SameStatus(got, tt.want) {
				t.Errorf("Filter = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestScore(t *testing.T) {
	tests := []struct {
		name  string
		pod   *corev1.Pod
		nodes []*corev1.Node
		want  framework.NodeScoreList
	}{
		{"nodes whose soft taints are all tolerated score the same, however many they have",
			pt.MakePod("p").Toleration("a", equal, "1", prefer).Toleration("b", equal, "2", prefer).Obj(),
			[]*corev1.Node{
				pt.MakeNode("n1").Obj(),
				pt.MakeNode("n2").Taint("a", "1", prefer).Obj(),
				pt.MakeNode("n3").Taint("a", "1", prefer).Taint("b", "2", prefer).Obj(),
			},
			framework.NodeScoreList{{Name: "n1", Score: 100}, {Name: "n2", Score: 100}, {Name: "n3", Score: 100}}},
		{"more untolerated soft taints score lower",
			pt.MakePod("p").Toleration("a", equal, "1", prefer).Obj(),
			[]*corev1.Node{
				pt.MakeNode("n1").Taint("a", "1", prefer).Obj(),
				pt.MakeNode("n2").Taint("b", "2", prefer).Obj(),
				pt.MakeNode("n3").Taint("b", "2", prefer).Taint("c", "3", prefer).Obj(),
			},
			framework.NodeScoreList{{Name: "n1", Score: 100}, {Name: "n2", Score: 50}, {Name: "n3", Score: 0}}},
		{"hard taints do not count in the score",
			pt.MakePod("p").Obj(),
			[]*corev1.Node{
				pt.MakeNode("n1").Taint("a", "1", noSchedule).Obj(),
				pt.MakeNode("n2").Taint("b", "2", prefer).Obj(),
			},
			framework.NodeScoreList{{Name: "n1", Score: 100}, {Name: "n2", Score: 0}}},
		{"a NoSchedule toleration does not tolerate a soft taint",
			pt.MakePod("p").Toleration("b", exists, "", noSchedule).Obj(),
			[]*corev1.Node{
				pt.MakeNode("n1").Obj(),
				pt.MakeNode("n2").Taint("b", "2", prefer).Obj(),
			},
			framework.NodeScoreList{{Name: "n1", Score: 100}, {Name: "n2", Score: 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, pl, state := context.Background(), &TaintToleration{}, framework.NewCycleState()
			var infos []*framework.NodeInfo
			for _, n := range tt.nodes {
				infos = append(infos, pt.NodeInfo(n))
			}
			if st := pl.PreScore(ctx, state, tt.pod, infos); !st.IsSuccess() {
				t.Fatalf("PreScore = %v", st)
			}
			var got framework.NodeScoreList
			for _, ni := range infos {
				s, st := pl.Score(ctx, state, tt.pod, ni)
				if !st.IsSuccess() {
					t.Fatalf("Score = %v", st)
				}
				got = append(got, framework.NodeScore{Name: ni.Node().Name, Score: s})
			}
			pl.ScoreExtensions().NormalizeScore(ctx, state, tt.pod, got)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("scores = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEventsToRegister(t *testing.T) {
	want := []framework.ClusterEvent{{Resource: framework.NodeResource, ActionType: framework.Add | framework.UpdateNodeTaint | framework.UpdateNodeLabel}}
	if got := (&TaintToleration{}).EventsToRegister(); !reflect.DeepEqual(got, want) {
		t.Errorf("EventsToRegister = %v, want %v", got, want)
	}
}
