package deployment

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/skiffk8s/skiff/controllers"
	"github.com/skiffk8s/skiff/controllers/internal/controllerutil"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestResolveFencepostsRoundsSurgeUpAndUnavailableDown(t *testing.T) {
	tests := []struct {
		name                   string
		surge, unavailable     intstr.IntOrString
		replicas               int32
		wantSurge, wantUnavail int32
	}{
		{"ints are taken as they are", intstr.FromInt32(1), intstr.FromInt32(1), 4, 1, 1},
		{"25% of 10 is 3 surge and 2 unavailable", intstr.FromString("25%"), intstr.FromString("25%"), 10, 3, 2},
		{"25% of 1 is 1 surge and 0 unavailable", intstr.FromString("25%"), intstr.FromString("25%"), 1, 1, 0},
		{"0 surge and 0% of 3 unavailable makes 1 unavailable", intstr.FromInt32(0), intstr.FromString("10%"), 3, 0, 1},
		{"100% surge doubles", intstr.FromString("100%"), intstr.FromInt32(0), 5, 5, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, u, err := resolveFenceposts(&tt.surge, &tt.unavailable, tt.replicas)
			if err != nil || s != tt.wantSurge || u != tt.wantUnavail {
				t.Errorf("got %d, %d, %v; want %d, %d", s, u, err, tt.wantSurge, tt.wantUnavail)
			}
		})
	}
}

func TestMaxUnavailableNeverExceedsReplicasAndIsZeroForRecreate(t *testing.T) {
	d := newD("web", 2)
	u := intstr.FromInt32(5)
	d.Spec.Strategy.RollingUpdate.MaxUnavailable = &u
	if got := maxUnavailable(d); got != 2 {
		t.Errorf("maxUnavailable = %d, want 2", got)
	}
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	if maxUnavailable(d) != 0 || maxSurge(d) != 0 {
		t.Error("Recreate has a surge or unavailable budget")
	}
}

func TestProportionalScalingSpreadsNewReplicasByReplicaSetSize(t *testing.T) {
	// A rollout of 10 (maxSurge 3) is half way: old 8, new 5. The user
	// scales to 20 (max 23): 10 more go 6 to old, 4 to new (upstream's
	// example: proportions of the recorded max-replicas 13).
	d := newD("web", 20)
	s, u := intstr.FromInt32(3), intstr.FromInt32(2)
	d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: &s, MaxUnavailable: &u}
	old := rsWith("web-old", 8, t0.Add(-time.Hour))
	cur := rsWith("web-new", 5, t0)
	for _, rs := range []*appsv1.ReplicaSet{old, cur} {
		rs.Annotations = map[string]string{MaxReplicasAnnotation: "13", DesiredReplicasAnnotation: "10"}
	}
	all := []*appsv1.ReplicaSet{old, cur}
	sizes := proportionalSizes(d, all, 23-13)
	if sizes[0]+sizes[1] != 23 || sizes[0] != 14 || sizes[1] != 9 {
		t.Errorf("sizes = %v, want [14 9]", sizes)
	}
}

type fixture struct {
	dc       *Controller
	client   *fake.Clientset
	f        informers.SharedInformerFactory
	clock    *clocktesting.FakeClock
	recorder *record.FakeRecorder
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	client := fake.NewClientset(objs...)
	f := informers.NewSharedInformerFactory(client, 0)
	clk := clocktesting.NewFakeClock(t0)
	rec := record.NewFakeRecorder(100)
	dc := newController(controllers.Context{Client: client, Informers: f, Recorder: rec, Clock: clk})
	for _, o := range objs {
		switch o := o.(type) {
		case *appsv1.Deployment:
			f.Apps().V1().Deployments().Informer().GetIndexer().Add(o)
		case *appsv1.ReplicaSet:
			f.Apps().V1().ReplicaSets().Informer().GetIndexer().Add(o)
		}
	}
	return &fixture{dc: dc, client: client, f: f, clock: clk, recorder: rec}
}

func newD(name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	s, u := intstr.FromString("25%"), intstr.FromString("25%")
	pds, rhl := int32(600), int32(10)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID(name + "-uid"), Generation: 1},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}},
			},
			Strategy:                appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &s, MaxUnavailable: &u}},
			ProgressDeadlineSeconds: &pds,
			RevisionHistoryLimit:    &rhl,
		},
	}
}

func rsWith(name string, replicas int32, created time.Time) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID(name), CreationTimestamp: metav1.NewTime(created)},
		Spec:       appsv1.ReplicaSetSpec{Replicas: &replicas},
	}
}

func (fx *fixture) created(t *testing.T) *appsv1.ReplicaSet {
	t.Helper()
	for _, a := range fx.client.Actions() {
		if a.GetVerb() == "create" && a.GetResource().Resource == "replicasets" {
			return a.(core.CreateAction).GetObject().(*appsv1.ReplicaSet)
		}
	}
	t.Fatal("no replica set created")
	return nil
}

func (fx *fixture) lastStatus(t *testing.T) *appsv1.Deployment {
	t.Helper()
	var d *appsv1.Deployment
	for _, a := range fx.client.Actions() {
		if a.GetVerb() == "update" && a.GetSubresource() == "status" {
			d = a.(core.UpdateAction).GetObject().(*appsv1.Deployment)
		}
	}
	if d == nil {
		t.Fatal("no status update")
	}
	return d
}

func TestANewDeploymentGetsAReplicaSetNamedAfterItsTemplateHash(t *testing.T) {
	d := newD("web", 4)
	fx := newFixture(t, d)
	if err := fx.dc.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	rs := fx.created(t)
	hash := controllerutil.ComputeHash(&d.Spec.Template, nil)
	if rs.Name != "web-"+hash {
		t.Errorf("name = %s, want web-%s", rs.Name, hash)
	}
	if rs.Labels[PodTemplateHashLabel] != hash || rs.Spec.Selector.MatchLabels[PodTemplateHashLabel] != hash || rs.Spec.Template.Labels[PodTemplateHashLabel] != hash {
		t.Errorf("pod-template-hash missing from labels %v, selector %v or template %v", rs.Labels, rs.Spec.Selector, rs.Spec.Template.Labels)
	}
	if *rs.Spec.Replicas != 4 {
		t.Errorf("replicas = %d, want 4", *rs.Spec.Replicas)
	}
	want := map[string]string{RevisionAnnotation: "1", DesiredReplicasAnnotation: "4", MaxReplicasAnnotation: "5"}
	for k, v := range want {
		if rs.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, rs.Annotations[k], v)
		}
	}
	if ref := metav1.GetControllerOf(rs); ref == nil || ref.Kind != "Deployment" || ref.UID != d.UID {
		t.Errorf("controller ref = %+v", ref)
	}
	if e := <-fx.recorder.Events; e != "Normal ScalingReplicaSet Scaled up replica set web-"+hash+" from 0 to 4" {
		t.Errorf("event = %q", e)
	}
	st := fx.lastStatus(t)
	if c := getCondition(st.Status, appsv1.DeploymentProgressing); c == nil || c.Reason != ReasonNewRSCreated || c.Message != fmt.Sprintf("Created new replica set %q", rs.Name) {
		t.Errorf("Progressing = %+v", c)
	}
	// A collision count gives another name.
	one := int32(1)
	if controllerutil.ComputeHash(&d.Spec.Template, &one) == hash {
		t.Error("collision count does not change the name")
	}
}

func TestProgressingTurnsToProgressDeadlineExceededOnTheFakeClock(t *testing.T) {
	d := newD("web", 2)
	ten := int32(10)
	d.Spec.ProgressDeadlineSeconds = &ten
	hash := controllerutil.ComputeHash(&d.Spec.Template, nil)
	rs := rsWith("web-"+hash, 2, t0)
	rs.Spec.Template = *d.Spec.Template.DeepCopy()
	rs.Spec.Template.Labels[PodTemplateHashLabel] = hash
	rs.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(d, controllerKind)}
	rs.Labels = rs.Spec.Template.Labels
	rs.Annotations = map[string]string{RevisionAnnotation: "1", DesiredReplicasAnnotation: "2", MaxReplicasAnnotation: "3"}
	rs.Status.Replicas = 2
	d.Annotations = map[string]string{RevisionAnnotation: "1"}
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2,
		Conditions: []appsv1.DeploymentCondition{newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, ReasonNewRSCreated, "Created", t0)}}
	fx := newFixture(t, d, rs)
	ctx := context.Background()

	fx.clock.Step(5 * time.Second)
	if err := fx.dc.sync(ctx, "ns/web"); err != nil {
		t.Fatal(err)
	}
	got := fx.lastStatus(t)
	if c := getCondition(got.Status, appsv1.DeploymentProgressing); c.Reason != ReasonNewRSCreated {
		t.Errorf("before the deadline Progressing = %s, want it unchanged", c.Reason)
	}
	if c := getCondition(got.Status, appsv1.DeploymentAvailable); c == nil || c.Status != corev1.ConditionFalse || c.Reason != ReasonMinimumUnavailable {
		t.Errorf("Available = %+v", c)
	}

	fx.f.Apps().V1().Deployments().Informer().GetIndexer().Update(got)
	fx.clock.Step(6 * time.Second)
	if err := fx.dc.sync(ctx, "ns/web"); err != nil {
		t.Fatal(err)
	}
	got = fx.lastStatus(t)
	c := getCondition(got.Status, appsv1.DeploymentProgressing)
	if c.Status != corev1.ConditionFalse || c.Reason != ReasonTimedOut || c.Message != fmt.Sprintf("ReplicaSet %q has timed out progressing.", rs.Name) {
		t.Errorf("after the deadline Progressing = %+v", c)
	}

	// Pods become available: the rollout completes.
	rs2 := rs.DeepCopy()
	rs2.Status.ReadyReplicas, rs2.Status.AvailableReplicas = 2, 2
	fx.f.Apps().V1().ReplicaSets().Informer().GetIndexer().Update(rs2)
	fx.f.Apps().V1().Deployments().Informer().GetIndexer().Update(got)
	if err := fx.dc.sync(ctx, "ns/web"); err != nil {
		t.Fatal(err)
	}
	got = fx.lastStatus(t)
	c = getCondition(got.Status, appsv1.DeploymentProgressing)
	if c.Status != corev1.ConditionTrue || c.Reason != ReasonNewRSAvailable || c.Message != fmt.Sprintf("ReplicaSet %q has successfully progressed.", rs.Name) {
		t.Errorf("after availability Progressing = %+v", c)
	}
	if a := getCondition(got.Status, appsv1.DeploymentAvailable); a.Status != corev1.ConditionTrue || a.Reason != ReasonMinimumAvailable {
		t.Errorf("Available = %+v", a)
	}
}

func TestRevisionHistoryLimitDeletesTheOldestEmptyReplicaSets(t *testing.T) {
	d := newD("web", 1)
	zero := int32(0)
	d.Spec.RevisionHistoryLimit = &zero
	var objs []runtime.Object
	objs = append(objs, d)
	for i, name := range []string{"web-a", "web-b"} {
		rs := rsWith(name, 0, t0.Add(time.Duration(i)*time.Minute))
		rs.Annotations = map[string]string{RevisionAnnotation: fmt.Sprint(i + 1)}
		rs.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(d, controllerKind)}
		rs.Labels = map[string]string{"app": "web"}
		objs = append(objs, rs)
	}
	fx := newFixture(t, objs...)
	old := []*appsv1.ReplicaSet{objs[1].(*appsv1.ReplicaSet), objs[2].(*appsv1.ReplicaSet)}
	if err := fx.dc.cleanup(context.Background(), old, d); err != nil {
		t.Fatal(err)
	}
	var deleted []string
	for _, a := range fx.client.Actions() {
		if a.GetVerb() == "delete" {
			deleted = append(deleted, a.(core.DeleteAction).GetName())
		}
	}
	if len(deleted) != 2 {
		t.Errorf("deleted %v, want both empty old replica sets", deleted)
	}
}

func TestRollbackToAnOldReplicaSetGivesItTheNextRevisionAndKeepsTheOldOneInHistory(t *testing.T) {
	d := newD("web", 1)
	rs := rsWith("web-old", 0, t0)
	rs.Annotations = map[string]string{RevisionAnnotation: "1"}
	if !setNewReplicaSetAnnotations(d, rs, "3", true) {
		t.Fatal("no change reported")
	}
	if rs.Annotations[RevisionAnnotation] != "3" || rs.Annotations[RevisionHistoryAnnotation] != "1" {
		t.Errorf("annotations = %v, want revision 3 and history 1", rs.Annotations)
	}
	rs.Annotations[RevisionAnnotation] = "3"
	setNewReplicaSetAnnotations(d, rs, "5", true)
	if rs.Annotations[RevisionHistoryAnnotation] != "1,3" {
		t.Errorf("history = %q, want 1,3", rs.Annotations[RevisionHistoryAnnotation])
	}
}
