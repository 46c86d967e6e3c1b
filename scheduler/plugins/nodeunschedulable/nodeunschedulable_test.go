package nodeunschedulable

import (
	"context"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiffk8s/skiff/scheduler/framework"
	pt "github.com/skiffk8s/skiff/scheduler/plugins/plugintest"
)

func TestFilter(t *testing.T) {
	unschedulable := framework.NewStatus(framework.UnschedulableAndUnresolvable, "node(s) were unschedulable")
	tests := []struct {
		name string
		pod  *corev1.Pod
		node *corev1.Node
		want *framework.Status
	}{
		{"any pod fits a schedulable node", pt.MakePod("p").Obj(), pt.MakeNode("n").Obj(), nil},
		{"a pod without tolerations does not fit a cordoned node", pt.MakePod("p").Obj(), pt.MakeNode("n").Unschedulable().Obj(), unschedulable},
		{"a pod tolerating the unschedulable taint fits a cordoned node",
			pt.MakePod("p").Toleration(corev1.TaintNodeUnschedulable, corev1.TolerationOpExists, "", corev1.TaintEffectNoSchedule).Obj(),
			pt.MakeNode("n").Unschedulable().Obj(), nil},
		{"a pod tolerating every taint fits a cordoned node",
			pt.MakePod("p").Toleration("", corev1.TolerationOpExists, "", "").Obj(),
			pt.MakeNode("n").Unschedulable().Obj(), nil},
		{"a pod tolerating the unschedulable key with NoExecute only does not fit a cordoned node",
			pt.MakePod("p").Toleration(corev1.TaintNodeUnschedulable, corev1.TolerationOpExists, "", corev1.TaintEffectNoExecute).Obj(),
			pt.MakeNode("n").Unschedulable().Obj(), unschedulable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := New(context.Background(), nil, nil)
			got := p.(*NodeUnschedulable).Filter(context.Background(), framework.NewCycleState(), tt.pod, pt.NodeInfo(tt.node))
			if !pt.SameStatus(got, tt.want) {
				t.Errorf("Filter = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEventsToRegister(t *testing.T) {
	want := []framework.ClusterEvent{{Resource: framework.NodeResource, ActionType: framework.Add | framework.UpdateNodeTaint | framework.UpdateNodeLabel}}
	if got := (&NodeUnschedulable{}).EventsToRegister(); !reflect.DeepEqual(got, want) {
		t.Errorf("EventsToRegister = %v, want %v", got, want)
	}
}
