package framework

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/events"
)

// Plugin is a scheduler plugin: it has a name and implements one or more
// of the extension point interfaces below.
type Plugin interface {
	Name() string
}

// PreFilterPlugin runs once per cycle before Filter: it computes what the
// filter needs (into the CycleState), may reject the pod outright, and may
// narrow the nodes to consider. Returning Skip skips its Filter.
type PreFilterPlugin interface {
	Plugin
	PreFilter(ctx context.Context, state *CycleState, pod *corev1.Pod, nodes []*NodeInfo) (*PreFilterResult, *Status)
	// PreFilterExtensions updates the PreFilter state when preemption
	// simulates adding or removing a pod (nil if the state does not
	// depend on other pods).
	PreFilterExtensions() PreFilterExtensions
}

// PreFilterExtensions keep a plugin's PreFilter state right while
// preemption adds or removes pods on a node in a simulation.
type PreFilterExtensions interface {
	AddPod(ctx context.Context, state *CycleState, podToSchedule *corev1.Pod, podInfoToAdd *PodInfo, nodeInfo *NodeInfo) *Status
	RemovePod(ctx context.Context, state *CycleState, podToSchedule *corev1.Pod, podInfoToRemove *PodInfo, nodeInfo *NodeInfo) *Status
}

// FilterPlugin decides whether the pod fits one node. It runs in
// parallel across nodes; it must only read nodeInfo and the state.
type FilterPlugin interface {
	Plugin
	Filter(ctx context.Context, state *CycleState, pod *corev1.Pod, nodeInfo *NodeInfo) *Status
}

// PostFilterPlugin runs when no node fits (preemption). filtered holds
// each node's Filter status.
type PostFilterPlugin interface {
	Plugin
	PostFilter(ctx context.Context, state *CycleState, pod *corev1.Pod, filtered NodeToStatusMap) (*PostFilterResult, *Status)
}

// PreScorePlugin runs once before Score with the nodes that passed
// Filter. Returning Skip skips its Score.
type PreScorePlugin interface {
	Plugin
	PreScore(ctx context.Context, state *CycleState, pod *corev1.Pod, nodes []*NodeInfo) *Status
}

// ScorePlugin ranks one node (in parallel across nodes). Scores are
// normalized to [MinNodeScore, MaxNodeScore] by ScoreExtensions (when
// not nil) and then multiplied by the plugin's weight.
type ScorePlugin interface {
	Plugin
	Score(ctx context.Context, state *CycleState, pod *corev1.Pod, nodeInfo *NodeInfo) (int64, *Status)
	ScoreExtensions() ScoreExtensions
}

// ScoreExtensions normalizes a plugin's raw scores in place.
type ScoreExtensions interface {
	NormalizeScore(ctx context.Context, state *CycleState, pod *corev1.Pod, scores NodeScoreList) *Status
}

// ReservePlugin is told when the pod is assumed on a node (Reserve) and
// when that is undone because a later step failed (Unreserve, which must
// be idempotent).
type ReservePlugin interface {
	Plugin
	Reserve(ctx context.Context, state *CycleState, pod *corev1.Pod, nodeName string) *Status
	Unreserve(ctx context.Context, state *CycleState, pod *corev1.Pod, nodeName string)
}

// PermitPlugin may approve, reject or hold (Wait, up to the returned
// timeout) a pod before it is bound.
type PermitPlugin interface {
	Plugin
	Permit(ctx context.Context, state *CycleState, pod *corev1.Pod, nodeName string) (*Status, time.Duration)
}

// PreBindPlugin runs before binding (asynchronously, off the scheduling
// loop).
type PreBindPlugin interface {
	Plugin
	PreBind(ctx context.Context, state *CycleState, pod *corev1.Pod, nodeName string) *Status
}

// BindPlugin binds the pod to the node. The first bind plugin that does
// not return Skip binds.
type BindPlugin interface {
	Plugin
	Bind(ctx context.Context, state *CycleState, pod *corev1.Pod, nodeName string) *Status
}

// EnqueueExtensions is implemented by plugins that can reject pods: the
// cluster events that may make a pod they rejected fit, so the queue moves
// such pods back to the active queue on those events (not by polling).
type EnqueueExtensions interface {
	EventsToRegister() []ClusterEvent
}

// NodeInfoLister reads the cycle's snapshot of nodes.
type NodeInfoLister interface {
	// List is every node with its pods.
	List() ([]*NodeInfo, error)
	// HavePodsWithAffinityList is the nodes with a pod that has any
	// (anti-)affinity term; HavePodsWithRequiredAntiAffinityList those
	// with a pod that has a required anti-affinity term.
	HavePodsWithAffinityList() ([]*NodeInfo, error)
	HavePodsWithRequiredAntiAffinityList() ([]*NodeInfo, error)
	// Get is one node, or an error when the snapshot has no such node.
	Get(nodeName string) (*NodeInfo, error)
}

// SharedLister is the cycle's snapshot.
type SharedLister interface {
	NodeInfos() NodeInfoLister
}

// Parallelizer runs pieces of work in parallel.
type Parallelizer interface {
	// Until calls do(i) for i in [0, pieces) on a bounded number of
	// goroutines and returns when all are done or ctx ends.
	Until(ctx context.Context, pieces int, do func(i int))
}

// PluginsRunner runs the profile's plugins of some extension points;
// preemption uses it to simulate scheduling on a changed node.
type PluginsRunner interface {
	RunFilterPlugins(ctx context.Context, state *CycleState, pod *corev1.Pod, nodeInfo *NodeInfo) *Status
	RunPreFilterExtensionAddPod(ctx context.Context, state *CycleState, podToSchedule *corev1.Pod, podInfoToAdd *PodInfo, nodeInfo *NodeInfo) *Status
	RunPreFilterExtensionRemovePod(ctx context.Context, state *CycleState, podToSchedule *corev1.Pod, podInfoToRemove *PodInfo, nodeInfo *NodeInfo) *Status
}

// Handle is what plugins get from the framework when they are built.
type Handle interface {
	PluginsRunner
	// SnapshotSharedLister is the current cycle's snapshot.
	SnapshotSharedLister() SharedLister
	// ClientSet writes to the API (binding, preemption's evictions).
	ClientSet() kubernetes.Interface
	// SharedInformerFactory gives listers of other objects (namespaces,
	// PodDisruptionBudgets, PriorityClasses); informers a plugin asks for
	// before the scheduler starts are started and synced with the rest.
	SharedInformerFactory() informers.SharedInformerFactory
	// EventRecorder records events for pods (as the profile's scheduler).
	EventRecorder() events.EventRecorder
	Parallelizer() Parallelizer
}

// PluginFactory builds a plugin. args is the plugin's pluginConfig args
// from the scheduler configuration as JSON (nil: defaults); a factory
// decodes them strictly into its args type (upstream's
// k8s.io/kube-scheduler/config/v1 types where they exist) and returns an
// error naming the bad field.
type PluginFactory func(ctx context.Context, args []byte, h Handle) (Plugin, error)

// Registry maps plugin names to factories.
type Registry map[string]PluginFactory
