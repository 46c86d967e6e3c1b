package replicaset

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/skiffk8s/skiff/controllers"
	"github.com/skiffk8s/skiff/controllers/internal/controllerutil"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type fixture struct {
	rc       *Controller
	client   *fake.Clientset
	informer informers.SharedInformerFactory
	recorder *record.FakeRecorder
	clock    *clocktesting.FakeClock
}

// newFixture builds a controller whose listers hold objs (the informer
// caches are filled by hand, never started) and a fake clientset holding
// the same objects; created pods get generated names.
func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	client := fake.NewClientset(objs...)
	var n atomic.Int32
	client.PrependReactor("create", "pods", func(a core.Action) (bool, runtime.Object, error) {
		pod := a.(core.CreateAction).GetObject().(*corev1.Pod)
		if pod.Name == "" {
			pod.Name = fmt.Sprintf("%s%05d", pod.GenerateName, n.Add(1))
		}
		return false, nil, nil
	})
	f := informers.NewSharedInformerFactory(client, 0)
	clk := clocktesting.NewFakeClock(t0)
	rec := record.NewFakeRecorder(1000)
	rc := newController(controllers.Context{Client: client, Informers: f, Recorder: rec, Clock: clk})
	for _, o := range objs {
		switch o := o.(type) {
		case *appsv1.ReplicaSet:
			f.Apps().V1().ReplicaSets().Informer().GetIndexer().Add(o)
		case *corev1.Pod:
			f.Core().V1().Pods().Informer().GetIndexer().Add(o)
		}
	}
	client.ClearActions()
	return &fixture{rc: rc, client: client, informer: f, recorder: rec, clock: clk}
}

func newRS(name string, replicas int32) *appsv1.ReplicaSet {
	labels := map[string]string{"app": "web"}
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID(name + "-uid"), Generation: 1},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{"a": "b"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
			},
		},
	}
}

func ownedPod(name string, rs *appsv1.ReplicaSet) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID(name + "-uid"),
		Labels: map[string]string{"app": "web"}, CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour))}}
	if rs != nil {
		p.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(rs, controllerKind)}
	}
	return p
}

func running(p *corev1.Pod, node string, readySince time.Time) *corev1.Pod {
	p.Spec.NodeName = node
	p.Status.Phase = corev1.PodRunning
	if !readySince.IsZero() {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(readySince)}}
	}
	return p
}

func (f *fixture) actions(verb, resource string) []core.Action {
	var out []core.Action
	for _, a := range f.client.Actions() {
		if a.GetVerb() == verb && a.GetResource().Resource == resource {
			out = append(out, a)
		}
	}
	return out
}

func (f *fixture) events() []string {
	var out []string
	for {
		select {
		case e := <-f.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func (f *fixture) lastStatus(t *testing.T) appsv1.ReplicaSetStatus {
	t.Helper()
	var st *appsv1.ReplicaSetStatus
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "update" && a.GetSubresource() == "status" {
			st = &a.(core.UpdateAction).GetObject().(*appsv1.ReplicaSet).Status
		}
	}
	if st == nil {
		t.Fatal("no status update")
	}
	return *st
}

func TestSyncCreatesTheMissingPodsFromTheTemplateWithAControllerReference(t *testing.T) {
	rs := newRS("web", 3)
	f := newFixture(t, rs)
	if err := f.rc.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	creates := f.actions("create", "pods")
	if len(creates) != 3 {
		t.Fatalf("%d pod creates, want 3", len(creates))
	}
	pod := creates[0].(core.CreateAction).GetObject().(*corev1.Pod)
	if pod.GenerateName != "web-" || pod.Labels["app"] != "web" || pod.Annotations["a"] != "b" {
		t.Errorf("pod meta = %+v", pod.ObjectMeta)
	}
	ref := metav1.GetControllerOf(pod)
	if ref == nil || ref.Kind != "ReplicaSet" || ref.Name != "web" || ref.UID != rs.UID || !*ref.BlockOwnerDeletion {
		t.Errorf("controller ref = %+v", ref)
	}
	events := f.events()
	if len(events) != 3 || !strings.HasPrefix(events[0], "Normal SuccessfulCreate Created pod: web-") {
		t.Errorf("events = %q", events)
	}
	if st := f.lastStatus(t); st.ObservedGeneration != 1 || st.Replicas != 0 {
		t.Errorf("status = %+v, want observedGeneration 1 and 0 replicas seen so far", st)
	}
}

func TestExpectationsPreventDoubleCreatesWhileTheInformerLags(t *testing.T) {
	rs := newRS("web", 3)
	f := newFixture(t, rs)
	ctx := context.Background()
	if err := f.rc.sync(ctx, "ns/web"); err != nil {
		t.Fatal(err)
	}
	// The informer has seen none of the 3 pods yet.
	if err := f.rc.sync(ctx, "ns/web"); err != nil {
		t.Fatal(err)
	}
	if n := len(f.actions("create", "pods")); n != 3 {
		t.Fatalf("%d creates after two syncs with a lagging informer, want 3", n)
	}
	// The informer sees 2 of them: still waiting for the third.
	created, err := f.client.CoreV1().Pods("ns").List(ctx, metav1.ListOptions{})
	if err != nil || len(created.Items) != 3 {
		t.Fatalf("pods: %v, %v", created, err)
	}
	for i := range created.Items[:2] {
		p := &created.Items[i]
		f.informer.Core().V1().Pods().Informer().GetIndexer().Add(p)
		f.rc.addPod(p)
	}
	if err := f.rc.sync(ctx, "ns/web"); err != nil {
		t.Fatal(err)
	}
	if n := len(f.actions("create", "pods")); n != 3 {
		t.Fatalf("%d creates with one pod unobserved, want 3", n)
	}
	// After the 5-minute expiry the controller trusts its cache again.
	f.clock.Step(controllerutil.ExpectationsTimeout + time.Second)
	if err := f.rc.sync(ctx, "ns/web"); err != nil {
		t.Fatal(err)
	}
	if n := len(f.actions("create", "pods")); n != 4 {
		t.Fatalf("%d creates after the expectations expired, want 4", n)
	}
}

func TestSlowStartStopsAtTheFirstFailedBatchAndReportsReplicaFailure(t *testing.T) {
	rs := newRS("web", 10)
	f := newFixture(t, rs)
	var calls atomic.Int32
	f.client.PrependReactor("create", "pods", func(a core.Action) (bool, runtime.Object, error) {
		if calls.Add(1) > 1 {
			return true, nil, errors.New(`pods "web-x" is forbidden: exceeded quota: q`)
		}
		return false, nil, nil
	})
	err := f.rc.sync(context.Background(), "ns/web")
	if err == nil {
		t.Fatal("sync succeeded, want the create error")
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("%d create attempts, want 3 (a batch of 1 that worked, a batch of 2 that failed)", n)
	}
	var failed int
	for _, e := range f.events() {
		if strings.HasPrefix(e, "Warning FailedCreate Error creating: pods \"web-x\" is forbidden") {
			failed++
		}
	}
	if failed != 2 {
		t.Errorf("%d FailedCreate events, want 2", failed)
	}
	st := f.lastStatus(t)
	if len(st.Conditions) != 1 || st.Conditions[0].Type != appsv1.ReplicaSetReplicaFailure || st.Conditions[0].Reason != "FailedCreate" || !strings.Contains(st.Conditions[0].Message, "exceeded quota") {
		t.Errorf("conditions = %+v, want ReplicaFailure FailedCreate", st.Conditions)
	}
	if adds, _ := f.rc.exp.Pending("ns/web"); adds != 1 {
		t.Errorf("pending creates = %d, want 1 (the one that was made)", adds)
	}
}

func TestSyncAdoptsMatchingOrphansAndReleasesPodsThatNoLongerMatch(t *testing.T) {
	rs := newRS("web", 2)
	orphan := ownedPod("orphan", nil)
	stray := ownedPod("stray", rs)
	stray.Labels = map[string]string{"app": "other"}
	other := ownedPod("others", newRS("other", 1))
	f := newFixture(t, rs, orphan, stray, other)
	_ = f.rc.sync(context.Background(), "ns/web")
	patches := f.actions("patch", "pods")
	got := map[string]string{}
	for _, a := range patches {
		p := a.(core.PatchAction)
		got[p.GetName()] = string(p.GetPatch())
	}
	if len(got) != 2 {
		t.Fatalf("patched %v, want orphan and stray only", got)
	}
	if !strings.Contains(got["orphan"], `"controller":true`) || !strings.Contains(got["orphan"], `"uid":"web-uid"`) || !strings.Contains(got["orphan"], `"blockOwnerDeletion":true`) {
		t.Errorf("adoption patch = %s", got["orphan"])
	}
	if !strings.Contains(got["stray"], `"$patch":"delete"`) || !strings.Contains(got["stray"], `"uid":"web-uid"`) {
		t.Errorf("release patch = %s", got["stray"])
	}
	// One adopted pod: one more is created.
	if n := len(f.actions("create", "pods")); n != 1 {
		t.Errorf("%d creates, want 1", n)
	}
}

func TestAReplicaSetBeingDeletedNeitherAdoptsNorReleasesNorCreates(t *testing.T) {
	rs := newRS("web", 2)
	now := metav1.NewTime(t0)
	rs.DeletionTimestamp = &now
	stray := ownedPod("stray", rs)
	stray.Labels = map[string]string{"app": "other"}
	f := newFixture(t, rs, ownedPod("orphan", nil), stray)
	if err := f.rc.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	if n := len(f.actions("patch", "pods")) + len(f.actions("create", "pods")); n != 0 {
		t.Errorf("%d pod writes, want none", n)
	}
}

func TestScaleDownDeletesTheLeastValuablePodsFirst(t *testing.T) {
	rs := newRS("web", 1)
	keep := running(ownedPod("ready-old", rs), "n1", t0.Add(-time.Hour))
	unassigned := ownedPod("unassigned", rs)
	pending := ownedPod("pending", rs)
	pending.Spec.NodeName = "n1"
	pending.Status.Phase = corev1.PodPending
	notReady := running(ownedPod("not-ready", rs), "n1", time.Time{})
	f := newFixture(t, rs, keep, unassigned, pending, notReady)
	if err := f.rc.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	deleted := map[string]bool{}
	for _, a := range f.actions("delete", "pods") {
		deleted[a.(core.DeleteAction).GetName()] = true
	}
	if len(deleted) != 3 || deleted["ready-old"] {
		t.Errorf("deleted %v, want every pod but ready-old", deleted)
	}
	var n int
	for _, e := range f.events() {
		if strings.HasPrefix(e, "Normal SuccessfulDelete Deleted pod: ") {
			n++
		}
	}
	if n != 3 {
		t.Errorf("%d SuccessfulDelete events, want 3", n)
	}
	if _, dels := f.rc.exp.Pending("ns/web"); dels != 3 {
		t.Errorf("pending deletions = %d, want 3", dels)
	}
	f.rc.deletePod(unassigned)
	f.rc.deletePod(unassigned) // seen twice, counted once
	if _, dels := f.rc.exp.Pending("ns/web"); dels != 2 {
		t.Errorf("pending deletions after one observed = %d, want 2", dels)
	}
}

func TestStatusCountsReadyAvailableAndFullyLabeledPods(t *testing.T) {
	rs := newRS("web", 3)
	rs.Spec.MinReadySeconds = 60
	rs.Spec.Template.Labels = map[string]string{"app": "web", "tier": "front"}
	a := running(ownedPod("a", rs), "n1", t0.Add(-2*time.Minute)) // available
	a.Labels["tier"] = "front"
	b := running(ownedPod("b", rs), "n1", t0.Add(-10*time.Second)) // ready, not yet available
	c := running(ownedPod("c", rs), "n1", time.Time{})             // not ready
	f := newFixture(t, rs, a, b, c)
	if err := f.rc.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	st := f.lastStatus(t)
	want := appsv1.ReplicaSetStatus{Replicas: 3, FullyLabeledReplicas: 1, ReadyReplicas: 2, AvailableReplicas: 1, ObservedGeneration: 1}
	if st.Replicas != want.Replicas || st.FullyLabeledReplicas != want.FullyLabeledReplicas || st.ReadyReplicas != want.ReadyReplicas || st.AvailableReplicas != want.AvailableReplicas || st.ObservedGeneration != 1 {
		t.Errorf("status = %+v, want %+v", st, want)
	}
}
