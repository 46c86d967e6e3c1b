// Package workers is the queue-and-workers plumbing of the endpoints,
// endpointslice, nodeipam and nodelifecycle controllers: a named
// rate-limited workqueue with the manager's metrics and the controller's
// clock, and a worker loop that calls an idempotent sync per key.
package workers

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/skiffk8s/skiff/controllers"
)

// Queue is a rate-limited queue of namespace/name keys.
type Queue = workqueue.TypedRateLimitingInterface[string]

// NewQueue returns a queue named name with c.Metrics and c.Clock, so that
// AddAfter follows a fake clock in tests.
func NewQueue(name string, c controllers.Context) Queue {
	return workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: name, MetricsProvider: c.Metrics, Clock: c.Clock},
	)
}

// Key is obj's namespace/name key ("" when it has none); it accepts
// cache.DeletedFinalStateUnknown.
func Key(obj any) string {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return ""
	}
	return key
}

// Run waits for the caches, then runs workers goroutines that take keys
// from queue and call sync until ctx ends. A failed sync is retried with
// the queue's rate limit; a successful one is forgotten. Run shuts the
// queue down and returns when the workers have stopped.
func Run(ctx context.Context, name string, logger *slog.Logger, queue Queue, workers int, syncFn func(context.Context, string) error, synced ...cache.InformerSynced) error {
	defer queue.ShutDown()
	if !cache.WaitForNamedCacheSync(name, ctx.Done(), synced...) {
		return fmt.Errorf("%s: caches did not sync: %w", name, ctx.Err())
	}
	Start(ctx, logger, queue, workers, syncFn)
	return nil
}

// Start runs workers goroutines on queue until ctx ends, then shuts the
// queue down and waits for them. Callers have waited for their caches.
func Start(ctx context.Context, logger *slog.Logger, queue Queue, workers int, syncFn func(context.Context, string) error) {
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Go(func() {
			defer utilruntime.HandleCrash()
			for processNext(ctx, logger, queue, syncFn) {
			}
		})
	}
	<-ctx.Done()
	queue.ShutDown()
	wg.Wait()
}

func processNext(ctx context.Context, logger *slog.Logger, queue Queue, syncFn func(context.Context, string) error) bool {
	key, quit := queue.Get()
	if quit {
		return false
	}
	defer queue.Done(key)
	if err := syncFn(ctx, key); err != nil {
		logger.Info("sync failed, retrying", "key", key, "err", err)
		queue.AddRateLimited(key)
		return true
	}
	queue.Forget(key)
	return true
}
