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
	Nodes  []*NodeInfo
	byName map[string]*NodeInfo
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
	s := &Snapshot{Nodes: infos, byName: make(map[string]*NodeInfo, len(infos))}
	for _, ni := range infos {
		s.byName[ni.Node().Name] = ni
		if len(ni.PodsWithAffinity) > 0 {
			s.withAffinity = append(s.withAffinity, ni)
		}
		if len(ni.PodsWithRequiredAntiAffinity) > 0 {
			s.withRequiredAntiAffinity = append(s.withRequiredAntiAffinity, ni)
		}
	}
	return s
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
	if ni, ok := s.byName[name]; ok {
		return ni, nil
	}
	return nil, fmt.Errorf("node %q not found in the snapshot", name)
}
