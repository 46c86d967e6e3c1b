package defaultpreemption

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"

	"github.com/skiffk8s/skiff/scheduler/framework"
)

// A small fake framework.Handle: the cycle's snapshot, a fake clientset,
// informers filled by hand, and a PluginsRunner whose only Filter is
// cpuFits.

// testNow is the fake clock of every test.
var testNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

type fakeHandle struct {
	snapshot  *framework.Snapshot
	client    *fake.Clientset
	informers informers.SharedInformerFactory
	recorder  *events.FakeRecorder
	// parallel, when set, runs the dry run on goroutines.
	parallel framework.Parallelizer
}

func (h *fakeHandle) SnapshotSharedLister() framework.SharedLister           { return h.snapshot }
func (h *fakeHandle) ClientSet() kubernetes.Interface                        { return h.client }
func (h *fakeHandle) SharedInformerFactory() informers.SharedInformerFactory { return h.informers }
func (h *fakeHandle) EventRecorder() events.EventRecorder                    { return h.recorder }
func (h *fakeHandle) Parallelizer() framework.Parallelizer {
	if h.parallel != nil {
		return h.parallel
	}
	return inOrder{}
}

func (h *fakeHandle) RunFilterPlugins(_ context.Context, _ *framework.CycleState, pod *corev1.Pod, ni *framework.NodeInfo) *framework.Status {
	return cpuFits(pod, ni)
}

// The extensions only check that the simulation keeps its copy of the
// node in step: the pod added or removed is (not) on it.
func (h *fakeHandle) RunPreFilterExtensionAddPod(_ context.Context, _ *framework.CycleState, _ *corev1.Pod, pi *framework.PodInfo, ni *framework.NodeInfo) *framework.Status {
	if !onNode(ni, pi.Pod) {
		return framework.AsStatus(errNotInStep)
	}
	return nil
}

func (h *fakeHandle) RunPreFilterExtensionRemovePod(_ context.Context, _ *framework.CycleState, _ *corev1.Pod, pi *framework.PodInfo, ni *framework.NodeInfo) *framework.Status {
	if onNode(ni, pi.Pod) {
		return framework.AsStatus(errNotInStep)
	}
	return nil
}

type notInStepError struct{}

func (notInStepError) Error() string { return "extension called with a node not in step" }

var errNotInStep = notInStepError{}

func onNode(ni *framework.NodeInfo, pod *corev1.Pod) bool {
	for _, pi := range ni.Pods {
		if pi.Pod.UID == pod.UID {
			return true
		}
	}
	return false
}

// inOrder runs the pieces one after the other, stopping when ctx ends.
type inOrder struct{}

func (inOrder) Until(ctx context.Context, pieces int, do func(int)) {
	for i := 0; i < pieces && ctx.Err() == nil; i++ {
		do(i)
	}
}

// onGoroutines runs the pieces on 4 goroutines.
type onGoroutines struct{}

func (onGoroutines) Until(ctx context.Context, pieces int, do func(int)) {
	workqueue.ParallelizeUntil(ctx, 4, pieces, do)
}

// cpuFits is the test's only Filter: the pod fits when its cpu request is
// at most the node's allocatable cpu minus the other pods' requests.
func cpuFits(pod *corev1.Pod, ni *framework.NodeInfo) *framework.Status {
	req := framework.NewResource(framework.PodRequests(pod)).MilliCPU
	if ni.Requested.MilliCPU+req > ni.Allocatable.MilliCPU {
		return framework.NewStatus(framework.Unschedulable, "Insufficient cpu")
	}
	return nil
}

// cluster is a test's world: nodes, pods (bound ones by spec.nodeName),
// budgets and the pod to schedule.
type cluster struct {
	nodes []*corev1.Node
	pods  []*corev1.Pod
	pdbs  []*policyv1.PodDisruptionBudget
}

// newPlugin builds the plugin on a fake handle holding c; the dry run
// starts at the first node and the clock is testNow.
func newPlugin(t *testing.T, c cluster, args []byte) (*DefaultPreemption, *fakeHandle) {
	t.Helper()
	var objs []runtime.Object
	for _, p := range c.pods {
		objs = append(objs, p)
	}
	for _, b := range c.pdbs {
		objs = append(objs, b)
	}
	client := fake.NewClientset(objs...)
	h := &fakeHandle{
		snapshot:  framework.NewSnapshot(c.nodes, c.pods),
		client:    client,
		informers: informers.NewSharedInformerFactory(client, 0),
		recorder:  events.NewFakeRecorder(100),
	}
	p, err := New(context.Background(), args, h)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	pods := h.informers.Core().V1().Pods().Informer().GetIndexer()
	for _, p := range c.pods {
		if err := pods.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	pdbs := h.informers.Policy().V1().PodDisruptionBudgets().Informer().GetIndexer()
	for _, b := range c.pdbs {
		if err := pdbs.Add(b); err != nil {
			t.Fatal(err)
		}
	}
	client.ClearActions()
	pl := p.(*DefaultPreemption)
	pl.offset = func(int32) int32 { return 0 }
	pl.now = func() time.Time { return testNow }
	return pl, h
}

// filterStatuses is what the scheduling cycle's Filter said of each node
// for pod (nil: fits).
func filterStatuses(s *framework.Snapshot, pod *corev1.Pod) framework.NodeToStatusMap {
	m := framework.NodeToStatusMap{}
	for _, ni := range s.Nodes {
		if st := cpuFits(pod, ni); st != nil {
			m[ni.Node().Name] = st
		}
	}
	return m
}

// Builders.

func makeNode(name, cpu string) *corev1.Node {
	rl := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourcePods: resource.MustParse("110")}
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{Capacity: rl, Allocatable: rl}}
}

type podBuilder struct{ p *corev1.Pod }

// makePod is a pod of priority prio requesting cpu, pending until on().
func makePod(name string, prio int32, cpu string) *podBuilder {
	return &podBuilder{p: &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name)},
		Spec: corev1.PodSpec{
			Priority:                      &prio,
			SchedulerName:                 "default-scheduler",
			TerminationGracePeriodSeconds: ptr[int64](30),
			Containers: []corev1.Container{{Name: "c", Image: "busybox",
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}}}},
		},
	}}
}

func (b *podBuilder) on(node string) *podBuilder { b.p.Spec.NodeName = node; return b }

// started sets the start time to testNow minus ago.
func (b *podBuilder) started(ago time.Duration) *podBuilder {
	b.p.Status.StartTime = &metav1.Time{Time: testNow.Add(-ago)}
	return b
}

func (b *podBuilder) label(k, v string) *podBuilder {
	if b.p.Labels == nil {
		b.p.Labels = map[string]string{}
	}
	b.p.Labels[k] = v
	return b
}

func (b *podBuilder) grace(seconds int64) *podBuilder {
	b.p.Spec.TerminationGracePeriodSeconds = &seconds
	return b
}

func (b *podBuilder) policy(p corev1.PreemptionPolicy) *podBuilder {
	b.p.Spec.PreemptionPolicy = &p
	return b
}

func (b *podBuilder) nominated(node string) *podBuilder {
	b.p.Status.NominatedNodeName = node
	return b
}

// terminatingByPreemption marks the pod as a victim being deleted.
func (b *podBuilder) terminatingByPreemption() *podBuilder {
	b.p.DeletionTimestamp = &metav1.Time{Time: testNow}
	b.p.Status.Conditions = append(b.p.Status.Conditions, corev1.PodCondition{
		Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: corev1.PodReasonPreemptionByScheduler})
	return b
}

func (b *podBuilder) obj() *corev1.Pod { return b.p }

// makePDB is a budget over pods labelled app=app allowing allowed
// disruptions.
func makePDB(name, app string, allowed int32) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: ptr(intstr.FromInt32(1)),
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
		},
		Status: policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: allowed},
	}
}

func ptr[T any](v T) *T { return &v }
