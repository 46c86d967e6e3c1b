package apiserver_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/skiffk8s/skiff/apiserver/apitest"
)

// TestClientGoList checks pagination with continue tokens and label and
// field selectors.
func TestClientGoList(t *testing.T) {
	srv := apitest.Start(t)
	cs := srv.Client

	t.Run("pagination over 1000 configmaps", func(t *testing.T) {
		ctx := cgCtx(t)
		ns := cgNamespace(t, cs, "page")
		cms := cs.CoreV1().ConfigMaps(ns)
		const total = 1000
		var wg sync.WaitGroup
		errs := make(chan error, total)
		next := make(chan int)
		for w := 0; w < 16; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					if _, err := cms.Create(ctx, cgConfigMap(fmt.Sprintf("cm-%04d", i), nil), metav1.CreateOptions{}); err != nil {
						errs <- err
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
		for err := range errs {
			t.Fatalf("create: %v", err)
		}

		var seen []string
		cont, rv := "", ""
		for page := 0; ; page++ {
			l, err := cms.List(ctx, metav1.ListOptions{Limit: 100, Continue: cont})
			if err != nil {
				t.Fatalf("page %d: %v", page, err)
			}
			if page == 0 {
				rv = l.ResourceVersion
				// A write after the first page is not in the later pages:
				// every page is read at the first page's revision.
				if err := cms.Delete(ctx, "cm-0999", metav1.DeleteOptions{}); err != nil {
					t.Fatal(err)
				}
				if _, err := cms.Create(ctx, cgConfigMap("cm-1000", nil), metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			} else if l.ResourceVersion != rv {
				t.Fatalf("page %d resourceVersion %s, want the first page's %s", page, l.ResourceVersion, rv)
			}
			if len(l.Items) != 100 {
				t.Fatalf("page %d has %d items, want 100", page, len(l.Items))
			}
			seen = append(seen, cgNames(t, l)...)
			left := int64(total - len(seen))
			if left == 0 {
				if l.Continue != "" {
					t.Fatalf("last page has continue %q, want none", l.Continue)
				}
				if l.RemainingItemCount != nil && *l.RemainingItemCount != 0 {
					t.Fatalf("last page remainingItemCount %d, want none", *l.RemainingItemCount)
				}
				break
			}
			if l.Continue == "" {
				t.Fatalf("page %d has no continue token after %d of %d items", page, len(seen), total)
			}
			if l.RemainingItemCount == nil || *l.RemainingItemCount != left {
				t.Fatalf("page %d remainingItemCount %v, want %d", page, l.RemainingItemCount, left)
			}
			cont = l.Continue
		}
		want := make([]string, total)
		for i := range want {
			want[i] = fmt.Sprintf("cm-%04d", i)
		}
		if !slices.Equal(seen, want) {
			t.Fatalf("pages gave %d names (first %v), want cm-0000..cm-0999 once each in order", len(seen), seen[:min(5, len(seen))])
		}

		// A fresh list sees the later writes.
		all, err := cms.List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n := cgNames(t, all)
		if len(n) != total || n[len(n)-1] != "cm-1000" || slices.Contains(n, "cm-0999") {
			t.Fatalf("full list: %d items ending %v, want 1000 ending cm-1000 without cm-0999", len(n), n[len(n)-3:])
		}

		// A list at an exact earlier revision shows that revision.
		at, err := cms.List(ctx, metav1.ListOptions{ResourceVersion: rv, ResourceVersionMatch: metav1.ResourceVersionMatchExact, Limit: 2000})
		if err != nil {
			t.Fatalf("list at exact rv %s: %v", rv, err)
		}
		if n := cgNames(t, at); len(n) != total || n[len(n)-1] != "cm-0999" || at.ResourceVersion != rv {
			t.Fatalf("list at exact rv %s: %d items ending %v at rv %s, want the first page's snapshot", rv, len(n), n[len(n)-1], at.ResourceVersion)
		}
		// NotOlderThan an earlier revision sees at least that state.
		nt, err := cms.List(ctx, metav1.ListOptions{ResourceVersion: rv, ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan})
		if err != nil {
			t.Fatal(err)
		}
		if cgRV(t, nt.ResourceVersion) < cgRV(t, rv) || !slices.Contains(cgNames(t, nt), "cm-1000") {
			t.Fatalf("list not older than %s: rv %s, want the current state", rv, nt.ResourceVersion)
		}

		// A continue token older than a compaction is 410 Gone.
		l, err := cms.List(ctx, metav1.ListOptions{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cms.Create(ctx, cgConfigMap("after-page", nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := srv.Compact(ctx); err != nil {
			t.Fatalf("compact: %v", err)
		}
		_, err = cms.List(ctx, metav1.ListOptions{Limit: 100, Continue: l.Continue})
		if !apierrors.IsResourceExpired(err) {
			t.Fatalf("list with a continue token from before compaction: %v, want 410 Expired", err)
		}
		cgWantCode(t, err, 410, "expired continue token")

		_, err = cms.List(ctx, metav1.ListOptions{Limit: 100, Continue: "not-a-token"})
		cgWantCode(t, err, 400, "garbage continue token")
	})

	t.Run("label selectors", func(t *testing.T) {
		ctx := cgCtx(t)
		ns := cgNamespace(t, cs, "labels")
		cms := cs.CoreV1().ConfigMaps(ns)
		for name, labels := range map[string]map[string]string{
			"a": {"env": "prod", "tier": "web"},
			"b": {"env": "dev", "tier": "web"},
			"c": {"env": "prod"},
			"d": nil,
		} {
			if _, err := cms.Create(ctx, cgConfigMap(name, labels), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct{ selector, want string }{
			{"env=prod", "a c"},
			{"env==prod", "a c"},
			{"env!=prod", "b d"},
			{"env in (dev,qa)", "b"},
			{"env notin (prod)", "b d"},
			{"tier", "a b"},
			{"!tier", "c d"},
			{"env=prod,tier=web", "a"},
			{"env=staging", ""},
			{"", "a b c d"},
		} {
			l, err := cms.List(ctx, metav1.ListOptions{LabelSelector: tc.selector})
			if err != nil {
				t.Fatalf("labelSelector %q: %v", tc.selector, err)
			}
			if got := fmt.Sprint(cgNames(t, l)); got != "["+tc.want+"]" {
				t.Errorf("labelSelector %q: %s, want [%s]", tc.selector, got, tc.want)
			}
			// Paginated lists (read from etcd) filter the same way.
			l, err = cms.List(ctx, metav1.ListOptions{LabelSelector: tc.selector, Limit: 1})
			if err != nil {
				t.Fatalf("labelSelector %q limit 1: %v", tc.selector, err)
			}
			if len(l.Items) > 1 {
				t.Errorf("labelSelector %q limit 1: %d items", tc.selector, len(l.Items))
			}
		}
		for _, bad := range []string{"env in (", "=prod", "env=pr od", "tier=!web"} {
			_, err := cms.List(ctx, metav1.ListOptions{LabelSelector: bad})
			cgWantCode(t, err, 400, fmt.Sprintf("labelSelector %q", bad))
		}
	})

	t.Run("field selectors", func(t *testing.T) {
		ctx := cgCtx(t)
		ns := cgNamespace(t, cs, "fields")
		pods := cs.CoreV1().Pods(ns)
		mk := func(name, node string) *corev1.Pod {
			p := cgPod(name, nil)
			p.Spec.NodeName = node
			got, err := pods.Create(ctx, p, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		running := mk("running-on-a", "node-a")
		running.Status.Phase = corev1.PodRunning
		if _, err := pods.UpdateStatus(ctx, running, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		mk("pending-on-b", "node-b")
		mk("unscheduled", "")

		for _, tc := range []struct{ selector, want string }{
			{"metadata.name=pending-on-b", "pending-on-b"},
			{"metadata.name!=pending-on-b", "running-on-a unscheduled"},
			{"metadata.namespace=" + ns, "pending-on-b running-on-a unscheduled"},
			{"spec.nodeName=node-a", "running-on-a"},
			{"spec.nodeName=", "unscheduled"},
			{"spec.nodeName!=", "pending-on-b running-on-a"},
			{"status.phase=Running", "running-on-a"},
			{"status.phase!=Running", "pending-on-b unscheduled"},
			{"status.phase=Pending,spec.nodeName=node-b", "pending-on-b"},
		} {
			l, err := pods.List(ctx, metav1.ListOptions{FieldSelector: tc.selector})
			if err != nil {
				t.Errorf("fieldSelector %q: %v", tc.selector, err)
				continue
			}
			if got := fmt.Sprint(cgNames(t, l)); got != "["+tc.want+"]" {
				t.Errorf("fieldSelector %q: %s, want [%s]", tc.selector, got, tc.want)
			}
		}
		// Across namespaces, as a kubelet lists its pods.
		l, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=node-a"})
		if err != nil || fmt.Sprint(cgNames(t, l)) != "[running-on-a]" {
			t.Errorf("all-namespaces spec.nodeName=node-a: %v %v", err, cgNames(t, l))
		}

		// A watch with a field selector: a pod bound to the node enters it.
		w, err := cs.CoreV1().Pods("").Watch(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=node-c", ResourceVersion: l.ResourceVersion})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		late, err := pods.Create(ctx, cgPod("late", nil), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := pods.Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "late", UID: late.UID}, Target: corev1.ObjectReference{Kind: "Node", Name: "node-c"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		cgExpectEvent(t, w, watch.Added, "late")

		// Events by involved object, as kubectl describe finds them.
		evs := cs.CoreV1().Events(ns)
		for i, about := range []string{"running-on-a", "pending-on-b", "running-on-a"} {
			_, err := evs.Create(ctx, &corev1.Event{
				ObjectMeta:     metav1.ObjectMeta{Name: fmt.Sprintf("%s.%d", about, i)},
				InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: about, APIVersion: "v1"},
				Reason:         "Pulled", Message: "image pulled", Type: corev1.EventTypeNormal,
				Source:         corev1.EventSource{Component: "kubelet", Host: "node-a"},
				FirstTimestamp: metav1.Now(), LastTimestamp: metav1.Now(), Count: 1,
			}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
		}
		el, err := evs.List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=running-on-a,involvedObject.kind=Pod"})
		if err != nil {
			t.Fatalf("events by involvedObject: %v", err)
		}
		if got := fmt.Sprint(cgNames(t, el)); got != "[running-on-a.0 running-on-a.2]" {
			t.Errorf("events about running-on-a: %s", got)
		}

		// Unsupported fields and bad syntax: 400.
		for _, bad := range []string{"spec.containers=web", "metadata.labels=x", "spec.nodeName"} {
			_, err := pods.List(ctx, metav1.ListOptions{FieldSelector: bad})
			cgWantCode(t, err, 400, fmt.Sprintf("fieldSelector %q", bad))
		}
		_, err = cs.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=node-a"})
		cgWantCode(t, err, 400, "a pod field on configmaps")
		_, err = cs.CoreV1().ConfigMaps(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "data.key=value"})
		cgWantCode(t, err, 400, "watch with an unsupported field")
	})
}
