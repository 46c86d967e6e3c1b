// Package ctrltest builds controllers.Context values for tests of the
// workload controllers: one over a fake clientset with informer caches the
// test fills directly (unit tests of a sync), and one over a real API
// server from apiserver/apitest with the controller running (integration
// tests). Both use a fake clock.
package ctrltest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/skiffk8s/skiff/apiserver/apitest"
	"github.com/skiffk8s/skiff/controllers"
)

// Epoch is the fake clocks' start time.
var Epoch = time.Date(2026, 3, 1, 10, 0, 30, 0, time.UTC)

// Unit is a controllers.Context over a fake clientset.
type Unit struct {
	controllers.Context
	Fake     *fake.Clientset
	Clock    *testingclock.FakeClock
	Recorder *record.FakeRecorder
}

// NewUnit returns a context whose clientset holds objects; the informer
// caches start empty: put objects in them with Add.
func NewUnit(t testing.TB, objects ...runtime.Object) *Unit {
	t.Helper()
	cs := fake.NewClientset(objects...)
	generated := 0
	cs.PrependReactor("create", "*", func(a clienttesting.Action) (bool, runtime.Object, error) {
		if m, err := metaOf(a.(clienttesting.CreateAction).GetObject()); err == nil && m.GetName() == "" && m.GetGenerateName() != "" {
			generated++
			m.SetName(fmt.Sprintf("%s%05d", m.GetGenerateName(), generated))
		}
		return false, nil, nil
	})
	clk := testingclock.NewFakeClock(Epoch)
	rec := record.NewFakeRecorder(100)
	return &Unit{
		Context: controllers.Context{
			Client:    cs,
			Informers: informers.NewSharedInformerFactory(cs, 0),
			Recorder:  rec,
			Clock:     clk,
			Logger:    slog.New(slog.DiscardHandler),
			Options:   map[string]string{},
		},
		Fake: cs, Clock: clk, Recorder: rec,
	}
}

// Add puts objects in the informer caches (informers must have been
// requested, i.e. the controller built, first).
func (u *Unit) Add(t testing.TB, objects ...runtime.Object) {
	t.Helper()
	for _, o := range objects {
		gvks, _, err := scheme.Scheme.ObjectKinds(o)
		if err != nil {
			t.Fatalf("kind of %T: %v", o, err)
		}
		inf, err := u.Informers.ForResource(gvrOf(gvks[0].GroupVersion().WithKind(gvks[0].Kind)))
		if err != nil {
			t.Fatalf("informer for %T: %v", o, err)
		}
		if err := inf.Informer().GetIndexer().Add(o); err != nil {
			t.Fatalf("add %T: %v", o, err)
		}
	}
}

// Writes are the clientset's actions other than reads, as
// "verb resource[/subresource] name" (name "" for creates with
// generateName), in order.
func (u *Unit) Writes() []string {
	var out []string
	for _, a := range u.Fake.Actions() {
		if a.GetVerb() == "get" || a.GetVerb() == "list" || a.GetVerb() == "watch" {
			continue
		}
		res := a.GetResource().Resource
		if a.GetSubresource() != "" {
			res += "/" + a.GetSubresource()
		}
		name := ""
		switch a := a.(type) {
		case clienttesting.CreateAction:
			if m, err := metaOf(a.GetObject()); err == nil {
				name = m.GetName()
			}
		case clienttesting.UpdateAction:
			if m, err := metaOf(a.GetObject()); err == nil {
				name = m.GetName()
			}
		case clienttesting.DeleteAction:
			name = a.GetName()
		case clienttesting.PatchAction:
			name = a.GetName()
		}
		out = append(out, strings.TrimSpace(a.GetVerb()+" "+res+" "+name))
	}
	return out
}

// Events drains the recorded events ("Type Reason Message").
func (u *Unit) Events() []string {
	var out []string
	for {
		select {
		case e := <-u.Recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// Cluster is a real API server with a context for controllers, whose
// fake clock starts at the real time.
type Cluster struct {
	controllers.Context
	Server *apitest.Server
	Clock  *testingclock.FakeClock
}

// NewCluster starts an API server; events are recorded through it.
func NewCluster(t testing.TB, name string) *Cluster {
	t.Helper()
	srv := apitest.Start(t)
	// Start at the real time: the API server stamps creation times with it.
	clk := testingclock.NewFakeClock(time.Now())
	b := record.NewBroadcaster()
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: srv.Client.CoreV1().Events("")})
	t.Cleanup(b.Shutdown)
	logger := slog.New(slog.DiscardHandler)
	if os.Getenv("SKIFF_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return &Cluster{
		Context: controllers.Context{
			Client:    srv.Client,
			Informers: informers.NewSharedInformerFactory(srv.Client, 0),
			Recorder:  b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: name + "-controller"}),
			Clock:     clk,
			Logger:    logger,
			Options:   map[string]string{},
		},
		Server: srv, Clock: clk,
	}
}

// Run starts the informers and ctrl until the test ends.
func (c *Cluster) Run(t testing.TB, ctrl controllers.Controller) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	c.Informers.Start(ctx.Done())
	go func() {
		defer close(done)
		if err := ctrl.Run(ctx, 2); err != nil {
			t.Errorf("run %s: %v", ctrl.Name(), err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		c.Informers.Shutdown()
	})
}

// Eventually polls cond every 20 ms until it returns true or 10 s pass.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// EventReasons lists the reasons of events about the object named name in ns.
func EventReasons(t testing.TB, cs kubernetes.Interface, ns, name string) []string {
	t.Helper()
	list, err := cs.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list events: %v", err)
	}
	var out []string
	for _, e := range list.Items {
		if e.InvolvedObject.Name == name {
			out = append(out, e.Reason)
		}
	}
	return out
}

func metaOf(o runtime.Object) (metav1.Object, error) {
	type metaGetter interface{ GetObjectMeta() metav1.Object }
	if m, ok := o.(metaGetter); ok {
		return m.GetObjectMeta(), nil
	}
	return nil, os.ErrInvalid
}

func gvrOf(gvk schema.GroupVersionKind) schema.GroupVersionResource {
	r, _ := meta.UnsafeGuessKindToResource(gvk)
	return r
}
