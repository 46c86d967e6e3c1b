// Package interpodaffinity is the InterPodAffinity plugin: a pod's
// required pod affinity and anti-affinity (and existing pods' required
// anti-affinity against it) as a Filter, and the preferred terms of the
// pod and of existing pods as a Score, per topology domain (the value of
// the term's topologyKey label on a node), as upstream kube-scheduler.
//
// PreFilter counts, over the cycle's snapshot, the pods matching each
// term per topology pair; Filter only looks those counts up for the
// node's labels. AddPod/RemovePod keep the counts right while preemption
// simulates removing victims.
package interpodaffinity

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"

	"github.com/skiffk8s/skiff/scheduler/framework"
)

// Name is the plugin's name in scheduler profiles.
const Name = "InterPodAffinity"

// InterPodAffinity is the plugin. It keeps no per-cycle data: that lives
// in the CycleState.
type InterPodAffinity struct {
	handle   framework.Handle
	nsLister corelisters.NamespaceLister
	// hardPodAffinityWeight scores existing pods' required affinity terms
	// that the incoming pod matches (0 disables it).
	hardPodAffinityWeight int32
	// ignorePreferredTermsOfExistingPods skips scoring entirely for pods
	// without preferred terms of their own.
	ignorePreferredTermsOfExistingPods bool
}

var (
	_ framework.PreFilterPlugin     = (*InterPodAffinity)(nil)
	_ framework.PreFilterExtensions = (*InterPodAffinity)(nil)
	_ framework.FilterPlugin        = (*InterPodAffinity)(nil)
	_ framework.PreScorePlugin      = (*InterPodAffinity)(nil)
	_ framework.ScorePlugin         = (*InterPodAffinity)(nil)
	_ framework.ScoreExtensions     = (*InterPodAffinity)(nil)
	_ framework.EnqueueExtensions   = (*InterPodAffinity)(nil)
)

// New builds the plugin from its pluginConfig args (JSON of upstream's
// InterPodAffinityArgs, or nil for the defaults). It asks the handle's
// informer factory for the namespace lister (namespaceSelector terms and
// namespace labels), so it must be called before the factory starts.
func New(_ context.Context, args []byte, h framework.Handle) (framework.Plugin, error) {
	a, err := decodeArgs(args)
	if err != nil {
		return nil, err
	}
	if h == nil || h.SharedInformerFactory() == nil {
		return nil, errors.New(Name + ": the handle has no SharedInformerFactory")
	}
	return &InterPodAffinity{
		handle:                             h,
		nsLister:                           h.SharedInformerFactory().Core().V1().Namespaces().Lister(),
		hardPodAffinityWeight:              *a.HardPodAffinityWeight,
		ignorePreferredTermsOfExistingPods: a.IgnorePreferredTermsOfExistingPods,
	}, nil
}

// Name implements framework.Plugin.
func (pl *InterPodAffinity) Name() string { return Name }

// EventsToRegister implements framework.EnqueueExtensions, as upstream:
// an assigned pod added (affinity may now be satisfied), deleted (an
// anti-affinity conflict may be gone) or relabelled; a node added or
// relabelled (a new topology domain).
func (pl *InterPodAffinity) EventsToRegister() []framework.ClusterEvent {
	return []framework.ClusterEvent{
		{Resource: framework.PodResource, ActionType: framework.Add | framework.UpdatePodLabel | framework.Delete, Label: "PodChange"},
		{Resource: framework.NodeResource, ActionType: framework.Add | framework.UpdateNodeLabel, Label: "NodeAddOrLabelChange"},
	}
}

func (pl *InterPodAffinity) snapshot() (framework.NodeInfoLister, error) {
	l := pl.handle.SnapshotSharedLister()
	if l == nil {
		return nil, errors.New("no snapshot")
	}
	return l.NodeInfos(), nil
}

// namespaceLabels is a copy of the labels of namespace ns (empty when
// the namespace is not in the cache, as upstream).
func (pl *InterPodAffinity) namespaceLabels(ns string) labels.Set {
	n, err := pl.nsLister.Get(ns)
	if err != nil {
		return labels.Set{}
	}
	return labels.Merge(n.Labels, nil)
}

// resolveNamespaces folds a term's namespaceSelector into its namespace
// set (listing the namespaces it selects now), so that matching needs no
// namespace labels afterwards. An empty selector (all namespaces) is
// kept as is.
func (pl *InterPodAffinity) resolveNamespaces(t *framework.AffinityTerm) error {
	if t.NamespaceSelector == nil || t.NamespaceSelector.Empty() {
		return nil
	}
	nss, err := pl.nsLister.List(t.NamespaceSelector)
	if err != nil {
		return fmt.Errorf("listing namespaces for a namespaceSelector: %w", err)
	}
	// parseTerm's set is the term's own (the PodInfo was parsed for this
	// cycle), so it may be changed.
	for _, ns := range nss {
		t.Namespaces.Insert(ns.Name)
	}
	t.NamespaceSelector = nil
	return nil
}

// parallel runs do(i) for i in [0, n) on the handle's parallelizer, or
// in turn when it has none.
func (pl *InterPodAffinity) parallel(ctx context.Context, n int, do func(i int)) {
	if p := pl.handle.Parallelizer(); p != nil {
		p.Until(ctx, n, do)
		return
	}
	for i := 0; i < n; i++ {
		do(i)
	}
}

// perNode collects one result per node from parallel work without locks:
// each non-empty result takes the next slot.
type perNode[T any] struct {
	slots []T
	next  atomic.Int32
}

func newPerNode[T any](n int) *perNode[T] { return &perNode[T]{slots: make([]T, n)} }

func (p *perNode[T]) put(v T) { p.slots[p.next.Add(1)-1] = v }

func (p *perNode[T]) results() []T { return p.slots[:p.next.Load()] }
