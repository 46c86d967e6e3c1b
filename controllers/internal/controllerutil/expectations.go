package controllerutil

import (
	"sync"
	"time"
)

// ExpectationsTimeout is how long unobserved expectations hold back a
// controller before it syncs anyway (upstream's 5 minutes).
const ExpectationsTimeout = 5 * time.Minute

// Expectations remembers, per controller key, how many creations it asked
// for and which pods (by namespace/name key) it asked to delete and has
// not yet seen in its informers, so a sync never acts on a cache that lags
// the controller's own writes. It is upstream's
// UIDTrackingControllerExpectations. Safe for concurrent use.
type Expectations struct {
	now func() time.Time

	mu    sync.Mutex
	byKey map[string]*expectation // guarded by mu
}

type expectation struct {
	adds    int
	dels    map[string]bool // pod keys whose deletion is not yet seen
	created time.Time
}

// NewExpectations returns empty expectations timed by now.
func NewExpectations(now func() time.Time) *Expectations {
	return &Expectations{now: now, byKey: map[string]*expectation{}}
}

// ExpectCreations records that adds creations are pending for key,
// replacing what was expected before.
func (e *Expectations) ExpectCreations(key string, adds int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.byKey[key] = &expectation{adds: adds, dels: map[string]bool{}, created: e.now()}
}

// ExpectDeletions records that the pods podKeys are being deleted for
// key, replacing what was expected before.
func (e *Expectations) ExpectDeletions(key string, podKeys []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := &expectation{dels: make(map[string]bool, len(podKeys)), created: e.now()}
	for _, k := range podKeys {
		x.dels[k] = true
	}
	e.byKey[key] = x
}

// CreationObserved lowers key's pending creations by one (an informer saw
// a pod, or a create failed).
func (e *Expectations) CreationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x := e.byKey[key]; x != nil && x.adds > 0 {
		x.adds--
	}
}

// DeletionObserved records that the pod podKey is gone or going (an
// informer saw it, or its delete failed); a pod seen twice counts once.
func (e *Expectations) DeletionObserved(key, podKey string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x := e.byKey[key]; x != nil {
		delete(x.dels, podKey)
	}
}

// Satisfied reports whether key has nothing pending, or its expectations
// are older than ExpectationsTimeout, or it has none at all.
func (e *Expectations) Satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.byKey[key]
	if x == nil || (x.adds <= 0 && len(x.dels) == 0) {
		return true
	}
	return e.now().Sub(x.created) > ExpectationsTimeout
}

// Pending returns key's pending creations and deletions (for tests and
// logs).
func (e *Expectations) Pending(key string) (adds, dels int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x := e.byKey[key]; x != nil {
		return x.adds, len(x.dels)
	}
	return 0, 0
}

// Delete forgets key.
func (e *Expectations) Delete(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.byKey, key)
}
