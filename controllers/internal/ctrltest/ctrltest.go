// Package ctrltest builds controllers.Context values for tests of the
// controllers: one over a fake clientset with informer caches the test
// fills directly (unit tests of a sync), one over a real API server from
// apiserver/apitest with the controller running (integration tests),
// both with a fake clock, and one on any clientset and clock (Context)
// with Start to run a controller on it until the test ends.
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
	"k8s.io/utils/clock"
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
	return &Cluster{
		Context: Context(t, srv.Client, name, clk, map[string]string{}),
		Server:  srv, Clock: clk,
	}
}

// Run starts the informers and ctrl until the test ends.
func (c *Cluster) Run(t testing.TB, ctrl controllers.Controller) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	run(t, ctx, cancel, ctrl, c.Context)
}

// Context returns a Context on client for the controller name: a fresh
// informer factory, a recorder that writes events through client, clk
// and options. Set SKIFF_TEST_LOG=1 to see the controller's logs.
func Context(t testing.TB, client kubernetes.Interface, name string, clk clock.WithTicker, options map[string]string) controllers.Context {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	if os.Getenv("SKIFF_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	b := record.NewBroadcaster()
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	t.Cleanup(b.Shutdown)
	return controllers.Context{
		Client:    client,
		Informers: informers.NewSharedInformerFactory(client, 0),
		Recorder:  b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: name + "-controller"}),
		Clock:     clk,
		Logger:    logger,
		Options:   options,
	}
}

// Start builds the controller with init on c, starts c's informers and
// runs the controller with two workers until the test ends; it returns
// a function that stops the controller and waits for it.
func Start(t testing.TB, init controllers.InitFunc, c controllers.Context) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ctl, err := init(ctx, c)
	if err != nil {
		cancel()
		t.Fatalf("new controller: %v", err)
	}
	return run(t, ctx, cancel, ctl, c)
}

// run starts c's informers and ctl with two workers until ctx is
// cancelled by the returned stop, which the test's cleanup also calls.
func run(t testing.TB, ctx context.Context, cancel context.CancelFunc, ctl controllers.Controller, c controllers.Context) (stop func()) {
	c.Informers.Start(ctx.Done())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := ctl.Run(ctx, 2); err != nil && ctx.Err() == nil {
			t.Errorf("run %s: %v", ctl.Name(), err)
		}
	}()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		c.Informers.Shutdown()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("%s did not stop", ctl.Name())
		}
	}
	t.Cleanup(stop)
	return stop
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

// EventuallyNil calls f every 50ms until it returns nil or timeout
// passes, then fails the test with f's last error.
func EventuallyNil(t testing.TB, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v: %v", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
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
