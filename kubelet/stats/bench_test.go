package stats

import (
	"context"
	"fmt"
	"os/exec"
	goruntime "runtime"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"

	"github.com/skiffk8s/skiff/kubelet/container"
	"github.com/skiffk8s/skiff/test/nodetest"
)

// BenchmarkSummary measures one Summary with 20 BestEffort pods, each a
// container cgroup holding a sleeping process, and reports the reporter's
// heap and goroutines (after Start and a few samples, GC'd), the cgroups
// it tracks (all of /kubepods on this host, not only the benchmark's) and
// the CPU its housekeeping costs at a 1 s interval.
func BenchmarkSummary(b *testing.B) {
	nodetest.RequireRoot(b)
	const nPods = 20
	cgroups := &container.Cgroups{}
	var pods []*corev1.Pod
	names := map[string]Container{}
	for i := range nPods {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: fmt.Sprint("pod-", i), UID: uuid.NewUUID()}}
		parent, err := cgroups.EnsurePodCgroup(pod)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = cgroups.RemovePodCgroup(pod.UID) })
		cid := fmt.Sprintf("bench%02d", i)
		cg := makeContainerCgroup(b, parent+"/"+cid)
		sleep := exec.Command("sleep", "600")
		if err := sleep.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = sleep.Process.Kill(); _ = sleep.Wait() })
		cg.add(b, sleep.Process.Pid)
		pods = append(pods, pod)
		names[cid] = Container{PodUID: pod.UID, Name: "c"}
	}

	before := heapInUse()
	goroutines := goruntime.NumGoroutine()
	r := startReporter(b, Config{
		Pods:       func() []*corev1.Pod { return pods },
		Containers: func(context.Context) (map[string]Container, error) { return names, nil },
	})
	time.Sleep(2500 * time.Millisecond) // two samples of each cgroup
	heap := float64(heapInUse()-before) / (1 << 20)
	goroutines = goruntime.NumGoroutine() - goroutines
	s, err := r.Summary(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	if len(s.Pods) != nPods {
		b.Fatalf("summary has %d pods, want %d", len(s.Pods), nPods)
	}
	tracked, err := r.recent("/", 1, true)
	if err != nil {
		b.Fatal(err)
	}
	// Housekeeping's CPU cost: process CPU time over an idle second.
	cpu0 := processCPU()
	time.Sleep(time.Second)
	housekeeping := float64(processCPU()-cpu0) / float64(time.Millisecond)
	b.ResetTimer()
	for b.Loop() {
		if _, err := r.Summary(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(heap, "heap-MiB")
	b.ReportMetric(float64(goroutines), "goroutines")
	b.ReportMetric(float64(len(tracked)), "cgroups")
	b.ReportMetric(housekeeping, "housekeeping-cpu-ms/s")
}

// processCPU is the process's user and system CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// heapInUse is the live heap after a collection, in bytes.
func heapInUse() int64 {
	goruntime.GC()
	var ms goruntime.MemStats
	goruntime.ReadMemStats(&ms)
	return int64(ms.HeapInuse)
}
