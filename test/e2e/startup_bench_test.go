package e2e

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/skiffk8s/skiff/test/nodetest"
)

// BenchmarkPodStartup30 creates 30 pods at once on one node (image
// present) and measures, per pod, the time from its create call to a watch
// seeing it Running. The kubelet is the real `skiff kubelet` process, so
// its memory with 30 running pods is reported too (kubelet-rss-MiB is all
// resident memory; kubelet-anon-MiB leaves out the mapped binary).
func BenchmarkPodStartup30(b *testing.B) { benchStartup(b, 30) }

// BenchmarkPodStartup1 is the same for one pod alone.
func BenchmarkPodStartup1(b *testing.B) { benchStartup(b, 1) }

func benchStartup(b *testing.B, pods int) {
	n := startNodeWith(b, sharedSkiff(b))
	ctx := context.Background()
	w, err := n.cs.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	var mu sync.Mutex
	created := map[string]time.Time{}
	cpu0, total0, comm0, api0 := procCPU(b, n.proc.Pid), hostCPU(b), cpuByComm(), procCPU(b, os.Getpid())
	b.ResetTimer()
	var wg sync.WaitGroup
	for i := 0; i < pods; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("start-%02d", i)
			p := busyboxPod(name, corev1.RestartPolicyAlways, "sleep 3600")
			t0 := time.Now()
			if _, err := n.cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
				b.Error(err)
				return
			}
			mu.Lock()
			created[name] = t0
			mu.Unlock()
		}()
	}
	var lat []time.Duration
	seen := map[string]bool{}
	deadline := time.After(2 * time.Minute)
	for len(seen) < pods {
		select {
		case ev := <-w.ResultChan():
			if ev.Type == watch.Error {
				b.Fatalf("watch error: %v", ev.Object)
			}
			p, ok := ev.Object.(*corev1.Pod)
			if !ok || p.Status.Phase != corev1.PodRunning || seen[p.Name] {
				continue
			}
			now := time.Now()
			mu.Lock()
			t0, ok := created[p.Name]
			mu.Unlock()
			if !ok {
				t0 = p.CreationTimestamp.Time // the create call has not returned yet
			}
			seen[p.Name] = true
			lat = append(lat, now.Sub(t0))
		case <-deadline:
			b.Fatalf("%d of %d pods Running after 2 minutes", len(seen), pods)
		}
	}
	b.StopTimer()
	// CPU spent while the pods started: by the kubelet, and by the whole
	// host (containerd, shims, runc, the API server, this test).
	b.ReportMetric(float64(procCPU(b, n.proc.Pid)-cpu0), "kubelet-cpu-ms")
	b.ReportMetric(float64(hostCPU(b)-total0), "host-cpu-ms")
	// This test process: the API server with its etcd, and the watch.
	b.ReportMetric(float64(procCPU(b, os.Getpid())-api0), "apiserver+etcd-cpu-ms")
	comm1 := cpuByComm()
	b.ReportMetric(float64(comm1["containerd"]-comm0["containerd"]), "containerd-cpu-ms")
	// Shims with the runc processes they ran and reaped.
	b.ReportMetric(float64(comm1["containerd-shim"]-comm0["containerd-shim"]), "shim+runc-cpu-ms")
	wg.Wait()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Milliseconds()), "p99-ms")

	// Memory in steady state: a few resyncs and node status updates later.
	time.Sleep(25 * time.Second)
	reportMemory(b, n.proc.Pid)
}

// procCPU is the user+system CPU time of process pid in milliseconds.
func procCPU(b *testing.B, pid int) int64 {
	d, err := nodetest.ProcCPU(pid)
	if err != nil {
		b.Fatal(err)
	}
	return d.Milliseconds()
}

// hostCPU is the busy (non-idle, non-iowait) CPU time of all CPUs in ms.
func hostCPU(b *testing.B) int64 {
	st, err := os.ReadFile("/proc/stat")
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(strings.SplitN(string(st), "\n", 2)[0]) // cpu user nice system idle iowait irq softirq steal
	var busy int64
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i != 3 && i != 4 && i < 8 {
			busy += n
		}
	}
	return busy * 1000 / 100
}

// cpuByComm sums user+system CPU (ms) of processes by command name,
// including their reaped children (a shim's runc runs), over /proc.
// Names are truncated to 15 characters by the kernel.
func cpuByComm() map[string]int64 {
	out := map[string]int64{}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		st, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(st)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		comm := s[open+1 : end]
		f := strings.Fields(s[end+2:])
		var ticks int64
		for _, i := range []int{11, 12, 13, 14} { // utime stime cutime cstime
			v, _ := strconv.ParseInt(f[i], 10, 64)
			ticks += v
		}
		out[comm] += ticks * 1000 / 100
	}
	return out
}
