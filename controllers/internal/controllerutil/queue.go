package controllerutil

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

// Key is the namespace/name key of obj ("" when it has none); it accepts
// cache.DeletedFinalStateUnknown.
func Key(obj any) string {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return ""
	}
	return key
}

// Run waits for the informers in synced, then runs workers goroutines that
// take keys from queue and call syncFn; a failed sync is logged and retried
// with the queue's rate limit, a successful one forgets the key's
// failures. It shuts the queue down and returns when ctx ends and the
// workers have stopped.
func Run(ctx context.Context, name string, logger *slog.Logger, queue Queue, workers int, syncFn func(context.Context, string) error, synced ...cache.InformerSynced) error {
	defer utilruntime.HandleCrash()
	defer queue.ShutDown()
	if !cache.WaitForNamedCacheSync(name, ctx.Done(), synced...) {
		return fmt.Errorf("%s: caches did not sync: %w", name, ctx.Err())
	}
	Start(ctx, logger, queue, workers, syncFn)
	return nil
}

// Start runs workers goroutines on queue until ctx ends, then shuts the
// queue down and waits for them; for controllers that wait for their
// caches themselves.
func Start(ctx context.Context, logger *slog.Logger, queue Queue, workers int, syncFn func(context.Context, string) error) {
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Go(func() {
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
		logger.Error("sync failed, retrying", "key", key, "err", err)
		queue.AddRateLimited(key)
		return true
	}
	queue.Forget(key)
	return true
}
