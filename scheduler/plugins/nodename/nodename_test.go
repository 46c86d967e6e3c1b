package nodename

import (
	"context"
	"reflect"
	"testing"

	"github.com/skiffk8s/skiff/scheduler/framework"
	pt "github.com/skiffk8s/skiff/scheduler/plugins/plugintest"
)

func TestFilter(t *testing.T) {
	tests := []struct {
		name     string
		nodeName string
		want     *framework.Status
	}{
		{"a pod that names no node fits any node", "", nil},
		{"a pod that names this node fits it", "n1", nil},
		{"a pod that names another node does not fit", "n2",
			framework.NewStatus(framework.UnschedulableAndUnresolvable, "node(s) didn't match the requested node name")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(context.Background(), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			pod := pt.MakePod("p").Node(tt.nodeName).Obj()
			got := p.(*NodeName).Filter(context.Background(), framework.NewCycleState(), pod, pt.NodeInfo(pt.MakeNode("n1").Obj()))
			if !pt.SameStatus(got, tt.want) {
				t.Errorf("Filter = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEventsToRegister(t *testing.T) {
	want := []framework.ClusterEvent{{Resource: framework.NodeResource, ActionType: framework.Add | framework.UpdateNodeTaint | framework.UpdateNodeLabel}}
	if got := (&NodeName{}).EventsToRegister(); !reflect.DeepEqual(got, want) {
		t.Errorf("EventsToRegister = %v, want %v", got, want)
	}
}
