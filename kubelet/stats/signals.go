package stats

import (
	"github.com/skiffk8s/skiff/kubelet"
)

// Signals measures the node's eviction signals, for
// kubelet.Config.Signals: memory.available is the memory capacity minus
// the root cgroup's latest working set, as upstream's eviction manager
// computes it (before the first sample, /proc/meminfo's MemAvailable);
// nodefs (RootDir), imagefs (ImageFSDir) and pid.available are measured
// now, as kubelet.HostSignals does. Amounts are bytes, inodes and PIDs.
func (r *Reporter) Signals() (kubelet.Signals, error) {
	sig, err := kubelet.HostSignals(r.cfg.RootDir, r.cfg.ImageFSDir)
	if err != nil {
		return nil, err
	}
	mi, err := r.MachineInfo()
	if err != nil {
		return nil, err
	}
	infos, err := r.recent("/", 1, false)
	if err != nil {
		return sig, nil // not started: the meminfo measurement stands
	}
	root := infos["/"]
	if len(root.Stats) == 0 || root.Stats[0].Memory == nil {
		return sig, nil
	}
	capacity, ws := int64(mi.MemoryCapacity), int64(root.Stats[0].Memory.WorkingSet)
	sig[kubelet.SignalMemoryAvailable] = kubelet.Usage{Available: max(capacity-ws, 0), Capacity: capacity}
	return sig, nil
}
