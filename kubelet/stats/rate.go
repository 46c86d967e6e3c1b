package stats

import "time"

// cpuSample is one reading of a cgroup's cumulative CPU usage.
type cpuSample struct {
	Time time.Time
	// UsageNanos is the CPU time used since the cgroup was made, in
	// core-nanoseconds.
	UsageNanos uint64
}

// cpuRate is the CPU usage between two samples in nanocores (core-
// nanoseconds per second; 1e9 is one core busy). ok is false when the
// pair gives no rate: cur not after prev, or a counter that went
// backwards (the cgroup was made anew).
func cpuRate(prev, cur cpuSample) (nanoCores uint64, ok bool) {
	dt := cur.Time.Sub(prev.Time)
	if dt <= 0 || cur.UsageNanos < prev.UsageNanos {
		return 0, false
	}
	return uint64(float64(cur.UsageNanos-prev.UsageNanos) / dt.Seconds()), true
}

// averageRate is the CPU usage over the last window of samples (sorted
// oldest first), in nanocores, between the newest sample and the oldest
// one at most window older, after any counter reset. span is the time
// the average really covers: shorter than window while the samples do
// not yet reach back that far. ok is false with fewer than two usable
// samples.
func averageRate(samples []cpuSample, window time.Duration) (nanoCores uint64, span time.Duration, ok bool) {
	if len(samples) < 2 {
		return 0, 0, false
	}
	newest := samples[len(samples)-1]
	first := len(samples) - 1
	for i := len(samples) - 2; i >= 0; i-- {
		s := samples[i]
		if newest.Time.Sub(s.Time) > window || s.UsageNanos > samples[i+1].UsageNanos || !s.Time.Before(samples[i+1].Time) {
			break
		}
		first = i
	}
	if first == len(samples)-1 {
		return 0, 0, false
	}
	rate, ok := cpuRate(samples[first], newest)
	return rate, newest.Time.Sub(samples[first].Time), ok
}
