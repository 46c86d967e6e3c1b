package serviceaccount

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	testclock "k8s.io/utils/clock/testing"

	"github.com/skiffk8s/skiff/controllers"
)

func namespace(name string, phase corev1.NamespacePhase) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NamespaceStatus{Phase: phase}}
}

func account(ns, name string) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
}

// newFake returns a controller on a fake clientset holding objs, with
// its informers synced and the clientset's recorded actions cleared.
func newFake(t *testing.T, objs ...runtime.Object) (*Controller, *fake.Clientset) {
	t.Helper()
	cs := fake.NewClientset(objs...)
	inf := informers.NewSharedInformerFactory(cs, 0)
	c, err := New(context.Background(), controllers.Context{Client: cs, Informers: inf, Clock: testclock.NewFakeClock(time.Now())})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop); inf.Shutdown() })
	inf.Start(stop)
	inf.WaitForCacheSync(stop)
	cs.ClearActions()
	return c.(*Controller), cs
}

func TestSync(t *testing.T) {
	tests := []struct {
		name       string
		objs       []runtime.Object
		ns         string
		wantCreate bool
	}{
		{name: "an active namespace without a default account gets one", objs: []runtime.Object{namespace("team", corev1.NamespaceActive)}, ns: "team", wantCreate: true},
		{name: "an active namespace with its default account needs nothing", objs: []runtime.Object{namespace("team", corev1.NamespaceActive), account("team", "default")}, ns: "team"},
		{name: "other accounts do not count as the default one", objs: []runtime.Object{namespace("team", corev1.NamespaceActive), account("team", "builder")}, ns: "team", wantCreate: true},
		{name: "a terminating namespace gets no account", objs: []runtime.Object{namespace("team", corev1.NamespaceTerminating)}, ns: "team"},
		{name: "a namespace that is gone needs nothing", ns: "gone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, cs := newFake(t, tt.objs...)
			if err := c.sync(context.Background(), tt.ns); err != nil {
				t.Fatalf("sync: %v", err)
			}
			acts := cs.Actions()
			if !tt.wantCreate {
				if len(acts) != 0 {
					t.Fatalf("want no API calls, got %v", acts)
				}
				return
			}
			if len(acts) != 1 || !acts[0].Matches("create", "serviceaccounts") || acts[0].GetNamespace() != tt.ns {
				t.Fatalf("want one create of a serviceaccount in %s, got %v", tt.ns, acts)
			}
			sa := acts[0].(clienttesting.CreateAction).GetObject().(*corev1.ServiceAccount)
			if sa.Name != "default" || sa.Namespace != tt.ns {
				t.Fatalf("created %s/%s, want %s/default", sa.Namespace, sa.Name, tt.ns)
			}
			// Repeating the sync is safe: the account already exists.
			if err := c.sync(context.Background(), tt.ns); err != nil {
				t.Fatalf("second sync: %v", err)
			}
		})
	}
}

func TestSyncIgnoresATerminatingNamespaceRefusal(t *testing.T) {
	c, cs := newFake(t, namespace("team", corev1.NamespaceActive))
	cs.PrependReactor("create", "serviceaccounts", func(clienttesting.Action) (bool, runtime.Object, error) {
		err := forbiddenTerminating("team")
		return true, nil, err
	})
	if err := c.sync(context.Background(), "team"); err != nil {
		t.Fatalf("sync in a namespace that began terminating: %v, want no error (nothing to retry)", err)
	}
}

func TestEventsEnqueueNamespaces(t *testing.T) {
	c, _ := newFake(t)
	c.enqueueNamespace(namespace("a", corev1.NamespaceActive))
	c.serviceAccountDeleted(account("b", "default"))
	c.serviceAccountDeleted(account("c", "builder"))
	if n := c.queue.Len(); n != 2 {
		t.Fatalf("queue holds %d keys, want 2 (the new namespace and the one that lost its default account)", n)
	}
}
