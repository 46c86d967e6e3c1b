package endpointslice

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	testclock "k8s.io/utils/clock/testing"

	"github.com/skiffk8s/skiff/controllers/internal/ctrltest"
)

func svc() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "svc-uid", Labels: map[string]string{"team": "a"}},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, ClusterIP: "10.96.0.10",
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(8080)}}},
	}
}

func pods(n int) []*corev1.Pod {
	var out []*corev1.Pod
	for i := range n {
		out = append(out, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%03d", i), Namespace: "ns", UID: types.UID(fmt.Sprint("uid", i)), Labels: map[string]string{"app": "web"}},
			Spec:       corev1.PodSpec{NodeName: "node-a"},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: fmt.Sprintf("10.244.%d.%d", i/200, i%200+1),
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
		})
	}
	return out
}

var nodes = map[string]*corev1.Node{"node-a": {ObjectMeta: metav1.ObjectMeta{Name: "node-a", Labels: map[string]string{corev1.LabelTopologyZone: "z1"}}}}

var created int

// apply turns a plan into the slices that would exist afterwards.
func apply(existing []*discoveryv1.EndpointSlice, p Plan) []*discoveryv1.EndpointSlice {
	byName := map[string]*discoveryv1.EndpointSlice{}
	for _, s := range existing {
		byName[s.Name] = s
	}
	for _, s := range p.Delete {
		delete(byName, s.Name)
	}
	for _, s := range p.Update {
		byName[s.Name] = s
	}
	for _, s := range p.Create {
		s = s.DeepCopy()
		created++
		s.Name = fmt.Sprintf("%snew%d", s.GenerateName, created)
		byName[s.Name] = s
	}
	var out []*discoveryv1.EndpointSlice
	for _, s := range byName {
		out = append(out, s)
	}
	return out
}

func TestReconcile(t *testing.T) {
	t.Run("250 endpoints go into three new slices of at most 100, named and labelled as upstream", func(t *testing.T) {
		p := Reconcile(svc(), pods(250), nodes, nil, 100, time.Time{})
		if len(p.Create) != 3 || len(p.Update)+len(p.Delete) != 0 {
			t.Fatalf("plan: %d create, %d update, %d delete", len(p.Create), len(p.Update), len(p.Delete))
		}
		total := 0
		for _, s := range p.Create {
			total += len(s.Endpoints)
			if len(s.Endpoints) > 100 || s.GenerateName != "web-" || s.AddressType != discoveryv1.AddressTypeIPv4 {
				t.Errorf("slice: %d endpoints, generateName %q, type %s", len(s.Endpoints), s.GenerateName, s.AddressType)
			}
			if s.Labels[discoveryv1.LabelServiceName] != "web" || s.Labels[discoveryv1.LabelManagedBy] != ControllerName || s.Labels["team"] != "a" {
				t.Errorf("labels: %v", s.Labels)
			}
			if len(s.OwnerReferences) != 1 || s.OwnerReferences[0].Kind != "Service" || !*s.OwnerReferences[0].Controller {
				t.Errorf("owner: %v", s.OwnerReferences)
			}
			if *s.Endpoints[0].Zone != "z1" || *s.Ports[0].Port != 8080 {
				t.Errorf("endpoint %+v ports %+v", s.Endpoints[0], s.Ports)
			}
		}
		if total != 250 {
			t.Errorf("%d endpoints, want 250", total)
		}
	})

	t.Run("nothing changes when the slices already match", func(t *testing.T) {
		ps := pods(150)
		existing := apply(nil, Reconcile(svc(), ps, nodes, nil, 100, time.Time{}))
		p := Reconcile(svc(), ps, nodes, existing, 100, time.Time{})
		if len(p.Create)+len(p.Update)+len(p.Delete) != 0 {
			t.Errorf("plan: %+v", p)
		}
	})

	t.Run("a pod turning unready updates only the slice holding it", func(t *testing.T) {
		ps := pods(150)
		existing := apply(nil, Reconcile(svc(), ps, nodes, nil, 100, time.Time{}))
		ps[0].Status.Conditions[0].Status = corev1.ConditionFalse
		p := Reconcile(svc(), ps, nodes, existing, 100, time.Time{})
		if len(p.Update) != 1 || len(p.Create)+len(p.Delete) != 0 {
			t.Fatalf("plan: %d create, %d update, %d delete", len(p.Create), len(p.Update), len(p.Delete))
		}
		for _, e := range p.Update[0].Endpoints {
			if e.TargetRef.Name == "p000" && (*e.Conditions.Ready || *e.Conditions.Serving) {
				t.Errorf("p000 conditions: %+v", e.Conditions)
			}
		}
	})

	t.Run("a new pod fills an existing slice with room instead of a new slice", func(t *testing.T) {
		ps := pods(101)
		existing := apply(nil, Reconcile(svc(), ps[:100], nodes, nil, 100, time.Time{}))
		existing = apply(existing, Reconcile(svc(), ps[:101], nodes, existing, 100, time.Time{}))
		ps = append(ps, pods(102)[101])
		p := Reconcile(svc(), ps, nodes, existing, 100, time.Time{})
		if len(p.Update) != 1 || len(p.Create) != 0 || len(p.Update[0].Endpoints) != 2 {
			t.Errorf("plan: %d create, %d update", len(p.Create), len(p.Update))
		}
	})

	t.Run("terminating pods stay with ready=false, serving from readiness and terminating=true", func(t *testing.T) {
		ps := pods(1)
		now := metav1.Now()
		ps[0].DeletionTimestamp = &now
		p := Reconcile(svc(), ps, nodes, nil, 100, time.Time{})
		c := p.Create[0].Endpoints[0].Conditions
		if *c.Ready || !*c.Serving || !*c.Terminating {
			t.Errorf("conditions: ready %v serving %v terminating %v", *c.Ready, *c.Serving, *c.Terminating)
		}
	})

	t.Run("when the last pod goes the slice is reused as an empty placeholder", func(t *testing.T) {
		existing := apply(nil, Reconcile(svc(), pods(3), nodes, nil, 100, time.Time{}))
		p := Reconcile(svc(), nil, nodes, existing, 100, time.Time{})
		if len(p.Update) != 1 || len(p.Create)+len(p.Delete) != 0 || len(p.Update[0].Endpoints) != 0 || len(p.Update[0].Ports) != 0 {
			t.Errorf("plan: %+v", p)
		}
		after := apply(existing, p)
		if p := Reconcile(svc(), nil, nodes, after, 100, time.Time{}); len(p.Create)+len(p.Update)+len(p.Delete) != 0 {
			t.Errorf("placeholder rewritten: %+v", p)
		}
	})
}

// TestTrafficDistributionHints: spec.trafficDistribution becomes hints on
// every endpoint (its zone for PreferSameZone and PreferClose, its node
// and zone for PreferSameNode), and changing or dropping it rewrites them.
func TestTrafficDistributionHints(t *testing.T) {
	withDist := func(d string) *corev1.Service {
		s := svc()
		if d != "" {
			s.Spec.TrafficDistribution = &d
		}
		return s
	}
	ps := pods(2)
	ps[1].Spec.NodeName = "node-b"
	zoned := map[string]*corev1.Node{"node-a": nodes["node-a"], "node-b": {ObjectMeta: metav1.ObjectMeta{Name: "node-b"}}}
	hints := func(e discoveryv1.Endpoint) string {
		if e.Hints == nil {
			return "none"
		}
		return fmt.Sprintf("nodes=%v zones=%v", e.Hints.ForNodes, e.Hints.ForZones)
	}
	for _, tc := range []struct {
		dist     string
		onA, onB string // hints of the endpoint on node-a (zone z1) and on node-b (no zone)
	}{
		{"", "none", "none"},
		{corev1.ServiceTrafficDistributionPreferSameZone, "nodes=[] zones=[{z1}]", "none"},
		{corev1.ServiceTrafficDistributionPreferClose, "nodes=[] zones=[{z1}]", "none"},
		{corev1.ServiceTrafficDistributionPreferSameNode, "nodes=[{node-a}] zones=[{z1}]", "nodes=[{node-b}] zones=[]"},
	} {
		p := Reconcile(withDist(tc.dist), ps, zoned, nil, 100, time.Time{})
		if len(p.Create) != 1 || len(p.Create[0].Endpoints) != 2 {
			t.Fatalf("%q: plan %+v", tc.dist, p)
		}
		for _, e := range p.Create[0].Endpoints {
			want := tc.onA
			if *e.NodeName == "node-b" {
				want = tc.onB
			}
			if got := hints(e); got != want {
				t.Errorf("trafficDistribution %q, endpoint on %s: hints %s, want %s", tc.dist, *e.NodeName, got, want)
			}
		}
	}
	existing := apply(nil, Reconcile(withDist(corev1.ServiceTrafficDistributionPreferSameNode), ps, zoned, nil, 100, time.Time{}))
	p := Reconcile(withDist(""), ps, zoned, existing, 100, time.Time{})
	if len(p.Update) != 1 || hints(p.Update[0].Endpoints[0]) != "none" {
		t.Errorf("dropping trafficDistribution: plan %+v, want one update without hints", p)
	}
}

func TestSyncLeavesOutPodsOnUnknownNodes(t *testing.T) {
	s := svc()
	ps := pods(2)
	ps[1].Spec.NodeName = "node-gone"
	client := fake.NewClientset(s, ps[0], ps[1], nodes["node-a"])
	c := ctrltest.Context(t, client, Name, testclock.NewFakeClock(time.Now()), nil)
	ctl, err := New(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []any{s} {
		_ = c.Informers.Core().V1().Services().Informer().GetIndexer().Add(o)
	}
	for _, p := range ps {
		_ = c.Informers.Core().V1().Pods().Informer().GetIndexer().Add(p)
	}
	_ = c.Informers.Core().V1().Nodes().Informer().GetIndexer().Add(nodes["node-a"])
	client.ClearActions()
	if err := ctl.(*Controller).sync(context.Background(), "ns/web"); err == nil {
		t.Error("want an error so that the service is retried")
	}
	acts := client.Actions()
	if len(acts) != 1 || !acts[0].Matches("create", "endpointslices") {
		t.Fatalf("actions: %v", acts)
	}
	es := acts[0].(k8stesting.CreateAction).GetObject().(*discoveryv1.EndpointSlice)
	if len(es.Endpoints) != 1 || es.Endpoints[0].TargetRef.Name != "p000" {
		t.Errorf("endpoints: %+v", es.Endpoints)
	}
}
