package noderesources

import (
	"math"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/skiffk8s/skiff/scheduler/framework"
)

// scorer scores a node from, per resource, what would be requested on it
// with the pod and what it has allocatable (0: skip the resource).
type scorer func(requested, allocatable []int64) int64

// allocationScorer is the part of scoring shared by NodeResourcesFit and
// NodeResourcesBalancedAllocation.
type allocationScorer struct {
	resources []configv1.ResourceSpec
	score     scorer
	// useRequested counts the pods' requests as they are; otherwise cpu
	// and memory count the non-zero defaults for containers that request
	// none (NonZeroRequested), as upstream's Fit scoring.
	useRequested bool
}

// podRequests is the pod's request of each of s.resources.
func (s *allocationScorer) podRequests(pod *corev1.Pod) []int64 {
	// A NodeInfo of the pod alone computes its requests and its non-zero
	// requests exactly as nodes' sums are computed.
	alone := framework.NewNodeInfo(pod)
	out := make([]int64, len(s.resources))
	for i, r := range s.resources {
		name := corev1.ResourceName(r.Name)
		switch {
		case name == corev1.ResourceCPU && !s.useRequested:
			out[i] = alone.NonZeroRequested.MilliCPU
		case name == corev1.ResourceMemory && !s.useRequested:
			out[i] = alone.NonZeroRequested.Memory
		default:
			out[i] = amount(&alone.Requested, name)
		}
	}
	return out
}

// amount is r's amount of name (cpu in millicores).
func amount(r *framework.Resource, name corev1.ResourceName) int64 {
	switch name {
	case corev1.ResourceCPU:
		return r.MilliCPU
	case corev1.ResourceMemory:
		return r.Memory
	case corev1.ResourceEphemeralStorage:
		return r.EphemeralStorage
	case corev1.ResourcePods:
		return int64(r.AllowedPodNumber)
	}
	return r.Scalar[name]
}

// nodeScore scores nodeInfo for a pod requesting podRequests.
func (s *allocationScorer) nodeScore(nodeInfo *framework.NodeInfo, podRequests []int64) int64 {
	requested := make([]int64, len(s.resources))
	allocatable := make([]int64, len(s.resources))
	for i, r := range s.resources {
		alloc, req := s.allocatableAndRequested(nodeInfo, corev1.ResourceName(r.Name), podRequests[i])
		if alloc == 0 {
			continue
		}
		allocatable[i], requested[i] = alloc, req
	}
	return s.score(requested, allocatable)
}

// allocatableAndRequested is the node's allocatable of name and what
// would be requested with the pod. A scalar (extended) resource the pod
// does not request, or one the node lacks, gives (0, 0): it is not scored.
func (s *allocationScorer) allocatableAndRequested(ni *framework.NodeInfo, name corev1.ResourceName, podRequest int64) (int64, int64) {
	requested := &ni.NonZeroRequested
	if s.useRequested {
		requested = &ni.Requested
	}
	switch name {
	case corev1.ResourceCPU:
		return ni.Allocatable.MilliCPU, requested.MilliCPU + podRequest
	case corev1.ResourceMemory:
		return ni.Allocatable.Memory, requested.Memory + podRequest
	case corev1.ResourceEphemeralStorage:
		return ni.Allocatable.EphemeralStorage, ni.Requested.EphemeralStorage + podRequest
	}
	if podRequest == 0 && isScalar(name) {
		return 0, 0
	}
	if alloc, ok := ni.Allocatable.Scalar[name]; ok {
		return alloc, ni.Requested.Scalar[name] + podRequest
	}
	return 0, 0
}

// weighted combines per-resource scores by their weights, skipping
// resources with nothing allocatable.
func weighted(resources []configv1.ResourceSpec, perResource func(requested, allocatable int64) int64) scorer {
	return func(requested, allocatable []int64) int64 {
		var total, weights int64
		for i := range requested {
			if allocatable[i] == 0 {
				continue
			}
			total += perResource(requested[i], allocatable[i]) * resources[i].Weight
			weights += resources[i].Weight
		}
		if weights == 0 {
			return 0
		}
		return total / weights
	}
}

// leastAllocated favours nodes with more free: (free / allocatable) × 100.
func leastAllocated(resources []configv1.ResourceSpec) scorer {
	return weighted(resources, func(requested, allocatable int64) int64 {
		if requested > allocatable {
			return 0
		}
		return (allocatable - requested) * framework.MaxNodeScore / allocatable
	})
}

// mostAllocated favours fuller nodes: (requested / allocatable) × 100.
func mostAllocated(resources []configv1.ResourceSpec) scorer {
	return weighted(resources, func(requested, allocatable int64) int64 {
		requested = min(requested, allocatable)
		return requested * framework.MaxNodeScore / allocatable
	})
}

// requestedToCapacityRatio scores each resource by the shape (points of
// utilization % → score 0..10, scaled to 0..100, linear in between) and
// takes the weighted mean of the resources scoring above 0, rounded.
func requestedToCapacityRatio(resources []configv1.ResourceSpec, shape []configv1.UtilizationShapePoint) scorer {
	f := brokenLinear(shape)
	perResource := func(requested, allocatable int64) int64 {
		if requested > allocatable {
			return f(100)
		}
		return f(requested * 100 / allocatable)
	}
	return func(requested, allocatable []int64) int64 {
		var total, weights int64
		for i := range requested {
			if allocatable[i] == 0 {
				continue
			}
			if s := perResource(requested[i], allocatable[i]); s > 0 {
				total += s * resources[i].Weight
				weights += resources[i].Weight
			}
		}
		if weights == 0 {
			return 0
		}
		return int64(math.Round(float64(total) / float64(weights)))
	}
}

// brokenLinear interpolates the shape (scores ×10) at utilization p; it
// is flat before the first point and after the last.
func brokenLinear(shape []configv1.UtilizationShapePoint) func(p int64) int64 {
	const scale = framework.MaxNodeScore / maxCustomPriorityScore
	return func(p int64) int64 {
		for i, pt := range shape {
			if p > int64(pt.Utilization) {
				continue
			}
			if i == 0 {
				return int64(pt.Score) * scale
			}
			prev := shape[i-1]
			x0, y0 := int64(prev.Utilization), int64(prev.Score)*scale
			x1, y1 := int64(pt.Utilization), int64(pt.Score)*scale
			return y0 + (y1-y0)*(p-x0)/(x1-x0)
		}
		return int64(shape[len(shape)-1].Score) * scale
	}
}

// balanced favours nodes whose resources would be used in equal
// fractions: (1 − standard deviation of the fractions) × 100, each
// fraction capped at 1.
func balanced(requested, allocatable []int64) int64 {
	var fractions []float64
	var sum float64
	for i := range requested {
		if allocatable[i] == 0 {
			continue
		}
		f := min(float64(requested[i])/float64(allocatable[i]), 1)
		fractions = append(fractions, f)
		sum += f
	}
	var std float64
	switch n := len(fractions); {
	case n == 2:
		std = math.Abs((fractions[0] - fractions[1]) / 2)
	case n > 2:
		mean := sum / float64(n)
		var sq float64
		for _, f := range fractions {
			sq += (f - mean) * (f - mean)
		}
		std = math.Sqrt(sq / float64(n))
	}
	return int64((1 - std) * float64(framework.MaxNodeScore))
}

// isScalar reports whether name is accounted in Resource.Scalar by
// upstream: extended resources, hugepages-*, attachable-volumes-* and
// other kubernetes.io/-prefixed resources.
func isScalar(name corev1.ResourceName) bool {
	s := string(name)
	return isExtended(name) || strings.HasPrefix(s, corev1.ResourceHugePagesPrefix) ||
		strings.HasPrefix(s, corev1.ResourceAttachableVolumesPrefix) || strings.Contains(s, "kubernetes.io/")
}

// isExtended reports whether name is an extended resource: a domain-
// prefixed name outside kubernetes.io, valid as "requests.<name>".
func isExtended(name corev1.ResourceName) bool {
	s := string(name)
	if !strings.Contains(s, "/") || strings.Contains(s, "kubernetes.io/") || strings.HasPrefix(s, corev1.DefaultResourceRequestsPrefix) {
		return false
	}
	return len(validation.IsQualifiedName(corev1.DefaultResourceRequestsPrefix+s)) == 0
}
