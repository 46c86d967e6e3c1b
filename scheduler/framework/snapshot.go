package framework

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// Snapshot is a SharedLister over a fixed set of NodeInfos. The
// scheduler's cache keeps one up to date incrementally; tests build one
// with NewSnapshot.
type Snapshot struct {
	// Nodes in a stable order; byName indexes them.
	Nodes []*NodeInfo
	// byName is each node's index in Nodes.
	byName map[string]int
	// withAffinity and withRequiredAntiAffinity are the nodes holding
	// such pods.
	withAffinity, withRequiredAntiAffinity []*NodeInfo
}

var _ SharedLister = (*Snapshot)(nil)

// NewSnapshot builds a snapshot of nodes with pods assigned by
// pod.Spec.NodeName (pods on unknown nodes are left out).
func NewSnapshot(nodes []*corev1.Node, pods []*corev1.Pod) *Snapshot {
	infos := make([]*NodeInfo, 0, len(nodes))
	byName := make(map[string]*NodeInfo, len(nodes))
	for _, n := range nodes {
		ni := NewNodeInfo()
		ni.SetNode(n)
		infos = append(infos, ni)
		byName[n.Name] = ni
	}
	for _, p := range pods {
		if ni, ok := byName[p.Spec.NodeName]; ok {
			ni.AddPod(p)
		}
	}
	return NewSnapshotFromInfos(infos)
}

// NewSnapshotFromInfos builds a snapshot of the given NodeInfos (which
// must all have a node).
func NewSnapshotFromInfos(infos []*NodeInfo) *Snapshot {
	s := &Snapshot{Nodes: infos, byName: make(map[string]int, len(infos))}
	for i, ni := range infos {
		s.byName[ni.Node().Name] = i
	}
	s.listAffinity()
	return s
}

// listAffinity rebuilds withAffinity and withRequiredAntiAffinity.
func (s *Snapshot) listAffinity() {
	s.withAffinity, s.withRequiredAntiAffinity = s.withAffinity[:0:0], s.withRequiredAntiAffinity[:0:0]
	for _, ni := range s.Nodes {
		if len(ni.PodsWithAffinity) > 0 {
			s.withAffinity = append(s.withAffinity, ni)
		}
		if len(ni.PodsWithRequiredAntiAffinity) > 0 {
			s.withRequiredAntiAffinity = append(s.withRequiredAntiAffinity, ni)
		}
	}
}

// Replace puts each of infos in place of the snapshot's node of the same
// name, in the same position, and reports whether the snapshot had them
// all (if not, it is unchanged). It changes the snapshot in place: the
// scheduler's cache uses it between cycles, when no plugin reads it.
func (s *Snapshot) Replace(infos ...*NodeInfo) bool {
	for _, ni := range infos {
		if _, ok := s.byName[ni.Node().Name]; !ok {
			return false
		}
	}
	for _, ni := range infos {
		s.Nodes[s.byName[ni.Node().Name]] = ni
	}
	s.listAffinity()
	return true
}

// NodeInfos implements SharedLister.
func (s *Snapshot) NodeInfos() NodeInfoLister { return s }

// List implements NodeInfoLister.
func (s *Snapshot) List() ([]*NodeInfo, error) { return s.Nodes, nil }

// HavePodsWithAffinityList implements NodeInfoLister.
func (s *Snapshot) HavePodsWithAffinityList() ([]*NodeInfo, error) { return s.withAffinity, nil }

// HavePodsWithRequiredAntiAffinityList implements NodeInfoLister.
func (s *Snapshot) HavePodsWithRequiredAntiAffinityList() ([]*NodeInfo, error) {
	return s.withRequiredAntiAffinity, nil
}

// Get implements NodeInfoLister.
func (s *Snapshot) Get(name string) (*NodeInfo, error) {
	if i, ok := s.byName[name]; ok {
		return s.Nodes[i], nil
	}
	return nil, fmt.Errorf("node %q not found in the snapshot", name)
}
