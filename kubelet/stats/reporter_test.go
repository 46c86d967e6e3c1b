package stats

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/skiffk8s/skiff/kubelet/container"
	"github.com/skiffk8s/skiff/test/nodetest"
)

// startReporter starts a reporter sampling every second, stopped when the
// test ends.
func startReporter(t testing.TB, cfg Config) *Reporter {
	t.Helper()
	if cfg.RootDir == "" {
		cfg.RootDir = t.TempDir()
	}
	if cfg.Pods == nil {
		cfg.Pods = func() []*corev1.Pod { return nil }
	}
	cfg.HousekeepingInterval = time.Second
	cfg.NodeName = "node-1"
	cfg.Logger = slog.New(slog.DiscardHandler)
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return r
}

// waitSummary polls Summary until ok accepts it, failing after timeout
// with the last reason ok gave.
func waitSummary(t *testing.T, r *Reporter, timeout time.Duration, ok func(*statsv1alpha1.Summary) error) *statsv1alpha1.Summary {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		s, err := r.Summary(context.Background())
		if err == nil {
			if last = ok(s); last == nil {
				return s
			}
		} else {
			last = err
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("summary not as expected after %v: %v", timeout, last)
	return nil
}

func TestNodeStatsArePlausible(t *testing.T) {
	nodetest.RequireRoot(t)
	r := startReporter(t, Config{})

	mi, err := r.MachineInfo()
	if err != nil {
		t.Fatal(err)
	}
	if mi.NumCores != goruntime.NumCPU() {
		t.Errorf("cores = %d, want NumCPU %d", mi.NumCores, goruntime.NumCPU())
	}
	capacity := meminfoTotal(t)
	if mi.MemoryCapacity != capacity {
		t.Errorf("memory capacity = %d, want MemTotal %d", mi.MemoryCapacity, capacity)
	}

	s := waitSummary(t, r, 10*time.Second, func(s *statsv1alpha1.Summary) error {
		if s.Node.CPU == nil || s.Node.CPU.UsageNanoCores == nil {
			return errors.New("no node cpu rate yet")
		}
		return nil
	})
	n := s.Node
	if n.NodeName != "node-1" {
		t.Errorf("node name = %q", n.NodeName)
	}
	cores := float64(*n.CPU.UsageNanoCores) / 1e9
	if cores < 0 || cores > float64(mi.NumCores)*1.05 {
		t.Errorf("node cpu = %.3f cores, want within [0, %d]", cores, mi.NumCores)
	}
	if *n.CPU.UsageCoreNanoSeconds == 0 {
		t.Error("node cumulative cpu usage is 0")
	}
	ws := *n.Memory.WorkingSetBytes
	if ws == 0 || ws >= capacity {
		t.Errorf("node working set = %d, want in (0, %d)", ws, capacity)
	}
	if n.Memory.AvailableBytes == nil || *n.Memory.AvailableBytes != capacity-ws {
		t.Errorf("node available = %v, want capacity - working set = %d", n.Memory.AvailableBytes, capacity-ws)
	}
	if *n.Memory.UsageBytes < ws || *n.Memory.RSSBytes == 0 || *n.Memory.PageFaults == 0 {
		t.Errorf("node memory usage %d, rss %d, page faults %d: want usage >= working set, rss and faults > 0",
			*n.Memory.UsageBytes, *n.Memory.RSSBytes, *n.Memory.PageFaults)
	}
	if n.Network == nil || len(n.Network.Interfaces) == 0 || n.Network.Name == "" {
		t.Errorf("node network = %+v, want the host's interfaces", n.Network)
	}
	if n.Fs == nil || *n.Fs.CapacityBytes == 0 || *n.Fs.AvailableBytes > *n.Fs.CapacityBytes {
		t.Errorf("nodefs = %+v", n.Fs)
	}
	if n.Rlimit == nil || n.Rlimit.MaxPID == nil || *n.Rlimit.NumOfRunningProcesses <= 0 || *n.Rlimit.NumOfRunningProcesses > *n.Rlimit.MaxPID {
		t.Errorf("rlimit = %+v", n.Rlimit)
	}
	if n.StartTime.IsZero() {
		t.Error("node start time is zero")
	}
	t.Logf("node: %.3f cores, working set %d MiB of %d MiB, %d interfaces, %d procs",
		cores, ws>>20, capacity>>20, len(n.Network.Interfaces), *n.Rlimit.NumOfRunningProcesses)
}

// TestPodStatsFollowCgroups runs a busy loop and a process holding 64 MiB
// in two container cgroups of a Burstable pod, made as the kubelet and
// runc make them, and reads them back from the Summary.
//
// The 64 MiB are a file written to /dev/shm (tmpfs) from inside the
// container's cgroup: tmpfs pages are charged to the memory cgroup of
// the writer and sit on the anonymous LRU, so they count in the working
// set (usage minus inactive file pages) exactly, and stay charged as long
// as the file exists, whatever the shell does with its own memory.
func TestPodStatsFollowCgroups(t *testing.T) {
	nodetest.RequireRoot(t)
	const memBytes = 64 << 20
	uid := uuid.NewUUID()
	start := metav1.NewTime(time.Now().Add(-time.Minute).Truncate(time.Second))
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "busy", UID: uid},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "spin", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}},
			{Name: "mem", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("100Mi")}}},
		}},
		Status: corev1.PodStatus{StartTime: &start},
	}
	cgroups := &container.Cgroups{}
	parent, err := cgroups.EnsurePodCgroup(pod)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(parent, "/kubepods/burstable/pod") {
		t.Fatalf("pod cgroup %s: want a Burstable pod", parent)
	}
	t.Cleanup(func() {
		if err := cgroups.RemovePodCgroup(uid); err != nil {
			t.Errorf("clean up: %v", err)
		}
	})
	spinID, memID := "c0ffee01", "c0ffee02"
	spinCg := makeContainerCgroup(t, parent+"/"+spinID)
	memCg := makeContainerCgroup(t, parent+"/"+memID)

	spin := exec.Command("sh", "-c", "while :; do :; done")
	if err := spin.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = spin.Process.Kill(); _ = spin.Wait() })
	spinCg.add(t, spin.Process.Pid)

	shm := fmt.Sprintf("/dev/shm/skiff-stats-test-%s", uid)
	t.Cleanup(func() { _ = os.Remove(shm) })
	mem := exec.Command("sh", "-c", fmt.Sprintf("read go; head -c %d /dev/zero > %s && echo written; exec sleep 600", memBytes, shm))
	stdin, _ := mem.StdinPipe()
	stdout, _ := mem.StdoutPipe()
	if err := mem.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mem.Process.Signal(syscall.SIGKILL); _ = mem.Wait() })
	memCg.add(t, mem.Process.Pid)
	if _, err := io.WriteString(stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "written\n" {
		t.Fatalf("writing %s: %q, %v", shm, line, err)
	}

	logsDir := t.TempDir()
	logFile := filepath.Join(logsDir, "ns_busy_"+string(uid), "spin", "0.log")
	_ = os.MkdirAll(filepath.Dir(logFile), 0o755)
	if err := os.WriteFile(logFile, make([]byte, 8192), 0o644); err != nil {
		t.Fatal(err)
	}

	r := startReporter(t, Config{
		PodLogsDir: logsDir,
		Pods:       func() []*corev1.Pod { return []*corev1.Pod{pod} },
		Containers: func(context.Context) (map[string]Container, error) {
			return map[string]Container{
				spinID: {PodUID: uid, Name: "spin"},
				memID:  {PodUID: uid, Name: "mem"},
			}, nil
		},
	})
	var spinCores, podCores float64
	var memWS, podWS uint64
	s := waitSummary(t, r, 15*time.Second, func(s *statsv1alpha1.Summary) error {
		ps := findPod(s, uid)
		if ps == nil {
			return errors.New("pod not in summary")
		}
		if len(ps.Containers) != 2 {
			return fmt.Errorf("%d containers, want 2", len(ps.Containers))
		}
		sc, mc := ps.Containers[1], ps.Containers[0] // sorted: mem, spin
		if sc.CPU == nil || sc.CPU.UsageNanoCores == nil || ps.CPU == nil || ps.CPU.UsageNanoCores == nil {
			return errors.New("no cpu rate yet")
		}
		spinCores, podCores = float64(*sc.CPU.UsageNanoCores)/1e9, float64(*ps.CPU.UsageNanoCores)/1e9
		memWS, podWS = *mc.Memory.WorkingSetBytes, *ps.Memory.WorkingSetBytes
		if spinCores < 0.5 || podCores < 0.5 {
			return fmt.Errorf("busy loop at %.2f cores (pod %.2f), want > 0.5 (other test binaries share the cores)", spinCores, podCores)
		}
		return nil
	})
	t.Logf("busy loop: container %.3f cores, pod %.3f cores; memory: container working set %.1f MiB, pod %.1f MiB",
		spinCores, podCores, float64(memWS)/(1<<20), float64(podWS)/(1<<20))
	if memWS < memBytes || memWS > memBytes+8<<20 {
		t.Errorf("mem container working set = %d, want 64 MiB (+ at most 8 MiB of shell)", memWS)
	}
	if podWS < memBytes { // pod and container are sampled at different times: compare with what is held
		t.Errorf("pod working set %d < the 64 MiB its container holds", podWS)
	}
	ps := findPod(s, uid)
	if ps.PodRef != (statsv1alpha1.PodReference{Namespace: "ns", Name: "busy", UID: string(uid)}) {
		t.Errorf("podRef = %+v", ps.PodRef)
	}
	if !ps.StartTime.Equal(&start) {
		t.Errorf("pod start time = %v, want the pod's %v", ps.StartTime, start)
	}
	if ps.Containers[0].Name != "mem" || ps.Containers[1].Name != "spin" {
		t.Errorf("containers %q, %q; want mem, spin", ps.Containers[0].Name, ps.Containers[1].Name)
	}
	if logs := ps.Containers[1].Logs; logs == nil || *logs.UsedBytes < 8192 || *logs.CapacityBytes == 0 {
		t.Errorf("spin logs = %+v, want >= 8192 bytes used", logs)
	}
	if ps.Network == nil || len(ps.Network.Interfaces) == 0 {
		t.Errorf("pod network = %+v, want the interfaces of its processes' namespace", ps.Network)
	}
	if ps.ProcessStats == nil || *ps.ProcessStats.ProcessCount < 2 {
		t.Errorf("pod processes = %+v, want >= 2", ps.ProcessStats)
	}
}

func findPod(s *statsv1alpha1.Summary, uid types.UID) *statsv1alpha1.PodStats {
	for i := range s.Pods {
		if s.Pods[i].PodRef.UID == string(uid) {
			return &s.Pods[i]
		}
	}
	return nil
}
