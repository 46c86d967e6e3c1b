package garbagecollector

import (
	"slices"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// objectRef identifies an object: the owner reference fields plus the
// namespace.
type objectRef struct {
	APIVersion, Kind string
	Namespace, Name  string
	UID              types.UID
}

func (r objectRef) String() string {
	return r.Kind + " " + r.Namespace + "/" + r.Name + " (" + string(r.UID) + ")"
}

// node is one object in the dependency graph. Its fields are guarded by
// the graph's mu.
type node struct {
	id objectRef
	// virtual: known only from a dependent's owner reference.
	virtual      bool
	owners       []metav1.OwnerReference
	dependents   map[*node]struct{}
	beingDeleted bool
	// orphaning: being deleted with the orphan finalizer.
	orphaning bool
	// deletingDependents: being deleted with the foregroundDeletion
	// finalizer.
	deletingDependents bool
}

// graph is the owner → dependents graph built from the monitors' events
// by one goroutine (processEvent); workers read snapshots.
type graph struct {
	mu    sync.Mutex
	nodes map[types.UID]*node // guarded by mu
}

// eventType of a graph change.
type eventType int

const (
	addOrUpdate eventType = iota
	deleted
	// virtualDelete: a virtual node's object was found absent.
	virtualDelete
)

// event is one graph change.
type event struct {
	typ  eventType
	gvk  schema.GroupVersionKind
	meta *metav1.ObjectMeta
	// ref is the node of a virtualDelete.
	ref objectRef
}

// queues receive the nodes the graph decides need work.
type queues interface {
	attemptToDelete(*node)
	attemptToOrphan(*node)
}

// processEvent applies one change to the graph and enqueues the nodes
// that need work. namespaceOf gives an owner's namespace as seen from a
// dependent in ns ("" for a cluster-scoped owner).
func (g *graph) processEvent(ev *event, q queues, namespaceOf func(ref metav1.OwnerReference, ns string) string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if ev.typ == virtualDelete {
		n, ok := g.nodes[ev.ref.UID]
		if !ok || !n.virtual {
			return
		}
		g.removeLocked(n)
		for d := range n.dependents {
			q.attemptToDelete(d)
		}
		return
	}
	m := ev.meta
	n, exists := g.nodes[m.UID]
	if ev.typ == deleted {
		if !exists {
			return
		}
		g.removeLocked(n)
		for d := range n.dependents {
			q.attemptToDelete(d)
		}
		for _, o := range n.owners {
			if on, ok := g.nodes[o.UID]; ok && on.deletingDependents {
				q.attemptToDelete(on)
			}
		}
		return
	}
	id := objectRef{APIVersion: ev.gvk.GroupVersion().String(), Kind: ev.gvk.Kind, Namespace: m.Namespace, Name: m.Name, UID: m.UID}
	if !exists {
		n = &node{id: id, dependents: map[*node]struct{}{}}
		g.nodes[m.UID] = n
	} else {
		n.virtual, n.id = false, id
	}
	old := n.owners
	if !exists || !slices.Equal(old, m.OwnerReferences) {
		// Owners no longer referenced, or no longer blocked on, may
		// finish their foreground deletion.
		for _, o := range old {
			nr, stillThere := findOwner(m.OwnerReferences, o.UID)
			blocking := stillThere && nr.BlockOwnerDeletion != nil && *nr.BlockOwnerDeletion
			if on, ok := g.nodes[o.UID]; ok && on.deletingDependents && !blocking {
				q.attemptToDelete(on)
			}
			if !stillThere {
				if on, ok := g.nodes[o.UID]; ok {
					delete(on.dependents, n)
				}
			}
		}
		for _, o := range m.OwnerReferences {
			if _, had := findOwner(old, o.UID); had && exists {
				continue
			}
			on, ok := g.nodes[o.UID]
			if !ok {
				on = &node{virtual: true, dependents: map[*node]struct{}{}, id: objectRef{
					APIVersion: o.APIVersion, Kind: o.Kind, Name: o.Name, UID: o.UID, Namespace: namespaceOf(o, m.Namespace)}}
				g.nodes[o.UID] = on
				q.attemptToDelete(on) // does it exist?
			}
			on.dependents[n] = struct{}{}
		}
		n.owners = slices.Clone(m.OwnerReferences)
	}
	n.beingDeleted = m.DeletionTimestamp != nil
	orphaning := n.beingDeleted && slices.Contains(m.Finalizers, metav1.FinalizerOrphanDependents)
	if orphaning && !n.orphaning {
		q.attemptToOrphan(n)
	}
	n.orphaning = orphaning
	foreground := n.beingDeleted && slices.Contains(m.Finalizers, metav1.FinalizerDeleteDependents)
	if foreground && !n.deletingDependents {
		for d := range n.dependents {
			q.attemptToDelete(d)
		}
		q.attemptToDelete(n)
	}
	n.deletingDependents = foreground
	if !exists && len(m.OwnerReferences) > 0 {
		q.attemptToDelete(n) // its owners may be gone already
	}
}

// removeLocked takes n out of the graph and its owners' dependents.
func (g *graph) removeLocked(n *node) {
	delete(g.nodes, n.id.UID)
	for _, o := range n.owners {
		if on, ok := g.nodes[o.UID]; ok {
			delete(on.dependents, n)
		}
	}
}

func findOwner(refs []metav1.OwnerReference, uid types.UID) (metav1.OwnerReference, bool) {
	for _, r := range refs {
		if r.UID == uid {
			return r, true
		}
	}
	return metav1.OwnerReference{}, false
}

// snapshot is a copy of a node's state for a worker.
type snapshot struct {
	id                              objectRef
	virtual, beingDeleted, deleting bool
	dependents                      []dependent
}

// dependent is a snapshot of one dependent of a node.
type dependent struct {
	node               *node
	id                 objectRef
	blocksOwner        bool
	deletingDependents bool
}

func (g *graph) snapshot(n *node) snapshot {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := snapshot{id: n.id, virtual: n.virtual, beingDeleted: n.beingDeleted, deleting: n.deletingDependents}
	for d := range n.dependents {
		ref, _ := findOwner(d.owners, n.id.UID)
		s.dependents = append(s.dependents, dependent{node: d, id: d.id,
			blocksOwner: ref.BlockOwnerDeletion != nil && *ref.BlockOwnerDeletion, deletingDependents: d.deletingDependents})
	}
	return s
}
