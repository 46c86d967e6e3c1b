package controllerutil

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// PatchFunc applies a strategic merge patch to the named object in namespace.
type PatchFunc func(ctx context.Context, namespace, name string, patch []byte) error

// RefManager is upstream's ControllerRefManager: it decides which objects
// (pods of a ReplicaSet, ReplicaSets of a Deployment) a controller owns.
// Objects controlled by Owner that match Selector are kept; those that no
// longer match are released; orphans that match are adopted. Nothing is
// adopted or released while Owner is being deleted.
type RefManager struct {
	Owner    metav1.Object
	OwnerGVK schema.GroupVersionKind
	Selector labels.Selector
	// Recheck is called once before the first adoption with a fresh
	// (uncached) read of the owner; it fails when the owner is gone or
	// being deleted, so a deleted controller never adopts.
	Recheck func(ctx context.Context) (metav1.Object, error)
	Patch   PatchFunc

	once     sync.Once
	checkErr error
}

// Claim returns the objects of objs owned by m.Owner after adopting and
// releasing as needed. Errors of individual objects are joined; objects
// that vanished meanwhile are skipped.
func Claim[T metav1.Object](ctx context.Context, m *RefManager, objs []T) ([]T, error) {
	var claimed []T
	var errs []error
	for _, o := range objs {
		ok, err := m.claimOne(ctx, o)
		if err != nil {
			errs = append(errs, err)
		}
		if ok {
			claimed = append(claimed, o)
		}
	}
	return claimed, errors.Join(errs...)
}

func (m *RefManager) claimOne(ctx context.Context, o metav1.Object) (bool, error) {
	ownerDeleting := m.Owner.GetDeletionTimestamp() != nil
	matches := m.Selector.Matches(labels.Set(o.GetLabels()))
	if ref := metav1.GetControllerOfNoCopy(o); ref != nil {
		if ref.UID != m.Owner.GetUID() {
			return false, nil // someone else's
		}
		if matches {
			return true, nil
		}
		if ownerDeleting {
			return false, nil
		}
		if err := m.release(ctx, o); err != nil {
			if apierrors.IsNotFound(err) || apierrors.IsInvalid(err) {
				return false, nil
			}
			return false, err
		}
		return false, nil
	}
	if ownerDeleting || !matches || o.GetDeletionTimestamp() != nil {
		return false, nil
	}
	if err := m.adopt(ctx, o); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

func (m *RefManager) canAdopt(ctx context.Context) error {
	m.once.Do(func() {
		if m.Recheck == nil {
			return
		}
		fresh, err := m.Recheck(ctx)
		switch {
		case err != nil:
			m.checkErr = fmt.Errorf("recheck %s %s/%s before adoption: %w", m.OwnerGVK.Kind, m.Owner.GetNamespace(), m.Owner.GetName(), err)
		case fresh.GetUID() != m.Owner.GetUID():
			m.checkErr = fmt.Errorf("original %s %s/%s is gone: got uid %s, wanted %s", m.OwnerGVK.Kind, m.Owner.GetNamespace(), m.Owner.GetName(), fresh.GetUID(), m.Owner.GetUID())
		case fresh.GetDeletionTimestamp() != nil:
			m.checkErr = fmt.Errorf("%s/%s has just been deleted at %v", m.Owner.GetNamespace(), m.Owner.GetName(), fresh.GetDeletionTimestamp())
		}
	})
	return m.checkErr
}

type patchOwnerRef struct {
	APIVersion         string    `json:"apiVersion,omitempty"`
	Kind               string    `json:"kind,omitempty"`
	Name               string    `json:"name,omitempty"`
	UID                types.UID `json:"uid"`
	Controller         *bool     `json:"controller,omitempty"`
	BlockOwnerDeletion *bool     `json:"blockOwnerDeletion,omitempty"`
	Patch              string    `json:"$patch,omitempty"`
}

type refsPatch struct {
	Metadata struct {
		OwnerReferences []patchOwnerRef `json:"ownerReferences"`
		UID             types.UID       `json:"uid"`
	} `json:"metadata"`
}

func (m *RefManager) adopt(ctx context.Context, o metav1.Object) error {
	if err := m.canAdopt(ctx); err != nil {
		return fmt.Errorf("can't adopt %s/%s: %w", o.GetNamespace(), o.GetName(), err)
	}
	t := true
	var p refsPatch
	p.Metadata.UID = o.GetUID()
	p.Metadata.OwnerReferences = []patchOwnerRef{{
		APIVersion: m.OwnerGVK.GroupVersion().String(), Kind: m.OwnerGVK.Kind,
		Name: m.Owner.GetName(), UID: m.Owner.GetUID(), Controller: &t, BlockOwnerDeletion: &t,
	}}
	return m.patch(ctx, o, p)
}

func (m *RefManager) release(ctx context.Context, o metav1.Object) error {
	var p refsPatch
	p.Metadata.UID = o.GetUID()
	p.Metadata.OwnerReferences = []patchOwnerRef{{UID: m.Owner.GetUID(), Patch: "delete"}}
	return m.patch(ctx, o, p)
}

func (m *RefManager) patch(ctx context.Context, o metav1.Object, p refsPatch) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if err := m.Patch(ctx, o.GetNamespace(), o.GetName(), b); err != nil {
		return fmt.Errorf("patch owner references of %s/%s: %w", o.GetNamespace(), o.GetName(), err)
	}
	return nil
}
