package podtopologyspread

import (
	"sync"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/skiffk8s/skiff/scheduler/framework"
)

// maxCachedSelectors bounds how many selectors matchCounts remembers;
// the least recently used is dropped first.
const maxCachedSelectors = 16

// matchCounts remembers, per selector and namespace, how many matching
// pods each node has, so that a cycle recounts only the nodes whose pods
// changed since that selector was last counted (while a workload is being
// created, one or two nodes per cycle) instead of every pod in the
// cluster. A node's entry is valid while the snapshot holds the same
// NodeInfo at the same Generation (every change to a NodeInfo raises its
// Generation; the cache's snapshot replaces changed NodeInfos). Counts
// are kept by the node's position in the snapshot's list, so counting in
// parallel needs no lock; a list that changed only costs recounts.
type matchCounts struct {
	mu   sync.Mutex
	tick int64
	// bySelector is guarded by mu.
	bySelector map[string]*selectorCounts
}

// selectorCounts are one selector's counts. mu is held by one counting
// pass at a time (see acquire); nodes is guarded by it.
type selectorCounts struct {
	mu       sync.Mutex
	lastUsed int64 // guarded by matchCounts.mu
	nodes    []nodeCount
}

type nodeCount struct {
	ni  *framework.NodeInfo
	gen int64
	n   int
}

// acquire returns the counts of sel's pods in ns sized for numNodes
// nodes, held until release; nil (count without the cache) when the
// selector has no canonical form or another pass holds it (e.g. two
// constraints of one pod with the same selector).
func (m *matchCounts) acquire(sel labels.Selector, ns string, numNodes int) *selectorCounts {
	str := sel.String()
	if m == nil || str == "" {
		return nil
	}
	key := ns + "\x00" + str
	m.mu.Lock()
	m.tick++
	sc := m.bySelector[key]
	if sc == nil {
		if m.bySelector == nil {
			m.bySelector = map[string]*selectorCounts{}
		}
		if len(m.bySelector) >= maxCachedSelectors {
			m.evictLocked()
		}
		sc = &selectorCounts{}
		m.bySelector[key] = sc
	}
	sc.lastUsed = m.tick
	m.mu.Unlock()
	if !sc.mu.TryLock() {
		return nil
	}
	if len(sc.nodes) != numNodes {
		sc.nodes = append(sc.nodes[:0:0], sc.nodes[:min(len(sc.nodes), numNodes)]...)
		sc.nodes = append(sc.nodes, make([]nodeCount, numNodes-len(sc.nodes))...)
	}
	return sc
}

func (m *matchCounts) evictLocked() {
	oldest := ""
	for k, sc := range m.bySelector {
		if oldest == "" || sc.lastUsed < m.bySelector[oldest].lastUsed {
			oldest = k
		}
	}
	delete(m.bySelector, oldest)
}

// release ends the pass that acquire started.
func (sc *selectorCounts) release() {
	if sc != nil {
		sc.mu.Unlock()
	}
}

// count is countMatching(ni.Pods, sel, ns) for the node at position i of
// the snapshot's list, from the cache when ni has not changed. Calls for
// different i may run in parallel.
func (sc *selectorCounts) count(i int, ni *framework.NodeInfo, sel labels.Selector, ns string) int {
	if sc == nil || i >= len(sc.nodes) {
		return countMatching(ni.Pods, sel, ns)
	}
	e := &sc.nodes[i]
	if e.ni == ni && e.gen == ni.Generation {
		return e.n
	}
	n := countMatching(ni.Pods, sel, ns)
	*e = nodeCount{ni: ni, gen: ni.Generation, n: n}
	return n
}
