// Package cache is the scheduler's view of nodes and the pods on them:
// bound pods from the informer and "assumed" pods the scheduler placed
// but whose binding is not confirmed yet, so that binding runs
// asynchronously while the next pod is scheduled. UpdateSnapshot gives
// each cycle a consistent, read-only copy, updated incrementally.
package cache

import (
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/clock"

	"github.com/skiffk8s/skiff/scheduler/framework"
)

// DefaultAssumedTTL is how long an assumed pod stays after its binding
// finished without the informer confirming it.
const DefaultAssumedTTL = 30 * time.Second

type podState struct {
	pod *corev1.Pod
	// deadline is set when binding finished (assumed pods only).
	deadline *time.Time
}

type imageState struct {
	size  int64
	nodes sets.Set[string]
}

// Cache holds nodes and pods. It is safe for concurrent use.
type Cache struct {
	clock clock.Clock
	ttl   time.Duration

	mu sync.Mutex
	// guarded by mu:
	nodes      map[string]*framework.NodeInfo
	nodeOrder  []string // names of nodes with a Node, in arrival order
	podStates  map[types.UID]*podState
	assumed    sets.Set[types.UID]
	images     map[string]*imageState
	generation int64
	// listChanged: nodes came or went since the last snapshot.
	listChanged bool
}

// New returns an empty cache; assumed pods expire ttl after their binding
// finished (0: DefaultAssumedTTL).
func New(clk clock.Clock, ttl time.Duration) *Cache {
	if ttl <= 0 {
		ttl = DefaultAssumedTTL
	}
	return &Cache{
		clock: clk, ttl: ttl,
		nodes:     map[string]*framework.NodeInfo{},
		podStates: map[types.UID]*podState{},
		assumed:   sets.New[types.UID](),
		images:    map[string]*imageState{},
	}
}

// touchLocked gives ni a new generation (the snapshot re-copies it).
func (c *Cache) touchLocked(ni *framework.NodeInfo) {
	c.generation++
	ni.Generation = c.generation
}

func (c *Cache) nodeInfoLocked(name string) *framework.NodeInfo {
	ni, ok := c.nodes[name]
	if !ok {
		ni = framework.NewNodeInfo()
		c.nodes[name] = ni
	}
	return ni
}

func (c *Cache) addPodLocked(pod *corev1.Pod) {
	ni := c.nodeInfoLocked(pod.Spec.NodeName)
	ni.AddPod(pod)
	c.touchLocked(ni)
}

func (c *Cache) removePodLocked(pod *corev1.Pod) {
	ni, ok := c.nodes[pod.Spec.NodeName]
	if !ok {
		return
	}
	ni.RemovePod(pod)
	c.touchLocked(ni)
	if ni.Node() == nil && len(ni.Pods) == 0 {
		delete(c.nodes, pod.Spec.NodeName)
	}
}

// AssumePod adds pod (with spec.nodeName set) as if it were bound.
func (c *Cache) AssumePod(pod *corev1.Pod) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.podStates[pod.UID]; ok {
		return fmt.Errorf("pod %s/%s is already in the cache", pod.Namespace, pod.Name)
	}
	c.addPodLocked(pod)
	c.podStates[pod.UID] = &podState{pod: pod}
	c.assumed.Insert(pod.UID)
	return nil
}

// FinishBinding starts the assumed pod's TTL.
func (c *Cache) FinishBinding(pod *corev1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps, ok := c.podStates[pod.UID]; ok && c.assumed.Has(pod.UID) {
		d := c.clock.Now().Add(c.ttl)
		ps.deadline = &d
	}
}

// ForgetPod removes an assumed pod (its binding failed).
func (c *Cache) ForgetPod(pod *corev1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps, ok := c.podStates[pod.UID]
	if !ok || !c.assumed.Has(pod.UID) {
		return
	}
	c.removePodLocked(ps.pod)
	delete(c.podStates, pod.UID)
	c.assumed.Delete(pod.UID)
}

// IsAssumed reports whether pod is assumed and not yet confirmed.
func (c *Cache) IsAssumed(pod *corev1.Pod) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.assumed.Has(pod.UID)
}

// AddPod adds a bound pod seen by the informer; an assumed pod is
// confirmed (and moved if it was bound elsewhere).
func (c *Cache) AddPod(pod *corev1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps, ok := c.podStates[pod.UID]; ok {
		c.removePodLocked(ps.pod)
		c.assumed.Delete(pod.UID)
	}
	c.addPodLocked(pod)
	c.podStates[pod.UID] = &podState{pod: pod}
}

// UpdatePod replaces a bound pod.
func (c *Cache) UpdatePod(pod *corev1.Pod) { c.AddPod(pod) }

// RemovePod removes a pod (deleted, or terminated).
func (c *Cache) RemovePod(pod *corev1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps, ok := c.podStates[pod.UID]
	if !ok {
		return
	}
	c.removePodLocked(ps.pod)
	delete(c.podStates, pod.UID)
	c.assumed.Delete(pod.UID)
}

// CleanupExpiredAssumedPods drops assumed pods whose TTL passed (their
// binding finished but the informer never confirmed them); it returns
// them.
func (c *Cache) CleanupExpiredAssumedPods() []*corev1.Pod {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock.Now()
	var out []*corev1.Pod
	for uid := range c.assumed {
		ps := c.podStates[uid]
		if ps.deadline != nil && now.After(*ps.deadline) {
			c.removePodLocked(ps.pod)
			delete(c.podStates, uid)
			c.assumed.Delete(uid)
			out = append(out, ps.pod)
		}
	}
	return out
}

// AddNode adds or updates a node.
func (c *Cache) AddNode(node *corev1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ni := c.nodeInfoLocked(node.Name)
	if ni.Node() == nil {
		c.nodeOrder = append(c.nodeOrder, node.Name)
		c.listChanged = true
	} else {
		c.removeImagesLocked(ni.Node())
	}
	ni.SetNode(node)
	c.addImagesLocked(node)
	c.touchLocked(ni)
}

// UpdateNode is AddNode.
func (c *Cache) UpdateNode(node *corev1.Node) { c.AddNode(node) }

// RemoveNode removes a node. Pods still assigned to it stay (without a
// node, out of snapshots) until they are deleted.
func (c *Cache) RemoveNode(node *corev1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ni, ok := c.nodes[node.Name]
	if !ok || ni.Node() == nil {
		return
	}
	c.removeImagesLocked(ni.Node())
	ni.RemoveNode()
	c.touchLocked(ni)
	if len(ni.Pods) == 0 {
		delete(c.nodes, node.Name)
	}
	for i, n := range c.nodeOrder {
		if n == node.Name {
			c.nodeOrder = append(c.nodeOrder[:i:i], c.nodeOrder[i+1:]...)
			break
		}
	}
	c.listChanged = true
}

// addImagesLocked counts node's images; nodes sharing an image get a new
// generation since their images' NumNodes changed.
func (c *Cache) addImagesLocked(node *corev1.Node) {
	for _, img := range node.Status.Images {
		for _, name := range img.Names {
			st, ok := c.images[name]
			if !ok {
				st = &imageState{size: img.SizeBytes, nodes: sets.New[string]()}
				c.images[name] = st
			}
			if !st.nodes.Has(node.Name) {
				st.nodes.Insert(node.Name)
				c.touchImageNodesLocked(st, node.Name)
			}
		}
	}
}

func (c *Cache) removeImagesLocked(node *corev1.Node) {
	for _, img := range node.Status.Images {
		for _, name := range img.Names {
			st, ok := c.images[name]
			if !ok {
				continue
			}
			st.nodes.Delete(node.Name)
			c.touchImageNodesLocked(st, node.Name)
			if st.nodes.Len() == 0 {
				delete(c.images, name)
			}
		}
	}
}

func (c *Cache) touchImageNodesLocked(st *imageState, except string) {
	for n := range st.nodes {
		if ni, ok := c.nodes[n]; ok && n != except {
			c.touchLocked(ni)
		}
	}
}

// imageSummariesLocked is node's ImageStates with current NumNodes.
func (c *Cache) imageSummariesLocked(node *corev1.Node) map[string]*framework.ImageStateSummary {
	out := make(map[string]*framework.ImageStateSummary, len(node.Status.Images))
	for _, img := range node.Status.Images {
		for _, name := range img.Names {
			n := 0
			if st, ok := c.images[name]; ok {
				n = st.nodes.Len()
			}
			out[name] = &framework.ImageStateSummary{Size: img.SizeBytes, NumNodes: n}
		}
	}
	return out
}

// Counts is the number of nodes (with a Node object) and of pods.
func (c *Cache) Counts() (nodes, pods int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.nodeOrder), len(c.podStates)
}

// PodsOnNode lists the pods the cache has on a node (tests, debugging).
func (c *Cache) PodsOnNode(name string) []*corev1.Pod {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*corev1.Pod
	if ni, ok := c.nodes[name]; ok {
		for _, pi := range ni.Pods {
			out = append(out, pi.Pod)
		}
	}
	return out
}
