// Package controllers holds the controller manager's watch loops, one
// package per controller (controllers/replicaset, controllers/deployment,
// ...), and the small contract they share with the manager that runs
// them (controllers/manager).
//
// Every controller has the shape of kubernetes/sample-controller: event
// handlers only compute a key and add it to a rate-limited workqueue;
// Run waits for the informers' caches, then starts workers that take a
// key, call an idempotent sync (read from listers, compare desired and
// actual, write), Forget the key on success and AddRateLimited on error.
// Objects from listers are never mutated (DeepCopy first). NotFound means
// done. Time comes from Context.Clock, so tests need not wait.
package controllers

import (
	"context"
	"log/slog"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
)

// Controller is one watch loop.
type Controller interface {
	// Name is the controller's name in config, logs and metrics, e.g.
	// "replicaset" (upstream's --controllers names where they exist).
	Name() string
	// Run waits for caches, runs workers until ctx ends, and returns
	// when they have stopped. Informers it uses were registered with
	// Context.Informers in its constructor; the manager starts them.
	Run(ctx context.Context, workers int) error
}

// Context is what a controller's constructor gets from the manager.
type Context struct {
	// Client writes to the API (its user agent names the controller).
	Client kubernetes.Interface
	// Metadata reads any resource's metadata (the garbage collector and
	// the namespace controller use it).
	Metadata metadata.Interface
	// Informers is shared by all controllers; informers requested in a
	// constructor are started by the manager after all constructors ran.
	Informers informers.SharedInformerFactory
	// Recorder records events as the controller
	// (source component "<name>-controller").
	Recorder record.EventRecorder
	Clock    clock.WithTicker
	Logger   *slog.Logger
	// Metrics creates the controller's workqueue metrics (depth, adds,
	// latency, work duration, retries) under the manager's registry;
	// pass it to workqueue.TypedRateLimitingQueueConfig.MetricsProvider.
	Metrics WorkqueueMetricsProvider
	// Options are the controller-specific settings from the manager's
	// config (e.g. node-monitor-grace-period, cluster-cidr), by flag name.
	Options map[string]string
}

// InitFunc builds a controller. A controller that cannot run with the
// given options returns an error naming the option.
type InitFunc func(ctx context.Context, c Context) (Controller, error)
