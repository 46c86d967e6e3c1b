package namespace

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/skiffk8s/skiff/apiserver/apitest"
	"github.com/skiffk8s/skiff/controllers"
)

// run starts the namespace controller against srv with clk.
func run(t *testing.T, srv *apitest.Server, clk *clocktesting.FakeClock) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	meta, err := metadata.NewForConfig(srv.Config)
	if err != nil {
		t.Fatal(err)
	}
	factory := informers.NewSharedInformerFactory(srv.Client, 0)
	c, err := New(ctx, controllers.Context{Client: srv.Client, Metadata: meta, Informers: factory, Clock: clk, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx.Done())
	done := make(chan struct{})
	go func() { _ = c.Run(ctx, 2); close(done) }()
	t.Cleanup(func() { cancel(); <-done; factory.Shutdown() })
}

// must returns a function that fails t on a create's error.
func must(t *testing.T) func(any, error) {
	return func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
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

func gone(cs kubernetes.Interface, ns string) func() bool {
	return func() bool {
		_, err := cs.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	}
}

func condition(ns *corev1.Namespace, typ corev1.NamespaceConditionType) corev1.NamespaceCondition {
	for _, c := range ns.Status.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return corev1.NamespaceCondition{}
}

func pod(name, node string, grace int64) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{
		NodeName: node, TerminationGracePeriodSeconds: &grace,
		Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
}

func TestDeletingANamespaceEmptiesItAndTheNamespaceDisappears(t *testing.T) {
	srv := apitest.Start(t)
	cs, ctx := srv.Client, context.Background()
	clk := clocktesting.NewFakeClock(time.Now())
	run(t, srv, clk)
	ok := must(t)
	ok(cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{}))
	ok(cs.CoreV1().ConfigMaps("shop").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg"}}, metav1.CreateOptions{}))
	ok(cs.CoreV1().Secrets("shop").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}}, metav1.CreateOptions{}))
	ok(cs.CoreV1().Pods("shop").Create(ctx, pod("pending", "", 30), metav1.CreateOptions{}))
	ok(cs.CoreV1().Pods("shop").Create(ctx, pod("running", "node-1", 30), metav1.CreateOptions{}))
	labels := map[string]string{"app": "web"}
	ok(cs.AppsV1().Deployments("shop").Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: pod("x", "", 30).Spec}}}, metav1.CreateOptions{}))

	if err := cs.CoreV1().Namespaces().Delete(ctx, "shop", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// The pod on a node is deleted with its grace period and waits for
	// its kubelet; everything else goes.
	waitFor(t, "the running pod to be terminating", func() bool {
		p, err := cs.CoreV1().Pods("shop").Get(ctx, "running", metav1.GetOptions{})
		return err == nil && p.DeletionTimestamp != nil
	})
	p, _ := cs.CoreV1().Pods("shop").Get(ctx, "running", metav1.GetOptions{})
	if p.DeletionGracePeriodSeconds == nil || *p.DeletionGracePeriodSeconds != 30 {
		t.Errorf("running pod deleted with grace %v, want 30", p.DeletionGracePeriodSeconds)
	}
	waitFor(t, "NamespaceContentRemaining to name the pod", func() bool {
		ns, err := cs.CoreV1().Namespaces().Get(ctx, "shop", metav1.GetOptions{})
		return err == nil && condition(ns, corev1.NamespaceContentRemaining).Message == "Some resources are remaining: pods. has 1 resource instances"
	})
	ns, _ := cs.CoreV1().Namespaces().Get(ctx, "shop", metav1.GetOptions{})
	if ns.Status.Phase != corev1.NamespaceTerminating {
		t.Errorf("phase = %q, want Terminating", ns.Status.Phase)
	}
	if c := condition(ns, corev1.NamespaceContentRemaining); c.Status != corev1.ConditionTrue || c.Reason != "SomeResourcesRemain" {
		t.Errorf("NamespaceContentRemaining = %+v", c)
	}
	if c := condition(ns, corev1.NamespaceDeletionDiscoveryFailure); c.Status != corev1.ConditionFalse || c.Message != "All resources successfully discovered" {
		t.Errorf("NamespaceDeletionDiscoveryFailure = %+v", c)
	}
	for _, check := range []struct {
		what string
		err  error
	}{
		{"configmap", func() error {
			_, err := cs.CoreV1().ConfigMaps("shop").Get(ctx, "cfg", metav1.GetOptions{})
			return err
		}()},
		{"secret", func() error { _, err := cs.CoreV1().Secrets("shop").Get(ctx, "s", metav1.GetOptions{}); return err }()},
		{"pending pod", func() error { _, err := cs.CoreV1().Pods("shop").Get(ctx, "pending", metav1.GetOptions{}); return err }()},
		{"deployment", func() error {
			_, err := cs.AppsV1().Deployments("shop").Get(ctx, "web", metav1.GetOptions{})
			return err
		}()},
	} {
		if !apierrors.IsNotFound(check.err) {
			t.Errorf("%s still there: %v", check.what, check.err)
		}
	}
	// The kubelet confirms; the controller looks again after 30/2+1 s.
	zero := int64(0)
	if err := cs.CoreV1().Pods("shop").Delete(ctx, "running", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	clk.Step(16 * time.Second)
	waitFor(t, "the namespace to disappear", gone(cs, "shop"))
}

func TestABlockedDeletionShowsTheConditionUntilTheFinalizerGoes(t *testing.T) {
	srv := apitest.Start(t)
	cs, ctx := srv.Client, context.Background()
	clk := clocktesting.NewFakeClock(time.Now())
	run(t, srv, clk)
	ok := must(t)
	ok(cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "held"}}, metav1.CreateOptions{}))
	ok(cs.CoreV1().ConfigMaps("held").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		Name: "precious", Finalizers: []string{"example.com/hold"}}}, metav1.CreateOptions{}))
	if err := cs.CoreV1().Namespaces().Delete(ctx, "held", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	var ns *corev1.Namespace
	waitFor(t, "NamespaceFinalizersRemaining", func() bool {
		var err error
		ns, err = cs.CoreV1().Namespaces().Get(ctx, "held", metav1.GetOptions{})
		return err == nil && condition(ns, corev1.NamespaceFinalizersRemaining).Status == corev1.ConditionTrue
	})
	if c := condition(ns, corev1.NamespaceFinalizersRemaining); c.Reason != "SomeFinalizersRemain" ||
		c.Message != "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances" {
		t.Errorf("NamespaceFinalizersRemaining = %+v", c)
	}
	if c := condition(ns, corev1.NamespaceContentRemaining); !strings.Contains(c.Message, "configmaps. has 1 resource instances") {
		t.Errorf("NamespaceContentRemaining = %+v", c)
	}
	cm, err := cs.CoreV1().ConfigMaps("held").Get(ctx, "precious", metav1.GetOptions{})
	if err != nil || cm.DeletionTimestamp == nil {
		t.Fatalf("held configmap: %v, deletionTimestamp %v", err, cm.DeletionTimestamp)
	}
	cm.Finalizers = nil
	if _, err := cs.CoreV1().ConfigMaps("held").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	clk.Step(finalizerEstimateSeconds * time.Second)
	waitFor(t, "the namespace to disappear", gone(cs, "held"))
}

func testLogger() *slog.Logger {
	if os.Getenv("SKIFF_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, nil))
}
