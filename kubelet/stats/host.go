package stats

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/skiffk8s/skiff/kubelet"
)

// fsStats measures the file system holding dir with statfs: bytes
// available to unprivileged users, capacity, used (capacity minus free),
// and inodes when the file system counts them.
func fsStats(dir string, now metav1.Time) (*statsv1alpha1.FsStats, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return nil, fmt.Errorf("statfs %s: %w", dir, err)
	}
	bs := uint64(st.Bsize)
	avail, capacity, used := st.Bavail*bs, st.Blocks*bs, (st.Blocks-st.Bfree)*bs
	fs := &statsv1alpha1.FsStats{Time: now, AvailableBytes: &avail, CapacityBytes: &capacity, UsedBytes: &used}
	if st.Files > 0 {
		inodes, free, iused := st.Files, st.Ffree, st.Files-st.Ffree
		fs.Inodes, fs.InodesFree, fs.InodesUsed = &inodes, &free, &iused
	}
	return fs, nil
}

// dirUsage is the bytes allocated to the regular files directly in dir
// (not below it); a missing dir is 0.
func dirUsage(dir string) uint64 {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var total uint64
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		var st unix.Stat_t
		if unix.Lstat(filepath.Join(dir, e.Name()), &st) == nil {
			total += uint64(st.Blocks) * 512
		}
	}
	return total
}

// rlimit is the node's process limit and number of processes, as
// upstream's kubelet reports them (kubelet.HostPIDs).
func rlimit(now metav1.Time) (*statsv1alpha1.RlimitStats, error) {
	maxPID, procs, err := kubelet.HostPIDs()
	if err != nil {
		return nil, err
	}
	rl := &statsv1alpha1.RlimitStats{Time: now, NumOfRunningProcesses: &procs}
	if maxPID > 0 {
		rl.MaxPID = &maxPID
	}
	return rl, nil
}

// cgroupPID returns a process in cgroup name (a path from the cgroup
// root), looking in the v2 tree and then in the v1 hierarchies that
// every container joins; ok is false for an empty or missing cgroup.
func cgroupPID(cgroupRoot, name string) (pid int, ok bool) {
	for _, h := range []string{"", "pids", "memory", "cpu,cpuacct", "cpu"} {
		b, err := os.ReadFile(filepath.Join(cgroupRoot, h, name, "cgroup.procs"))
		if err != nil {
			continue
		}
		line, _, _ := bytes.Cut(b, []byte("\n"))
		if pid, err := strconv.Atoi(string(bytes.TrimSpace(line))); err == nil && pid > 0 {
			return pid, true
		}
	}
	return 0, false
}

// netDev reads the interface counters of pid's network namespace
// (/proc/<pid>/net/dev), loopback left out, in file order.
func netDev(pid int) ([]statsv1alpha1.InterfaceStats, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/net/dev", pid))
	if err != nil {
		return nil, fmt.Errorf("network stats: %w", err)
	}
	defer f.Close()
	return parseNetDev(bufio.NewScanner(f))
}

// parseNetDev parses /proc/net/dev: two header lines, then
// "name: rx_bytes rx_packets rx_errs ... (8 rx) tx_bytes tx_packets tx_errs ...".
func parseNetDev(sc *bufio.Scanner) ([]statsv1alpha1.InterfaceStats, error) {
	var out []statsv1alpha1.InterfaceStats
	for line := 0; sc.Scan(); line++ {
		if line < 2 {
			continue
		}
		name, counters, ok := strings.Cut(sc.Text(), ":")
		name = strings.TrimSpace(name)
		f := strings.Fields(counters)
		if !ok || len(f) < 11 || name == "lo" {
			continue
		}
		var v [4]uint64
		for i, idx := range []int{0, 2, 8, 10} {
			n, err := strconv.ParseUint(f[idx], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("network stats of %s: %w", name, err)
			}
			v[i] = n
		}
		out = append(out, statsv1alpha1.InterfaceStats{Name: name, RxBytes: &v[0], RxErrors: &v[1], TxBytes: &v[2], TxErrors: &v[3]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("network stats: %w", err)
	}
	return out, nil
}
