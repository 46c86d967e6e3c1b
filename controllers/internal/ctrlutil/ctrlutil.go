// Package ctrlutil holds the plumbing shared by the workload controllers
// (daemonset, statefulset, job, cronjob): the named rate-limited queue,
// the worker loop, owner references, creation/deletion expectations and
// pod readiness helpers. It holds no decisions of any one controller.
package ctrlutil

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/skiffk8s/skiff/controllers"
)

// NewQueue returns the controller's rate-limited queue named name, with
// the manager's metrics. Its retry delays run on the real clock (so a
// test's fake clock never holds up a retry); requeues at a time of the
// controller's clock go through AddAfter.
func NewQueue(name string, c controllers.Context) workqueue.TypedRateLimitingInterface[string] {
	return workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: name, MetricsProvider: c.Metrics},
	)
}

// AddAfter adds key to queue once d has passed on clk (a fake clock in
// tests: stepping it past d adds the key).
func AddAfter(clk clock.Clock, queue workqueue.TypedInterface[string], key string, d time.Duration) {
	if d <= 0 {
		queue.Add(key)
		return
	}
	if c, ok := clk.(clock.WithDelayedExecution); ok {
		c.AfterFunc(d, func() { queue.Add(key) })
		return
	}
	t := clk.NewTimer(d)
	go func() {
		<-t.C()
		queue.Add(key)
	}()
}

// Key is the namespace/name key of obj, or "" when it has none. It
// accepts cache.DeletedFinalStateUnknown.
func Key(obj any) string {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return ""
	}
	return key
}

// Run waits for synced, then runs workers goroutines taking keys from
// queue and calling syncFn until ctx ends; a failed sync is retried with
// the queue's rate limit. It shuts the queue down and returns when the
// workers have stopped.
func Run(ctx context.Context, name string, logger *slog.Logger, queue workqueue.TypedRateLimitingInterface[string], workers int, syncFn func(context.Context, string) error, synced ...cache.InformerSynced) error {
	defer utilruntime.HandleCrash()
	defer queue.ShutDown()
	if !cache.WaitForNamedCacheSync(name, ctx.Done(), synced...) {
		return fmt.Errorf("%s: caches did not sync: %w", name, ctx.Err())
	}
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
	return nil
}

func processNext(ctx context.Context, logger *slog.Logger, queue workqueue.TypedRateLimitingInterface[string], syncFn func(context.Context, string) error) bool {
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

// ControllerRef is the controller owner reference to owner of kind gvk,
// with blockOwnerDeletion, as upstream's controllers set it.
func ControllerRef(owner metav1.Object, gvk schema.GroupVersionKind) *metav1.OwnerReference {
	return metav1.NewControllerRef(owner, gvk)
}

// IsPodReady reports whether pod's Ready condition is True.
func IsPodReady(pod *corev1.Pod) bool {
	return podReadyCondition(pod) != nil
}

func podReadyCondition(pod *corev1.Pod) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		c := &pod.Status.Conditions[i]
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}

// IsPodAvailable reports whether pod has been Ready for at least
// minReadySeconds at now (upstream's podutil.IsPodAvailable).
func IsPodAvailable(pod *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	c := podReadyCondition(pod)
	if c == nil {
		return false
	}
	if minReadySeconds == 0 {
		return true
	}
	min := time.Duration(minReadySeconds) * time.Second
	return !c.LastTransitionTime.IsZero() && c.LastTransitionTime.Add(min).Before(now)
}

// IsPodActive reports whether pod neither finished nor is being deleted.
func IsPodActive(pod *corev1.Pod) bool {
	return pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed && pod.DeletionTimestamp == nil
}

// Expectations remembers, per controller key, how many creations and
// deletions the controller asked for and has not yet seen in its
// informers, so that a sync never acts on a cache that lags its own
// writes (no double creates). Entries expire after 5 minutes, as
// upstream's ControllerExpectations. Safe for concurrent use.
type Expectations struct {
	mu    sync.Mutex
	clock func() time.Time
	byKey map[string]*expectation // guarded by mu
}

type expectation struct {
	adds, dels int
	at         time.Time
}

const expectationsTTL = 5 * time.Minute

// NewExpectations returns empty expectations timed by now.
func NewExpectations(now func() time.Time) *Expectations {
	return &Expectations{clock: now, byKey: map[string]*expectation{}}
}

// Expect records that adds creations and dels deletions are pending for key.
func (e *Expectations) Expect(key string, adds, dels int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.byKey[key] = &expectation{adds: adds, dels: dels, at: e.clock()}
}

// Observed lowers key's pending creations by adds and deletions by dels
// (also used when a requested write failed).
func (e *Expectations) Observed(key string, adds, dels int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x := e.byKey[key]; x != nil {
		x.adds -= adds
		x.dels -= dels
	}
}

// Satisfied reports whether key has no pending writes (or they expired).
func (e *Expectations) Satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.byKey[key]
	return x == nil || (x.adds <= 0 && x.dels <= 0) || e.clock().Sub(x.at) > expectationsTTL
}

// Delete forgets key.
func (e *Expectations) Delete(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.byKey, key)
}
