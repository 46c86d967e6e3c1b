package garbagecollector

import (
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// ownerRef is a ConfigMap owner reference (blocking when block).
func ownerRef(name string, uid types.UID, block bool) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: name, UID: uid, BlockOwnerDeletion: &block}
}

// object is an object's metadata in namespace "default".
func object(name string, uid types.UID, finalizers []string, owners ...metav1.OwnerReference) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: uid,
			Finalizers: finalizers, OwnerReferences: owners}}
}

// beingDeleted returns o with a deletion timestamp.
func beingDeleted(o *metav1.PartialObjectMetadata) *metav1.PartialObjectMetadata {
	o = o.DeepCopy()
	ts := metav1.NewTime(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	o.DeletionTimestamp = &ts
	return o
}

func TestDecide(t *testing.T) {
	var (
		orphan     = []string{metav1.FinalizerOrphanDependents}
		foreground = []string{metav1.FinalizerDeleteDependents}
		refA       = ownerRef("a", "uid-a", false)
		refB       = ownerRef("b", "uid-b", true)
		ownerA     = object("a", "uid-a", nil)
		ownerB     = object("b", "uid-b", nil)
	)
	for _, tc := range []struct {
		name          string
		dependent     *metav1.PartialObjectMetadata
		owners        []*metav1.PartialObjectMetadata // by owner reference; nil: not found
		hasDependents bool
		want          decision
	}{
		{
			name:      "an object without owner references is kept",
			dependent: object("d", "uid-d", nil),
			want:      decision{action: keepDependent},
		},
		{
			name:      "a dependent whose owner is present is kept",
			dependent: object("d", "uid-d", nil, refA),
			owners:    []*metav1.PartialObjectMetadata{ownerA},
			want:      decision{action: keepDependent},
		},
		{
			name:      "a dependent whose owner is being deleted without foregroundDeletion is kept",
			dependent: object("d", "uid-d", nil, refA),
			owners:    []*metav1.PartialObjectMetadata{beingDeleted(ownerA)},
			want:      decision{action: keepDependent},
		},
		{
			name:      "a dependent whose owner is orphaning is kept",
			dependent: object("d", "uid-d", nil, refA),
			owners:    []*metav1.PartialObjectMetadata{beingDeleted(object("a", "uid-a", orphan))},
			want:      decision{action: keepDependent},
		},
		{
			name:      "a dependent whose owner is missing is deleted in the background",
			dependent: object("d", "uid-d", nil, refA),
			owners:    []*metav1.PartialObjectMetadata{nil},
			want:      decision{action: deleteDependent, policy: metav1.DeletePropagationBackground},
		},
		{
			name:      "a dependent whose owner's name now belongs to an object with a different UID is deleted in the background",
			dependent: object("d", "uid-d", nil, refA),
			owners:    []*metav1.PartialObjectMetadata{object("a", "uid-a-2", nil)},
			want:      decision{action: deleteDependent, policy: metav1.DeletePropagationBackground},
		},
		{
			name:      "a dependent with the orphan finalizer whose owner is missing is deleted orphaning its own dependents",
			dependent: object("d", "uid-d", orphan, refA),
			owners:    []*metav1.PartialObjectMetadata{nil},
			want:      decision{action: deleteDependent, policy: metav1.DeletePropagationOrphan},
		},
		{
			name:      "a dependent with the foregroundDeletion finalizer whose owner is missing is deleted in the foreground",
			dependent: object("d", "uid-d", foreground, refA),
			owners:    []*metav1.PartialObjectMetadata{nil},
			want:      decision{action: deleteDependent, policy: metav1.DeletePropagationForeground},
		},
		{
			name:      "a dependent of an owner deleted in the foreground is deleted in the background",
			dependent: object("d", "uid-d", nil, refB),
			owners:    []*metav1.PartialObjectMetadata{beingDeleted(object("b", "uid-b", foreground))},
			want:      decision{action: deleteDependent, policy: metav1.DeletePropagationBackground},
		},
		{
			name:          "a dependent with dependents of its own, of an owner deleted in the foreground, is deleted in the foreground",
			dependent:     object("d", "uid-d", nil, refB),
			owners:        []*metav1.PartialObjectMetadata{beingDeleted(object("b", "uid-b", foreground))},
			hasDependents: true,
			want:          decision{action: deleteDependent, policy: metav1.DeletePropagationForeground},
		},
		{
			name:          "a dependent with dependents of its own whose owner is missing is deleted in the background",
			dependent:     object("d", "uid-d", nil, refA),
			owners:        []*metav1.PartialObjectMetadata{nil},
			hasDependents: true,
			want:          decision{action: deleteDependent, policy: metav1.DeletePropagationBackground},
		},
		{
			name:      "a dependent with a present owner and a missing one loses the reference to the missing one",
			dependent: object("d", "uid-d", nil, refA, refB),
			owners:    []*metav1.PartialObjectMetadata{ownerA, nil},
			want:      decision{action: dropOwnerRefs, drop: []types.UID{"uid-b"}},
		},
		{
			name:      "a dependent with a present owner and one deleted in the foreground loses the reference to the latter",
			dependent: object("d", "uid-d", nil, refA, refB),
			owners:    []*metav1.PartialObjectMetadata{ownerA, beingDeleted(object("b", "uid-b", foreground))},
			want:      decision{action: dropOwnerRefs, drop: []types.UID{"uid-b"}},
		},
		{
			name:      "a dependent whose owners are one missing and one deleted in the foreground is deleted",
			dependent: object("d", "uid-d", nil, refA, refB),
			owners:    []*metav1.PartialObjectMetadata{nil, beingDeleted(object("b", "uid-b", foreground))},
			want:      decision{action: deleteDependent, policy: metav1.DeletePropagationBackground},
		},
		{
			name:      "a dependent with two present owners is kept",
			dependent: object("d", "uid-d", nil, refA, refB),
			owners:    []*metav1.PartialObjectMetadata{ownerA, ownerB},
			want:      decision{action: keepDependent},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.dependent.DeepCopy()
			got := decide(tc.dependent, tc.owners, tc.hasDependents)
			if got.action != tc.want.action || got.policy != tc.want.policy || !slices.Equal(got.drop, tc.want.drop) {
				t.Errorf("decide = %+v, want %+v", got, tc.want)
			}
			if tc.dependent.String() != before.String() {
				t.Errorf("decide changed the dependent: %v", tc.dependent)
			}
		})
	}
}
