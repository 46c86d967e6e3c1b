package endpointslice_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/skiffk8s/skiff/apiserver/apitest"
	"github.com/skiffk8s/skiff/controllers/endpoints"
	"github.com/skiffk8s/skiff/controllers/endpointslice"
	"github.com/skiffk8s/skiff/controllers/internal/ctrltest"
)

// startBoth runs the endpoint and endpointslice controllers against srv.
func startBoth(t *testing.T, client kubernetes.Interface) {
	ctrltest.Start(t, endpoints.New, ctrltest.Context(t, client, endpoints.Name, clock.RealClock{}, nil))
	ctrltest.Start(t, endpointslice.New, ctrltest.Context(t, client, endpointslice.Name, clock.RealClock{}, nil))
}

// runPod creates a pod bound to node-a and sets its status as a kubelet
// would: Running with ip, Ready as given.
func runPod(t *testing.T, client kubernetes.Interface, pod *corev1.Pod, ip string, ready bool) {
	t.Helper()
	ctx := context.Background()
	pod.Namespace = "default"
	pod.Spec.NodeName = "node-a"
	got, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got.Status.Phase = corev1.PodRunning
	got.Status.PodIP = ip
	got.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	setReady(got, ready)
	if _, err := client.CoreV1().Pods("default").UpdateStatus(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func setReady(p *corev1.Pod, ready bool) {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st, LastTransitionTime: metav1.Now()}}
}

func webPod(name string, port int32) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: port}}}}}}
}

// sliceEndpoints returns the service's managed slices' endpoints by pod
// name, and the number of slices.
func sliceEndpoints(client kubernetes.Interface, svc string) (map[string]discoveryv1.Endpoint, map[string]int32, int, error) {
	list, err := client.DiscoveryV1().EndpointSlices("default").List(context.Background(), metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=" + svc + "," + discoveryv1.LabelManagedBy + "=" + endpointslice.ControllerName})
	if err != nil {
		return nil, nil, 0, err
	}
	eps, ports := map[string]discoveryv1.Endpoint{}, map[string]int32{}
	for _, s := range list.Items {
		for _, e := range s.Endpoints {
			eps[e.TargetRef.Name] = e
			if len(s.Ports) > 0 {
				ports[e.TargetRef.Name] = *s.Ports[0].Port
			}
		}
	}
	return eps, ports, len(list.Items), nil
}

func cond(p *bool) bool { return p != nil && *p }

func TestEndpointsFollowPodReadiness(t *testing.T) {
	srv := apitest.Start(t)
	client := srv.Client
	ctx := context.Background()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a", Labels: map[string]string{corev1.LabelTopologyZone: "zone-1"}}}
	if _, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}}}
	if _, err := client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	startBoth(t, client)

	// With no pods the service has a placeholder slice and an empty Endpoints.
	ctrltest.EventuallyNil(t, 10*time.Second, func() error {
		eps, _, n, err := sliceEndpoints(client, "web")
		if err != nil || n != 1 || len(eps) != 0 {
			return fmt.Errorf("want one empty placeholder slice, got %d slices, %d endpoints (%v)", n, len(eps), err)
		}
		ep, err := client.CoreV1().Endpoints("default").Get(ctx, "web", metav1.GetOptions{})
		if err != nil || len(ep.Subsets) != 0 || ep.Labels[endpoints.LabelManagedBy] != endpoints.ControllerName {
			return fmt.Errorf("endpoints: %+v %v", ep, err)
		}
		return nil
	})

	runPod(t, client, webPod("a", 8080), "10.244.0.2", true)
	runPod(t, client, webPod("b", 9090), "10.244.0.3", false)

	ctrltest.EventuallyNil(t, 10*time.Second, func() error {
		eps, ports, _, err := sliceEndpoints(client, "web")
		if err != nil {
			return err
		}
		a, b := eps["a"], eps["b"]
		if !cond(a.Conditions.Ready) || !cond(a.Conditions.Serving) || cond(a.Conditions.Terminating) || ports["a"] != 8080 {
			return fmt.Errorf("endpoint a: %+v port %d", a, ports["a"])
		}
		if b.Conditions.Ready == nil || cond(b.Conditions.Ready) || cond(b.Conditions.Serving) || ports["b"] != 9090 {
			return fmt.Errorf("endpoint b: %+v port %d", b, ports["b"])
		}
		if a.Zone == nil || *a.Zone != "zone-1" || a.NodeName == nil || *a.NodeName != "node-a" || a.Addresses[0] != "10.244.0.2" {
			return fmt.Errorf("endpoint a: %+v", a)
		}
		ep, err := client.CoreV1().Endpoints("default").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		ready, notReady := map[string]int32{}, map[string]int32{}
		for _, s := range ep.Subsets {
			for _, ad := range s.Addresses {
				ready[ad.IP] = s.Ports[0].Port
			}
			for _, ad := range s.NotReadyAddresses {
				notReady[ad.IP] = s.Ports[0].Port
			}
		}
		if len(ready) != 1 || ready["10.244.0.2"] != 8080 || len(notReady) != 1 || notReady["10.244.0.3"] != 9090 {
			return fmt.Errorf("endpoints subsets: %+v", ep.Subsets)
		}
		return nil
	})

	// b turns ready; a starts terminating (no kubelet finishes it).
	b, err := client.CoreV1().Pods("default").Get(ctx, "b", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	setReady(b, true)
	if _, err := client.CoreV1().Pods("default").UpdateStatus(ctx, b, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := client.CoreV1().Pods("default").Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	ctrltest.EventuallyNil(t, 10*time.Second, func() error {
		eps, _, _, err := sliceEndpoints(client, "web")
		if err != nil {
			return err
		}
		a, b := eps["a"], eps["b"]
		if cond(a.Conditions.Ready) || !cond(a.Conditions.Serving) || !cond(a.Conditions.Terminating) {
			return fmt.Errorf("terminating endpoint a: %+v", a.Conditions)
		}
		if !cond(b.Conditions.Ready) {
			return fmt.Errorf("endpoint b: %+v", b.Conditions)
		}
		ep, err := client.CoreV1().Endpoints("default").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(ep.Subsets) != 1 || len(ep.Subsets[0].Addresses) != 1 || ep.Subsets[0].Addresses[0].IP != "10.244.0.3" || len(ep.Subsets[0].NotReadyAddresses) != 0 {
			return fmt.Errorf("endpoints subsets: %+v", ep.Subsets)
		}
		return nil
	})

	// The API servers' own kubernetes service keeps their endpoints.
	k, err := client.DiscoveryV1().EndpointSlices("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil || k.Labels[discoveryv1.LabelManagedBy] == endpointslice.ControllerName {
		t.Errorf("kubernetes slice: %+v %v", k, err)
	}
}

func TestHeadlessServiceHostnames(t *testing.T) {
	srv := apitest.Start(t)
	client := srv.Client
	ctx := context.Background()
	if _, err := client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default"},
		Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: map[string]string{"app": "db"},
			Ports: []corev1.ServicePort{{Name: "pg", Port: 5432}}}}
	if _, err := client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	startBoth(t, client)
	for i, ip := range []string{"10.244.0.10", "10.244.0.11"} {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("db-%d", i), Labels: map[string]string{"app": "db"}},
			Spec: corev1.PodSpec{Hostname: fmt.Sprintf("db-%d", i), Subdomain: "db", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
		runPod(t, client, p, ip, true)
	}
	ctrltest.EventuallyNil(t, 10*time.Second, func() error {
		eps, ports, _, err := sliceEndpoints(client, "db")
		if err != nil {
			return err
		}
		for i := range 2 {
			name := fmt.Sprintf("db-%d", i)
			e := eps[name]
			if e.Hostname == nil || *e.Hostname != name || ports[name] != 5432 {
				return fmt.Errorf("endpoint %s: %+v", name, e)
			}
		}
		ep, err := client.CoreV1().Endpoints("default").Get(ctx, "db", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if _, ok := ep.Labels[corev1.IsHeadlessService]; !ok || len(ep.Subsets) != 1 || len(ep.Subsets[0].Addresses) != 2 || ep.Subsets[0].Addresses[0].Hostname != "db-0" {
			return fmt.Errorf("endpoints: %+v", ep)
		}
		return nil
	})
}
