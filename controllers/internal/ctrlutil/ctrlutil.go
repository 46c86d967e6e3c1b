// Package ctrlutil holds what the workload controllers daemonset,
// statefulset, job and cronjob share beyond controllerutil (the worker
// loop, keys and pod readiness live there): a queue whose retries run on
// the real clock with AddAfter on the controller's clock, owner
// references, and creation/deletion count expectations. It holds no
// decisions of any one controller.
package ctrlutil

import (
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
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

// ControllerRef is the controller owner reference to owner of kind gvk,
// with blockOwnerDeletion, as upstream's controllers set it.
func ControllerRef(owner metav1.Object, gvk schema.GroupVersionKind) *metav1.OwnerReference {
	return metav1.NewControllerRef(owner, gvk)
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
