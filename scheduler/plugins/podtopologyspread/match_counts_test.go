package podtopologyspread

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiffk8s/skiff/scheduler/framework"
	"github.com/skiffk8s/skiff/scheduler/plugins/plugintest"
)

// The plugin keeps per-node counts across cycles; these cases check that
// a later cycle sees what changed since.
func TestCountsAcrossCycles(t *testing.T) {
	zoneAB := nodes(node("n1", "a"), node("n2", "b"))
	pod := plugintest.MakePod("p").Label("foo", "").SpreadConstraint(spread(1, zoneKey, corev1.DoNotSchedule, "foo")).Obj()

	t.Run("a pod added to a node between cycles counts in the next cycle", func(t *testing.T) {
		h := newHandle(t, zoneAB, foos("n1", 1))
		pl := newPlugin(t, h, "")
		plugintest.AssertStatuses(t, plugintest.FilterAll(t, pl, framework.NewCycleState(), h, pod), map[string]*framework.Status{"n1": skewed, "n2": fits})
		n2, _ := h.Snap.Get("n2")
		for _, p := range foos("n2", 2) {
			n2.AddPod(p) // a new Generation, as the cache gives it
		}
		plugintest.AssertStatuses(t, plugintest.FilterAll(t, pl, framework.NewCycleState(), h, pod), map[string]*framework.Status{"n1": fits, "n2": skewed})
	})

	t.Run("a new snapshot with other node infos is counted afresh", func(t *testing.T) {
		h := newHandle(t, zoneAB, foos("n1", 1))
		pl := newPlugin(t, h, "")
		plugintest.AssertStatuses(t, plugintest.FilterAll(t, pl, framework.NewCycleState(), h, pod), map[string]*framework.Status{"n1": skewed, "n2": fits})
		// Same names and generations, other pods.
		h.Snap = framework.NewSnapshot(zoneAB, foos("n2", 1))
		plugintest.AssertStatuses(t, plugintest.FilterAll(t, pl, framework.NewCycleState(), h, pod), map[string]*framework.Status{"n1": fits, "n2": skewed})
	})

	t.Run("a pod of another namespace with the same selector is counted on its own", func(t *testing.T) {
		h := newHandle(t, zoneAB, foos("n1", 1))
		pl := newPlugin(t, h, "")
		plugintest.FilterAll(t, pl, framework.NewCycleState(), h, pod)
		other := plugintest.MakePod("q").Namespace("other").Label("foo", "").SpreadConstraint(spread(1, zoneKey, corev1.DoNotSchedule, "foo")).Obj()
		plugintest.AssertStatuses(t, plugintest.FilterAll(t, pl, framework.NewCycleState(), h, other), map[string]*framework.Status{"n1": fits, "n2": fits})
	})

	t.Run("two constraints with one selector count right", func(t *testing.T) {
		h := newHandle(t, zoneAB, foos("n1", 1))
		pl := newPlugin(t, h, "")
		two := plugintest.MakePod("p").Label("foo", "").
			SpreadConstraint(spread(1, zoneKey, corev1.DoNotSchedule, "foo")).
			SpreadConstraint(spread(1, hostKey, corev1.DoNotSchedule, "foo")).Obj()
		plugintest.AssertStatuses(t, plugintest.FilterAll(t, pl, framework.NewCycleState(), h, two), map[string]*framework.Status{"n2": fits})
		if got := plugintest.FilterAll(t, pl, framework.NewCycleState(), h, two)["n1"]; got.IsSuccess() {
			t.Errorf("n1: got success, want a skew rejection")
		}
	})

	t.Run("the cache forgets the least recently used selectors", func(t *testing.T) {
		h := newHandle(t, zoneAB, foos("n1", 1))
		pl := newPlugin(t, h, "")
		for i := range maxCachedSelectors + 5 {
			p := plugintest.MakePod("p").Label("foo", "").SpreadConstraint(spread(1, zoneKey, corev1.DoNotSchedule, "foo"+string(rune('a'+i)))).Obj()
			plugintest.FilterAll(t, pl, framework.NewCycleState(), h, p)
		}
		if n := len(pl.matchCounts.bySelector); n != maxCachedSelectors {
			t.Errorf("cached selectors = %d, want %d", n, maxCachedSelectors)
		}
	})
}
