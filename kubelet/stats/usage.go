package stats

import (
	"fmt"
	"time"

	"github.com/skiffk8s/skiff/kubelet/stats/nodeusage"
)

// NodeUsage is the node's recent usage for the nodeusage annotation: CPU
// averaged over the root cgroup's samples of the last window (at most the
// two minutes cadvisor keeps; less while the reporter is younger than
// window, which Window then says), memory the latest working set of the
// root cgroup, Time the latest sample's time. It returns ErrNoData until
// the root cgroup has two samples.
func (r *Reporter) NodeUsage(window time.Duration) (nodeusage.Usage, error) {
	infos, err := r.recent("/", -1, false)
	if err != nil {
		return nodeusage.Usage{}, err
	}
	root := infos["/"]
	var samples []cpuSample
	for _, s := range root.Stats {
		if s.Cpu != nil {
			samples = append(samples, cpuSample{s.Timestamp, s.Cpu.Usage.Total})
		}
	}
	rate, span, ok := averageRate(samples, window)
	if !ok {
		return nodeusage.Usage{}, fmt.Errorf("node usage: %w", ErrNoData)
	}
	latest := root.Stats[len(root.Stats)-1]
	var ws int64
	if latest.Memory != nil {
		ws = int64(latest.Memory.WorkingSet)
	}
	return nodeusage.Usage{
		CPUMillis:   int64(rate / 1e6),
		MemoryBytes: ws,
		Window:      span.Round(time.Second),
		Time:        latest.Timestamp,
	}, nil
}
