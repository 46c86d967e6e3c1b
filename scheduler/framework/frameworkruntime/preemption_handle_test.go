package frameworkruntime_test

import (
	"context"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/events"

	"github.com/skiffk8s/skiff/scheduler/framework"
	"github.com/skiffk8s/skiff/scheduler/framework/frameworkruntime"
	"github.com/skiffk8s/skiff/scheduler/plugins/defaultbinder"
	"github.com/skiffk8s/skiff/scheduler/plugins/defaultpreemption"
)

// oneAtATime rejects a node that already holds a pod.
type oneAtATime struct{}

func (oneAtATime) Name() string { return "OneAtATime" }
func (oneAtATime) Filter(_ context.Context, _ *framework.CycleState, _ *corev1.Pod, ni *framework.NodeInfo) *framework.Status {
	if len(ni.Pods) > 0 {
		return framework.NewStatus(framework.Unschedulable, "node is taken")
	}
	return nil
}

type nominations map[string][]*framework.PodInfo

func (n nominations) NominatedPodsForNode(node string) []*framework.PodInfo { return n[node] }
func (n nominations) NominatedPods() map[string][]*framework.PodInfo        { return n }

func prioPod(name, node string, prio int32) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(name)},
		Spec:       corev1.PodSpec{NodeName: node, Priority: &prio},
	}
}

// The framework has the optional handle methods DefaultPreemption looks
// for, so its dry run counts the pods nominated to a node: evicting the
// pod of node a would only make room for the higher-priority pod
// nominated there, so preemption evicts on b although a's victim is
// cheaper.
func TestPreemptionDoesNotEvictForRoomANominatedHigherPriorityPodWillTake(t *testing.T) {
	ctx := context.Background()
	cheap, dear := prioPod("cheap", "a", -10), prioPod("dear", "b", 0)
	preemptor := prioPod("preemptor", "", 100)
	client := fake.NewClientset(cheap, dear, preemptor)
	factory := informers.NewSharedInformerFactory(client, 0)
	reg := framework.Registry{
		"OneAtATime":           func(context.Context, []byte, framework.Handle) (framework.Plugin, error) { return oneAtATime{}, nil },
		defaultpreemption.Name: defaultpreemption.New,
		defaultbinder.Name:     defaultbinder.New,
	}
	nominated := nominations{"a": {framework.MustPodInfo(prioPod("nominated", "", 1000))}}
	f, err := frameworkruntime.New(ctx, reg, frameworkruntime.Profile{SchedulerName: "test", MultiPoint: []frameworkruntime.PluginRef{
		{Name: "OneAtATime", Path: "test"}, {Name: defaultpreemption.Name, Path: "test"}, {Name: defaultbinder.Name, Path: "test"},
	}}, frameworkruntime.Options{Client: client, InformerFactory: factory, EventRecorder: events.NewFakeRecorder(10), Nominator: nominated})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	factory.Start(stop)
	factory.WaitForCacheSync(stop)
	f.SetSnapshot(framework.NewSnapshot([]*corev1.Node{
		{ObjectMeta: metav1.ObjectMeta{Name: "a"}}, {ObjectMeta: metav1.ObjectMeta{Name: "b"}},
	}, []*corev1.Pod{cheap, dear}))

	state := framework.NewCycleState()
	_, err = f.SchedulePod(ctx, state, preemptor)
	var fitErr *frameworkruntime.FitError
	if !errors.As(err, &fitErr) {
		t.Fatalf("SchedulePod = %v, want a FitError", err)
	}
	r, st := f.RunPostFilterPlugins(ctx, state, preemptor, fitErr.Diagnosis.NodeToStatus)
	if st.Code() == framework.Error {
		t.Fatalf("PostFilter: %v", st)
	}
	if r == nil || r.NominatedNodeName != "b" {
		t.Fatalf("nominated node = %+v, want b", r)
	}
	if _, err := client.CoreV1().Pods("default").Get(ctx, "cheap", metav1.GetOptions{}); err != nil {
		t.Errorf("the pod on a was evicted: %v", err)
	}
	if _, err := client.CoreV1().Pods("default").Get(ctx, "dear", metav1.GetOptions{}); err == nil {
		t.Errorf("the pod on b is still there, want it deleted")
	}
}
