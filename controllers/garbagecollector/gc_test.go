package garbagecollector

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/utils/clock"

	"github.com/skiffk8s/skiff/apiserver/apitest"
	"github.com/skiffk8s/skiff/controllers"
)

// run starts a garbage collector against srv.
func run(t *testing.T, srv *apitest.Server) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	meta, err := metadata.NewForConfig(srv.Config)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	if os.Getenv("SKIFF_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	c, err := New(ctx, controllers.Context{Client: srv.Client, Metadata: meta, Clock: clock.RealClock{}, Logger: logger,
		Informers: informers.NewSharedInformerFactory(srv.Client, 0)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = c.Run(ctx, 3); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// owned returns a reference to owner for a dependent.
func owned(kind, apiVersion, name string, uid types.UID, block bool) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: uid, BlockOwnerDeletion: &block}
}

func configMap(t *testing.T, cs kubernetes.Interface, name string, finalizers []string, owners ...metav1.OwnerReference) *corev1.ConfigMap {
	t.Helper()
	cm, err := cs.CoreV1().ConfigMaps("default").Create(context.Background(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		Name: name, Finalizers: finalizers, OwnerReferences: owners}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cm
}

func cmOwner(cm *corev1.ConfigMap, block bool) metav1.OwnerReference {
	return owned("ConfigMap", "v1", cm.Name, cm.UID, block)
}

func getCM(cs kubernetes.Interface, name string) (*corev1.ConfigMap, error) {
	return cs.CoreV1().ConfigMaps("default").Get(context.Background(), name, metav1.GetOptions{})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func cmGone(cs kubernetes.Interface, name string) func() bool {
	return func() bool { _, err := getCM(cs, name); return apierrors.IsNotFound(err) }
}

func deleteCM(t *testing.T, cs kubernetes.Interface, name string, policy metav1.DeletionPropagation) {
	t.Helper()
	if err := cs.CoreV1().ConfigMaps("default").Delete(context.Background(), name, metav1.DeleteOptions{PropagationPolicy: &policy}); err != nil {
		t.Fatal(err)
	}
}

func TestBackgroundDeletionDeletesTheDependentsAfterTheOwner(t *testing.T) {
	srv := apitest.Start(t)
	cs := srv.Client
	run(t, srv)
	owner := configMap(t, cs, "owner", nil)
	child := configMap(t, cs, "child", nil, cmOwner(owner, false))
	configMap(t, cs, "grandchild", nil, cmOwner(child, false))
	// A ReplicaSet owning pods created by hand.
	ctx := context.Background()
	labels := map[string]string{"app": "gc"}
	rs, err := cs.AppsV1().ReplicaSets("default").Create(ctx, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "rs"},
		Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}}},
		metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"rs-a", "rs-b"} {
		_, err := cs.CoreV1().Pods("default").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels,
			OwnerReferences: []metav1.OwnerReference{owned("ReplicaSet", "apps/v1", "rs", rs.UID, true)}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(500 * time.Millisecond)
	if _, err := getCM(cs, "grandchild"); err != nil {
		t.Fatalf("a dependent with a live owner was deleted: %v", err)
	}
	deleteCM(t, cs, "owner", metav1.DeletePropagationBackground)
	if _, err := getCM(cs, "owner"); !apierrors.IsNotFound(err) {
		t.Fatalf("the owner is still there with background propagation: %v", err)
	}
	waitFor(t, "child to be deleted", cmGone(cs, "child"))
	waitFor(t, "grandchild to be deleted", cmGone(cs, "grandchild"))

	if err := cs.AppsV1().ReplicaSets("default").Delete(ctx, "rs", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the ReplicaSet's pods to be deleted", func() bool {
		pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		return err == nil && len(pods.Items) == 0
	})
}

func TestForegroundDeletionDeletesBlockingDependentsBeforeTheOwner(t *testing.T) {
	srv := apitest.Start(t)
	cs := srv.Client
	run(t, srv)
	owner := configMap(t, cs, "owner", nil)
	configMap(t, cs, "blocker", []string{"example.com/hold"}, cmOwner(owner, true))
	configMap(t, cs, "free", nil, cmOwner(owner, false))
	deleteCM(t, cs, "owner", metav1.DeletePropagationForeground)
	waitFor(t, "the non-blocking dependent to be deleted", cmGone(cs, "free"))
	waitFor(t, "the blocking dependent to be terminating", func() bool {
		cm, err := getCM(cs, "blocker")
		return err == nil && cm.DeletionTimestamp != nil
	})
	time.Sleep(300 * time.Millisecond)
	o, err := getCM(cs, "owner")
	if err != nil {
		t.Fatalf("the owner went while a blocking dependent remains: %v", err)
	}
	if o.DeletionTimestamp == nil || len(o.Finalizers) != 1 || o.Finalizers[0] != metav1.FinalizerDeleteDependents {
		t.Fatalf("owner: deletionTimestamp %v finalizers %v, want being deleted with [foregroundDeletion]", o.DeletionTimestamp, o.Finalizers)
	}
	b, _ := getCM(cs, "blocker")
	b.Finalizers = nil
	if _, err := cs.CoreV1().ConfigMaps("default").Update(context.Background(), b, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the blocker to be deleted", cmGone(cs, "blocker"))
	waitFor(t, "the owner to be deleted after its dependents", cmGone(cs, "owner"))
}

func TestOrphanDeletionLeavesTheDependentsWithoutTheOwnerReference(t *testing.T) {
	srv := apitest.Start(t)
	cs := srv.Client
	run(t, srv)
	owner := configMap(t, cs, "owner", nil)
	other := configMap(t, cs, "other-owner", nil)
	configMap(t, cs, "a", nil, cmOwner(owner, true))
	configMap(t, cs, "b", nil, cmOwner(owner, false), cmOwner(other, false))
	time.Sleep(300 * time.Millisecond) // the graph has seen them
	deleteCM(t, cs, "owner", metav1.DeletePropagationOrphan)
	waitFor(t, "the owner to be deleted", cmGone(cs, "owner"))
	a, err := getCM(cs, "a")
	if err != nil || len(a.OwnerReferences) != 0 {
		t.Fatalf("orphan a: %v, ownerReferences %v; want it kept without them", err, a.OwnerReferences)
	}
	b, err := getCM(cs, "b")
	if err != nil || len(b.OwnerReferences) != 1 || b.OwnerReferences[0].UID != other.UID {
		t.Fatalf("orphan b: %v, ownerReferences %v; want only other-owner", err, b.OwnerReferences)
	}
	time.Sleep(300 * time.Millisecond)
	if _, err := getCM(cs, "a"); err != nil {
		t.Fatalf("an orphaned dependent was deleted later: %v", err)
	}
}

func TestADependentWhoseOwnerDoesNotExistIsDeleted(t *testing.T) {
	srv := apitest.Start(t)
	cs := srv.Client
	run(t, srv)
	real := configMap(t, cs, "real", nil)
	configMap(t, cs, "no-such-owner", nil, owned("ConfigMap", "v1", "ghost", "0000-ghost", false))
	configMap(t, cs, "wrong-uid", nil, owned("ConfigMap", "v1", "real", "1111-not-real", false))
	configMap(t, cs, "well-owned", nil, cmOwner(real, false))
	waitFor(t, "the dependent of a missing owner to be deleted", cmGone(cs, "no-such-owner"))
	waitFor(t, "the dependent of an owner with another UID to be deleted", cmGone(cs, "wrong-uid"))
	if _, err := getCM(cs, "well-owned"); err != nil {
		t.Fatalf("the dependent of a live owner was deleted: %v", err)
	}
}
