package stats

import (
	"cmp"
	"context"
	"fmt"
	"path/filepath"
	"slices"

	info "github.com/google/cadvisor/lib/model"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// unlimited is the smallest memory limit taken as "no limit" (cgroup v1
// reports a page-rounded 2^63; upstream uses the same bound).
const unlimited = uint64(1) << 62

// defaultInterface is the interface upstream's Summary puts inline in
// NetworkStats when the node has one of that name.
const defaultInterface = "eth0"

// Summary returns the latest stats of the node and of the kubelet's pods
// (those in Config.Pods with a cgroup), in upstream's Summary API shape.
// CPU usageNanoCores is the rate between a cgroup's two latest samples, so
// it appears one housekeeping interval after a cgroup does; memory
// workingSetBytes is usage minus inactive file pages. File systems are
// measured now with statfs. Pods are sorted by namespace and name,
// containers by name. It returns ErrNoData before the root cgroup's first
// sample.
func (r *Reporter) Summary(ctx context.Context) (*statsv1alpha1.Summary, error) {
	infos, err := r.recent("/", 2, true)
	if err != nil {
		return nil, err
	}
	root, ok := infos["/"]
	if !ok || len(root.Stats) == 0 {
		return nil, ErrNoData
	}
	mi, err := r.MachineInfo()
	if err != nil {
		return nil, err
	}
	now := metav1.NewTime(r.cfg.Clock.Now())
	node, err := r.nodeStats(root, mi.MemoryCapacity, now)
	if err != nil {
		return nil, err
	}
	if pods, ok := infos[kubepods]; ok && len(pods.Stats) > 0 {
		node.SystemContainers = append(node.SystemContainers, containerStats(statsv1alpha1.SystemContainerPods, pods, mi.MemoryCapacity))
	}
	return &statsv1alpha1.Summary{Node: *node, Pods: r.podStats(ctx, infos, now)}, nil
}

// nodeStats builds the node's stats from the root cgroup; memory
// availableBytes is capacity minus working set, as upstream.
func (r *Reporter) nodeStats(root info.ContainerInfo, capacity uint64, now metav1.Time) (*statsv1alpha1.NodeStats, error) {
	latest := root.Stats[len(root.Stats)-1]
	node := &statsv1alpha1.NodeStats{
		NodeName:  r.cfg.NodeName,
		StartTime: metav1.NewTime(root.Spec.CreationTime),
		CPU:       cpuStats(root.Stats),
		Memory:    memoryStats(latest, capacity),
	}
	if latest.Network != nil {
		node.Network = networkStats(latest)
	}
	nodefs, err := fsStats(r.cfg.RootDir, now)
	if err != nil {
		return nil, fmt.Errorf("stats: nodefs: %w", err)
	}
	node.Fs = nodefs
	if imagefs, err := fsStats(r.cfg.ImageFSDir, now); err == nil {
		node.Runtime = &statsv1alpha1.RuntimeStats{ImageFs: imagefs}
	}
	if rl, err := rlimit(now); err == nil {
		node.Rlimit = rl
	}
	return node, nil
}

// podCgroups are one pod's cgroup and its containers' cgroups (by
// container ID).
type podCgroups struct {
	pod        *info.ContainerInfo
	containers map[string]info.ContainerInfo
}

// podStats builds the stats of the pods the kubelet runs from their
// cgroups among infos.
func (r *Reporter) podStats(ctx context.Context, infos map[string]info.ContainerInfo, now metav1.Time) []statsv1alpha1.PodStats {
	byUID := map[types.UID]*podCgroups{}
	for name, ci := range infos {
		uid, cid, ok := parsePodCgroup(name)
		if !ok || len(ci.Stats) == 0 {
			continue
		}
		pc := byUID[uid]
		if pc == nil {
			pc = &podCgroups{containers: map[string]info.ContainerInfo{}}
			byUID[uid] = pc
		}
		if cid == "" {
			pc.pod = &ci
		} else {
			pc.containers[cid] = ci
		}
	}
	if len(byUID) == 0 {
		return nil
	}
	var names map[string]Container
	if r.cfg.Containers != nil {
		var err error
		if names, err = r.cfg.Containers(ctx); err != nil {
			r.log.Warn("list containers for stats; naming them by ID", "err", err)
			names = nil
		}
	}
	logs, logsErr := fsStats(r.cfg.PodLogsDir, now)
	var out []statsv1alpha1.PodStats
	for _, pod := range r.cfg.Pods() {
		pc := byUID[pod.UID]
		if pc == nil || pc.pod == nil {
			continue
		}
		ps := statsv1alpha1.PodStats{
			PodRef:     statsv1alpha1.PodReference{Name: pod.Name, Namespace: pod.Namespace, UID: string(pod.UID)},
			StartTime:  metav1.NewTime(pc.pod.Spec.CreationTime),
			Containers: []statsv1alpha1.ContainerStats{},
		}
		if pod.Status.StartTime != nil {
			ps.StartTime = *pod.Status.StartTime
		}
		podStats := containerStats("", *pc.pod, 0)
		ps.CPU, ps.Memory = podStats.CPU, podStats.Memory
		var procs uint64
		var anyContainer string
		for cid, ci := range pc.containers {
			name, start := cid, ci.Spec.CreationTime
			if names != nil {
				c, known := names[cid]
				if !known || c.PodUID != pod.UID {
					continue
				}
				name = c.Name
				if !c.StartTime.IsZero() {
					start = c.StartTime
				}
			}
			cs := containerStats(name, ci, 0)
			cs.StartTime = metav1.NewTime(start)
			if logsErr == nil {
				cs.Logs = logsStats(logs, filepath.Join(r.cfg.PodLogsDir, podLogsDir(pod), name))
			}
			ps.Containers = append(ps.Containers, cs)
			if p := ci.Stats[len(ci.Stats)-1].Processes; p != nil {
				procs += p.ProcessCount
			}
			anyContainer = ci.Name
		}
		slices.SortFunc(ps.Containers, func(a, b statsv1alpha1.ContainerStats) int { return cmp.Compare(a.Name, b.Name) })
		ps.ProcessStats = &statsv1alpha1.ProcessStats{ProcessCount: &procs}
		if anyContainer != "" {
			ps.Network = r.podNetwork(anyContainer, now)
		}
		out = append(out, ps)
	}
	slices.SortFunc(out, func(a, b statsv1alpha1.PodStats) int {
		return cmp.Or(cmp.Compare(a.PodRef.Namespace, b.PodRef.Namespace), cmp.Compare(a.PodRef.Name, b.PodRef.Name))
	})
	return out
}

// podLogsDir is the pod's directory under PodLogsDir, as the kubelet
// names it.
func podLogsDir(pod *corev1.Pod) string {
	return fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID)
}

// logsStats is the log file system's stats with UsedBytes the size of
// the container's log files in dir.
func logsStats(fs *statsv1alpha1.FsStats, dir string) *statsv1alpha1.FsStats {
	out := *fs
	used := dirUsage(dir)
	out.UsedBytes = &used
	out.Inodes, out.InodesFree, out.InodesUsed = nil, nil, nil
	if fs.Inodes != nil {
		inodes, free := *fs.Inodes, *fs.InodesFree
		out.Inodes, out.InodesFree = &inodes, &free
	}
	return &out
}

// podNetwork reads the pod's network counters from a process of one of
// its containers (all share the pod's network namespace); nil when none
// can be read (e.g. no process left).
func (r *Reporter) podNetwork(containerCgroup string, now metav1.Time) *statsv1alpha1.NetworkStats {
	pid, ok := cgroupPID(r.cfg.CgroupRoot, containerCgroup)
	if !ok {
		return nil
	}
	ifaces, err := netDev(pid)
	if err != nil || len(ifaces) == 0 {
		return nil
	}
	ns := &statsv1alpha1.NetworkStats{Time: now, Interfaces: ifaces, InterfaceStats: ifaces[0]}
	for _, i := range ifaces {
		if i.Name == defaultInterface {
			ns.InterfaceStats = i
		}
	}
	return ns
}

// containerStats is a cgroup's cpu and memory stats under name; memory
// availableBytes is limit (or the cgroup's own limit when limit is 0)
// minus working set, left out when there is no limit.
func containerStats(name string, ci info.ContainerInfo, limit uint64) statsv1alpha1.ContainerStats {
	if limit == 0 && ci.Spec.HasMemory {
		limit = ci.Spec.Memory.Limit
	}
	return statsv1alpha1.ContainerStats{
		Name:      name,
		StartTime: metav1.NewTime(ci.Spec.CreationTime),
		CPU:       cpuStats(ci.Stats),
		Memory:    memoryStats(ci.Stats[len(ci.Stats)-1], limit),
	}
}

// cpuStats is the latest sample's cumulative usage and the rate since the
// sample before it (nil with a single sample).
func cpuStats(samples []*info.ContainerStats) *statsv1alpha1.CPUStats {
	latest := samples[len(samples)-1]
	if latest.Cpu == nil {
		return nil
	}
	total := latest.Cpu.Usage.Total
	cs := &statsv1alpha1.CPUStats{Time: metav1.NewTime(latest.Timestamp), UsageCoreNanoSeconds: &total}
	if len(samples) >= 2 && samples[len(samples)-2].Cpu != nil {
		prev := samples[len(samples)-2]
		if rate, ok := cpuRate(cpuSample{prev.Timestamp, prev.Cpu.Usage.Total}, cpuSample{latest.Timestamp, total}); ok {
			cs.UsageNanoCores = &rate
		}
	}
	return cs
}

// memoryStats is one sample's memory stats; availableBytes is limit minus
// working set (0 when over), left out when limit is 0 or unlimited.
func memoryStats(s *info.ContainerStats, limit uint64) *statsv1alpha1.MemoryStats {
	m := s.Memory
	if m == nil {
		return nil
	}
	usage, ws, rss := m.Usage, m.WorkingSet, m.RSS
	faults, major := m.ContainerData.Pgfault, m.ContainerData.Pgmajfault
	ms := &statsv1alpha1.MemoryStats{
		Time:            metav1.NewTime(s.Timestamp),
		UsageBytes:      &usage,
		WorkingSetBytes: &ws,
		RSSBytes:        &rss,
		PageFaults:      &faults,
		MajorPageFaults: &major,
	}
	if limit > 0 && limit < unlimited {
		var avail uint64
		if limit > ws {
			avail = limit - ws
		}
		ms.AvailableBytes = &avail
	}
	return ms
}

// networkStats converts a sample's interface counters; the inline
// interface is eth0 when present, else the first.
func networkStats(s *info.ContainerStats) *statsv1alpha1.NetworkStats {
	ns := &statsv1alpha1.NetworkStats{Time: metav1.NewTime(s.Timestamp)}
	for _, i := range s.Network.Interfaces {
		rx, rxErr, tx, txErr := i.RxBytes, i.RxErrors, i.TxBytes, i.TxErrors
		is := statsv1alpha1.InterfaceStats{Name: i.Name, RxBytes: &rx, RxErrors: &rxErr, TxBytes: &tx, TxErrors: &txErr}
		ns.Interfaces = append(ns.Interfaces, is)
		if len(ns.Interfaces) == 1 || i.Name == defaultInterface {
			ns.InterfaceStats = is
		}
	}
	return ns
}
