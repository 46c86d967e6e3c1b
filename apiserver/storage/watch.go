package storage

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// WatchOptions selects what a watch delivers.
type WatchOptions struct {
	// ResourceVersion to start after; "" or "0" start with the current state
	// as Added events.
	ResourceVersion string
	// SendInitialEvents sends the current state as Added events, then a
	// bookmark annotated k8s.io/initial-events-end (watch-list).
	SendInitialEvents bool
	// Bookmarks enables periodic BOOKMARK events.
	Bookmarks bool
	// BookmarkInterval is how often bookmarks are sent; 0 means 1 minute.
	BookmarkInterval time.Duration
	// Predicate, when not nil, keeps only matching objects; objects that
	// stop matching are delivered as Deleted, that start matching as Added.
	Predicate func(runtime.Object) bool
	// Memoized delivers each object as a *Memo carrying the encodings
	// memo it shares with every other watcher, so an event is encoded once
	// however many watch it.
	Memoized bool
}

// Memo is a watch event's object with its shared encodings memo (see
// WatchOptions.Memoized). The object must not be mutated.
type Memo struct {
	runtime.Object
	Enc *Encodings
}

// InitialEventsEndAnnotation marks the bookmark that ends the initial events
// of a watch-list.
const InitialEventsEndAnnotation = "k8s.io/initial-events-end"

// Watch watches the objects under prefix. Events are delivered in revision
// order; a watcher that does not keep up is closed (the client re-watches
// from its last resourceVersion). A resourceVersion older than the cache's
// window fails with 410 Gone.
func (s *Store) Watch(ctx context.Context, prefix string, opts WatchOptions) (watch.Interface, error) {
	var rv int64
	if opts.ResourceVersion != "" {
		var err error
		rv, err = strconv.ParseInt(opts.ResourceVersion, 10, 64)
		if err != nil || rv < 0 {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid resource version: %q", opts.ResourceVersion))
		}
	}
	c := s.cache
	// The starting state must be at least as new as what the client asked
	// for: rv, or for an unset resourceVersion the current revision (a
	// consistent start). Waiting also makes "too old" mean too old.
	target := rv
	if opts.ResourceVersion == "" {
		cur, err := s.CurrentRevision(ctx)
		if err != nil {
			return nil, err
		}
		target = cur
	}
	if target > 0 && !c.waitFresh(ctx, target) {
		return nil, apierrors.NewTimeoutError(fmt.Sprintf("watch cache did not reach resource version %d in time", target), 1)
	}
	w := &cacheWatcher{
		store:  s,
		prefix: prefix,
		pred:   opts.Predicate,
		input:  make(chan event, 1024),
		result: make(chan watch.Event, 64),
		done:   make(chan struct{}),
		opts:   opts,
	}
	c.mu.Lock()
	if !c.ready {
		c.mu.Unlock()
		return nil, apierrors.NewServiceUnavailable("watch cache is not ready")
	}
	var initial []event
	switch {
	case rv == 0 || opts.SendInitialEvents:
		c.items.AscendGreaterOrEqual(item{key: prefix}, func(it item) bool {
			if !strings.HasPrefix(it.key, prefix) {
				return false
			}
			initial = append(initial, event{typ: watch.Added, key: it.key, obj: it.obj, enc: it.enc})
			return true
		})
		w.lastRev = c.rev
		w.initialEnd = opts.SendInitialEvents
	case rv < max(c.oldest, c.compactedRev-1):
		// etcd serves a watch that starts at its compaction revision, so
		// a resourceVersion one before it still resumes.
		oldest := max(c.oldest, c.compactedRev-1)
		c.mu.Unlock()
		return nil, apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %d (%d)", rv, oldest+1))
	default:
		for i := 0; i < c.count; i++ {
			e := c.buf[(c.head+i)%len(c.buf)]
			if e.rev > rv {
				initial = append(initial, e)
			}
		}
		w.lastRev = rv
	}
	c.watchers[w] = struct{}{}
	c.mu.Unlock()
	go w.run(ctx, initial)
	return w, nil
}

// cacheWatcher is one client's watch on a watch cache.
type cacheWatcher struct {
	store  *Store
	prefix string
	pred   func(runtime.Object) bool
	opts   WatchOptions
	input  chan event // closed by the cache when the watcher is dropped
	result chan watch.Event
	done   chan struct{}
	stop   sync.Once

	lastRev    int64 // only used by run
	initialEnd bool  // send the initial-events-end bookmark after initial
}

// ResultChan implements watch.Interface.
func (w *cacheWatcher) ResultChan() <-chan watch.Event { return w.result }

// Stop implements watch.Interface.
func (w *cacheWatcher) Stop() {
	w.stop.Do(func() {
		close(w.done)
		c := w.store.cache
		c.mu.Lock()
		c.dropLocked(w)
		c.mu.Unlock()
	})
}

func (w *cacheWatcher) run(ctx context.Context, initial []event) {
	defer close(w.result)
	defer w.Stop()
	for _, e := range initial {
		if !w.send(ctx, e) {
			return
		}
	}
	if w.initialEnd && !w.sendBookmark(ctx, true) {
		return
	}
	var tick <-chan time.Time
	if w.opts.Bookmarks {
		iv := w.opts.BookmarkInterval
		if iv <= 0 {
			iv = time.Minute
		}
		t := time.NewTicker(iv)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case e, ok := <-w.input:
			if !ok {
				return
			}
			if !w.send(ctx, e) {
				return
			}
		case <-tick:
			if !w.sendBookmark(ctx, false) {
				return
			}
		case <-ctx.Done():
			return
		case <-w.done:
			return
		}
	}
}

// send delivers e if it concerns this watcher, translating label or field
// selector transitions. It returns false when the watcher should end.
func (w *cacheWatcher) send(ctx context.Context, e event) bool {
	if !e.progress && e.rev > 0 && e.rev <= w.lastRev {
		return true // already covered by the starting state
	}
	if e.rev > w.lastRev {
		w.lastRev = e.rev
	}
	if e.progress || !strings.HasPrefix(e.key, w.prefix) {
		return true
	}
	typ := e.typ
	if w.pred != nil {
		cur := e.typ != watch.Deleted && w.pred(e.obj)
		was := e.prev != nil && w.pred(e.prev)
		switch {
		case e.typ == watch.Deleted:
			if !was {
				return true
			}
		case cur && was:
			typ = watch.Modified
		case cur:
			typ = watch.Added
		case was:
			typ = watch.Deleted
		default:
			return true
		}
	}
	select {
	case w.result <- watch.Event{Type: typ, Object: w.deliver(e)}:
		return true
	case <-ctx.Done():
		return false
	case <-w.done:
		return false
	}
}

// deliver is the object of e as the watcher's client gets it.
func (w *cacheWatcher) deliver(e event) runtime.Object {
	if w.opts.Memoized && e.enc != nil {
		return &Memo{Object: e.obj, Enc: e.enc}
	}
	return e.obj
}

func (w *cacheWatcher) sendBookmark(ctx context.Context, initialEnd bool) bool {
	obj := w.store.cfg.New()
	m, err := meta.Accessor(obj)
	if err != nil {
		return false
	}
	m.SetResourceVersion(strconv.FormatInt(w.lastRev, 10))
	if initialEnd {
		m.SetAnnotations(map[string]string{InitialEventsEndAnnotation: "true"})
	}
	select {
	case w.result <- watch.Event{Type: watch.Bookmark, Object: obj}:
		return true
	case <-ctx.Done():
		return false
	case <-w.done:
		return false
	}
}

// Compacted tells the cache that etcd compacted at rev, so watches from
// before rev get 410 Gone as they would from etcd.
func (s *Store) Compacted(rev int64) { s.cache.compacted(rev) }
