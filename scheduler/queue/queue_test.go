package queue

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/skiffk8s/skiff/scheduler/framework"
)

func podWithPriority(name string, prio int32) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(name)},
		Spec:       corev1.PodSpec{Priority: &prio},
	}
}

func newTestQueue(events map[string][]framework.ClusterEvent) (*Queue, *clocktesting.FakeClock) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	return New(Options{Clock: clk, PluginEvents: events}), clk
}

func TestPodsPopInPriorityOrderThenInArrivalOrder(t *testing.T) {
	q, clk := newTestQueue(nil)
	for _, p := range []*corev1.Pod{podWithPriority("low-1", 0), podWithPriority("high-1", 100), podWithPriority("low-2", 0), podWithPriority("high-2", 100)} {
		q.Add(p)
		clk.Step(time.Millisecond)
	}
	var got []string
	for range 4 {
		got = append(got, q.Pop().Pod.Name)
	}
	want := []string{"high-1", "high-2", "low-1", "low-2"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("pop order = %v, want %v", got, want)
		}
	}
}

func TestBackOffDoublesFromOneSecondUpToTenSeconds(t *testing.T) {
	q, _ := newTestQueue(nil)
	pi := &QueuedPodInfo{PodInfo: &framework.PodInfo{Pod: podWithPriority("p", 0)}}
	var got []time.Duration
	for attempts := 1; attempts <= 6; attempts++ {
		pi.Attempts = attempts
		got = append(got, q.BackoffDuration(pi))
	}
	want := []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("back-offs = %v, want %v", got, want)
		}
	}
}

func TestAPodThatFailedWithAnErrorReturnsOnlyAfterItsBackOff(t *testing.T) {
	q, clk := newTestQueue(nil)
	q.Add(podWithPriority("p", 0))
	pi := q.Pop()
	q.AddUnschedulable(pi, nil, q.SchedulingCycle())
	if a, b, _ := q.Lengths(); a != 0 || b != 1 {
		t.Fatalf("active=%d backoff=%d, want the pod backing off", a, b)
	}
	clk.Step(999 * time.Millisecond)
	q.FlushBackoffCompleted()
	if a, _, _ := q.Lengths(); a != 0 {
		t.Fatalf("pod left back-off before 1s")
	}
	clk.Step(2 * time.Millisecond)
	q.FlushBackoffCompleted()
	if a, _, _ := q.Lengths(); a != 1 {
		t.Fatalf("pod still backing off after 1s")
	}
}

func TestAPodRejectedByAPluginMovesOnlyOnAnEventThePluginRegistered(t *testing.T) {
	q, clk := newTestQueue(map[string][]framework.ClusterEvent{
		"Fit": {{Resource: framework.NodeResource, ActionType: framework.Add}},
	})
	q.Add(podWithPriority("p", 0))
	pi := q.Pop()
	q.AddUnschedulable(pi, sets.New("Fit"), q.SchedulingCycle())
	clk.Step(time.Minute) // back-off over
	q.MoveOnEvent(framework.ClusterEvent{Resource: framework.NodeResource, ActionType: framework.UpdateNodeLabel})
	q.MoveOnEvent(framework.ClusterEvent{Resource: framework.PodResource, ActionType: framework.Add})
	if a, b, u := q.Lengths(); a != 0 || b != 0 || u != 1 {
		t.Fatalf("after unrelated events: active=%d backoff=%d unschedulable=%d, want the pod still unschedulable", a, b, u)
	}
	q.MoveOnEvent(framework.ClusterEvent{Resource: framework.NodeResource, ActionType: framework.Add})
	if a, _, u := q.Lengths(); a != 1 || u != 0 {
		t.Fatalf("after a node was added: active=%d unschedulable=%d, want the pod active", a, u)
	}
}

func TestAPodRejectedByAPluginWithoutEnqueueExtensionsMovesOnAnyEvent(t *testing.T) {
	q, clk := newTestQueue(map[string][]framework.ClusterEvent{"Opaque": nil})
	q.Add(podWithPriority("p", 0))
	q.AddUnschedulable(q.Pop(), sets.New("Opaque"), q.SchedulingCycle())
	clk.Step(time.Minute)
	q.MoveOnEvent(framework.ClusterEvent{Resource: framework.NamespaceResource, ActionType: framework.Add})
	if a, _, _ := q.Lengths(); a != 1 {
		t.Fatalf("pod was not moved by an event")
	}
}

func TestAnEventDuringAPodsAttemptSendsItToBackOffNotToUnschedulable(t *testing.T) {
	q, _ := newTestQueue(map[string][]framework.ClusterEvent{"Fit": {{Resource: framework.NodeResource, ActionType: framework.Add}}})
	q.Add(podWithPriority("p", 0))
	pi := q.Pop()
	cycle := q.SchedulingCycle()
	q.MoveOnEvent(framework.ClusterEvent{Resource: framework.NodeResource, ActionType: framework.Add})
	q.AddUnschedulable(pi, sets.New("Fit"), cycle)
	if _, b, u := q.Lengths(); b != 1 || u != 0 {
		t.Fatalf("backoff=%d unschedulable=%d, want the pod in back-off", b, u)
	}
}

func TestPodsUnschedulableForFiveMinutesAreRetried(t *testing.T) {
	q, clk := newTestQueue(map[string][]framework.ClusterEvent{"Fit": {{Resource: framework.NodeResource, ActionType: framework.Add}}})
	q.Add(podWithPriority("p", 0))
	q.AddUnschedulable(q.Pop(), sets.New("Fit"), q.SchedulingCycle())
	clk.Step(4 * time.Minute)
	q.FlushUnschedulableLeftover()
	if _, _, u := q.Lengths(); u != 1 {
		t.Fatalf("pod left unschedulable before 5 minutes")
	}
	clk.Step(2 * time.Minute)
	q.FlushUnschedulableLeftover()
	if a, _, _ := q.Lengths(); a != 1 {
		t.Fatalf("pod still unschedulable after 6 minutes")
	}
}

func TestNominatedPodsAreListedForTheirNodeUntilDeleted(t *testing.T) {
	q, _ := newTestQueue(nil)
	p := podWithPriority("p", 10)
	q.AddNominatedPod(p, "n1")
	if got := q.NominatedPodsForNode("n1"); len(got) != 1 || got[0].Pod.Name != "p" {
		t.Fatalf("nominated on n1 = %v", got)
	}
	q.DeleteNominatedPod(p)
	if got := q.NominatedPodsForNode("n1"); len(got) != 0 {
		t.Fatalf("nomination not forgotten: %v", got)
	}
}
