package statefulset

import (
	"context"
	"slices"
	"sort"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/skiffk8s/skiff/controllers/internal/ctrltest"
)

func TestIntegrationOrderedReady(t *testing.T) {
	c := ctrltest.NewCluster(t, Name)
	c.Run(t, newController(c.Context))
	cs, ctx := c.Server.Client, context.Background()
	names := func() []string {
		l, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, p := range l.Items {
			if p.DeletionTimestamp == nil {
				out = append(out, p.Name)
			}
		}
		sort.Strings(out)
		return out
	}
	markReady := func(name string) {
		t.Helper()
		p, err := cs.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
		if _, err := cs.CoreV1().Pods("default").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	set := newSet(2, appsv1.OrderedReadyPodManagement)
	set.Namespace, set.UID = "", ""
	if _, err := cs.AppsV1().StatefulSets("default").Create(ctx, set, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ctrltest.Eventually(t, "web-0", func() bool { return slices.Equal(names(), []string{"web-0"}) })
	time.Sleep(300 * time.Millisecond)
	if got := names(); !slices.Equal(got, []string{"web-0"}) {
		t.Fatalf("pods %v before web-0 is ready, want only web-0", got)
	}
	markReady("web-0")
	ctrltest.Eventually(t, "web-1 after web-0 is ready", func() bool { return slices.Equal(names(), []string{"web-0", "web-1"}) })
	markReady("web-1")
	ctrltest.Eventually(t, "status with two ready replicas", func() bool {
		s, _ := cs.AppsV1().StatefulSets("default").Get(ctx, "web", metav1.GetOptions{})
		return s.Status.ReadyReplicas == 2 && s.Status.Replicas == 2 && s.Status.CurrentRevision == s.Status.UpdateRevision && s.Status.UpdateRevision != ""
	})

	// Scale 2 → 3 → 1: web-2 after web-1; then web-2 goes before web-1.
	scale := func(n int32) {
		// The controller writes status meanwhile: retry on conflicts, as
		// kubectl scale does.
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			s, err := cs.AppsV1().StatefulSets("default").Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return err
			}
			s.Spec.Replicas = ptr.To(n)
			_, err = cs.AppsV1().StatefulSets("default").Update(ctx, s, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	scale(3)
	ctrltest.Eventually(t, "web-2", func() bool { return slices.Equal(names(), []string{"web-0", "web-1", "web-2"}) })
	markReady("web-2")
	scale(1)
	var seen [][]string
	ctrltest.Eventually(t, "only web-0 left", func() bool {
		n := names()
		if len(seen) == 0 || !slices.Equal(seen[len(seen)-1], n) {
			seen = append(seen, n)
		}
		return slices.Equal(n, []string{"web-0"})
	})
	for _, s := range seen {
		if slices.Contains(s, "web-2") && !slices.Contains(s, "web-1") {
			t.Errorf("web-1 went before web-2: %v", seen)
		}
	}
	events := ctrltest.EventReasons(t, cs, "default", "web")
	if !slices.Contains(events, "SuccessfulCreate") || !slices.Contains(events, "SuccessfulDelete") {
		t.Errorf("events %v", events)
	}
}
