package manager_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/skiffk8s/skiff/apiserver/apitest"
	"github.com/skiffk8s/skiff/controllers/manager"
)

// TestDeletingADeploymentCascades deletes Deployments with each
// propagation policy while every controller runs, as `kubectl delete
// deployment --cascade=background|foreground|orphan` does.
func TestDeletingADeploymentCascades(t *testing.T) {
	srv := apitest.Start(t)
	cs := srv.Client
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() {
		err := manager.Run(ctx, manager.Config{
			RESTConfig: srv.Config, HealthzAddr: "-", Logger: slog.New(slog.DiscardHandler),
			LeaderElection: manager.LeaderElection{Disabled: true},
			Options:        map[string]string{"root-ca-file": filepath.Join(srv.DataDir, "pki", "ca.crt")},
		})
		if err != nil && ctx.Err() == nil {
			t.Errorf("controller manager: %v", err)
		}
	})

	create := func(name string) (rsName string) {
		t.Helper()
		labels := map[string]string{"app": name}
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
			Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox"}}}}}}
		if _, err := cs.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, name+"'s ReplicaSet and 2 pods", func() bool {
			rs, _ := cs.AppsV1().ReplicaSets("default").List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
			pods, _ := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
			if rs == nil || pods == nil || len(rs.Items) != 1 || len(pods.Items) != 2 {
				return false
			}
			rsName = rs.Items[0].Name
			return true
		})
		return rsName
	}
	count := func(name string) (deploys, rss, pods int) {
		if _, err := cs.AppsV1().Deployments("default").Get(ctx, name, metav1.GetOptions{}); err == nil {
			deploys = 1
		}
		rl, _ := cs.AppsV1().ReplicaSets("default").List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
		pl, _ := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
		return deploys, len(rl.Items), len(pl.Items)
	}

	t.Run("background deletes the Deployment at once, then its ReplicaSet and pods", func(t *testing.T) {
		create("bg")
		if err := cs.AppsV1().Deployments("default").Delete(ctx, "bg", metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)}); err != nil {
			t.Fatal(err)
		}
		if _, err := cs.AppsV1().Deployments("default").Get(ctx, "bg", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("the Deployment is still there right after a background delete: %v", err)
		}
		eventually(t, 20*time.Second, "the ReplicaSet and pods to go", func() bool {
			_, rs, pods := count("bg")
			return rs == 0 && pods == 0
		})
	})

	t.Run("foreground keeps the Deployment until its ReplicaSet and pods are gone", func(t *testing.T) {
		create("fg")
		if err := cs.AppsV1().Deployments("default").Delete(ctx, "fg", metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationForeground)}); err != nil {
			t.Fatal(err)
		}
		d, err := cs.AppsV1().Deployments("default").Get(ctx, "fg", metav1.GetOptions{})
		if err == nil && (d.DeletionTimestamp == nil || !slices.Contains(d.Finalizers, metav1.FinalizerDeleteDependents)) {
			t.Errorf("a foreground-deleted Deployment should wait with the foregroundDeletion finalizer: %+v", d.ObjectMeta)
		}
		eventually(t, 20*time.Second, "the Deployment, ReplicaSet and pods to go", func() bool {
			deploys, rs, pods := count("fg")
			return deploys == 0 && rs == 0 && pods == 0
		})
	})

	t.Run("orphan deletes the Deployment and leaves its ReplicaSet without an owner", func(t *testing.T) {
		rsName := create("or")
		if err := cs.AppsV1().Deployments("default").Delete(ctx, "or", metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationOrphan)}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, "the Deployment to go and the ReplicaSet to lose its owner", func() bool {
			deploys, _, _ := count("or")
			rs, err := cs.AppsV1().ReplicaSets("default").Get(ctx, rsName, metav1.GetOptions{})
			return deploys == 0 && err == nil && len(rs.OwnerReferences) == 0
		})
		time.Sleep(time.Second) // nothing else should happen to them
		if _, rs, pods := count("or"); rs != 1 || pods != 2 {
			t.Errorf("after an orphan delete: %d ReplicaSets and %d pods, want 1 and 2", rs, pods)
		}
	})
}
