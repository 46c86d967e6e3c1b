package framework

// EventResource is the kind of object a cluster event is about.
type EventResource string

// The resources the scheduler watches.
const (
	PodResource                 EventResource = "Pod"
	NodeResource                EventResource = "Node"
	NamespaceResource           EventResource = "Namespace"
	PodDisruptionBudgetResource EventResource = "PodDisruptionBudget"
	// WildCard matches every resource (with ActionType All).
	WildCard EventResource = "*"
)

// ActionType is what happened to the object, as a bit set.
type ActionType int64

// Actions. The Update* bits say which part of a Node changed.
const (
	Add ActionType = 1 << iota
	Delete
	UpdateNodeAllocatable
	UpdateNodeLabel
	UpdateNodeTaint
	UpdateNodeCondition
	UpdateNodeAnnotation
	// UpdatePodLabel and UpdatePodScaleDown (requests lowered) are pod
	// updates that can make other pods fit.
	UpdatePodLabel
	UpdatePodScaleDown
	// UpdateOther is any other update.
	UpdateOther

	Update = UpdateNodeAllocatable | UpdateNodeLabel | UpdateNodeTaint | UpdateNodeCondition |
		UpdateNodeAnnotation | UpdatePodLabel | UpdatePodScaleDown | UpdateOther
	All = Add | Delete | Update
)

// ClusterEvent is a kind of change in the cluster, e.g. {Node, Add}.
type ClusterEvent struct {
	Resource   EventResource
	ActionType ActionType
	// Label names the event in logs and metrics.
	Label string
}

// Match reports whether the event e (one that happened) is of the kind
// registered as r.
func (r ClusterEvent) Match(e ClusterEvent) bool {
	return (r.Resource == WildCard || r.Resource == e.Resource) && r.ActionType&e.ActionType != 0
}
