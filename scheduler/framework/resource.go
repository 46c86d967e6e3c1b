package framework

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Defaults that scoring counts for containers without requests, as
// upstream (so that empty pods do not all pile onto one node).
const (
	DefaultMilliCPURequest int64 = 100               // 0.1 core
	DefaultMemoryRequest   int64 = 200 * 1024 * 1024 // 200 MiB
)

// Resource is an amount of the resources the scheduler accounts: CPU in
// millicores, memory and ephemeral storage in bytes, a pod count, and
// other (extended) resources by name.
type Resource struct {
	MilliCPU         int64
	Memory           int64
	EphemeralStorage int64
	AllowedPodNumber int
	Scalar           map[corev1.ResourceName]int64
}

// NewResource converts a ResourceList.
func NewResource(rl corev1.ResourceList) *Resource {
	r := &Resource{}
	r.Add(rl)
	return r
}

// Add adds rl to r.
func (r *Resource) Add(rl corev1.ResourceList) {
	for name, q := range rl {
		switch name {
		case corev1.ResourceCPU:
			r.MilliCPU += q.MilliValue()
		case corev1.ResourceMemory:
			r.Memory += q.Value()
		case corev1.ResourceEphemeralStorage:
			r.EphemeralStorage += q.Value()
		case corev1.ResourcePods:
			r.AllowedPodNumber += int(q.Value())
		default:
			if r.Scalar == nil {
				r.Scalar = map[corev1.ResourceName]int64{}
			}
			r.Scalar[name] += q.Value()
		}
	}
}

// Clone deep-copies r.
func (r *Resource) Clone() *Resource {
	out := *r
	if r.Scalar != nil {
		out.Scalar = make(map[corev1.ResourceName]int64, len(r.Scalar))
		for k, v := range r.Scalar {
			out.Scalar[k] = v
		}
	}
	return &out
}

// plus adds o to r (pod counts too).
func (r *Resource) plus(o *Resource, sign int64) {
	r.MilliCPU += sign * o.MilliCPU
	r.Memory += sign * o.Memory
	r.EphemeralStorage += sign * o.EphemeralStorage
	r.AllowedPodNumber += int(sign) * o.AllowedPodNumber
	for k, v := range o.Scalar {
		if r.Scalar == nil {
			r.Scalar = map[corev1.ResourceName]int64{}
		}
		r.Scalar[k] += sign * v
	}
}

// PodRequests is what a pod asks of a node, as upstream computes it: the
// larger of the sum of its containers (plus restartable "sidecar" init
// containers, which keep running) and the largest init container (plus
// the sidecars started before it), plus the pod's overhead.
func PodRequests(pod *corev1.Pod) corev1.ResourceList {
	return podRequests(pod, func(rl corev1.ResourceList) corev1.ResourceList { return rl })
}

// podRequests is PodRequests with each container's requests passed
// through fill first.
func podRequests(pod *corev1.Pod, fill func(corev1.ResourceList) corev1.ResourceList) corev1.ResourceList {
	reqs := corev1.ResourceList{}
	for _, c := range pod.Spec.Containers {
		addList(reqs, fill(c.Resources.Requests))
	}
	sidecars := corev1.ResourceList{}
	initMax := corev1.ResourceList{}
	for _, c := range pod.Spec.InitContainers {
		var during corev1.ResourceList
		r := fill(c.Resources.Requests)
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			addList(reqs, r)
			addList(sidecars, r)
			during = sidecars.DeepCopy()
		} else {
			during = corev1.ResourceList{}
			addList(during, r)
			addList(during, sidecars)
		}
		maxList(initMax, during)
	}
	maxList(reqs, initMax)
	addList(reqs, pod.Spec.Overhead)
	return reqs
}

// podResource is a pod's requests as a Resource, and the same with
// upstream's non-zero defaults (DefaultMilliCPURequest,
// DefaultMemoryRequest) for each container that does not set a CPU or
// memory request (an explicit zero is kept); scoring uses the latter.
func podResource(pod *corev1.Pod) (req, nonZero Resource) {
	req = *NewResource(PodRequests(pod))
	nz := NewResource(podRequests(pod, func(rl corev1.ResourceList) corev1.ResourceList {
		out := corev1.ResourceList{}
		for k, v := range rl {
			out[k] = v
		}
		// Unset requests get the defaults; an explicit zero stays zero.
		if _, ok := rl[corev1.ResourceCPU]; !ok {
			out[corev1.ResourceCPU] = *resource.NewMilliQuantity(DefaultMilliCPURequest, resource.DecimalSI)
		}
		if _, ok := rl[corev1.ResourceMemory]; !ok {
			out[corev1.ResourceMemory] = *resource.NewQuantity(DefaultMemoryRequest, resource.BinarySI)
		}
		return out
	}))
	nonZero = Resource{MilliCPU: nz.MilliCPU, Memory: nz.Memory}
	return req, nonZero
}

func addList(dst, src corev1.ResourceList) {
	for name, q := range src {
		v := dst[name]
		v.Add(q)
		dst[name] = v
	}
}

func maxList(dst, src corev1.ResourceList) {
	for name, q := range src {
		if v, ok := dst[name]; !ok || q.Cmp(v) > 0 {
			dst[name] = q.DeepCopy()
		}
	}
}
