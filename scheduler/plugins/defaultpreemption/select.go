package defaultpreemption

import (
	"math"
	"time"

	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
)

// pickOneNode is upstream's pickOneNodeForPreemption: among the
// candidates it keeps those with the fewest PodDisruptionBudget
// violations, then the lowest highest-victim priority, then the smallest
// sum of victim priorities, then the fewest victims, then the latest
// start time of the highest-priority victims; of the ties left, the
// first. candidates is not empty.
func pickOneNode(candidates []*candidate, now time.Time) *candidate {
	scores := []func(c *candidate) int64{
		func(c *candidate) int64 { return -int64(c.numPDBViolations) },
		func(c *candidate) int64 { return -int64(corev1helpers.PodPriority(c.victims[0])) },
		func(c *candidate) int64 {
			var sum int64
			for _, p := range c.victims {
				// Shifted to be >= 0, so that fewer pods of a negative
				// priority are not worse than more of them.
				sum += int64(corev1helpers.PodPriority(p)) + int64(math.MaxInt32+1)
			}
			return -sum
		},
		func(c *candidate) int64 { return -int64(len(c.victims)) },
		func(c *candidate) int64 { return earliestStartOfHighest(c, now).UnixNano() },
	}
	left := candidates
	for _, score := range scores {
		var best []*candidate
		max := int64(math.MinInt64)
		for _, c := range left {
			s := score(c)
			if s > max {
				max, best = s, nil
			}
			if s == max {
				best = append(best, c)
			}
		}
		if len(best) == 1 {
			return best[0]
		}
		left = best
	}
	return left[0]
}

// earliestStartOfHighest is upstream's GetEarliestPodStartTime: the
// earliest start time among the candidate's victims of the highest
// priority.
func earliestStartOfHighest(c *candidate, now time.Time) time.Time {
	earliest := startTime(c.victims[0], now)
	highest := corev1helpers.PodPriority(c.victims[0])
	for _, p := range c.victims {
		switch prio := corev1helpers.PodPriority(p); {
		case prio == highest:
			if t := startTime(p, now); t.Before(earliest) {
				earliest = t
			}
		case prio > highest:
			highest, earliest = prio, startTime(p, now)
		}
	}
	return earliest
}
