package nodeports

import (
	"context"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiffk8s/skiff/scheduler/framework"
	pt "github.com/skiffk8s/skiff/scheduler/plugins/plugintest"
)

func TestFilter(t *testing.T) {
	conflict := framework.NewStatus(framework.Unschedulable, "node(s) didn't have free ports for the requested pod ports")
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	tests := []struct {
		name     string
		pod      *corev1.Pod
		existing []*corev1.Pod
		want     *framework.Status
	}{
		{"a pod asking for a free port fits",
			pt.MakePod("p").HostPort("", tcp, 8080).Obj(), []*corev1.Pod{pt.MakePod("o").HostPort("", tcp, 9090).Obj()}, nil},
		{"a pod asking for a port in use does not fit",
			pt.MakePod("p").HostPort("", tcp, 8080).Obj(), []*corev1.Pod{pt.MakePod("o").HostPort("", tcp, 8080).Obj()}, conflict},
		{"the same port with another protocol fits",
			pt.MakePod("p").HostPort("", udp, 8080).Obj(), []*corev1.Pod{pt.MakePod("o").HostPort("", tcp, 8080).Obj()}, nil},
		{"an empty protocol means TCP",
			pt.MakePod("p").HostPort("", "", 8080).Obj(), []*corev1.Pod{pt.MakePod("o").HostPort("", tcp, 8080).Obj()}, conflict},
		{"the same port on two specific addresses fits",
			pt.MakePod("p").HostPort("10.0.0.1", tcp, 8080).Obj(), []*corev1.Pod{pt.MakePod("o").HostPort("10.0.0.2", tcp, 8080).Obj()}, nil},
		{"a specific address clashes with a port held on 0.0.0.0",
			pt.MakePod("p").HostPort("10.0.0.1", tcp, 8080).Obj(), []*corev1.Pod{pt.MakePod("o").HostPort("0.0.0.0", tcp, 8080).Obj()}, conflict},
		{"0.0.0.0 clashes with a port held on a specific address",
			pt.MakePod("p").HostPort("0.0.0.0", tcp, 8080).Obj(), []*corev1.Pod{pt.MakePod("o").HostPort("10.0.0.2", tcp, 8080).Obj()}, conflict},
		{"one clashing port among several is enough not to fit",
			pt.MakePod("p").HostPort("", tcp, 80).HostPort("", tcp, 443).Obj(), []*corev1.Pod{pt.MakePod("o").HostPort("", tcp, 443).Obj()}, conflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl := &NodePorts{}
			state := framework.NewCycleState()
			if _, st := pl.PreFilter(context.Background(), state, tt.pod, nil); !st.IsSuccess() {
				t.Fatalf("PreFilter = %v", st)
			}
			got := pl.Filter(context.Background(), state, tt.pod, pt.NodeInfo(pt.MakeNode("n").Obj(), tt.existing...))
			if !pt.SameStatus(got, tt.want) {
				t.Errorf("Filter = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPreFilterSkipsAPodWithoutHostPorts(t *testing.T) {
	pod := pt.MakePod("p").Req("cpu", "1").Obj()
	pod.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80}}
	if _, st := (&NodePorts{}).PreFilter(context.Background(), framework.NewCycleState(), pod, nil); !st.IsSkip() {
		t.Errorf("PreFilter = %v, want Skip", st)
	}
}

func TestSidecarHostPortsCount(t *testing.T) {
	pod := pt.MakePod("p").SidecarReq().InitReq().Obj()
	pod.Spec.InitContainers[0].Ports = []corev1.ContainerPort{{HostPort: 53, ContainerPort: 53}}
	pod.Spec.InitContainers[1].Ports = []corev1.ContainerPort{{HostPort: 54, ContainerPort: 54}}
	got := HostPorts(pod)
	if len(got) != 1 || got[0].HostPort != 53 {
		t.Errorf("HostPorts = %v, want only the sidecar's port 53", got)
	}
}

func TestFilterWithoutPreFilterIsAnError(t *testing.T) {
	st := (&NodePorts{}).Filter(context.Background(), framework.NewCycleState(), pt.MakePod("p").Obj(), pt.NodeInfo(pt.MakeNode("n").Obj()))
	if st.Code() != framework.Error {
		t.Errorf("Filter = %v, want Error", st)
	}
}

func TestEventsToRegister(t *testing.T) {
	want := []framework.ClusterEvent{
		{Resource: framework.PodResource, ActionType: framework.Delete},
		{Resource: framework.NodeResource, ActionType: framework.Add | framework.UpdateNodeTaint | framework.UpdateNodeLabel},
	}
	if got := (&NodePorts{}).EventsToRegister(); !reflect.DeepEqual(got, want) {
		t.Errorf("EventsToRegister = %v, want %v", got, want)
	}
}
