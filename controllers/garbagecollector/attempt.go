package garbagecollector

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata"
)

func (gc *Controller) processDelete(ctx context.Context) bool {
	n, quit := gc.deleteQueue.Get()
	if quit {
		return false
	}
	defer gc.deleteQueue.Done(n)
	if err := gc.attemptToDelete(ctx, n); err != nil {
		gc.log.Debug("garbage collector: will retry", "object", n.id.String(), "err", err)
		gc.deleteQueue.AddRateLimited(n)
		return true
	}
	gc.deleteQueue.Forget(n)
	return true
}

func (gc *Controller) processOrphan(ctx context.Context) bool {
	n, quit := gc.orphanQueue.Get()
	if quit {
		return false
	}
	defer gc.orphanQueue.Done(n)
	if err := gc.orphanDependents(ctx, n); err != nil {
		gc.log.Debug("garbage collector: orphaning will retry", "object", n.id.String(), "err", err)
		gc.orphanQueue.AddRateLimited(n)
		return true
	}
	gc.orphanQueue.Forget(n)
	return true
}

// resource returns the metadata client of ref's resource and namespace.
func (gc *Controller) resource(ref objectRef) (metadata.ResourceInterface, error) {
	ri, ok := gc.mapper.lookup(ref.APIVersion, ref.Kind)
	if !ok {
		return nil, fmt.Errorf("no resource for %s %s", ref.APIVersion, ref.Kind)
	}
	if !ri.namespaced {
		return gc.metadata.Resource(ri.gvr), nil
	}
	return gc.metadata.Resource(ri.gvr).Namespace(ref.Namespace), nil
}

// get returns ref's object, or nil when it does not exist (any more, or
// under that UID).
func (gc *Controller) get(ctx context.Context, ref objectRef) (*metav1.PartialObjectMetadata, error) {
	rc, err := gc.resource(ref)
	if err != nil {
		return nil, err
	}
	obj, err := rc.Get(ctx, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if obj.UID != ref.UID {
		return nil, nil
	}
	return obj, nil
}

// attemptToDelete handles one node, as upstream's attemptToDeleteItem:
// it finishes the foreground deletion of an object whose blocking
// dependents are gone; otherwise it reads the object and its owners and
// carries out decide's decision (delete an object all of whose owners
// are gone or being deleted in the foreground, drop owner references to
// such owners from an object that still has a live owner).
func (gc *Controller) attemptToDelete(ctx context.Context, n *node) error {
	s := gc.graph.snapshot(n)
	if s.beingDeleted && !s.deleting {
		return nil // on its way; its deletion event brings its dependents
	}
	latest, err := gc.get(ctx, s.id)
	if err != nil {
		return err
	}
	if latest == nil {
		gc.graphChanges.Add(&event{typ: virtualDelete, ref: s.id})
		return nil
	}
	if s.deleting {
		return gc.finishForeground(ctx, s, latest)
	}
	owners := make([]*metav1.PartialObjectMetadata, len(latest.OwnerReferences))
	for i, ref := range latest.OwnerReferences {
		owner := objectRef{APIVersion: ref.APIVersion, Kind: ref.Kind, Name: ref.Name, UID: ref.UID,
			Namespace: gc.mapper.ownerNamespace(ref, latest.Namespace)}
		if owners[i], err = gc.get(ctx, owner); err != nil {
			return err
		}
	}
	d := decide(latest, owners, len(s.dependents) > 0)
	switch d.action {
	case dropOwnerRefs:
		gc.log.Info("removing owner references to owners gone or being deleted", "object", s.id.String())
		return gc.patchOwnerRefs(ctx, s.id, latest, func(r metav1.OwnerReference) bool { return !slices.Contains(d.drop, r.UID) })
	case deleteDependent:
		return gc.delete(ctx, s.id, d.policy)
	}
	return nil
}

// finishForeground removes the foregroundDeletion finalizer once no
// dependent blocks its owner's deletion; until then it makes sure the
// blocking dependents are being deleted.
func (gc *Controller) finishForeground(ctx context.Context, s snapshot, latest *metav1.PartialObjectMetadata) error {
	blocking := 0
	for _, d := range s.dependents {
		if !d.blocksOwner {
			continue
		}
		blocking++
		if !d.deletingDependents {
			gc.deleteQueue.Add(d.node)
		}
	}
	if blocking > 0 {
		return nil
	}
	gc.log.Info("dependents deleted: removing the foregroundDeletion finalizer", "object", s.id.String())
	return gc.removeFinalizer(ctx, s.id, latest, metav1.FinalizerDeleteDependents)
}

// orphanDependents removes n's owner reference from its dependents, then
// n's orphan finalizer.
func (gc *Controller) orphanDependents(ctx context.Context, n *node) error {
	s := gc.graph.snapshot(n)
	for _, d := range s.dependents {
		latest, err := gc.get(ctx, d.id)
		if err != nil {
			return err
		}
		if latest == nil {
			continue
		}
		if _, ok := findOwner(latest.OwnerReferences, s.id.UID); !ok {
			continue
		}
		if err := gc.patchOwnerRefs(ctx, d.id, latest, func(r metav1.OwnerReference) bool { return r.UID != s.id.UID }); err != nil {
			return fmt.Errorf("orphan %s: %w", d.id, err)
		}
	}
	latest, err := gc.get(ctx, s.id)
	if err != nil || latest == nil {
		return err
	}
	gc.log.Info("dependents orphaned: removing the orphan finalizer", "object", s.id.String())
	return gc.removeFinalizer(ctx, s.id, latest, metav1.FinalizerOrphanDependents)
}

// delete deletes ref's object (by UID) with the given propagation.
func (gc *Controller) delete(ctx context.Context, ref objectRef, policy metav1.DeletionPropagation) error {
	rc, err := gc.resource(ref)
	if err != nil {
		return err
	}
	gc.log.Info("deleting object", "object", ref.String(), "propagationPolicy", policy)
	uid := ref.UID
	err = rc.Delete(ctx, ref.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}, PropagationPolicy: &policy})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // gone, or replaced by a new object of that name
	}
	return err
}

// metaPatch is a JSON merge patch of metadata, guarded by uid and
// resourceVersion.
type metaPatch struct {
	Metadata struct {
		UID             types.UID                `json:"uid"`
		ResourceVersion string                   `json:"resourceVersion"`
		OwnerReferences *[]metav1.OwnerReference `json:"ownerReferences,omitempty"`
		Finalizers      *[]string                `json:"finalizers,omitempty"`
	} `json:"metadata"`
}

func (gc *Controller) patch(ctx context.Context, ref objectRef, p metaPatch) error {
	rc, err := gc.resource(ref)
	if err != nil {
		return err
	}
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	_, err = rc.Patch(ctx, ref.Name, types.MergePatchType, body, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// patchOwnerRefs keeps the owner references of latest for which keep is
// true.
func (gc *Controller) patchOwnerRefs(ctx context.Context, ref objectRef, latest *metav1.PartialObjectMetadata, keep func(metav1.OwnerReference) bool) error {
	refs := []metav1.OwnerReference{}
	for _, r := range latest.OwnerReferences {
		if keep(r) {
			refs = append(refs, r)
		}
	}
	var p metaPatch
	p.Metadata.UID, p.Metadata.ResourceVersion, p.Metadata.OwnerReferences = latest.UID, latest.ResourceVersion, &refs
	return gc.patch(ctx, ref, p)
}

// removeFinalizer removes finalizer f from latest.
func (gc *Controller) removeFinalizer(ctx context.Context, ref objectRef, latest *metav1.PartialObjectMetadata, f string) error {
	if !slices.Contains(latest.Finalizers, f) {
		return nil
	}
	fs := slices.DeleteFunc(slices.Clone(latest.Finalizers), func(x string) bool { return x == f })
	var p metaPatch
	p.Metadata.UID, p.Metadata.ResourceVersion, p.Metadata.Finalizers = latest.UID, latest.ResourceVersion, &fs
	return gc.patch(ctx, ref, p)
}
