package daemonset

import (
	"context"
	"slices"
	"sort"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/skiffk8s/skiff/controllers/internal/ctrltest"
)

func TestIntegrationFollowsNodes(t *testing.T) {
	c := ctrltest.NewCluster(t, Name)
	c.Run(t, newController(c.Context))
	cs, ctx := c.Server.Client, context.Background()
	podNodes := func() []string {
		l, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, p := range l.Items {
			if p.DeletionTimestamp == nil {
				out = append(out, targetNode(&p))
			}
		}
		sort.Strings(out)
		return out
	}
	waitFor := func(want ...string) {
		t.Helper()
		ctrltest.Eventually(t, "daemon pods on "+string(rune('0'+len(want)))+" nodes", func() bool { return slices.Equal(podNodes(), want) })
	}
	for _, n := range []*corev1.Node{node("n1"), node("n2")} {
		if _, err := cs.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ds := newDS("agent")
	ds.Namespace, ds.UID = "", ""
	if _, err := cs.AppsV1().DaemonSets("default").Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor("n1", "n2")

	// A node joining gets a pod; a tainted one does not; a node leaving loses its pod.
	tainted := node("n4", corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule})
	for _, n := range []*corev1.Node{node("n3"), tainted} {
		if _, err := cs.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor("n1", "n2", "n3")
	if err := cs.CoreV1().Nodes().Delete(ctx, "n1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor("n2", "n3")

	// Tolerating the taint brings a pod to the tainted node.
	// The controller writes status meanwhile: retry on conflicts.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := cs.AppsV1().DaemonSets("default").Get(ctx, "agent", metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "db", Effect: corev1.TaintEffectNoSchedule}}
		_, err = cs.AppsV1().DaemonSets("default").Update(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	ctrltest.Eventually(t, "a pod on the tolerated node", func() bool { return slices.Contains(podNodes(), "n4") })
	ctrltest.Eventually(t, "status of three desired nodes", func() bool {
		got, _ := cs.AppsV1().DaemonSets("default").Get(ctx, "agent", metav1.GetOptions{})
		return got.Status.DesiredNumberScheduled == 3 && got.Status.ObservedGeneration == got.Generation
	})
}
