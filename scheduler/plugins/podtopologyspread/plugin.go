// Package podtopologyspread is the PodTopologySpread plugin: a pod's
// topologySpreadConstraints (or the cluster's default constraints for
// pods that declare none), as upstream kube-scheduler. DoNotSchedule
// constraints are a Filter (a node is rejected when placing the pod there
// would make its domain exceed the global minimum by more than maxSkew);
// ScheduleAnyway constraints are a Score favouring the domains with the
// fewest matching pods.
//
// Only pods in the incoming pod's namespace that match a constraint's
// selector are counted, and only on nodes that have every constraint's
// topology key and pass its node inclusion policies (nodeAffinityPolicy
// Honor by default: the pod's nodeSelector and required node affinity;
// nodeTaintsPolicy Ignore by default).
package podtopologyspread

import (
	"context"
	"errors"

	corev1 "k8s.io/api/core/v1"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"

	"github.com/skiffk8s/skiff/scheduler/framework"
)

// Name is the plugin's name in scheduler profiles.
const Name = "PodTopologySpread"

// PodTopologySpread is the plugin. Per-cycle data lives in the
// CycleState.
type PodTopologySpread struct {
	handle framework.Handle
	// defaultConstraints apply to pods without constraints of their own
	// (their labelSelector is derived per pod); systemDefaulted says they
	// are the system defaults, which also score nodes missing some keys.
	defaultConstraints []corev1.TopologySpreadConstraint
	systemDefaulted    bool
	// Listers for the default constraints' selectors (nil when there are
	// no default constraints).
	services     corelisters.ServiceLister
	replicaSets  appslisters.ReplicaSetLister
	statefulSets appslisters.StatefulSetLister
	// matchCounts caches per-node counts of matching pods across
	// cycles.
	matchCounts matchCounts
}

var (
	_ framework.PreFilterPlugin     = (*PodTopologySpread)(nil)
	_ framework.PreFilterExtensions = (*PodTopologySpread)(nil)
	_ framework.FilterPlugin        = (*PodTopologySpread)(nil)
	_ framework.PreScorePlugin      = (*PodTopologySpread)(nil)
	_ framework.ScorePlugin         = (*PodTopologySpread)(nil)
	_ framework.ScoreExtensions     = (*PodTopologySpread)(nil)
	_ framework.EnqueueExtensions   = (*PodTopologySpread)(nil)
)

// New builds the plugin from its pluginConfig args (JSON of upstream's
// PodTopologySpreadArgs, or nil for the defaults: defaultingType System).
// With default constraints it asks the handle's informer factory for the
// Service, ReplicaSet and StatefulSet listers, so it must be called
// before the factory starts.
func New(_ context.Context, args []byte, h framework.Handle) (framework.Plugin, error) {
	a, err := decodeArgs(args)
	if err != nil {
		return nil, err
	}
	if h == nil {
		return nil, errors.New(Name + ": no handle")
	}
	pl := &PodTopologySpread{handle: h, defaultConstraints: a.DefaultConstraints}
	if a.DefaultingType == systemDefaulting {
		pl.defaultConstraints = systemDefaultConstraints()
		pl.systemDefaulted = true
	}
	if len(pl.defaultConstraints) > 0 {
		f := h.SharedInformerFactory()
		if f == nil {
			return nil, errors.New(Name + ": default constraints need the handle's SharedInformerFactory")
		}
		pl.services = f.Core().V1().Services().Lister()
		pl.replicaSets = f.Apps().V1().ReplicaSets().Lister()
		pl.statefulSets = f.Apps().V1().StatefulSets().Lister()
	}
	return pl, nil
}

// Name implements framework.Plugin.
func (pl *PodTopologySpread) Name() string { return Name }

// EventsToRegister implements framework.EnqueueExtensions, as upstream:
// an assigned pod added, deleted or relabelled changes the counts; a node
// added, deleted, relabelled or (for nodeTaintsPolicy) re-tainted
// changes the domains.
func (pl *PodTopologySpread) EventsToRegister() []framework.ClusterEvent {
	return []framework.ClusterEvent{
		{Resource: framework.PodResource, ActionType: framework.Add | framework.UpdatePodLabel | framework.Delete, Label: "PodChange"},
		{Resource: framework.NodeResource, ActionType: framework.Add | framework.Delete | framework.UpdateNodeLabel | framework.UpdateNodeTaint, Label: "NodeChange"},
	}
}

func (pl *PodTopologySpread) allNodes() ([]*framework.NodeInfo, error) {
	l := pl.handle.SnapshotSharedLister()
	if l == nil {
		return nil, errors.New(Name + ": no snapshot")
	}
	return l.NodeInfos().List()
}

// parallel runs do(i) for i in [0, n) on the handle's parallelizer, or
// in turn when it has none.
func (pl *PodTopologySpread) parallel(ctx context.Context, n int, do func(i int)) {
	if p := pl.handle.Parallelizer(); p != nil {
		p.Until(ctx, n, do)
		return
	}
	for i := 0; i < n; i++ {
		do(i)
	}
}
