// Package nodeload is the NodeLoad score plugin (Skiff's own, beyond
// upstream): nodes that are busy in fact — by the CPU and memory usage
// their kubelet publishes in the Node annotation skiff.io/usage (package
// nodeusage) — score lower, so they get fewer new pods.
//
// A node's load is the weighted mean of its usage fractions,
// cpuUsed/cpuAllocatable and memUsed/memAllocatable (each capped at 1;
// weights in Args, default 1 and 1), and its score is 100 × (1 − load).
// Usage older than Args.MaxUsageAge (default 2 minutes), missing or
// unparsable is unknown; a node with unknown usage scores the mean of the
// nodes with known usage, so it is neither favoured nor avoided. When no
// candidate node has fresh usage, PreScore returns Skip: the plugin is off
// when no usage is published.
package nodeload

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiffk8s/skiff/kubelet/stats/nodeusage"
	"github.com/skiffk8s/skiff/scheduler/framework"
)

// Name is the plugin's name in the scheduler configuration.
const Name = "NodeLoad"

const preScoreStateKey framework.StateKey = "PreScore" + Name

// NodeLoad scores nodes by their measured usage.
type NodeLoad struct {
	cfg config
	// now is the clock (time.Now outside tests).
	now func() time.Time
}

var (
	_ framework.PreScorePlugin    = (*NodeLoad)(nil)
	_ framework.ScorePlugin       = (*NodeLoad)(nil)
	_ framework.EnqueueExtensions = (*NodeLoad)(nil)
)

// New builds the plugin from Args as JSON (nil: defaults).
func New(_ context.Context, args []byte, _ framework.Handle) (framework.Plugin, error) {
	return newWithClock(args, time.Now)
}

func newWithClock(args []byte, now func() time.Time) (*NodeLoad, error) {
	cfg, err := parseArgs(args)
	if err != nil {
		return nil, err
	}
	return &NodeLoad{cfg: cfg, now: now}, nil
}

// Name implements framework.Plugin.
func (*NodeLoad) Name() string { return Name }

// preScoreState is each candidate node's score, and the score of nodes
// with unknown usage.
type preScoreState struct {
	scores  map[string]int64
	unknown int64
}

// Clone implements framework.StateData; the state never changes.
func (s *preScoreState) Clone() framework.StateData { return s }

// PreScore scores every candidate node with fresh usage; it returns Skip
// when none has.
func (pl *NodeLoad) PreScore(_ context.Context, state *framework.CycleState, _ *corev1.Pod, nodes []*framework.NodeInfo) *framework.Status {
	now := pl.now()
	s := &preScoreState{scores: make(map[string]int64, len(nodes))}
	var sum int64
	for _, ni := range nodes {
		score, ok := pl.nodeScore(ni, now)
		if !ok {
			continue
		}
		s.scores[ni.Node().Name] = score
		sum += score
	}
	if len(s.scores) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	s.unknown = sum / int64(len(s.scores))
	state.Write(preScoreStateKey, s)
	return nil
}

// nodeScore is 100 × (1 − load) for a node with fresh usage; ok is false
// when its usage is unknown.
func (pl *NodeLoad) nodeScore(ni *framework.NodeInfo, now time.Time) (score int64, ok bool) {
	node := ni.Node()
	if node == nil {
		return 0, false
	}
	raw, found := node.Annotations[nodeusage.AnnotationKey]
	if !found {
		return 0, false
	}
	u, err := nodeusage.ParseUsage(raw)
	if err != nil || now.Sub(u.Time) > pl.cfg.maxUsageAge {
		return 0, false
	}
	var load, weights float64
	add := func(used, allocatable, weight int64) {
		if allocatable <= 0 || weight == 0 {
			return
		}
		load += float64(weight) * min(float64(used)/float64(allocatable), 1)
		weights += float64(weight)
	}
	add(u.CPUMillis, ni.Allocatable.MilliCPU, pl.cfg.cpuWeight)
	add(u.MemoryBytes, ni.Allocatable.Memory, pl.cfg.memoryWeight)
	if weights == 0 {
		return 0, false
	}
	return int64(float64(framework.MaxNodeScore) * (1 - load/weights)), true
}

// Score is the node's score from PreScore.
func (pl *NodeLoad) Score(_ context.Context, state *framework.CycleState, _ *corev1.Pod, nodeInfo *framework.NodeInfo) (int64, *framework.Status) {
	data, err := state.Read(preScoreStateKey)
	if err != nil {
		return 0, framework.AsStatus(fmt.Errorf("reading %q from cycle state: %w", preScoreStateKey, err))
	}
	s, ok := data.(*preScoreState)
	if !ok {
		return 0, framework.AsStatus(fmt.Errorf("%q holds %T, not the %s state", preScoreStateKey, data, Name))
	}
	if node := nodeInfo.Node(); node != nil {
		if score, ok := s.scores[node.Name]; ok {
			return score, nil
		}
	}
	return s.unknown, nil
}

// ScoreExtensions implements framework.ScorePlugin: scores are already
// in [0, 100].
func (*NodeLoad) ScoreExtensions() framework.ScoreExtensions { return nil }

// EventsToRegister: the usage annotation changing.
func (*NodeLoad) EventsToRegister() []framework.ClusterEvent {
	return []framework.ClusterEvent{{Resource: framework.NodeResource, ActionType: framework.UpdateNodeAnnotation}}
}
