package apiserver_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffk8s/skiff/apiserver/apitest"
)

// A terminating namespace stays while its spec.finalizers are pending,
// even when a status update or the removal of its last metadata finalizer
// writes it; emptying spec.finalizers through namespaces/finalize deletes it.
func TestTerminatingNamespaceStaysUntilFinalized(t *testing.T) {
	srv := apitest.Start(t)
	cs, ctx := srv.Client, cgCtx(t)
	ns, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "doomed"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ns.Spec.Finalizers) != 1 || ns.Spec.Finalizers[0] != corev1.FinalizerKubernetes {
		t.Fatalf("spec.finalizers = %v, want [kubernetes]", ns.Spec.Finalizers)
	}
	orphan := metav1.DeletePropagationOrphan
	if err := cs.CoreV1().Namespaces().Delete(ctx, "doomed", metav1.DeleteOptions{PropagationPolicy: &orphan}); err != nil {
		t.Fatal(err)
	}
	ns, err = cs.CoreV1().Namespaces().Get(ctx, "doomed", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ns.Status.Conditions = []corev1.NamespaceCondition{{Type: corev1.NamespaceContentRemaining, Status: corev1.ConditionTrue, Reason: "SomeResourcesRemain"}}
	if ns, err = cs.CoreV1().Namespaces().UpdateStatus(ctx, ns, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("status update of a terminating namespace: %v", err)
	}
	ns.Finalizers = nil // the orphan finalizer, as the garbage collector removes it
	if ns, err = cs.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("removing the last metadata finalizer: %v", err)
	}
	ns, err = cs.CoreV1().Namespaces().Get(ctx, "doomed", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the namespace went before its spec.finalizers were empty: %v", err)
	}
	if ns.Status.Phase != corev1.NamespaceTerminating {
		t.Errorf("phase = %q, want Terminating", ns.Status.Phase)
	}
	ns.Spec.Finalizers = nil
	if _, err := cs.CoreV1().Namespaces().Finalize(ctx, ns, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = cs.CoreV1().Namespaces().Get(ctx, "doomed", metav1.GetOptions{})
	cgNotFound(t, err, "the finalized namespace")
}
