package kubelet

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// fakeResources records PodResources calls; Sync fails with syncErr.
type fakeResources struct {
	mu      sync.Mutex
	setups  int
	syncs   []string // pod names
	syncErr error
}

var _ PodResourcesSyncer = (*fakeResources)(nil)

func (f *fakeResources) Setup(context.Context, *corev1.Pod) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.setups++
	return nil
}

func (f *fakeResources) Sync(_ context.Context, pod *corev1.Pod) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.syncs = append(f.syncs, pod.Name)
	return f.syncErr
}

func (f *fakeResources) Teardown(context.Context, types.UID) error { return nil }

func (f *fakeResources) counts() (setups, syncs int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.setups, len(f.syncs)
}

func TestPodResourcesAreSyncedOnResync(t *testing.T) {
	res := &fakeResources{syncErr: errors.New(`MountVolume.SetUp failed for volume "cfg" : configmaps "cfg" not found`)}
	h := newHarnessWith(t, func(c *Config) { c.PodResources = res })
	h.createPod(simplePod("web", corev1.RestartPolicyAlways, "busybox:1.36"))
	h.waitPod("web", "Running", 0, running)
	if setups, _ := res.counts(); setups != 1 {
		t.Errorf("setups = %d, want 1", setups)
	}
	// Each resync (10 s) syncs the running pod's resources again.
	h.eventually("two syncs", 10*time.Second, func() (bool, string) {
		_, n := res.counts()
		return n >= 2, "fewer than two syncs"
	})
	h.eventually("FailedMount event", 0, func() (bool, string) {
		return h.hasEvent("FailedMount", `configmaps "cfg" not found`)
	})
	if setups, _ := res.counts(); setups != 1 {
		t.Errorf("setups = %d after resyncs, want 1 (Sync keeps resources current)", setups)
	}
}
