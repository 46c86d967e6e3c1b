package container

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiffk8s/skiff/runtime"
)

type rl = map[corev1.ResourceName]string

func podWithResources(cs ...corev1.ResourceRequirements) *corev1.Pod {
	pod := testPod()
	pod.Spec.Containers = nil
	for i, r := range cs {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: string(rune('a' + i)), Resources: r})
	}
	return pod
}

func TestQOSAndCgroupParent(t *testing.T) {
	for _, tc := range []struct {
		name   string
		pod    *corev1.Pod
		qos    corev1.PodQOSClass
		parent string
	}{
		{"no requests or limits is BestEffort", podWithResources(corev1.ResourceRequirements{}),
			corev1.PodQOSBestEffort, "/kubepods/besteffort/pod1234-abcd"},
		{"equal cpu and memory limits (requests defaulted) is Guaranteed",
			podWithResources(resources(nil, rl{"cpu": "500m", "memory": "128Mi"})),
			corev1.PodQOSGuaranteed, "/kubepods/pod1234-abcd"},
		{"requests below limits is Burstable",
			podWithResources(resources(rl{"cpu": "100m", "memory": "64Mi"}, rl{"cpu": "500m", "memory": "128Mi"})),
			corev1.PodQOSBurstable, "/kubepods/burstable/pod1234-abcd"},
		{"one container without limits makes the pod Burstable",
			podWithResources(resources(nil, rl{"cpu": "1", "memory": "1Gi"}), resources(rl{"cpu": "100m"}, nil)),
			corev1.PodQOSBurstable, "/kubepods/burstable/pod1234-abcd"},
		{"only ephemeral-storage is still BestEffort",
			podWithResources(resources(rl{"ephemeral-storage": "1Gi"}, nil)),
			corev1.PodQOSBestEffort, "/kubepods/besteffort/pod1234-abcd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := QOSClass(tc.pod); got != tc.qos {
				t.Fatalf("QOSClass = %s, want %s", got, tc.qos)
			}
			if got := CgroupParent(tc.pod); got != tc.parent {
				t.Fatalf("CgroupParent = %s, want %s", got, tc.parent)
			}
		})
	}
}

func TestContainerResources(t *testing.T) {
	const nodeMem = 8 << 30
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want runtime.Resources
	}{
		{"best effort gets the minimum shares", podWithResources(corev1.ResourceRequirements{}),
			runtime.Resources{CPUShares: 2, OOMScoreAdjust: 1000}},
		{"guaranteed: shares and quota from the cpu, memory limit",
			podWithResources(resources(nil, rl{"cpu": "500m", "memory": "128Mi"})),
			runtime.Resources{CPUShares: 512, CPUQuota: 50000, CPUPeriod: 100000, MemoryLimit: 128 << 20, OOMScoreAdjust: -997}},
		{"burstable: shares from the request, quota from the limit",
			podWithResources(resources(rl{"cpu": "250m", "memory": "1Gi"}, rl{"cpu": "2"})),
			runtime.Resources{CPUShares: 256, CPUQuota: 200000, CPUPeriod: 100000, OOMScoreAdjust: 875}},
		{"tiny requests and limits are clamped",
			podWithResources(resources(rl{"cpu": "1m"}, rl{"cpu": "5m", "memory": "10Mi"})),
			runtime.Resources{CPUShares: 2, CPUQuota: 1000, CPUPeriod: 100000, MemoryLimit: 10 << 20, OOMScoreAdjust: 999}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ContainerResources(tc.pod, &tc.pod.Spec.Containers[0], nodeMem)
			if got != tc.want {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestPodCgroupResources(t *testing.T) {
	pod := podWithResources(
		resources(rl{"cpu": "250m"}, rl{"cpu": "500m", "memory": "100Mi"}),
		resources(rl{"cpu": "250m"}, rl{"cpu": "500m", "memory": "100Mi"}),
	)
	pod.Spec.InitContainers = []corev1.Container{{Name: "init", Resources: resources(nil, rl{"cpu": "2", "memory": "50Mi"})}}
	got := PodCgroupResources(pod, 1024)
	// cpu request: max(sum 500m, init 2) = 2 cores; limits: max(1 core, 2 cores).
	want := PodResources{CPUShares: 2048, CPUQuota: 200000, CPUPeriod: 100000, MemoryLimit: 200 << 20, PidsLimit: 1024}
	if got != want {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	partial := podWithResources(resources(nil, rl{"cpu": "1", "memory": "1Gi"}), resources(rl{"cpu": "100m"}, nil))
	if got := PodCgroupResources(partial, 0); got.CPUQuota != 0 || got.MemoryLimit != 0 || got.CPUShares != 1126 {
		t.Fatalf("a pod with a container without limits got %+v", got)
	}
}

// fakeV1 makes a directory tree shaped like a cgroup v1 mount.
func fakeV1(t *testing.T, controllers ...string) string {
	root := t.TempDir()
	for _, c := range controllers {
		if err := os.MkdirAll(filepath.Join(root, c), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, c, "cgroup.procs"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func readTrim(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestEnsurePodCgroupV1Layout(t *testing.T) {
	root := fakeV1(t, "cpu", "memory", "pids", "freezer")
	g := &Cgroups{Root: root, PodPidsLimit: 512}
	pod := podWithResources(resources(rl{"cpu": "250m", "memory": "64Mi"}, rl{"cpu": "1", "memory": "128Mi"}))
	parent, err := g.EnsurePodCgroup(pod)
	if err != nil {
		t.Fatal(err)
	}
	if parent != "/kubepods/burstable/pod1234-abcd" {
		t.Fatalf("parent = %s", parent)
	}
	for file, want := range map[string]string{
		"cpu/kubepods/burstable/pod1234-abcd/cpu.shares":               "256",
		"cpu/kubepods/burstable/pod1234-abcd/cpu.cfs_quota_us":         "100000",
		"cpu/kubepods/burstable/pod1234-abcd/cpu.cfs_period_us":        "100000",
		"memory/kubepods/burstable/pod1234-abcd/memory.limit_in_bytes": "134217728",
		"pids/kubepods/burstable/pod1234-abcd/pids.max":                "512",
	} {
		if got := readTrim(t, filepath.Join(root, file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "freezer/kubepods/burstable/pod1234-abcd")); err != nil {
		t.Errorf("freezer hierarchy not created: %v", err)
	}
	if err := g.RemovePodCgroup(pod.UID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "cpu/kubepods/burstable/pod1234-abcd")); !os.IsNotExist(err) {
		t.Fatalf("pod cgroup still there: %v", err)
	}
	if err := g.RemovePodCgroup(pod.UID); err != nil {
		t.Fatalf("second remove: %v", err)
	}
}

// TestEnsurePodCgroupOnHost writes a real pod cgroup on this machine
// (root only) and checks the kernel's view of its limits.
func TestEnsurePodCgroupOnHost(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create cgroups (CI runs as root, so it runs there)")
	}
	g := &Cgroups{PodPidsLimit: 100}
	// As root on a Linux host (CI) cgroups are there; without them the
	// kubelet cannot limit pods at all, so that is a failure, not a skip.
	if _, err := os.Stat("/sys/fs/cgroup/cpu/cgroup.procs"); err != nil && !g.unified() {
		t.Fatal("no cgroup v1 cpu hierarchy and no unified cgroup v2 mount at /sys/fs/cgroup: the kubelet needs one")
	}
	pod := podWithResources(resources(nil, rl{"cpu": "300m", "memory": "96Mi"}))
	pod.UID = types.UID("skiff-test-" + strings.ReplaceAll(t.Name(), "/", "-"))
	parent, err := g.EnsurePodCgroup(pod)
	t.Cleanup(func() {
		if err := g.RemovePodCgroup(pod.UID); err != nil {
			t.Errorf("remove: %v", err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if parent != "/kubepods/pod"+string(pod.UID) {
		t.Fatalf("parent = %s", parent)
	}
	if g.unified() {
		if got := readTrim(t, filepath.Join("/sys/fs/cgroup", parent, "cpu.max")); got != "30000 100000" {
			t.Fatalf("cpu.max = %q", got)
		}
		return
	}
	if got := readTrim(t, filepath.Join("/sys/fs/cgroup/cpu", parent, "cpu.cfs_quota_us")); got != "30000" {
		t.Errorf("cpu.cfs_quota_us = %q", got)
	}
	if got := readTrim(t, filepath.Join("/sys/fs/cgroup/memory", parent, "memory.limit_in_bytes")); got != "100663296" {
		t.Errorf("memory.limit_in_bytes = %q", got)
	}
	if _, err := os.Stat("/sys/fs/cgroup/pids/cgroup.procs"); err == nil {
		if got := readTrim(t, filepath.Join("/sys/fs/cgroup/pids", parent, "pids.max")); got != "100" {
			t.Errorf("pids.max = %q", got)
		}
	}
	if _, err := os.Stat("/sys/fs/cgroup/cpuset/cgroup.procs"); err == nil {
		if got := readTrim(t, filepath.Join("/sys/fs/cgroup/cpuset", parent, "cpuset.cpus")); got == "" {
			t.Errorf("cpuset.cpus not inherited")
		}
	}
}
