// Package ctlharness builds a controllers.Context for tests of the
// endpoints, endpointslice, nodeipam and nodelifecycle controllers (a
// shared informer factory, an event recorder writing to the API, a
// clock) and runs a controller until the test ends.
package ctlharness

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/skiffk8s/skiff/controllers"
)

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

// Run builds the controller with init on c, starts c's informers and
// runs the controller with two workers until the test ends; it returns
// a function that stops the controller and waits for it.
func Run(t testing.TB, init controllers.InitFunc, c controllers.Context) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ctl, err := init(ctx, c)
	if err != nil {
		cancel()
		t.Fatalf("new controller: %v", err)
	}
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

// Eventually calls f every 50ms until it returns nil or timeout passes,
// then fails the test with f's last error.
func Eventually(t testing.TB, timeout time.Duration, f func() error) {
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
