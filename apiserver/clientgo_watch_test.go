package apiserver_test

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/skiffk8s/skiff/apiserver/apitest"
)

// cgInformerEvent is what an informer handler saw.
type cgInformerEvent struct {
	typ  string // add, update, delete
	name string
	data string // the object's data["key"]
}

// TestClientGoWatch checks watches the way controllers use them: shared
// informers, resuming from a resourceVersion, 410 Gone after compaction,
// bookmarks, and selectors.
func TestClientGoWatch(t *testing.T) {
	srv := apitest.Start(t)
	cs := srv.Client

	t.Run("informer sees adds, updates and deletes", func(t *testing.T) {
		ctx := cgCtx(t)
		ns := cgNamespace(t, cs, "informer")
		cms := cs.CoreV1().ConfigMaps(ns)
		if _, err := cms.Create(ctx, cgConfigMap("existing", nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		events := make(chan cgInformerEvent, 100)
		send := func(typ string, obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			cm := obj.(*corev1.ConfigMap)
			events <- cgInformerEvent{typ: typ, name: cm.Name, data: cm.Data["key"]}
		}
		factory := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(ns))
		inf := factory.Core().V1().ConfigMaps()
		if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { send("add", obj) },
			UpdateFunc: func(_, obj any) { send("update", obj) },
			DeleteFunc: func(obj any) { send("delete", obj) },
		}); err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		defer func() { close(stop); factory.Shutdown() }()
		factory.Start(stop)
		for typ, ok := range factory.WaitForCacheSync(stop) {
			if !ok {
				t.Fatalf("informer for %v did not sync", typ)
			}
		}
		want := func(w cgInformerEvent) {
			t.Helper()
			select {
			case got := <-events:
				if got != w {
					t.Fatalf("informer event %+v, want %+v", got, w)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("informer: no event, want %+v", w)
			}
		}
		want(cgInformerEvent{"add", "existing", "value"})

		c, err := cms.Create(ctx, cgConfigMap("fresh", nil), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want(cgInformerEvent{"add", "fresh", "value"})
		c.Data["key"] = "changed"
		if _, err := cms.Update(ctx, c, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		want(cgInformerEvent{"update", "fresh", "changed"})
		if err := cms.Delete(ctx, "fresh", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		want(cgInformerEvent{"delete", "fresh", "changed"})

		// The lister agrees with the server.
		cgPoll(t, "lister catches up", func() (bool, error) {
			l, err := inf.Lister().ConfigMaps(ns).List(labels.Everything())
			return err == nil && len(l) == 1 && l[0].Name == "existing", err
		})
	})

	t.Run("a kubelet-style informer filtered by spec.nodeName", func(t *testing.T) {
		ctx := cgCtx(t)
		ns := cgNamespace(t, cs, "nodeinf")
		pods := cs.CoreV1().Pods(ns)
		mine := cgPod("already-mine", nil)
		mine.Spec.NodeName = "node-x"
		if _, err := pods.Create(ctx, mine, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		other := cgPod("other-node", nil)
		other.Spec.NodeName = "node-y"
		if _, err := pods.Create(ctx, other, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		factory := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = "spec.nodeName=node-x"
		}))
		added := make(chan string, 10)
		inf := factory.Core().V1().Pods().Informer()
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: func(obj any) { added <- obj.(*corev1.Pod).Name }}); err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		defer func() { close(stop); factory.Shutdown() }()
		factory.Start(stop)
		factory.WaitForCacheSync(stop)
		want := func(name string) {
			t.Helper()
			select {
			case got := <-added:
				if got != name {
					t.Fatalf("informer added %s, want %s", got, name)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("informer did not add %s", name)
			}
		}
		want("already-mine")
		late, err := pods.Create(ctx, cgPod("scheduled-later", nil), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := pods.Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: late.Name, UID: late.UID}, Target: corev1.ObjectReference{Kind: "Node", Name: "node-x"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		want("scheduled-later")
	})

	t.Run("watch resumes from a resourceVersion", func(t *testing.T) {
		ctx := cgCtx(t)
		ns := cgNamespace(t, cs, "resume")
		cms := cs.CoreV1().ConfigMaps(ns)
		a, err := cms.Create(ctx, cgConfigMap("a", nil), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		start := a.ResourceVersion
		a.Data["key"] = "v2"
		a2, err := cms.Update(ctx, a, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := cms.Create(ctx, cgConfigMap("b", nil), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := cms.Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: start})
		if err != nil {
			t.Fatalf("watch from %s: %v", start, err)
		}
		defer w.Stop()
		m := cgExpectEvent(t, w, watch.Modified, "a").(*corev1.ConfigMap)
		if m.ResourceVersion != a2.ResourceVersion || m.Data["key"] != "v2" {
			t.Fatalf("MODIFIED a at rv %s data %v, want rv %s data v2", m.ResourceVersion, m.Data, a2.ResourceVersion)
		}
		if got := cgExpectEvent(t, w, watch.Added, "b").(*corev1.ConfigMap); got.ResourceVersion != b.ResourceVersion {
			t.Fatalf("ADDED b at rv %s, want %s", got.ResourceVersion, b.ResourceVersion)
		}
		del := cgExpectEvent(t, w, watch.Deleted, "a").(*corev1.ConfigMap)
		if n, _ := strconv.ParseInt(del.ResourceVersion, 10, 64); n <= cgRV(t, b.ResourceVersion) {
			t.Fatalf("DELETED a at rv %s, want after %s", del.ResourceVersion, b.ResourceVersion)
		}
		// Exactly these: the next event is the next change.
		if _, err := cms.Create(ctx, cgConfigMap("sentinel", nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		cgExpectEvent(t, w, watch.Added, "sentinel")

		// From resourceVersion "0" (or none) a watch starts with the
		// current state as ADDED events.
		w0, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: "0"})
		if err != nil {
			t.Fatal(err)
		}
		defer w0.Stop()
		cgExpectEvent(t, w0, watch.Added, "b")
		cgExpectEvent(t, w0, watch.Added, "sentinel")
	})

	t.Run("watch from a compacted resourceVersion is 410 Gone", func(t *testing.T) {
		ctx := cgCtx(t)
		ns := cgNamespace(t, cs, "gone")
		cms := cs.CoreV1().ConfigMaps(ns)
		c, err := cms.Create(ctx, cgConfigMap("old", nil), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		old := c.ResourceVersion
		c.Data["key"] = "newer"
		if _, err := cms.Update(ctx, c, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		rev, err := srv.Compact(ctx)
		if err != nil {
			t.Fatalf("compact: %v", err)
		}
		if rev <= cgRV(t, old) {
			t.Fatalf("compacted at %d, want past %s", rev, old)
		}
		w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: old})
		if err == nil {
			defer w.Stop()
			ev := cgNextEvent(t, w)
			if ev.Type != watch.Error {
				t.Fatalf("watch from compacted rv %s: event %s, want 410 Gone", old, ev.Type)
			}
			err = apierrors.FromObject(ev.Object)
		}
		if !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
			t.Fatalf("watch from compacted rv %s: %v, want 410 Gone", old, err)
		}
		cgWantCode(t, err, 410, "watch from a compacted resourceVersion")
		// So is an exact list at that revision.
		_, err = cms.List(ctx, metav1.ListOptions{ResourceVersion: old, ResourceVersionMatch: metav1.ResourceVersionMatchExact})
		cgWantCode(t, err, 410, "list at a compacted resourceVersion")
		// A watch from the current state still works.
		l, err := cms.List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		w2, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: l.ResourceVersion})
		if err != nil {
			t.Fatalf("watch from the list's rv after compaction: %v", err)
		}
		defer w2.Stop()
		if err := cms.Delete(ctx, "old", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		cgExpectEvent(t, w2, watch.Deleted, "old")
	})

	t.Run("bookmarks", func(t *testing.T) {
		ctx := cgCtx(t)
		ns := cgNamespace(t, cs, "bookmarks")
		cms := cs.CoreV1().ConfigMaps(ns)
		c, err := cms.Create(ctx, cgConfigMap("one", nil), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// Watch-list: the current state, then the bookmark that ends it.
		w, err := cms.Watch(ctx, metav1.ListOptions{
			SendInitialEvents: cgPtr(true), ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan,
			AllowWatchBookmarks: true,
		})
		if err != nil {
			t.Fatalf("watch-list: %v", err)
		}
		defer w.Stop()
		if ev := cgNextEvent(t, w); ev.Type != watch.Added || ev.Object.(*corev1.ConfigMap).Name != "one" {
			t.Fatalf("first watch-list event %s %v, want ADDED one", ev.Type, ev.Object)
		}
		ev := cgNextEvent(t, w)
		if ev.Type != watch.Bookmark {
			t.Fatalf("event after the initial state: %s, want BOOKMARK", ev.Type)
		}
		bm := ev.Object.(*corev1.ConfigMap)
		if bm.Annotations[metav1.InitialEventsAnnotationKey] != "true" {
			t.Fatalf("bookmark annotations %v, want %s=true", bm.Annotations, metav1.InitialEventsAnnotationKey)
		}
		if cgRV(t, bm.ResourceVersion) < cgRV(t, c.ResourceVersion) {
			t.Fatalf("bookmark rv %s, want at least %s", bm.ResourceVersion, c.ResourceVersion)
		}
		// Events flow on after it.
		c.Data["key"] = "two"
		if _, err := cms.Update(ctx, c, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		cgExpectEvent(t, w, watch.Modified, "one")

		// sendInitialEvents needs resourceVersionMatch=NotOlderThan.
		_, err = cms.Watch(ctx, metav1.ListOptions{SendInitialEvents: cgPtr(true)})
		cgWantCode(t, err, 422, "sendInitialEvents without resourceVersionMatch")

		// An ordinary watch with bookmarks allowed delivers every change.
		// (Periodic bookmarks come once a minute, which the test does not
		// wait for.)
		wb, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: c.ResourceVersion, AllowWatchBookmarks: true})
		if err != nil {
			t.Fatal(err)
		}
		defer wb.Stop()
		cgExpectEvent(t, wb, watch.Modified, "one")
		if err := cms.Delete(ctx, "one", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		cgExpectEvent(t, wb, watch.Deleted, "one")
	})

	t.Run("a watch keeps up with a burst of writes", func(t *testing.T) {
		ctx := cgCtx(t)
		ns := cgNamespace(t, cs, "burst")
		cms := cs.CoreV1().ConfigMaps(ns)
		l, err := cms.List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: l.ResourceVersion})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		const total = 1000
		errs := make(chan error, 1)
		go func() {
			var wg sync.WaitGroup
			next := make(chan int)
			for i := 0; i < 16; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for n := range next {
						if _, err := cms.Create(ctx, cgConfigMap(fmt.Sprintf("burst-%04d", n), nil), metav1.CreateOptions{}); err != nil {
							select {
							case errs <- err:
							default:
							}
						}
					}
				}()
			}
			for i := 0; i < total; i++ {
				next <- i
			}
			close(next)
			wg.Wait()
			close(errs)
		}()
		seen := map[string]bool{}
		last := int64(0)
		for len(seen) < total {
			ev := cgNextEvent(t, w)
			if ev.Type != watch.Added {
				t.Fatalf("event %s after %d ADDED, want only ADDED", ev.Type, len(seen))
			}
			cm := ev.Object.(*corev1.ConfigMap)
			if seen[cm.Name] {
				t.Fatalf("ADDED %s twice", cm.Name)
			}
			seen[cm.Name] = true
			rv := cgRV(t, cm.ResourceVersion)
			if rv <= last {
				t.Fatalf("event rv %d after %d: events out of order", rv, last)
			}
			last = rv
		}
		if err := <-errs; err != nil {
			t.Fatalf("create: %v", err)
		}
	})

	t.Run("watch one object by name", func(t *testing.T) {
		ctx := cgCtx(t)
		ns := cgNamespace(t, cs, "byname")
		cms := cs.CoreV1().ConfigMaps(ns)
		l, err := cms.List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var ws []watch.Interface
		for _, tc := range []struct{ ns, sel string }{
			{ns, "metadata.name=target"},
			{ns, "metadata.name==target"},
			{"", "metadata.name=target"}, // all namespaces
			{"", "metadata.name=target,metadata.namespace=" + ns},
		} {
			w, err := cs.CoreV1().ConfigMaps(tc.ns).Watch(ctx, metav1.ListOptions{FieldSelector: tc.sel, ResourceVersion: l.ResourceVersion})
			if err != nil {
				t.Fatalf("watch %q in %q: %v", tc.sel, tc.ns, err)
			}
			defer w.Stop()
			ws = append(ws, w)
		}
		for _, name := range []string{"target-2", "targe", "target"} {
			if _, err := cms.Create(ctx, cgConfigMap(name, nil), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		for _, w := range ws {
			cgExpectEvent(t, w, watch.Added, "target")
		}
	})

	t.Run("label selector watch sees objects leave and enter", func(t *testing.T) {
		ctx := cgCtx(t)
		ns := cgNamespace(t, cs, "selwatch")
		cms := cs.CoreV1().ConfigMaps(ns)
		l, err := cms.List(ctx, metav1.ListOptions{LabelSelector: "color=blue"})
		if err != nil {
			t.Fatal(err)
		}
		w, err := cms.Watch(ctx, metav1.ListOptions{LabelSelector: "color=blue", ResourceVersion: l.ResourceVersion})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		c, err := cms.Create(ctx, cgConfigMap("chameleon", map[string]string{"color": "blue"}), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cgExpectEvent(t, w, watch.Added, "chameleon")
		c.Labels["color"] = "green"
		if c, err = cms.Update(ctx, c, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if got := cgExpectEvent(t, w, watch.Deleted, "chameleon").(*corev1.ConfigMap); got.Labels["color"] != "green" {
			t.Fatalf("DELETED carries labels %v, want the new color", got.Labels)
		}
		if _, err := cms.Create(ctx, cgConfigMap("red", map[string]string{"color": "red"}), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		c.Labels["color"] = "blue"
		if _, err := cms.Update(ctx, c, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		cgExpectEvent(t, w, watch.Added, "chameleon") // not the red one
		if err := cms.Delete(ctx, "red", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := cms.Delete(ctx, "chameleon", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		cgExpectEvent(t, w, watch.Deleted, "chameleon")
	})
}

func cgRV(t testing.TB, rv string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(rv, 10, 64)
	if err != nil {
		t.Fatalf("resourceVersion %q is not a number: %v", rv, err)
	}
	return n
}
