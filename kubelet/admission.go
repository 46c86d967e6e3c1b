package kubelet

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// podRequests is the pod's effective request of a resource, as the
// scheduler counts it: the larger of the sum over containers and the
// largest init container, plus overhead.
func podRequests(pod *corev1.Pod, name corev1.ResourceName) int64 {
	val := func(q resource.Quantity) int64 {
		if name == corev1.ResourceCPU {
			return q.MilliValue()
		}
		return q.Value()
	}
	var sum int64
	for _, c := range pod.Spec.Containers {
		sum += val(c.Resources.Requests[name])
	}
	for _, c := range pod.Spec.InitContainers {
		sum = max(sum, val(c.Resources.Requests[name]))
	}
	if pod.Spec.Overhead != nil {
		sum += val(pod.Spec.Overhead[name])
	}
	return sum
}

// admitPod decides whether pod fits the node beside the admitted pods
// (not terminal). A pod that does not fit gets the reason and message
// upstream's kubelet gives ("OutOfcpu", "Pod was rejected: Node didn't
// have enough resource: cpu, requested: 2000, used: 500, capacity: 1900").
func admitPod(pod *corev1.Pod, admitted []*corev1.Pod, allocatable corev1.ResourceList) (ok bool, reason, message string) {
	if pods, has := allocatable[corev1.ResourcePods]; has && int64(len(admitted))+1 > pods.Value() {
		return false, "OutOfpods", fmt.Sprintf("Pod was rejected: Node didn't have enough resource: pods, requested: 1, used: %d, capacity: %d", len(admitted), pods.Value())
	}
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
		want := podRequests(pod, name)
		if want == 0 {
			continue
		}
		capq, has := allocatable[name]
		if !has {
			continue
		}
		capacity := capq.Value()
		if name == corev1.ResourceCPU {
			capacity = capq.MilliValue()
		}
		var used int64
		for _, p := range admitted {
			used += podRequests(p, name)
		}
		if used+want > capacity {
			return false, "OutOf" + string(name), fmt.Sprintf("Pod was rejected: Node didn't have enough resource: %s, requested: %d, used: %d, capacity: %d", name, want, used, capacity)
		}
	}
	return true, "", ""
}
