package garbagecollector

import (
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// action is what the collector does with a dependent.
type action int

const (
	// keepDependent: nothing to do.
	keepDependent action = iota
	// dropOwnerRefs: patch out the owner references in decision.drop;
	// the dependent stays (it has a live owner).
	dropOwnerRefs
	// deleteDependent: delete it with decision.policy.
	deleteDependent
)

// decision is what decide says to do with a dependent.
type decision struct {
	action action
	// policy is the propagation of a deleteDependent.
	policy metav1.DeletionPropagation
	// drop are the UIDs of the owner references a dropOwnerRefs removes.
	drop []types.UID
}

// decide is upstream's attemptToDeleteItem decision for dependent, the
// latest state of an object, given owners[i], the latest state of the
// object of dependent.OwnerReferences[i] (nil when none of that name
// exists), and whether the dependent has dependents of its own. An owner
// is gone when it is nil or has another UID, waiting when it is being
// deleted with the foregroundDeletion finalizer, and solid otherwise
// (even while deleted in the background or orphaning). With a solid
// owner the dependent stays and loses its references to gone and waiting
// owners; without one it is deleted once any owner is gone or waiting:
// in the foreground when a waiting owner needs it to take its own
// dependents first, else with the propagation its own finalizers ask for
// (orphan, foreground), else in the background.
func decide(dependent *metav1.PartialObjectMetadata, owners []*metav1.PartialObjectMetadata, hasDependents bool) decision {
	if len(dependent.OwnerReferences) == 0 {
		return decision{action: keepDependent}
	}
	var solid, gone, waiting []types.UID
	for i, ref := range dependent.OwnerReferences {
		o := owners[i]
		switch {
		case o == nil || o.UID != ref.UID:
			gone = append(gone, ref.UID)
		case o.DeletionTimestamp != nil && slices.Contains(o.Finalizers, metav1.FinalizerDeleteDependents):
			waiting = append(waiting, ref.UID)
		default:
			solid = append(solid, ref.UID)
		}
	}
	switch {
	case len(solid) > 0:
		if len(gone) == 0 && len(waiting) == 0 {
			return decision{action: keepDependent}
		}
		return decision{action: dropOwnerRefs, drop: append(gone, waiting...)}
	case len(waiting) > 0 && hasDependents:
		// Its owner waits for it, and it has dependents of its own:
		// delete it in the foreground too.
		return decision{action: deleteDependent, policy: metav1.DeletePropagationForeground}
	}
	policy := metav1.DeletePropagationBackground
	switch {
	case slices.Contains(dependent.Finalizers, metav1.FinalizerOrphanDependents):
		policy = metav1.DeletePropagationOrphan
	case slices.Contains(dependent.Finalizers, metav1.FinalizerDeleteDependents):
		policy = metav1.DeletePropagationForeground
	}
	return decision{action: deleteDependent, policy: policy}
}
