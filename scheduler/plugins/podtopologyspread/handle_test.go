package podtopologyspread

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

// fakeHandle is the part of framework.Handle the plugin uses: the
// snapshot, an informer factory over a fake clientset, a parallelizer.
// Other methods panic (the embedded Handle is nil).
type fakeHandle struct {
	framework.Handle
	snap      *framework.Snapshot
	informers informers.SharedInformerFactory
}

func (h *fakeHandle) SnapshotSharedLister() framework.SharedLister { return h.snap }

func (h *fakeHandle) SharedInformerFactory() informers.SharedInformerFactory { return h.informers }

func (h *fakeHandle) Parallelizer() framework.Parallelizer { return goParallelizer{} }

// goParallelizer runs every piece on its own goroutine (so the race
// detector sees the plugin's parallel sections).
type goParallelizer struct{}

func (goParallelizer) Until(_ context.Context, pieces int, do func(int)) {
	var wg sync.WaitGroup
	for i := range pieces {
		wg.Go(func() { do(i) })
	}
	wg.Wait()
}

// newHandle returns a handle over a snapshot of nodes and pods whose
// informer factory (Service, ReplicaSet and StatefulSet listers started
// and synced) holds objs.
func newHandle(t *testing.T, nodes []*corev1.Node, pods []*corev1.Pod, objs ...runtime.Object) *fakeHandle {
	t.Helper()
	f := informers.NewSharedInformerFactory(fake.NewClientset(objs...), 0)
	f.Core().V1().Services().Informer()
	f.Apps().V1().ReplicaSets().Informer()
	f.Apps().V1().StatefulSets().Informer()
	ctx, cancel := context.WithCancel(context.Background())
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	t.Cleanup(func() { cancel(); f.Shutdown() })
	return &fakeHandle{snap: framework.NewSnapshot(nodes, pods), informers: f}
}

func newPlugin(t *testing.T, h framework.Handle, args string) *PodTopologySpread {
	t.Helper()
	var raw []byte
	if args != "" {
		raw = []byte(args)
	}
	p, err := New(context.Background(), raw, h)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p.(*PodTopologySpread)
}
