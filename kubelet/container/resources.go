package container

import (
	"path"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiffk8s/skiff/runtime"
)

// CPU and cgroup constants, as upstream's kubelet (pkg/kubelet/cm).
const (
	minShares        = 2
	sharesPerCPU     = 1024
	milliCPUToCPU    = 1000
	QuotaPeriod      = 100000 // cpu.cfs_period_us, in microseconds
	minQuotaPeriod   = 1000
	guaranteedOOMAdj = -997
	bestEffortOOMAdj = 1000
)

// MilliCPUToShares converts a CPU request in millicores to cpu.shares
// (2 minimum).
func MilliCPUToShares(milliCPU int64) uint64 {
	if milliCPU == 0 {
		return minShares
	}
	shares := milliCPU * sharesPerCPU / milliCPUToCPU
	if shares < minShares {
		return minShares
	}
	return uint64(shares)
}

// MilliCPUToQuota converts a CPU limit in millicores to cpu.cfs_quota_us
// for period (0: no limit; 1000 minimum).
func MilliCPUToQuota(milliCPU int64, period int64) int64 {
	if milliCPU == 0 {
		return 0
	}
	quota := milliCPU * period / milliCPUToCPU
	if quota < minQuotaPeriod {
		quota = minQuotaPeriod
	}
	return quota
}

// requestOrLimit is the container's request for name, defaulted to its
// limit as the API server's defaulting does.
func requestOrLimit(c *corev1.Container, name corev1.ResourceName) resource.Quantity {
	if q, ok := c.Resources.Requests[name]; ok {
		return q
	}
	if q, ok := c.Resources.Limits[name]; ok {
		return q
	}
	return resource.Quantity{}
}

// QOSClass computes the pod's QoS class with upstream's rules (only cpu
// and memory count; requests default to limits). A class already in the
// pod's status wins, as upstream.
func QOSClass(pod *corev1.Pod) corev1.PodQOSClass {
	if pod.Status.QOSClass != "" {
		return pod.Status.QOSClass
	}
	return computeQOS(pod)
}

func computeQOS(pod *corev1.Pod) corev1.PodQOSClass {
	requests := corev1.ResourceList{}
	limits := corev1.ResourceList{}
	guaranteed := true
	all := make([]corev1.Container, 0, len(pod.Spec.InitContainers)+len(pod.Spec.Containers))
	all = append(all, pod.Spec.InitContainers...)
	all = append(all, pod.Spec.Containers...)
	supported := func(n corev1.ResourceName) bool { return n == corev1.ResourceCPU || n == corev1.ResourceMemory }
	for i := range all {
		c := &all[i]
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			q := requestOrLimit(c, name)
			if q.Sign() > 0 {
				addTo(requests, name, q)
			}
		}
		found := map[corev1.ResourceName]bool{}
		for name, q := range c.Resources.Limits {
			if !supported(name) {
				continue
			}
			if q.Sign() > 0 {
				found[name] = true
				addTo(limits, name, q)
			}
		}
		if !found[corev1.ResourceCPU] || !found[corev1.ResourceMemory] {
			guaranteed = false
		}
	}
	if len(requests) == 0 && len(limits) == 0 {
		return corev1.PodQOSBestEffort
	}
	if guaranteed {
		for name, req := range requests {
			if lim, ok := limits[name]; !ok || lim.Cmp(req) != 0 {
				guaranteed = false
				break
			}
		}
	}
	if guaranteed && len(requests) == len(limits) {
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

func addTo(l corev1.ResourceList, name corev1.ResourceName, q resource.Quantity) {
	if cur, ok := l[name]; ok {
		cur.Add(q)
		l[name] = cur
		return
	}
	l[name] = q.DeepCopy()
}

// CgroupParent is the pod's cgroupfs path for its QoS class:
// /kubepods/pod<uid> (Guaranteed), /kubepods/burstable/pod<uid> or
// /kubepods/besteffort/pod<uid>.
func CgroupParent(pod *corev1.Pod) string {
	return path.Join(qosCgroup(QOSClass(pod)), "pod"+string(pod.UID))
}

// qosCgroup is the cgroupfs path of a QoS class's parent.
func qosCgroup(qos corev1.PodQOSClass) string {
	switch qos {
	case corev1.PodQOSGuaranteed:
		return "/kubepods"
	case corev1.PodQOSBestEffort:
		return "/kubepods/besteffort"
	default:
		return "/kubepods/burstable"
	}
}

// podCgroupCandidates lists where a pod with uid may have its cgroup.
func podCgroupCandidates(uid types.UID) []string {
	p := "pod" + string(uid)
	return []string{"/kubepods/" + p, "/kubepods/burstable/" + p, "/kubepods/besteffort/" + p}
}

// ContainerResources maps a container's requests and limits to cgroup
// settings as upstream's kubelet does: cpu.shares from the CPU request
// (the limit when only a limit is set; 2 minimum), a CFS quota from the
// CPU limit over a 100 ms period, the memory limit in bytes, and the OOM
// score adjustment of the pod's QoS class. nodeMemory is the node's
// memory capacity in bytes (for a burstable container's OOM score; 0:
// unknown).
func ContainerResources(pod *corev1.Pod, c *corev1.Container, nodeMemory int64) runtime.Resources {
	var r runtime.Resources
	cpuReq, hasReq := c.Resources.Requests[corev1.ResourceCPU]
	cpuLim, hasLim := c.Resources.Limits[corev1.ResourceCPU]
	if (!hasReq || cpuReq.IsZero()) && hasLim && !cpuLim.IsZero() {
		r.CPUShares = MilliCPUToShares(cpuLim.MilliValue())
	} else {
		r.CPUShares = MilliCPUToShares(cpuReq.MilliValue())
	}
	if hasLim {
		if q := MilliCPUToQuota(cpuLim.MilliValue(), QuotaPeriod); q > 0 {
			r.CPUQuota = q
			r.CPUPeriod = QuotaPeriod
		}
	}
	if m, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
		r.MemoryLimit = m.Value()
	}
	r.OOMScoreAdjust = oomScoreAdjust(pod, c, nodeMemory)
	return r
}

// oomScoreAdjust follows upstream's policy (pkg/kubelet/qos).
func oomScoreAdjust(pod *corev1.Pod, c *corev1.Container, nodeMemory int64) int {
	switch QOSClass(pod) {
	case corev1.PodQOSGuaranteed:
		return guaranteedOOMAdj
	case corev1.PodQOSBestEffort:
		return bestEffortOOMAdj
	}
	memReq := requestOrLimit(c, corev1.ResourceMemory)
	if nodeMemory <= 0 {
		return bestEffortOOMAdj - 1
	}
	adj := 1000 - (1000*memReq.Value())/nodeMemory
	if int(adj) < 1000+guaranteedOOMAdj {
		return 1000 + guaranteedOOMAdj
	}
	if int(adj) == bestEffortOOMAdj {
		return int(adj - 1)
	}
	return int(adj)
}

// PodResources are the pod-level cgroup settings.
type PodResources struct {
	CPUShares   uint64
	CPUQuota    int64 // 0: none
	CPUPeriod   uint64
	MemoryLimit int64 // 0: none
	PidsLimit   int64 // 0: none
}

// PodCgroupResources computes the pod cgroup's limits as upstream's
// ResourceConfigForPod: the larger of the sum over containers and the
// largest init container; a CPU quota or memory limit only when every
// container declares one; shares 2 for BestEffort pods.
func PodCgroupResources(pod *corev1.Pod, pidsLimit int64) PodResources {
	var cpuReq, cpuLim, memLim int64
	cpuLimAll, memLimAll := true, true
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		q := requestOrLimit(c, corev1.ResourceCPU)
		cpuReq += q.MilliValue()
		if l, ok := c.Resources.Limits[corev1.ResourceCPU]; ok && !l.IsZero() {
			cpuLim += l.MilliValue()
		} else {
			cpuLimAll = false
		}
		if l, ok := c.Resources.Limits[corev1.ResourceMemory]; ok && !l.IsZero() {
			memLim += l.Value()
		} else {
			memLimAll = false
		}
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		q := requestOrLimit(c, corev1.ResourceCPU)
		cpuReq = max(cpuReq, q.MilliValue())
		if l, ok := c.Resources.Limits[corev1.ResourceCPU]; ok && !l.IsZero() {
			cpuLim = max(cpuLim, l.MilliValue())
		} else {
			cpuLimAll = false
		}
		if l, ok := c.Resources.Limits[corev1.ResourceMemory]; ok && !l.IsZero() {
			memLim = max(memLim, l.Value())
		} else {
			memLimAll = false
		}
	}
	r := PodResources{CPUShares: MilliCPUToShares(cpuReq), PidsLimit: pidsLimit}
	if QOSClass(pod) == corev1.PodQOSBestEffort {
		r.CPUShares = minShares
		return r
	}
	if cpuLimAll {
		r.CPUQuota = MilliCPUToQuota(cpuLim, QuotaPeriod)
		r.CPUPeriod = QuotaPeriod
	}
	if memLimAll {
		r.MemoryLimit = memLim
	}
	return r
}
