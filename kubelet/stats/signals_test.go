package stats

import (
	"context"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/skiffk8s/skiff/kubelet"
	"github.com/skiffk8s/skiff/test/nodetest"
)

func TestSignalsMeasureThisHost(t *testing.T) {
	nodetest.RequireRoot(t)
	root, images := t.TempDir(), t.TempDir()
	r := startReporter(t, Config{RootDir: root, ImageFSDir: images})
	waitSummary(t, r, 10*time.Second, func(*statsv1alpha1.Summary) error { return nil }) // a first sample
	sig, err := r.Signals()
	if err != nil {
		t.Fatal(err)
	}
	capacity := int64(meminfoTotal(t))
	mem := sig[kubelet.SignalMemoryAvailable]
	if mem.Capacity != capacity || mem.Available <= 0 || mem.Available >= capacity {
		t.Errorf("memory.available = %+v, want capacity %d and 0 < available < capacity", mem, capacity)
	}
	// The working set moves between samples; the summary's is close.
	summ, err := r.Summary(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := capacity - int64(*summ.Node.Memory.WorkingSetBytes)
	if d := mem.Available - want; d > 256<<20 || d < -256<<20 {
		t.Errorf("memory.available = %d, want capacity - root working set ≈ %d", mem.Available, want)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err != nil {
		t.Fatal(err)
	}
	if fs := sig[kubelet.SignalNodeFSAvailable]; fs.Capacity != int64(st.Blocks)*st.Bsize || fs.Available <= 0 {
		t.Errorf("nodefs.available = %+v, want capacity %d", fs, int64(st.Blocks)*st.Bsize)
	}
	for _, name := range []string{kubelet.SignalNodeFSInodesFree, kubelet.SignalImageFSAvailable, kubelet.SignalImageFSInodesFree, kubelet.SignalPIDAvailable} {
		if u, ok := sig[name]; !ok || u.Available <= 0 || u.Available > u.Capacity {
			t.Errorf("%s = %+v, %v; want 0 < available <= capacity", name, u, ok)
		}
	}
	// The signals plug into the kubelet's judgement: this host is not
	// under pressure with upstream's defaults.
	if p := kubelet.DefaultThresholds().Judge(sig); p.Memory || p.PID {
		t.Errorf("host judged under pressure: %+v", p)
	}
}
