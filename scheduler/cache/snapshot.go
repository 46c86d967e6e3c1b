package cache

import (
	"github.com/skiffk8s/skiff/scheduler/framework"
)

// Snapshot is a cycle's read-only view, kept up to date by
// Cache.UpdateSnapshot. It implements framework.SharedLister.
type Snapshot struct {
	infos      map[string]*framework.NodeInfo
	generation int64
	*framework.Snapshot
}

var _ framework.SharedLister = (*Snapshot)(nil)

// NewEmptySnapshot returns a snapshot to pass to UpdateSnapshot.
func NewEmptySnapshot() *Snapshot {
	return &Snapshot{infos: map[string]*framework.NodeInfo{}, Snapshot: framework.NewSnapshotFromInfos(nil)}
}

// NumNodes is the number of nodes in the snapshot.
func (s *Snapshot) NumNodes() int { return len(s.Nodes) }

// UpdateSnapshot brings s up to date: only NodeInfos whose Generation
// changed since s was last updated are copied again; the lists are
// rebuilt only when something changed.
func (c *Cache) UpdateSnapshot(s *Snapshot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	changed := c.listChanged
	var clones []*framework.NodeInfo
	for name, ni := range c.nodes {
		if ni.Generation <= s.generation {
			continue
		}
		if ni.Node() == nil {
			changed = true
			delete(s.infos, name)
			continue
		}
		clone := ni.Clone()
		clone.ImageStates = c.imageSummariesLocked(ni.Node())
		s.infos[name] = clone
		clones = append(clones, clone)
	}
	if c.listChanged {
		for name := range s.infos {
			if ni, ok := c.nodes[name]; !ok || ni.Node() == nil {
				delete(s.infos, name)
			}
		}
	}
	s.generation = c.generation
	c.listChanged = false
	// The same nodes in the same order: swap the changed ones in (usually
	// one or two per cycle) rather than rebuild the lists and index.
	if !changed && (len(clones) == 0 || s.Snapshot.Replace(clones...)) {
		return
	}
	list := make([]*framework.NodeInfo, 0, len(c.nodeOrder))
	for _, name := range c.nodeOrder {
		list = append(list, s.infos[name])
	}
	s.Snapshot = framework.NewSnapshotFromInfos(list)
}
