package storage

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	"github.com/skiffk8s/skiff/datastore"
)

// newStore starts etcd and a ConfigMap store with a small event window.
func newStore(t *testing.T, cacheSize int) (*Store, *clientv3.Client) {
	t.Helper()
	e := datastore.StartForTest(t)
	s := New(Config{
		Client: e.Client(), Prefix: "/registry/configmaps", Resource: schema.GroupResource{Resource: "configmaps"},
		GVK: corev1.SchemeGroupVersion.WithKind("ConfigMap"), Scheme: clientgoscheme.Scheme,
		New: func() runtime.Object { return &corev1.ConfigMap{} }, CacheSize: cacheSize,
	})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return s, e.Client()
}

func cm(ns, name string, labels map[string]string, v string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels}, Data: map[string]string{"v": v}}
}

func create(t *testing.T, s *Store, obj *corev1.ConfigMap) *corev1.ConfigMap {
	t.Helper()
	out, err := s.Create(context.Background(), s.Key(obj.Namespace, obj.Name), obj)
	if err != nil {
		t.Fatal(err)
	}
	return out.(*corev1.ConfigMap)
}

func setV(v string) UpdateFunc {
	return func(cur runtime.Object) (runtime.Object, error) {
		c := cur.(*corev1.ConfigMap)
		c.Data["v"] = v
		return c, nil
	}
}

// next reads one event or fails after a deadline.
func next(t *testing.T, w watch.Interface) watch.Event {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatal("watch closed")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	return watch.Event{}
}

func describe(ev watch.Event) string {
	c, ok := ev.Object.(*corev1.ConfigMap)
	if !ok {
		return string(ev.Type)
	}
	return fmt.Sprintf("%s %s/%s v=%s", ev.Type, c.Namespace, c.Name, c.Data["v"])
}

func TestResourceVersionIsTheEtcdRevisionAndKeysFollowUpstreamLayout(t *testing.T) {
	s, client := newStore(t, 0)
	obj := create(t, s, cm("ns1", "a", nil, "1"))
	resp, err := client.Get(context.Background(), "/registry/configmaps/ns1/a")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("key /registry/configmaps/ns1/a: %v %v", resp, err)
	}
	if got := fmt.Sprint(resp.Kvs[0].ModRevision); got != obj.ResourceVersion {
		t.Errorf("resourceVersion %s, etcd mod revision %s", obj.ResourceVersion, got)
	}
	if !strings.HasPrefix(string(resp.Kvs[0].Value), "k8s\x00") {
		t.Errorf("value is not in the protobuf envelope: %q", resp.Kvs[0].Value[:8])
	}
	if _, err := s.Create(context.Background(), s.Key("ns1", "a"), cm("ns1", "a", nil, "2")); !apierrors.IsAlreadyExists(err) {
		t.Errorf("second create: %v, want AlreadyExists", err)
	}
}

func TestNoOpUpdateKeepsResourceVersion(t *testing.T) {
	s, _ := newStore(t, 0)
	obj := create(t, s, cm("ns1", "a", nil, "1"))
	same, err := s.Update(context.Background(), s.Key("ns1", "a"), setV("1"))
	if err != nil {
		t.Fatal(err)
	}
	if rv := same.(*corev1.ConfigMap).ResourceVersion; rv != obj.ResourceVersion {
		t.Errorf("no-op update changed resourceVersion %s -> %s", obj.ResourceVersion, rv)
	}
	changed, err := s.Update(context.Background(), s.Key("ns1", "a"), setV("2"))
	if err != nil {
		t.Fatal(err)
	}
	if rv := changed.(*corev1.ConfigMap).ResourceVersion; rv == obj.ResourceVersion {
		t.Error("a real update kept the resourceVersion")
	}
}

func TestWatchResumesFromAResourceVersionWithExactlyTheLaterEvents(t *testing.T) {
	s, _ := newStore(t, 0)
	a := create(t, s, cm("ns1", "a", nil, "1"))
	create(t, s, cm("ns1", "b", nil, "1"))
	if _, err := s.Update(context.Background(), s.Key("ns1", "a"), setV("2")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(context.Background(), s.Key("ns1", "b"), nil); err != nil {
		t.Fatal(err)
	}
	w, err := s.Watch(context.Background(), s.KeyPrefix("ns1"), WatchOptions{ResourceVersion: a.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	want := []string{"ADDED ns1/b v=1", "MODIFIED ns1/a v=2", "DELETED ns1/b v=1"}
	for _, wnt := range want {
		if got := describe(next(t, w)); got != wnt {
			t.Errorf("event %q, want %q", got, wnt)
		}
	}
}

func TestWatchFromZeroStartsWithTheCurrentStateOfTheNamespaceOnly(t *testing.T) {
	s, _ := newStore(t, 0)
	create(t, s, cm("ns1", "a", nil, "1"))
	create(t, s, cm("ns2", "b", nil, "1"))
	w, err := s.Watch(context.Background(), s.KeyPrefix("ns1"), WatchOptions{ResourceVersion: "0"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if got := describe(next(t, w)); got != "ADDED ns1/a v=1" {
		t.Errorf("first event %q", got)
	}
	create(t, s, cm("ns2", "c", nil, "1"))
	create(t, s, cm("ns1", "d", nil, "1"))
	if got := describe(next(t, w)); got != "ADDED ns1/d v=1" {
		t.Errorf("next event %q, want the ns1 object only", got)
	}
}

func TestSelectorWatchTurnsLeavingAndJoiningIntoDeletedAndAdded(t *testing.T) {
	s, _ := newStore(t, 0)
	obj := create(t, s, cm("ns1", "a", map[string]string{"app": "web"}, "1"))
	pred := func(o runtime.Object) bool { return o.(*corev1.ConfigMap).Labels["app"] == "web" }
	w, err := s.Watch(context.Background(), s.KeyPrefix(""), WatchOptions{ResourceVersion: obj.ResourceVersion, Predicate: pred})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	relabel := func(app string) {
		if _, err := s.Update(context.Background(), s.Key("ns1", "a"), func(cur runtime.Object) (runtime.Object, error) {
			c := cur.(*corev1.ConfigMap)
			c.Labels["app"] = app
			return c, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	relabel("db")
	relabel("web")
	for _, want := range []watch.EventType{watch.Deleted, watch.Added} {
		if ev := next(t, w); ev.Type != want {
			t.Errorf("event %s, want %s", ev.Type, want)
		}
	}
}

func TestWatchFromBeforeTheCacheWindowOrACompactionIsGone(t *testing.T) {
	s, _ := newStore(t, 4)
	first := create(t, s, cm("ns1", "a", nil, "0"))
	for i := 1; i <= 6; i++ {
		if _, err := s.Update(context.Background(), s.Key("ns1", "a"), setV(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	_, err := s.Watch(context.Background(), s.KeyPrefix(""), WatchOptions{ResourceVersion: first.ResourceVersion})
	if !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
		t.Errorf("watch from before a 4-event window: %v, want 410 Gone", err)
	}

	s2, _ := newStore(t, 1000)
	obj := create(t, s2, cm("ns1", "a", nil, "0"))
	upd, err := s2.Update(context.Background(), s2.Key("ns1", "a"), setV("1"))
	if err != nil {
		t.Fatal(err)
	}
	rev, err := datastore.Compact(context.Background(), s2.client)
	if err != nil {
		t.Fatal(err)
	}
	s2.Compacted(rev)
	if _, err := s2.Watch(context.Background(), s2.KeyPrefix(""), WatchOptions{ResourceVersion: obj.ResourceVersion}); !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
		t.Errorf("watch from before a compaction: %v, want 410 Gone", err)
	}
	if w, err := s2.Watch(context.Background(), s2.KeyPrefix(""), WatchOptions{ResourceVersion: upd.(*corev1.ConfigMap).ResourceVersion}); err != nil {
		t.Errorf("watch from the compacted revision itself: %v", err)
	} else {
		w.Stop()
	}
}

func TestASlowWatcherIsDroppedWithoutBlockingOthers(t *testing.T) {
	s, _ := newStore(t, 0)
	obj := create(t, s, cm("ns1", "a", nil, "0"))
	slow, err := s.Watch(context.Background(), s.KeyPrefix(""), WatchOptions{ResourceVersion: obj.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Stop()
	fast, err := s.Watch(context.Background(), s.KeyPrefix(""), WatchOptions{ResourceVersion: obj.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Stop()
	const updates = 1500 // more than a watcher's 1024-event buffer plus its 64-event result channel
	done := make(chan int)
	go func() {
		n := 0
		for range fast.ResultChan() {
			n++
			if n == updates {
				break
			}
		}
		done <- n
	}()
	for i := 1; i <= updates; i++ {
		if _, err := s.Update(context.Background(), s.Key("ns1", "a"), setV(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case n := <-done:
		if n != updates {
			t.Errorf("fast watcher got %d events, want %d", n, updates)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the fast watcher was blocked")
	}
	// The slow watcher never read: it must have been closed, after
	// delivering no more than its buffers held.
	got := 0
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-slow.ResultChan():
			if !ok {
				if got >= updates {
					t.Errorf("slow watcher got all %d events; it should have been dropped", got)
				}
				return
			}
			got++
		case <-deadline:
			t.Fatalf("slow watcher still open after %d events", got)
		}
	}
}

func TestListPaginatesAConsistentSnapshotWithRemainingCount(t *testing.T) {
	s, _ := newStore(t, 0)
	for i := 0; i < 25; i++ {
		create(t, s, cm("ns1", fmt.Sprintf("cm-%02d", i), nil, "1"))
	}
	var names []string
	opts := ListOptions{Limit: 10}
	first := true
	for {
		res, err := s.List(context.Background(), s.KeyPrefix("ns1"), opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range res.Items {
			names = append(names, it.(*corev1.ConfigMap).Name)
		}
		if first {
			if res.RemainingItemCount == nil || *res.RemainingItemCount != 15 {
				t.Errorf("first page remainingItemCount %v, want 15", res.RemainingItemCount)
			}
			// A write after the first page is not seen by the next pages.
			create(t, s, cm("ns1", "cm-99", nil, "1"))
			first = false
		}
		if res.Continue == "" {
			break
		}
		opts = ListOptions{Limit: 10, Continue: res.Continue}
	}
	if len(names) != 25 || names[0] != "cm-00" || names[24] != "cm-24" {
		t.Errorf("pages gave %d names %v..., want cm-00..cm-24", len(names), names[:min(3, len(names))])
	}
	all, err := s.List(context.Background(), s.KeyPrefix("ns1"), ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Items) != 26 || all.Encodings == nil {
		t.Errorf("consistent list gave %d items (cache-served %v), want 26 from the cache", len(all.Items), all.Encodings != nil)
	}
}

func TestAnObjectTooLargeForEtcdIs413AndNothingIsWritten(t *testing.T) {
	s, _ := newStore(t, 0)
	big := cm("ns1", "big", nil, strings.Repeat("x", 2<<20)) // over etcd's 1.5 MiB request limit
	_, err := s.Create(context.Background(), s.Key("ns1", "big"), big)
	if !apierrors.IsRequestEntityTooLargeError(err) {
		t.Fatalf("create of a 2 MiB object: %v, want 413", err)
	}
	if _, err := s.Get(context.Background(), s.Key("ns1", "big")); !apierrors.IsNotFound(err) {
		t.Errorf("after the refused create: %v, want NotFound", err)
	}
}
