package manager_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/skiffk8s/skiff/apiserver/apitest"
	"github.com/skiffk8s/skiff/controllers/manager"
	"github.com/skiffk8s/skiff/scheduler"
	"github.com/skiffk8s/skiff/scheduler/plugins"
)

// fakeKubelet plays the kubelets of the named nodes: it keeps their
// Leases and Ready conditions fresh and marks pods bound to them Running
// and Ready, until its node is stopped.
type fakeKubelet struct {
	cs      kubernetes.Interface
	mu      sync.Mutex
	stopped map[string]bool
}

func (k *fakeKubelet) stop(node string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.stopped[node] = true
}

func (k *fakeKubelet) alive(node string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return !k.stopped[node]
}

func (k *fakeKubelet) run(ctx context.Context, t *testing.T, nodes ...string) {
	for _, name := range nodes {
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}},
			Spec:       corev1.NodeSpec{PodCIDR: ""},
		}
		if _, err := k.cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "kube-node-lease"},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(name), LeaseDurationSeconds: ptr.To[int32](40)}}
		if _, err := k.cs.CoordinationV1().Leases("kube-node-lease").Create(ctx, lease, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	beat := func() {
		now := metav1.NowMicro()
		for _, name := range nodes {
			if !k.alive(name) {
				continue
			}
			if l, err := k.cs.CoordinationV1().Leases("kube-node-lease").Get(ctx, name, metav1.GetOptions{}); err == nil {
				l.Spec.RenewTime = &now
				_, _ = k.cs.CoordinationV1().Leases("kube-node-lease").Update(ctx, l, metav1.UpdateOptions{})
			}
			if n, err := k.cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{}); err == nil {
				n.Status.Capacity = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("110")}
				n.Status.Allocatable = n.Status.Capacity
				n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
					LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
				_, _ = k.cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
			}
		}
		pods, err := k.cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
		if err != nil {
			return
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.Spec.NodeName == "" || !k.alive(p.Spec.NodeName) || p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodRunning {
				continue
			}
			p.Status.Phase = corev1.PodRunning
			p.Status.PodIP = "10.244.0.9"
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
			_, _ = k.cs.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
		}
		// Pods deleted on a stopped node: a real kubelet is gone, so the
		// object is removed for it (as after its grace period).
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.DeletionTimestamp != nil && !k.alive(p.Spec.NodeName) {
				_ = k.cs.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
			}
		}
	}
	go func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			beat()
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
}

// TestNodeFailureMovesReplicaSetPods runs the controller manager and the
// scheduler on a real API server: when a node stops heartbeating, it is
// tainted unreachable, its Deployment's pods are evicted once their
// toleration runs out, and the ReplicaSet's replacements are scheduled on
// the live node.
func TestNodeFailureMovesReplicaSetPods(t *testing.T) {
	srv := apitest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cs := srv.Client
	kubelet := &fakeKubelet{cs: cs, stopped: map[string]bool{}}
	kubelet.run(ctx, t, "node-a", "node-b")

	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() {
		err := manager.Run(ctx, manager.Config{
			RESTConfig: srv.Config, HealthzAddr: "-", Logger: slog.New(slog.DiscardHandler),
			LeaderElection: manager.LeaderElection{Disabled: true},
			Options: map[string]string{"node-monitor-grace-period": "2s", "node-monitor-period": "200ms",
				"node-eviction-rate": "100", "cluster-cidr": "10.244.0.0/16",
				"root-ca-file": filepath.Join(srv.DataDir, "pki", "ca.crt")},
		})
		if err != nil && ctx.Err() == nil {
			t.Errorf("controller manager: %v", err)
		}
	})
	wg.Go(func() {
		err := scheduler.Run(ctx, scheduler.Config{Client: cs, Registry: plugins.NewInTreeRegistry(), Logger: slog.New(slog.DiscardHandler)})
		if err != nil && ctx.Err() == nil {
			t.Errorf("scheduler: %v", err)
		}
	})

	// Two replicas per node, spread by anti-affinity preference; each pod
	// tolerates an unreachable node for 1 s instead of the default 300 s.
	labels := map[string]string{"app": "web"}
	deploy := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](4),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{Name: "app", Image: "busybox"}},
					Tolerations: []corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists,
						Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](1)}},
					TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "kubernetes.io/hostname",
						WhenUnsatisfiable: corev1.ScheduleAnyway, LabelSelector: &metav1.LabelSelector{MatchLabels: labels}}},
				},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments("default").Create(ctx, deploy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	placement := func() map[string]int {
		out := map[string]int{}
		pods, _ := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
				out[p.Spec.NodeName]++
			}
		}
		return out
	}
	eventually(t, 30*time.Second, "4 running pods on both nodes", func() bool {
		p := placement()
		return p["node-a"] > 0 && p["node-b"] > 0 && p["node-a"]+p["node-b"] == 4
	})

	kubelet.stop("node-a")
	eventually(t, 30*time.Second, "node-a tainted unreachable with Ready Unknown", func() bool {
		n, err := cs.CoreV1().Nodes().Get(ctx, "node-a", metav1.GetOptions{})
		if err != nil {
			return false
		}
		tainted := false
		for _, taint := range n.Spec.Taints {
			tainted = tainted || (taint.Key == corev1.TaintNodeUnreachable && taint.Effect == corev1.TaintEffectNoExecute)
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionUnknown {
				return tainted
			}
		}
		return false
	})
	eventually(t, 60*time.Second, "all 4 pods running on node-b", func() bool {
		p := placement()
		return p["node-b"] == 4 && p["node-a"] == 0
	})
	// The Deployment's status follows its ReplicaSet's, which follows the
	// pods: it reaches 4 available a moment after the pods do.
	eventually(t, 30*time.Second, "deployment with 4 available replicas", func() bool {
		d, err := cs.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
		return err == nil && d.Status.AvailableReplicas == 4
	})
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
