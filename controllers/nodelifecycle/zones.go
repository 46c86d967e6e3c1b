package nodelifecycle

import (
	"context"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/util/flowcontrol"
)

// zoneState is a zone's disruption state, as upstream.
type zoneState string

const (
	stateNormal            zoneState = "Normal"
	stateFullDisruption    zoneState = "FullDisruption"
	statePartialDisruption zoneState = "PartialDisruption"
)

// zone is one zone's NoExecute tainting queue: nodes wait in it until its
// rate limiter lets them be tainted. A node stays in seen until it is
// ready again, so it is queued once.
type zone struct {
	state   zoneState
	qps     float64
	limiter flowcontrol.RateLimiter
	queue   []string
	seen    map[string]bool
}

// zoneKey is upstream's zone key: region and zone labels.
func zoneKey(node *corev1.Node) string {
	region, z := node.Labels[corev1.LabelTopologyRegion], node.Labels[corev1.LabelTopologyZone]
	if region == "" && z == "" {
		return ""
	}
	return region + ":\x00:" + z
}

func (z *zone) add(name string) bool {
	if z.seen[name] {
		return false
	}
	z.seen[name] = true
	z.queue = append(z.queue, name)
	return true
}

func (z *zone) remove(name string) {
	delete(z.seen, name)
	z.queue = slices.DeleteFunc(z.queue, func(s string) bool { return s == name })
}

// zoneLocked returns key's zone, made with the normal rate when new.
func (c *Controller) zoneLocked(key string) *zone {
	z := c.zones[key]
	if z == nil {
		z = &zone{state: stateNormal, seen: map[string]bool{}}
		c.setRateLocked(z, c.opts.EvictionRate)
		c.zones[key] = z
	}
	return z
}

func (c *Controller) setRateLocked(z *zone, qps float64) {
	if z.limiter != nil && z.qps == qps {
		return
	}
	z.qps = qps
	if qps <= 0 {
		z.limiter = flowcontrol.NewFakeNeverRateLimiter()
		return
	}
	z.limiter = flowcontrol.NewTokenBucketRateLimiterWithClock(float32(qps), 1, c.clock)
}

// computeState is upstream's ComputeZoneState: fully disrupted when no
// node is ready, partially when more than two and at least
// UnhealthyZoneThreshold of them are not.
func (c *Controller) computeState(ready []corev1.ConditionStatus) zoneState {
	notReady := 0
	for _, s := range ready {
		if s != corev1.ConditionTrue {
			notReady++
		}
	}
	switch {
	case notReady == len(ready) && notReady > 0:
		return stateFullDisruption
	case notReady > 2 && float64(notReady)/float64(len(ready)) >= c.opts.UnhealthyZoneThreshold:
		return statePartialDisruption
	default:
		return stateNormal
	}
}

// rateFor is the tainting rate of a zone of size nodes in state s.
func (c *Controller) rateFor(s zoneState, size int) float64 {
	switch s {
	case statePartialDisruption:
		if size <= c.opts.LargeClusterThreshold {
			return 0
		}
		return c.opts.SecondaryEvictionRate
	default: // a fully disrupted zone among healthy ones keeps the normal rate, as upstream
		return c.opts.EvictionRate
	}
}

// handleDisruption sets each zone's rate from its state. When every zone
// is fully disrupted (the trouble is more likely the control plane's
// view than the nodes), tainting stops everywhere and the nodes'
// not-ready/unreachable NoExecute taints are removed; when that ends,
// every node's heartbeat clock restarts, as upstream.
func (c *Controller) handleDisruption(ctx context.Context, readiness map[string][]corev1.ConditionStatus, nodes []*corev1.Node) {
	c.mu.Lock()
	wasAll := len(c.zones) > 0
	for key, z := range c.zones {
		if _, ok := readiness[key]; !ok {
			delete(c.zones, key)
			continue
		}
		if z.state != stateFullDisruption {
			wasAll = false
		}
	}
	states := map[string]zoneState{}
	allNow := len(readiness) > 0
	for key, r := range readiness {
		states[key] = c.computeState(r)
		if states[key] != stateFullDisruption {
			allNow = false
		}
	}
	for key, s := range states {
		z := c.zoneLocked(key)
		z.state = s
		if allNow {
			c.setRateLocked(z, 0)
		} else {
			c.setRateLocked(z, c.rateFor(s, len(readiness[key])))
		}
	}
	if wasAll && !allNow {
		now := c.clock.Now()
		for _, h := range c.health {
			h.probe = now
		}
	}
	c.mu.Unlock()
	if allNow && !wasAll {
		c.logger.Info("all zones fully disrupted: stopping evictions")
		for _, n := range nodes {
			c.markReachable(ctx, n)
		}
	}
}
