package defaultpreemption

import (
	"context"
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	k8stesting "k8s.io/client-go/testing"

	"github.com/skiffk8s/skiff/scheduler/framework"
)

// TestPreemptionAPICalls checks what the API sees when preemption
// succeeds on n1: the victim gets the DisruptionTarget condition and is
// deleted with its own grace period and a "Preempted" event, a
// lower-priority pod nominated to n1 loses its nomination, and the pod is
// nominated to n1. The other victim, already being deleted, gets no
// second delete and no event.
func TestPreemptionAPICalls(t *testing.T) {
	victim := makePod("victim", 1, "1").on("n1").grace(45).obj()
	going := makePod("going", 0, "1").on("n1").obj()
	going.DeletionTimestamp = &metav1.Time{Time: testNow}
	lowNominated := makePod("low-nominated", 5, "1").nominated("n1").obj()
	pod := makePod("p", 10, "2").obj()
	pl, h := newPlugin(t, cluster{nodes: []*corev1.Node{makeNode("n1", "2")}, pods: []*corev1.Pod{victim, going, lowNominated, pod}}, nil)

	res, s := pl.PostFilter(context.Background(), framework.NewCycleState(), pod, filterStatuses(h.snapshot, pod))
	if res == nil || res.NominatedNodeName != "n1" || s.Code() != framework.Unschedulable {
		t.Fatalf("got %+v %v, want n1 nominated", res, s)
	}

	type call struct{ verb, sub, name, detail string }
	var got []call
	for _, a := range h.client.Actions() {
		c := call{verb: a.GetVerb(), sub: a.GetSubresource()}
		switch a := a.(type) {
		case k8stesting.PatchAction:
			c.name, c.detail = a.GetName(), string(a.GetPatchType())
		case k8stesting.DeleteAction:
			c.name = a.GetName()
			if g := a.GetDeleteOptions().GracePeriodSeconds; g != nil {
				c.detail = "grace " + itoa(*g)
			}
		}
		got = append(got, c)
	}
	want := []call{
		{"patch", "status", "victim", string(types.ApplyPatchType)},
		{"delete", "", "victim", "grace 45"},
		{"patch", "status", "low-nominated", string(types.StrategicMergePatchType)},
		{"patch", "status", "p", string(types.StrategicMergePatchType)},
	}
	if len(got) != len(want) {
		t.Fatalf("API calls %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("API call %d: got %+v, want %+v (all: %+v)", i, got[i], want[i], got)
		}
	}

	ctx := context.Background()
	if _, err := h.client.CoreV1().Pods("default").Get(ctx, "victim", metav1.GetOptions{}); err == nil {
		t.Errorf("victim still exists")
	}
	// The condition went out in the apply patch.
	var applied corev1.Pod
	if err := json.Unmarshal(h.client.Actions()[0].(k8stesting.PatchAction).GetPatch(), &applied); err != nil {
		t.Fatal(err)
	}
	if cs := applied.Status.Conditions; len(cs) != 1 || cs[0].Type != corev1.DisruptionTarget || cs[0].Status != corev1.ConditionTrue ||
		cs[0].Reason != corev1.PodReasonPreemptionByScheduler || cs[0].Message != "default-scheduler: preempting to accommodate a higher priority pod" ||
		!cs[0].LastTransitionTime.Time.Equal(testNow) {
		t.Errorf("applied conditions %+v, want DisruptionTarget True PreemptionByScheduler", cs)
	}
	for name, wantNom := range map[string]string{"p": "n1", "low-nominated": ""} {
		p, err := h.client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Status.NominatedNodeName != wantNom {
			t.Errorf("%s: nominatedNodeName %q, want %q", name, p.Status.NominatedNodeName, wantNom)
		}
	}
	select {
	case ev := <-h.recorder.Events:
		if want := "Normal Preempted Preempted by pod uid-p on node n1"; ev != want {
			t.Errorf("event %q, want %q", ev, want)
		}
	default:
		t.Errorf("no Preempted event")
	}
	if len(h.recorder.Events) != 0 {
		t.Errorf("%d more events, want one", len(h.recorder.Events))
	}
}

// TestNoCandidateClearsNomination: a pod nominated to a node where
// preemption no longer helps loses its nomination.
func TestNoCandidateClearsNomination(t *testing.T) {
	pod := makePod("p", 10, "1").nominated("n1").obj()
	pl, h := newPlugin(t, cluster{nodes: []*corev1.Node{makeNode("n1", "1")},
		pods: []*corev1.Pod{makePod("high", 100, "1").on("n1").obj(), pod}}, nil)
	_, s := pl.PostFilter(context.Background(), framework.NewCycleState(), pod, filterStatuses(h.snapshot, pod))
	if s.Code() != framework.Unschedulable {
		t.Fatalf("got %v, want Unschedulable", s)
	}
	p, err := h.client.CoreV1().Pods("default").Get(context.Background(), "p", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Status.NominatedNodeName != "" {
		t.Fatalf("nominatedNodeName %q, want cleared", p.Status.NominatedNodeName)
	}
}

func itoa(v int64) string { b, _ := json.Marshal(v); return string(b) }
