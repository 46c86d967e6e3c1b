package plugintest

import (
	"context"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/skiffk8s/skiff/scheduler/framework"
)

// Handle is the part of framework.Handle the plugins use in tests: the
// snapshot, an informer factory over a fake clientset, and a
// parallelizer that runs every piece on its own goroutine (so the race
// detector sees the plugins' parallel sections). Other methods panic
// (the embedded Handle is nil).
type Handle struct {
	framework.Handle
	Snap      *framework.Snapshot
	Informers informers.SharedInformerFactory
}

func (h *Handle) SnapshotSharedLister() framework.SharedLister { return h.Snap }

func (h *Handle) SharedInformerFactory() informers.SharedInformerFactory { return h.Informers }

func (h *Handle) Parallelizer() framework.Parallelizer { return goParallelizer{} }

type goParallelizer struct{}

func (goParallelizer) Until(_ context.Context, pieces int, do func(int)) {
	var wg sync.WaitGroup
	for i := range pieces {
		wg.Go(func() { do(i) })
	}
	wg.Wait()
}

// NewHandle returns a Handle over a snapshot of nodes and pods whose
// informer factory holds objs. register asks the factory for the
// informers the plugin lists, e.g.
//
//	func(f informers.SharedInformerFactory) { f.Core().V1().Namespaces().Informer() }
//
// they are started and synced before NewHandle returns, and stopped when
// the test ends.
func NewHandle(t testing.TB, nodes []*corev1.Node, pods []*corev1.Pod, objs []runtime.Object, register func(informers.SharedInformerFactory)) *Handle {
	t.Helper()
	f := informers.NewSharedInformerFactory(fake.NewClientset(objs...), 0)
	register(f)
	ctx, cancel := context.WithCancel(context.Background())
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	t.Cleanup(func() { cancel(); f.Shutdown() })
	return &Handle{Snap: framework.NewSnapshot(nodes, pods), Informers: f}
}

// Args is args as the raw JSON a plugin's New gets: nil for "".
func Args(args string) []byte {
	if args == "" {
		return nil
	}
	return []byte(args)
}

// MustNew builds a plugin of type P with factory from args ("": none)
// and h, failing the test on an error.
func MustNew[P framework.Plugin](t testing.TB, factory framework.PluginFactory, h framework.Handle, args string) P {
	t.Helper()
	p, err := factory(context.Background(), Args(args), h)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p.(P)
}

// FilterPlugin is a plugin with PreFilter and Filter.
type FilterPlugin interface {
	framework.PreFilterPlugin
	framework.FilterPlugin
}

// FilterAll runs PreFilter and then Filter on every node of h's
// snapshot (a skipped Filter counts as fitting: a nil status).
func FilterAll(t testing.TB, pl FilterPlugin, cs *framework.CycleState, h *Handle, pod *corev1.Pod) map[string]*framework.Status {
	t.Helper()
	ctx := context.Background()
	_, st := pl.PreFilter(ctx, cs, pod, h.Snap.Nodes)
	if !st.IsSuccess() && !st.IsSkip() {
		t.Fatalf("PreFilter: %v", st)
	}
	if st.IsSkip() {
		cs.SkipFilterPlugins[pl.Name()] = true
	}
	got := map[string]*framework.Status{}
	for _, ni := range h.Snap.Nodes {
		if st.IsSkip() {
			got[ni.Node().Name] = nil
			continue
		}
		got[ni.Node().Name] = pl.Filter(ctx, cs, pod, ni)
	}
	return got
}

// AssertStatuses reports each node of want whose status in got has
// another code or message.
func AssertStatuses(t testing.TB, got, want map[string]*framework.Status) {
	t.Helper()
	for name, w := range want {
		g := got[name]
		if g.Code() != w.Code() || g.Message() != w.Message() {
			t.Errorf("node %s: got %v, want %v", name, g, w)
		}
	}
}

// ScorePlugin is a plugin with PreScore, Score and NormalizeScore.
type ScorePlugin interface {
	framework.PreScorePlugin
	framework.ScorePlugin
}

// ScoreAll runs PreScore with nodes, Score on each and NormalizeScore,
// and returns the scores by node name, or true if PreScore skipped.
func ScoreAll(t testing.TB, pl ScorePlugin, pod *corev1.Pod, nodes []*framework.NodeInfo) (map[string]int64, bool) {
	t.Helper()
	ctx := context.Background()
	cs := framework.NewCycleState()
	st := pl.PreScore(ctx, cs, pod, nodes)
	if st.IsSkip() {
		return nil, true
	}
	if !st.IsSuccess() {
		t.Fatalf("PreScore: %v", st)
	}
	var scores framework.NodeScoreList
	for _, ni := range nodes {
		s, st := pl.Score(ctx, cs, pod, ni)
		if !st.IsSuccess() {
			t.Fatalf("Score %s: %v", ni.Node().Name, st)
		}
		scores = append(scores, framework.NodeScore{Name: ni.Node().Name, Score: s})
	}
	if st := pl.ScoreExtensions().NormalizeScore(ctx, cs, pod, scores); !st.IsSuccess() {
		t.Fatalf("NormalizeScore: %v", st)
	}
	got := map[string]int64{}
	for _, s := range scores {
		got[s.Name] = s.Score
	}
	return got, false
}
