package garbagecollector

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	fakemetadata "k8s.io/client-go/metadata/fake"
	clienttesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/skiffk8s/skiff/controllers"
)

var (
	configMapsGVR = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	configMapGVK  = schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}
)

// harness is a garbage collector over a fake metadata client holding
// objects, with a graph built from the objects as the monitors would.
type harness struct {
	t    *testing.T
	gc   *Controller
	meta *fakemetadata.FakeMetadataClient
	// queued records the nodes the graph asked to work on.
	queued recordingQueues
}

// recordingQueues records the nodes the graph enqueues.
type recordingQueues struct{ deletes, orphans []*node }

func (q *recordingQueues) attemptToDelete(n *node) { q.deletes = append(q.deletes, n) }
func (q *recordingQueues) attemptToOrphan(n *node) { q.orphans = append(q.orphans, n) }

func newHarness(t *testing.T, objects ...*metav1.PartialObjectMetadata) *harness {
	t.Helper()
	meta := fakemetadata.NewSimpleMetadataClient(fakemetadata.NewTestScheme())
	for _, o := range objects {
		if err := meta.Tracker().Create(configMapsGVR, o, o.Namespace); err != nil {
			t.Fatal(err)
		}
	}
	c, err := New(context.Background(), controllers.Context{Client: fake.NewClientset(), Metadata: meta,
		Clock: clocktesting.NewFakeClock(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, gc: c.(*Controller), meta: meta}
	t.Cleanup(func() { h.gc.deleteQueue.ShutDown(); h.gc.orphanQueue.ShutDown(); h.gc.graphChanges.ShutDown() })
	h.gc.mapper.update([]*metav1.APIResourceList{{GroupVersion: "v1", APIResources: []metav1.APIResource{
		{Name: "configmaps", Namespaced: true, Kind: "ConfigMap", Verbs: metav1.Verbs{"delete", "get", "list", "patch", "watch"}},
	}}})
	for _, o := range objects {
		h.event(addOrUpdate, h.stored(o.Name))
	}
	h.queued = recordingQueues{}
	return h
}

// event applies a monitor's event about o to the graph.
func (h *harness) event(typ eventType, o *metav1.PartialObjectMetadata) {
	h.gc.graph.processEvent(&event{typ: typ, gvk: configMapGVK, meta: &o.ObjectMeta}, &h.queued, h.gc.mapper.ownerNamespace)
}

// node is the graph's node of uid.
func (h *harness) node(uid types.UID) *node {
	h.t.Helper()
	n, ok := h.gc.graph.nodes[uid]
	if !ok {
		h.t.Fatalf("no node %s in the graph", uid)
	}
	return n
}

// stored is the metadata client's object named name (nil when absent).
func (h *harness) stored(name string) *metav1.PartialObjectMetadata {
	o, err := h.meta.Tracker().Get(configMapsGVR, "default", name)
	if err != nil {
		return nil
	}
	return o.(*metav1.PartialObjectMetadata)
}

// actions returns the metadata client's actions described, and clears them.
func (h *harness) actions() []string {
	var out []string
	for _, a := range h.meta.Actions() {
		s := a.GetVerb() + " " + a.GetResource().Resource + " " + a.GetNamespace() + "/"
		switch a := a.(type) {
		case clienttesting.DeleteAction:
			o := a.GetDeleteOptions()
			s += a.GetName() + fmt.Sprintf(" (%s, uid %s)", *o.PropagationPolicy, *o.Preconditions.UID)
		case clienttesting.PatchAction:
			s += a.GetName() + " " + string(a.GetPatchType()) + " " + string(a.GetPatch())
		case clienttesting.GetAction:
			s += a.GetName()
		}
		out = append(out, s)
	}
	h.meta.ClearActions()
	return out
}

// rv is the resource version of the stored object named name.
func (h *harness) rv(name string) string { return h.stored(name).ResourceVersion }

func TestAttemptToDeleteADependent(t *testing.T) {
	const mergePatch = "application/merge-patch+json"
	for _, tc := range []struct {
		name    string
		objects []*metav1.PartialObjectMetadata
		// want are the metadata client's actions; rv is replaced by the
		// dependent's resourceVersion.
		want []string
		// wantGone: the dependent was deleted.
		wantGone bool
	}{
		{
			name:     "a dependent whose owner is missing is deleted in the background",
			objects:  []*metav1.PartialObjectMetadata{object("d", "uid-d", nil, ownerRef("a", "uid-a", false))},
			want:     []string{"get configmaps default/d", "get configmaps default/a", "delete configmaps default/d (Background, uid uid-d)"},
			wantGone: true,
		},
		{
			name: "a dependent whose owner's name now belongs to an object with another UID is deleted in the background",
			objects: []*metav1.PartialObjectMetadata{
				object("a", "uid-a-2", nil),
				object("d", "uid-d", nil, ownerRef("a", "uid-a", false)),
			},
			want:     []string{"get configmaps default/d", "get configmaps default/a", "delete configmaps default/d (Background, uid uid-d)"},
			wantGone: true,
		},
		{
			name: "a dependent whose owner is present causes no writes",
			objects: []*metav1.PartialObjectMetadata{
				object("a", "uid-a", nil),
				object("d", "uid-d", nil, ownerRef("a", "uid-a", false)),
			},
			want: []string{"get configmaps default/d", "get configmaps default/a"},
		},
		{
			name: "a dependent of an owner deleted in the foreground is deleted in the background",
			objects: []*metav1.PartialObjectMetadata{
				beingDeleted(object("a", "uid-a", []string{metav1.FinalizerDeleteDependents})),
				object("d", "uid-d", nil, ownerRef("a", "uid-a", true)),
			},
			want:     []string{"get configmaps default/d", "get configmaps default/a", "delete configmaps default/d (Background, uid uid-d)"},
			wantGone: true,
		},
		{
			name: "a dependent with the orphan finalizer whose owner is missing is deleted orphaning its own dependents",
			objects: []*metav1.PartialObjectMetadata{
				object("d", "uid-d", []string{metav1.FinalizerOrphanDependents}, ownerRef("a", "uid-a", false)),
			},
			want:     []string{"get configmaps default/d", "get configmaps default/a", "delete configmaps default/d (Orphan, uid uid-d)"},
			wantGone: true,
		},
		{
			name: "a dependent with a present owner and a missing one loses the reference to the missing one",
			objects: []*metav1.PartialObjectMetadata{
				object("a", "uid-a", nil),
				object("d", "uid-d", nil, ownerRef("a", "uid-a", false), ownerRef("b", "uid-b", true)),
			},
			want: []string{"get configmaps default/d", "get configmaps default/a", "get configmaps default/b",
				`patch configmaps default/d ` + mergePatch + ` {"metadata":{"uid":"uid-d","resourceVersion":"rv",` +
					`"ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":"a","uid":"uid-a","blockOwnerDeletion":false}]}}`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.objects...)
			rv := h.rv("d")
			if err := h.gc.attemptToDelete(context.Background(), h.node("uid-d")); err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, w := range tc.want {
				want = append(want, replaceRV(w, rv))
			}
			if got := h.actions(); !slices.Equal(got, want) {
				t.Errorf("actions:\n got %q\nwant %q", got, want)
			}
			if gone := h.stored("d") == nil; gone != tc.wantGone {
				t.Errorf("dependent gone = %v, want %v", gone, tc.wantGone)
			}
		})
	}
}

func TestForegroundDeletionDeletesTheBlockingDependentsThenRemovesTheFinalizer(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t,
		beingDeleted(object("o", "uid-o", []string{metav1.FinalizerDeleteDependents, "example.com/keep"})),
		object("blocking", "uid-blocking", nil, ownerRef("o", "uid-o", true)),
		object("loose", "uid-loose", nil, ownerRef("o", "uid-o", false)),
	)
	owner := h.node("uid-o")

	// The owner waits: its blocking dependent is queued for deletion.
	if err := h.gc.attemptToDelete(ctx, owner); err != nil {
		t.Fatal(err)
	}
	if got, want := h.actions(), []string{"get configmaps default/o"}; !slices.Equal(got, want) {
		t.Errorf("owner with a blocking dependent: actions %q, want %q", got, want)
	}
	if n := h.gc.deleteQueue.Len(); n != 1 {
		t.Fatalf("delete queue holds %d nodes, want the blocking dependent", n)
	}
	queued, _ := h.gc.deleteQueue.Get()
	h.gc.deleteQueue.Done(queued)
	if queued != h.node("uid-blocking") {
		t.Fatalf("queued %s, want the blocking dependent", queued.id)
	}

	// Each dependent is deleted.
	for _, name := range []string{"blocking", "loose"} {
		if err := h.gc.attemptToDelete(ctx, h.node(types.UID("uid-"+name))); err != nil {
			t.Fatal(err)
		}
		want := []string{"get configmaps default/" + name, "get configmaps default/o",
			"delete configmaps default/" + name + " (Background, uid uid-" + name + ")"}
		if got := h.actions(); !slices.Equal(got, want) {
			t.Errorf("dependent %s: actions %q, want %q", name, got, want)
		}
	}

	// The blocking dependent's deletion brings the owner back, which
	// loses the foregroundDeletion finalizer (the loose dependent's
	// deletion is not waited for).
	gone := object("blocking", "uid-blocking", nil, ownerRef("o", "uid-o", true))
	h.event(deleted, gone)
	if len(h.queued.deletes) != 1 || h.queued.deletes[0] != owner {
		t.Fatalf("after the blocking dependent's deletion the graph queued %d nodes, want the owner", len(h.queued.deletes))
	}
	rv := h.rv("o")
	if err := h.gc.attemptToDelete(ctx, owner); err != nil {
		t.Fatal(err)
	}
	want := []string{"get configmaps default/o",
		`patch configmaps default/o application/merge-patch+json {"metadata":{"uid":"uid-o","resourceVersion":"` + rv + `","finalizers":["example.com/keep"]}}`}
	if got := h.actions(); !slices.Equal(got, want) {
		t.Errorf("owner without blocking dependents: actions %q, want %q", got, want)
	}
	if got := h.stored("o").Finalizers; !slices.Equal(got, []string{"example.com/keep"}) {
		t.Errorf("owner's finalizers = %q, want only example.com/keep", got)
	}
}

func TestOrphanDeletionRemovesTheOwnerReferenceFromEachDependentThenTheFinalizer(t *testing.T) {
	ctx := context.Background()
	other := ownerRef("x", "uid-x", false)
	h := newHarness(t,
		object("x", "uid-x", nil),
		object("o", "uid-o", nil),
		object("d1", "uid-d1", nil, ownerRef("o", "uid-o", true)),
		object("d2", "uid-d2", nil, other, ownerRef("o", "uid-o", false)),
	)
	// The owner is deleted with propagationPolicy Orphan.
	deleting := beingDeleted(object("o", "uid-o", []string{metav1.FinalizerOrphanDependents, "example.com/keep"}))
	deleting.ResourceVersion = h.rv("o")
	if err := h.meta.Tracker().Update(configMapsGVR, deleting, "default"); err != nil {
		t.Fatal(err)
	}
	h.event(addOrUpdate, h.stored("o"))
	owner := h.node("uid-o")
	if len(h.queued.orphans) != 1 || h.queued.orphans[0] != owner {
		t.Fatalf("the graph queued %d nodes to orphan, want the owner", len(h.queued.orphans))
	}
	rvs := map[string]string{"d1": h.rv("d1"), "d2": h.rv("d2"), "o": h.rv("o")}

	if err := h.gc.orphanDependents(ctx, owner); err != nil {
		t.Fatal(err)
	}

	got := h.actions()
	dependentActions := map[string][]string{
		"d1": {"get configmaps default/d1",
			`patch configmaps default/d1 application/merge-patch+json {"metadata":{"uid":"uid-d1","resourceVersion":"` + rvs["d1"] + `","ownerReferences":[]}}`},
		"d2": {"get configmaps default/d2",
			`patch configmaps default/d2 application/merge-patch+json {"metadata":{"uid":"uid-d2","resourceVersion":"` + rvs["d2"] + `",` +
				`"ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":"x","uid":"uid-x","blockOwnerDeletion":false}]}}`},
	}
	ownerActions := []string{"get configmaps default/o",
		`patch configmaps default/o application/merge-patch+json {"metadata":{"uid":"uid-o","resourceVersion":"` + rvs["o"] + `","finalizers":["example.com/keep"]}}`}
	// Dependents come in any order, each read then patched; the owner's
	// finalizer goes last.
	want1 := slices.Concat(dependentActions["d1"], dependentActions["d2"], ownerActions)
	want2 := slices.Concat(dependentActions["d2"], dependentActions["d1"], ownerActions)
	if !slices.Equal(got, want1) && !slices.Equal(got, want2) {
		t.Errorf("actions:\n got %q\nwant %q (dependents in either order)", got, want1)
	}
	if refs := h.stored("d1").OwnerReferences; len(refs) != 0 {
		t.Errorf("d1 owner references = %v, want none", refs)
	}
	if refs := h.stored("d2").OwnerReferences; len(refs) != 1 || refs[0].UID != "uid-x" {
		t.Errorf("d2 owner references = %v, want only x", refs)
	}
	if got := h.stored("o").Finalizers; !slices.Equal(got, []string{"example.com/keep"}) {
		t.Errorf("owner's finalizers = %q, want only example.com/keep", got)
	}
}

// replaceRV puts rv in place of the "rv" placeholder of a patch.
func replaceRV(s, rv string) string {
	return strings.ReplaceAll(s, `"resourceVersion":"rv"`, `"resourceVersion":"`+rv+`"`)
}
