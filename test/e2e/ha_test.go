package e2e

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/skiffk8s/skiff/test/lab"
)

// TestSecondMasterJoins: on an external etcd (Debian's, on a host of its
// own), m1 runs skiff init --upload-certs and m2 joins with the master
// join command it printed. Both API servers serve the same cluster, and
// when m1's controller manager and scheduler die, m2's take over their
// leases and run new workloads.
func TestSecondMasterJoins(t *testing.T) {
	l := lab.Start(t, lab.Config{Masters: 2, ExternalEtcd: true, Workers: 1})
	ctx := context.Background()
	m1, m2 := l.Masters[0], l.Masters[1]
	_, cs2 := m2.AdminClient(t)

	nodes, err := cs2.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil || len(nodes.Items) != 3 {
		t.Fatalf("nodes through m2's API server: %v, %d, want 3", err, len(nodes.Items))
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "written-on-m2", Namespace: "default"}, Data: map[string]string{"k": "v"}}
	if _, err := cs2.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, err := l.Client.CoreV1().ConfigMaps("default").Get(ctx, "written-on-m2", metav1.GetOptions{}); err != nil || got.Data["k"] != "v" {
		t.Errorf("m1's API server does not see what m2's wrote: %v %+v", err, got)
	}

	holder := func(name string) string {
		lease, err := cs2.CoordinationV1().Leases("kube-system").Get(ctx, name, metav1.GetOptions{})
		if err != nil || lease.Spec.HolderIdentity == nil {
			return ""
		}
		return *lease.Spec.HolderIdentity
	}
	before := map[string]string{"kube-controller-manager": holder("kube-controller-manager"), "skiff-scheduler": holder("skiff-scheduler")}
	// m1's controller manager and scheduler, which took the leases first,
	// die without giving them up; m2's take over once they run out.
	m1.StopUnit(t, "skiff-controller-manager", true)
	m1.StopUnit(t, "skiff-scheduler", true)
	for name, was := range before {
		if was == "" {
			t.Fatalf("lease %s has no holder", name)
		}
	}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "after-failover", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "after"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "after"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: busyboxRef, ImagePullPolicy: corev1.PullNever,
					Command: []string{"sleep", "3600"}}}},
			},
		},
	}
	if _, err := cs2.AppsV1().Deployments("default").Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 90*time.Second, "the Deployment's 2 pods running with m1's controller manager and scheduler gone", func() bool {
		pods, err := cs2.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=after"})
		if err != nil {
			return false
		}
		running := 0
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning {
				running++
			}
		}
		return running == 2
	})
	// m1 took the leases first (m2 joined later), so they moved.
	for name, was := range before {
		if now := holder(name); now == "" || now == was {
			t.Errorf("lease %s: holder %q after the failover, was %q", name, now, was)
		}
	}
}
