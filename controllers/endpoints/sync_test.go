package endpoints

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	testclock "k8s.io/utils/clock/testing"

	"github.com/skiffk8s/skiff/controllers/internal/ctrltest"
)

var created = metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))

func service(name string, mods ...func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: "svc-uid", CreationTimestamp: created, Labels: map[string]string{"team": "a"}},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, ClusterIP: "10.96.0.10",
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")}}},
	}
	for _, m := range mods {
		m(s)
	}
	return s
}

func pod(name, ip string, ready bool, mods ...func(*corev1.Pod)) *corev1.Pod {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name), Labels: map[string]string{"app": "web"}, CreationTimestamp: created},
		Spec: corev1.PodSpec{NodeName: "node-a", Containers: []corev1.Container{{Name: "c",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st, LastTransitionTime: created}}},
	}
	for _, m := range mods {
		m(p)
	}
	return p
}

// newTest builds the controller on a fake clientset holding objs, with
// the same objects in its informers' caches.
func newTest(t *testing.T, objs ...runtime.Object) (*Controller, *fake.Clientset) {
	t.Helper()
	client := fake.NewClientset(objs...)
	c := ctrltest.Context(t, client, Name, testclock.NewFakeClock(created.Time), nil)
	ctl, err := New(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *corev1.Service:
			err = c.Informers.Core().V1().Services().Informer().GetIndexer().Add(o)
		case *corev1.Pod:
			err = c.Informers.Core().V1().Pods().Informer().GetIndexer().Add(o)
		case *corev1.Endpoints:
			err = c.Informers.Core().V1().Endpoints().Informer().GetIndexer().Add(o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	client.ClearActions()
	return ctl.(*Controller), client
}

// written returns the Endpoints the sync created or updated, failing
// when there is not exactly one write.
func written(t *testing.T, client *fake.Clientset) *corev1.Endpoints {
	t.Helper()
	var out []*corev1.Endpoints
	for _, a := range client.Actions() {
		switch a := a.(type) {
		case k8stesting.CreateAction:
			if ep, ok := a.GetObject().(*corev1.Endpoints); ok {
				out = append(out, ep)
			}
		case k8stesting.UpdateAction:
			if ep, ok := a.GetObject().(*corev1.Endpoints); ok {
				out = append(out, ep)
			}
		}
	}
	if len(out) != 1 {
		t.Fatalf("want one Endpoints write, got %d: %v", len(out), client.Actions())
	}
	return out[0]
}

func ips(addrs []corev1.EndpointAddress) string {
	s := ""
	for _, a := range addrs {
		s += a.IP + " "
	}
	return s
}

func TestSync(t *testing.T) {
	ctx := context.Background()

	t.Run("ready pods are listed under addresses and others under notReadyAddresses, with the named port resolved", func(t *testing.T) {
		ctl, client := newTest(t, service("web"), pod("a", "10.244.0.2", true), pod("b", "10.244.0.3", false))
		if err := ctl.sync(ctx, "ns/web"); err != nil {
			t.Fatal(err)
		}
		ep := written(t, client)
		if len(ep.Subsets) != 1 {
			t.Fatalf("subsets: %+v", ep.Subsets)
		}
		s := ep.Subsets[0]
		if ips(s.Addresses) != "10.244.0.2 " || ips(s.NotReadyAddresses) != "10.244.0.3 " {
			t.Errorf("addresses %q, notReady %q", ips(s.Addresses), ips(s.NotReadyAddresses))
		}
		if len(s.Ports) != 1 || s.Ports[0].Port != 8080 || s.Ports[0].Name != "http" {
			t.Errorf("ports: %+v", s.Ports)
		}
		a := s.Addresses[0]
		if a.TargetRef == nil || a.TargetRef.Kind != "Pod" || a.TargetRef.Name != "a" || a.NodeName == nil || *a.NodeName != "node-a" {
			t.Errorf("address: %+v", a)
		}
		if ep.Labels[LabelManagedBy] != ControllerName || ep.Labels["team"] != "a" {
			t.Errorf("labels: %v", ep.Labels)
		}
		if ep.Annotations[corev1.EndpointsLastChangeTriggerTime] != "2026-01-01T00:00:00Z" {
			t.Errorf("annotations: %v", ep.Annotations)
		}
	})

	t.Run("pods answering a named port on different numbers are split into subsets", func(t *testing.T) {
		other := pod("b", "10.244.0.3", true, func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 9090 })
		ctl, client := newTest(t, service("web"), pod("a", "10.244.0.2", true), other)
		if err := ctl.sync(ctx, "ns/web"); err != nil {
			t.Fatal(err)
		}
		ep := written(t, client)
		got := map[int32]string{}
		for _, s := range ep.Subsets {
			got[s.Ports[0].Port] = ips(s.Addresses)
		}
		if len(ep.Subsets) != 2 || got[8080] != "10.244.0.2 " || got[9090] != "10.244.0.3 " {
			t.Errorf("subsets: %+v", ep.Subsets)
		}
	})

	t.Run("terminating and terminal pods and pods without an IP are left out", func(t *testing.T) {
		now := metav1.Now()
		ctl, client := newTest(t, service("web"), pod("a", "10.244.0.2", true),
			pod("term", "10.244.0.4", true, func(p *corev1.Pod) { p.DeletionTimestamp = &now }),
			pod("done", "10.244.0.5", false, func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }),
			pod("noip", "", false))
		if err := ctl.sync(ctx, "ns/web"); err != nil {
			t.Fatal(err)
		}
		ep := written(t, client)
		if len(ep.Subsets) != 1 || ips(ep.Subsets[0].Addresses) != "10.244.0.2 " || len(ep.Subsets[0].NotReadyAddresses) != 0 {
			t.Errorf("subsets: %+v", ep.Subsets)
		}
	})

	t.Run("publishNotReadyAddresses lists not-ready pods as ready", func(t *testing.T) {
		svc := service("web", func(s *corev1.Service) { s.Spec.PublishNotReadyAddresses = true })
		ctl, client := newTest(t, svc, pod("b", "10.244.0.3", false))
		if err := ctl.sync(ctx, "ns/web"); err != nil {
			t.Fatal(err)
		}
		ep := written(t, client)
		if len(ep.Subsets) != 1 || ips(ep.Subsets[0].Addresses) != "10.244.0.3 " {
			t.Errorf("subsets: %+v", ep.Subsets)
		}
	})

	t.Run("a headless service publishes hostnames of pods naming it as subdomain and carries the headless label", func(t *testing.T) {
		svc := service("db", func(s *corev1.Service) { s.Spec.ClusterIP = corev1.ClusterIPNone; s.Spec.Ports = nil })
		p := pod("db-0", "10.244.0.7", true, func(p *corev1.Pod) { p.Spec.Hostname = "db-0"; p.Spec.Subdomain = "db" })
		q := pod("x", "10.244.0.8", true, func(p *corev1.Pod) { p.Spec.Hostname = "x"; p.Spec.Subdomain = "other" })
		ctl, client := newTest(t, svc, p, q)
		if err := ctl.sync(ctx, "ns/db"); err != nil {
			t.Fatal(err)
		}
		ep := written(t, client)
		if _, ok := ep.Labels[corev1.IsHeadlessService]; !ok {
			t.Errorf("labels: %v", ep.Labels)
		}
		if len(ep.Subsets) != 1 || len(ep.Subsets[0].Ports) != 0 || len(ep.Subsets[0].Addresses) != 2 {
			t.Fatalf("subsets: %+v", ep.Subsets)
		}
		hosts := map[string]string{}
		for _, a := range ep.Subsets[0].Addresses {
			hosts[a.IP] = a.Hostname
		}
		if hosts["10.244.0.7"] != "db-0" || hosts["10.244.0.8"] != "" {
			t.Errorf("hostnames: %v", hosts)
		}
	})

	t.Run("services without a selector and the kubernetes service are left alone", func(t *testing.T) {
		manual := service("manual", func(s *corev1.Service) { s.Spec.Selector = nil })
		k := service("kubernetes", func(s *corev1.Service) { s.Namespace = "default"; s.Spec.Selector = map[string]string{"app": "web"} })
		ctl, client := newTest(t, manual, k, pod("a", "10.244.0.2", true))
		for _, key := range []string{"ns/manual", "default/kubernetes"} {
			if err := ctl.sync(ctx, key); err != nil {
				t.Fatal(err)
			}
		}
		if len(client.Actions()) != 0 {
			t.Errorf("actions: %v", client.Actions())
		}
	})

	t.Run("an up-to-date Endpoints is not written again", func(t *testing.T) {
		svc, p := service("web"), pod("a", "10.244.0.2", true)
		cur := Desired(svc, []*corev1.Pod{p}, nil)
		cur.ResourceVersion = "5"
		ctl, client := newTest(t, svc, p, cur)
		if err := ctl.sync(ctx, "ns/web"); err != nil {
			t.Fatal(err)
		}
		if len(client.Actions()) != 0 {
			t.Errorf("actions: %v", client.Actions())
		}
	})

	t.Run("a deleted service's Endpoints is deleted", func(t *testing.T) {
		cur := Desired(service("web"), nil, nil)
		ctl, client := newTest(t, cur)
		if err := ctl.sync(ctx, "ns/web"); err != nil {
			t.Fatal(err)
		}
		acts := client.Actions()
		if len(acts) != 1 || !acts[0].Matches("delete", "endpoints") {
			t.Errorf("actions: %v", acts)
		}
	})

	t.Run("more than 1000 addresses are truncated with the over-capacity annotation", func(t *testing.T) {
		objs := []runtime.Object{service("web")}
		for i := range 1200 {
			objs = append(objs, pod(fmt.Sprintf("p%d", i), fmt.Sprintf("10.244.%d.%d", i/250, i%250+1), i%2 == 0))
		}
		ctl, client := newTest(t, objs...)
		if err := ctl.sync(ctx, "ns/web"); err != nil {
			t.Fatal(err)
		}
		ep := written(t, client)
		s := ep.Subsets[0]
		if len(s.Addresses) != 600 || len(s.NotReadyAddresses) != 400 {
			t.Errorf("ready %d, notReady %d; want 600 and 400", len(s.Addresses), len(s.NotReadyAddresses))
		}
		if ep.Annotations[corev1.EndpointsOverCapacity] != "truncated" {
			t.Errorf("annotations: %v", ep.Annotations)
		}
	})
}
