package kubelet

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Eviction signals, named as upstream's --eviction-hard names them.
const (
	SignalMemoryAvailable   = "memory.available"
	SignalNodeFSAvailable   = "nodefs.available"
	SignalNodeFSInodesFree  = "nodefs.inodesFree"
	SignalImageFSAvailable  = "imagefs.available"
	SignalImageFSInodesFree = "imagefs.inodesFree"
	SignalPIDAvailable      = "pid.available"
)

// Threshold is one eviction threshold: the signal is under pressure when
// its available amount is below Quantity, or below Percent of its
// capacity when Percent is set.
type Threshold struct {
	Quantity resource.Quantity
	Percent  float64
}

// Thresholds maps signals (SignalMemoryAvailable, ...) to thresholds. A
// signal without a threshold never reports pressure.
type Thresholds map[string]Threshold

// DefaultThresholds is upstream's Linux --eviction-hard default
// (memory.available<100Mi, nodefs.available<10%, nodefs.inodesFree<5%,
// imagefs.available<15%, imagefs.inodesFree<5%), plus pid.available<5%
// so that PIDPressure means something out of the box.
func DefaultThresholds() Thresholds {
	return Thresholds{
		SignalMemoryAvailable:   {Quantity: resource.MustParse("100Mi")},
		SignalNodeFSAvailable:   {Percent: 10},
		SignalNodeFSInodesFree:  {Percent: 5},
		SignalImageFSAvailable:  {Percent: 15},
		SignalImageFSInodesFree: {Percent: 5},
		SignalPIDAvailable:      {Percent: 5},
	}
}

// ParseThresholds parses upstream's --eviction-hard syntax:
// "memory.available<100Mi,nodefs.available<10%". Errors name the bad
// entry; an empty string gives an empty (never pressured) set.
func ParseThresholds(s string) (Thresholds, error) {
	out := Thresholds{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	known := map[string]bool{SignalMemoryAvailable: true, SignalNodeFSAvailable: true, SignalNodeFSInodesFree: true,
		SignalImageFSAvailable: true, SignalImageFSInodesFree: true, SignalPIDAvailable: true}
	for _, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		signal, value, ok := strings.Cut(entry, "<")
		if !ok {
			return nil, fmt.Errorf("eviction threshold %q: want <signal><<quantity or percent>, e.g. memory.available<100Mi", entry)
		}
		signal, value = strings.TrimSpace(signal), strings.TrimSpace(value)
		if !known[signal] {
			return nil, fmt.Errorf("eviction threshold %q: unknown signal %q (known: %s)", entry, signal, strings.Join(sortedKeys(known), ", "))
		}
		if _, dup := out[signal]; dup {
			return nil, fmt.Errorf("eviction threshold %q: signal %s given twice", entry, signal)
		}
		var th Threshold
		if p, isPercent := strings.CutSuffix(value, "%"); isPercent {
			f, err := strconv.ParseFloat(p, 64)
			if err != nil || f < 0 || f > 100 {
				return nil, fmt.Errorf("eviction threshold %q: percentage %q must be between 0%% and 100%%", entry, value)
			}
			th.Percent = f
		} else {
			q, err := resource.ParseQuantity(value)
			if err != nil {
				return nil, fmt.Errorf("eviction threshold %q: %w", entry, err)
			}
			if q.Sign() < 0 {
				return nil, fmt.Errorf("eviction threshold %q: quantity must not be negative", entry)
			}
			th.Quantity = q
		}
		out[signal] = th
	}
	return out, nil
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Usage is one measured signal: how much is available of how much.
type Usage struct {
	Available, Capacity int64
}

// Signals are the node's measured eviction signals, keyed like Thresholds.
// A missing signal (e.g. no image file system known) is not judged.
type Signals map[string]Usage

// under reports whether u is below th.
func (th Threshold) under(u Usage) bool {
	if th.Percent > 0 {
		return float64(u.Available) < th.Percent/100*float64(u.Capacity)
	}
	if th.Quantity.IsZero() {
		return false
	}
	return u.Available < th.Quantity.Value()
}

// Pressure is which node conditions are under pressure, with the signals
// that crossed their thresholds (for the condition messages).
type Pressure struct {
	Memory, Disk, PID bool
	// Crossed lists "signal: available X < threshold Y" lines.
	Crossed []string
}

// Judge compares signals with thresholds.
func (ths Thresholds) Judge(sig Signals) Pressure {
	var p Pressure
	for _, name := range []string{SignalMemoryAvailable, SignalNodeFSAvailable, SignalNodeFSInodesFree,
		SignalImageFSAvailable, SignalImageFSInodesFree, SignalPIDAvailable} {
		th, ok := ths[name]
		u, measured := sig[name]
		if !ok || !measured || !th.under(u) {
			continue
		}
		switch name {
		case SignalMemoryAvailable:
			p.Memory = true
		case SignalPIDAvailable:
			p.PID = true
		default:
			p.Disk = true
		}
		limit := th.Quantity.String()
		if th.Percent > 0 {
			limit = fmt.Sprintf("%g%% of %d", th.Percent, u.Capacity)
		}
		p.Crossed = append(p.Crossed, fmt.Sprintf("%s: available %d < threshold %s", name, u.Available, limit))
	}
	return p
}

// HostSignals measures this host: memory from /proc/meminfo
// (MemAvailable), nodefs by statfs of rootDir, imagefs by statfs of
// imageDir (skipped when "" or missing), PIDs from sysinfo against
// kernel.pid_max and kernel.threads-max.
func HostSignals(rootDir, imageDir string) (Signals, error) {
	sig := Signals{}
	mem, err := meminfo("/proc/meminfo")
	if err != nil {
		return nil, err
	}
	sig[SignalMemoryAvailable] = Usage{Available: mem["MemAvailable"], Capacity: mem["MemTotal"]}
	fsSignals := func(dir, avail, inodes string) error {
		var fs unix.Statfs_t
		if err := unix.Statfs(dir, &fs); err != nil {
			return fmt.Errorf("statfs %s: %w", dir, err)
		}
		sig[avail] = Usage{Available: int64(fs.Bavail) * fs.Bsize, Capacity: int64(fs.Blocks) * fs.Bsize}
		if fs.Files > 0 { // some file systems (btrfs) report no inode limit
			sig[inodes] = Usage{Available: int64(fs.Ffree), Capacity: int64(fs.Files)}
		}
		return nil
	}
	if err := fsSignals(rootDir, SignalNodeFSAvailable, SignalNodeFSInodesFree); err != nil {
		return nil, err
	}
	if imageDir != "" {
		if _, err := os.Stat(imageDir); err == nil {
			if err := fsSignals(imageDir, SignalImageFSAvailable, SignalImageFSInodesFree); err != nil {
				return nil, err
			}
		}
	}
	maxPIDs, procs, err := HostPIDs()
	if err != nil {
		return nil, err
	}
	if maxPIDs > 0 {
		sig[SignalPIDAvailable] = Usage{Available: maxPIDs - procs, Capacity: maxPIDs}
	}
	return sig, nil
}

// HostPIDs is the host's process limit, min(kernel.pid_max,
// kernel.threads-max) (0 when neither is readable), and its number of
// processes and threads (sysinfo), as upstream's kubelet counts them.
func HostPIDs() (limit, procs int64, err error) {
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		return 0, 0, fmt.Errorf("sysinfo: %w", err)
	}
	limit = readInt("/proc/sys/kernel/pid_max")
	if t := readInt("/proc/sys/kernel/threads-max"); t > 0 && (limit == 0 || t < limit) {
		limit = t
	}
	return limit, int64(si.Procs), nil
}

func readInt(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	v, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return v
}

// meminfo reads /proc/meminfo into bytes per field.
func meminfo(path string) (map[string]int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("meminfo: %w", err)
	}
	defer f.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		v, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			continue
		}
		if len(fields) > 2 && fields[2] == "kB" {
			v *= 1024
		}
		out[strings.TrimSuffix(fields[0], ":")] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("meminfo: %w", err)
	}
	if _, ok := out["MemTotal"]; !ok {
		return nil, fmt.Errorf("meminfo: no MemTotal in %s", path)
	}
	if _, ok := out["MemAvailable"]; !ok { // kernels before 3.14
		out["MemAvailable"] = out["MemFree"] + out["Buffers"] + out["Cached"]
	}
	return out, nil
}

// measurePressure measures the node's signals and returns the pressure
// its conditions show: a kind stays under pressure for the transition
// period after it was last measured so, so that a condition does not
// flap around its threshold. A failed measurement keeps the last state.
func (k *kubelet) measurePressure() Pressure {
	sig, err := k.cfg.Signals()
	k.mu.Lock()
	defer k.mu.Unlock()
	if err != nil {
		k.log.Warn("measure eviction signals", "err", err)
		return k.pressure
	}
	now := k.clock.Now()
	measured := k.cfg.EvictionHard.Judge(sig)
	held := func(kind string, on bool) bool {
		if on {
			k.pressureSeen[kind] = now
			return true
		}
		seen, ok := k.pressureSeen[kind]
		return ok && now.Sub(seen) < k.cfg.PressureTransitionPeriod
	}
	p := Pressure{
		Memory:  held("memory", measured.Memory),
		Disk:    held("disk", measured.Disk),
		PID:     held("pid", measured.PID),
		Crossed: measured.Crossed,
	}
	if len(p.Crossed) > 0 && !slices.Equal(p.Crossed, k.pressure.Crossed) {
		k.log.Warn("node under pressure", "signals", p.Crossed)
	}
	k.pressure = p
	return p
}

// admitUnderPressure is upstream's eviction-manager admission: under
// MemoryPressure only BestEffort pods are rejected (unless they tolerate
// the node.kubernetes.io/memory-pressure taint); under DiskPressure or
// PIDPressure every pod is. Static-priority critical pods
// (system-node-critical, system-cluster-critical) are always admitted.
func admitUnderPressure(pod *corev1.Pod, p Pressure) (ok bool, reason, message string) {
	if !p.Memory && !p.Disk && !p.PID {
		return true, "", ""
	}
	if pod.Spec.PriorityClassName == "system-node-critical" || pod.Spec.PriorityClassName == "system-cluster-critical" {
		return true, "", ""
	}
	var conds []string
	if p.Memory {
		conds = append(conds, string(corev1.NodeMemoryPressure))
	}
	if p.Disk {
		conds = append(conds, string(corev1.NodeDiskPressure))
	}
	if p.PID {
		conds = append(conds, string(corev1.NodePIDPressure))
	}
	if p.Memory && !p.Disk && !p.PID {
		if qosClass(pod) != corev1.PodQOSBestEffort {
			return true, "", ""
		}
		for _, tol := range pod.Spec.Tolerations {
			// The taint is node.kubernetes.io/memory-pressure:NoSchedule
			// with no value.
			keyOK := tol.Key == corev1.TaintNodeMemoryPressure || (tol.Key == "" && tol.Operator == corev1.TolerationOpExists)
			effectOK := tol.Effect == "" || tol.Effect == corev1.TaintEffectNoSchedule
			valueOK := tol.Operator == corev1.TolerationOpExists || tol.Value == ""
			if keyOK && effectOK && valueOK {
				return true, "", ""
			}
		}
	}
	return false, "Evicted", fmt.Sprintf("Pod was rejected: The node had condition: [%s]. ", strings.Join(conds, ", "))
}
