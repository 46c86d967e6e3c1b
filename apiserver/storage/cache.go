package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/btree"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// event is one change seen by the watch cache. For Deleted, obj is the last
// state with the deletion's revision as resourceVersion.
type event struct {
	typ  watch.EventType
	key  string
	obj  runtime.Object
	prev runtime.Object // nil for Added
	enc  *Encodings     // obj's encodings, shared by every watcher and list
	rev  int64
	// progress marks a pseudo-event that only advances the revision.
	progress bool
}

type item struct {
	key string
	obj runtime.Object
	enc *Encodings
}

// Encodings memoizes the wire encodings of one cached object version, so
// that a list of 10,000 objects costs 10,000 copies, not 10,000 encodings,
// and a watch event is encoded once for all its watchers.
type Encodings struct {
	mu    sync.Mutex
	json  []byte // guarded by mu
	proto []byte // guarded by mu
}

// Get returns the encoding of format ("json" or "proto"), computing it with
// f the first time.
func (e *Encodings) Get(format string, f func() ([]byte, error)) ([]byte, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	slot := &e.json
	if format == "proto" {
		slot = &e.proto
	} else if format != "json" {
		return f() // not memoized
	}
	if *slot != nil {
		return *slot, nil
	}
	b, err := f()
	if err != nil {
		return nil, err
	}
	*slot = b
	return b, nil
}

func itemLess(a, b item) bool { return a.key < b.key }

// watchCache mirrors one resource's keys from a single etcd watch, keeps a
// window of recent events, and fans them out to watchers without ever
// blocking on one: a watcher that falls behind is closed and its client
// re-watches.
type watchCache struct {
	s *Store

	mu   sync.Mutex
	cond *sync.Cond // broadcast when rev advances; uses mu

	items *btree.BTreeG[item] // guarded by mu
	rev   int64               // guarded by mu: revision the cache is current to
	// oldest is the revision after which every event is in buf. Guarded by mu.
	oldest int64
	// compactedRev is the newest revision etcd compacted to, as told by
	// compacted. Guarded by mu.
	compactedRev int64
	buf          []event // guarded by mu: ring of recent events
	head         int     // guarded by mu: index of the oldest event in buf
	count        int     // guarded by mu

	watchers map[*cacheWatcher]struct{} // guarded by mu
	ready    bool                       // guarded by mu

	watchCtx context.Context // the context of the etcd watch, for progress requests
}

func newWatchCache(s *Store) *watchCache {
	c := &watchCache{
		s:        s,
		items:    btree.NewG(32, itemLess),
		buf:      make([]event, s.cfg.CacheSize),
		watchers: map[*cacheWatcher]struct{}{},
	}
	c.cond = sync.NewCond(&c.mu)
	return c
}

// start loads the cache and returns once its etcd watch is established, so
// that nothing after start (a compaction, say) can cut the cache off from
// events it has not seen.
func (c *watchCache) start(ctx context.Context) error {
	rev, err := c.load(ctx)
	if err != nil {
		return err
	}
	watching := make(chan struct{})
	go c.run(ctx, rev, watching)
	select {
	case <-watching:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(30 * time.Second):
		return fmt.Errorf("watch cache %s: etcd watch not established in 30s", c.s.cfg.Resource)
	}
}

// load replaces the cache content with a fresh list from etcd.
func (c *watchCache) load(ctx context.Context) (int64, error) {
	resp, err := c.s.client.Get(ctx, c.s.prefix, clientv3.WithPrefix())
	if err != nil {
		return 0, fmt.Errorf("watch cache %s: list: %w", c.s.cfg.Resource, err)
	}
	items := btree.NewG(32, itemLess)
	for _, kv := range resp.Kvs {
		obj, err := c.s.decode(kv.Value, kv.ModRevision)
		if err != nil {
			c.s.log.Error("watch cache: skipping undecodable object", "key", string(kv.Key), "err", err)
			continue
		}
		items.ReplaceOrInsert(item{key: string(kv.Key), obj: obj, enc: &Encodings{}})
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.items = items
	c.rev = resp.Header.Revision
	c.oldest = resp.Header.Revision
	c.head, c.count = 0, 0
	for w := range c.watchers {
		c.dropLocked(w)
	}
	c.ready = true
	c.cond.Broadcast()
	return c.rev, nil
}

// run follows etcd from rev until ctx is done, reloading after errors.
// watching is closed once the first etcd watch is established.
func (c *watchCache) run(ctx context.Context, rev int64, watching chan struct{}) {
	var once sync.Once
	established := func() { once.Do(func() { close(watching) }) }
	for ctx.Err() == nil {
		err := c.follow(ctx, rev, established)
		if ctx.Err() != nil {
			return
		}
		c.s.log.Warn("watch cache: etcd watch ended, reloading", "err", err)
		for ctx.Err() == nil {
			var lerr error
			if rev, lerr = c.load(ctx); lerr == nil {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func (c *watchCache) follow(ctx context.Context, rev int64, established func()) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	c.mu.Lock()
	c.watchCtx = wctx
	c.mu.Unlock()
	wch := c.s.client.Watch(wctx, c.s.prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1), clientv3.WithProgressNotify(), clientv3.WithCreatedNotify())
	for resp := range wch {
		if resp.Created {
			established()
		}
		if err := resp.Err(); err != nil {
			if errors.Is(err, rpctypes.ErrCompacted) {
				return fmt.Errorf("compacted at %d: %w", resp.CompactRevision, err)
			}
			return err
		}
		if resp.IsProgressNotify() {
			c.progress(resp.Header.Revision)
			continue
		}
		for _, ev := range resp.Events {
			c.apply(ev)
		}
	}
	return errors.New("watch channel closed")
}

func (c *watchCache) progress(rev int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rev <= c.rev {
		return
	}
	c.rev = rev
	c.dispatchLocked(event{progress: true, rev: rev})
	c.cond.Broadcast()
}

func (c *watchCache) apply(ev *clientv3.Event) {
	key := string(ev.Kv.Key)
	rev := ev.Kv.ModRevision
	var e event
	switch ev.Type {
	case mvccpb.PUT:
		obj, err := c.s.decode(ev.Kv.Value, rev)
		if err != nil {
			c.s.log.Error("watch cache: skipping undecodable object", "key", key, "err", err)
			return
		}
		e = event{typ: watch.Added, key: key, obj: obj, rev: rev}
	case mvccpb.DELETE:
		e = event{typ: watch.Deleted, key: key, rev: rev}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	prev, had := c.items.Get(item{key: key})
	switch {
	case e.typ == watch.Added && had:
		e.typ, e.prev, e.enc = watch.Modified, prev.obj, &Encodings{}
		c.items.ReplaceOrInsert(item{key: key, obj: e.obj, enc: e.enc})
	case e.typ == watch.Added:
		e.enc = &Encodings{}
		c.items.ReplaceOrInsert(item{key: key, obj: e.obj, enc: e.enc})
	case had: // deleted
		c.items.Delete(item{key: key})
		last := prev.obj.DeepCopyObject()
		if m, err := meta.Accessor(last); err == nil {
			m.SetResourceVersion(fmt.Sprint(rev))
		}
		e.obj, e.prev, e.enc = last, prev.obj, &Encodings{}
	default:
		// Deleted a key we never saw: nothing to tell anyone.
		c.rev = rev
		c.cond.Broadcast()
		return
	}
	// Append to the ring, evicting the oldest when full.
	if c.count == len(c.buf) {
		c.oldest = c.buf[c.head].rev
		c.head = (c.head + 1) % len(c.buf)
		c.count--
	}
	c.buf[(c.head+c.count)%len(c.buf)] = e
	c.count++
	c.rev = rev
	c.dispatchLocked(e)
	c.cond.Broadcast()
}

// compacted forgets events at or before rev: etcd can no longer serve them
// either, so a watch from there must get 410 Gone.
func (c *watchCache) compacted(rev int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// Remembered even when the cache has not seen rev yet: events it
	// receives later for revisions up to rev still cannot serve a watch
	// that starts before rev.
	c.compactedRev = max(c.compactedRev, rev)
	for c.count > 0 && c.buf[c.head].rev <= rev {
		c.oldest = c.buf[c.head].rev
		c.buf[c.head] = event{}
		c.head = (c.head + 1) % len(c.buf)
		c.count--
	}
	if c.count == 0 && rev > c.oldest {
		c.oldest = min(rev, c.rev)
	}
}

func (c *watchCache) dispatchLocked(e event) {
	for w := range c.watchers {
		select {
		case w.input <- e:
		default:
			if !e.progress { // a missed progress event is harmless
				c.s.log.Debug("watch cache: dropping slow watcher")
				c.dropLocked(w)
			}
		}
	}
}

func (c *watchCache) dropLocked(w *cacheWatcher) {
	if _, ok := c.watchers[w]; ok {
		delete(c.watchers, w)
		close(w.input)
	}
}

func (c *watchCache) revision() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rev
}

// waitFresh waits until the cache has seen revision rev, asking etcd for a
// progress notification when the resource is quiet. It returns false when
// the cache did not catch up in time; callers then read etcd.
func (c *watchCache) waitFresh(ctx context.Context, rev int64) bool {
	deadline := time.Now().Add(3 * time.Second)
	c.mu.Lock()
	defer c.mu.Unlock()
	asked := false
	for !c.ready || c.rev < rev {
		if ctx.Err() != nil || time.Now().After(deadline) {
			return false
		}
		if c.ready && !asked && c.watchCtx != nil {
			wctx := c.watchCtx
			c.mu.Unlock()
			_ = c.s.client.RequestProgress(wctx)
			c.mu.Lock()
			asked = true
			continue
		}
		// Wake up periodically to re-check the deadline.
		t := time.AfterFunc(50*time.Millisecond, func() {
			c.mu.Lock()
			c.cond.Broadcast()
			c.mu.Unlock()
		})
		c.cond.Wait()
		t.Stop()
	}
	return true
}

func (c *watchCache) get(key string) (runtime.Object, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	it, ok := c.items.Get(item{key: key})
	return it.obj, ok
}

func (c *watchCache) list(prefix string, pred func(runtime.Object) bool) *ListResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	res := &ListResult{ResourceVersion: c.rev}
	c.items.AscendGreaterOrEqual(item{key: prefix}, func(it item) bool {
		if !strings.HasPrefix(it.key, prefix) {
			return false
		}
		if pred == nil || pred(it.obj) {
			res.Items = append(res.Items, it.obj)
			res.Encodings = append(res.Encodings, it.enc)
		}
		return true
	})
	return res
}
