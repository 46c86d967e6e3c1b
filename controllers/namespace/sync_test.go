package namespace

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	fakemetadata "k8s.io/client-go/metadata/fake"
	clienttesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/skiffk8s/skiff/controllers"
)

// epoch is the fake clock's time in the unit tests.
var epoch = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

var (
	podsGVR        = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	configMapsGVR  = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	deploymentsGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	widgetsGVR     = schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}
)

// discoveryStub answers ServerPreferredNamespacedResources with lists
// and err (the fake clientset's discovery answers nothing).
type discoveryStub struct {
	*fakediscovery.FakeDiscovery
	lists []*metav1.APIResourceList
	err   error
}

func (d discoveryStub) ServerPreferredNamespacedResources() ([]*metav1.APIResourceList, error) {
	return d.lists, d.err
}

func (d discoveryStub) ServerPreferredNamespacedResourcesWithContext(context.Context) ([]*metav1.APIResourceList, error) {
	return d.lists, d.err
}

// clientWithDiscovery is the fake clientset with a stubbed discovery.
type clientWithDiscovery struct {
	*fake.Clientset
	discovery discovery.DiscoveryInterfaces
}

func (c clientWithDiscovery) Discovery() discovery.DiscoveryInterfaces { return c.discovery }

// verbs every deletable resource in discovery supports.
var allVerbs = metav1.Verbs{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}

// standardDiscovery: pods (with subresources), configmaps, bindings (no
// list or delete: skipped), apps deployments and example.com widgets.
func standardDiscovery() []*metav1.APIResourceList {
	return []*metav1.APIResourceList{
		{GroupVersion: "v1", APIResources: []metav1.APIResource{
			{Name: "pods", Namespaced: true, Kind: "Pod", Verbs: allVerbs},
			{Name: "pods/status", Namespaced: true, Kind: "Pod", Verbs: metav1.Verbs{"get", "patch", "update"}},
			{Name: "configmaps", Namespaced: true, Kind: "ConfigMap", Verbs: allVerbs},
			{Name: "bindings", Namespaced: true, Kind: "Binding", Verbs: metav1.Verbs{"create"}},
		}},
		{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{
			{Name: "deployments", Namespaced: true, Kind: "Deployment", Verbs: allVerbs},
		}},
		{GroupVersion: "example.com/v1", APIResources: []metav1.APIResource{
			{Name: "widgets", Namespaced: true, Kind: "Widget", Verbs: metav1.Verbs{"delete", "get", "list", "watch"}},
		}},
	}
}

// content is one object in the namespace, as the metadata client sees it.
type content struct {
	gvr        schema.GroupVersionResource
	name       string
	finalizers []string
}

// terminating is a namespace being deleted, with finalizers.
func terminating(name string, finalizers ...corev1.FinalizerName) *corev1.Namespace {
	ns := active(name)
	ts := metav1.NewTime(epoch.Add(-time.Minute))
	ns.DeletionTimestamp = &ts
	ns.Spec.Finalizers = finalizers
	ns.Status.Phase = corev1.NamespaceTerminating
	return ns
}

// active is a namespace in use.
func active(name string) *corev1.Namespace {
	return &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{corev1.FinalizerKubernetes}},
		Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
	}
}

func podWithGrace(ns, name string, grace int64) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PodSpec{TerminationGracePeriodSeconds: &grace}}
}

// cond is a condition without its time.
type cond struct {
	typ     corev1.NamespaceConditionType
	status  corev1.ConditionStatus
	reason  string
	message string
}

// allClear are the conditions of a namespace whose deletion nothing blocks.
var allClear = []cond{
	{corev1.NamespaceDeletionDiscoveryFailure, corev1.ConditionFalse, "ResourcesDiscovered", "All resources successfully discovered"},
	{corev1.NamespaceDeletionGVParsingFailure, corev1.ConditionFalse, "ParsedGroupVersions", "All legacy kube types successfully parsed"},
	{corev1.NamespaceDeletionContentFailure, corev1.ConditionFalse, "ContentDeleted", "All content successfully deleted, may be waiting on finalization"},
	{corev1.NamespaceContentRemaining, corev1.ConditionFalse, "ContentRemoved", "All content successfully removed"},
	{corev1.NamespaceFinalizersRemaining, corev1.ConditionFalse, "ContentHasNoFinalizers", "All content-preserving finalizers finished"},
}

// with returns conds with the condition of c's type replaced by c.
func with(conds []cond, cs ...cond) []cond {
	out := slices.Clone(conds)
	for _, c := range cs {
		for i := range out {
			if out[i].typ == c.typ {
				out[i] = c
			}
		}
	}
	return out
}

func TestSync(t *testing.T) {
	discoveryFailed := &discovery.ErrGroupDiscoveryFailed{Groups: map[schema.GroupVersion]error{
		{Group: "metrics.k8s.io", Version: "v1beta1"}: errors.New("the server is currently unable to handle the request"),
	}}
	for _, tc := range []struct {
		name      string
		ns        *corev1.Namespace
		pods      []runtime.Object // the typed client's pods (grace periods)
		content   []content
		discovery []*metav1.APIResourceList
		discErr   error
		// widgetsDeleteCollection answers deletecollection of widgets.
		widgetsDeleteCollection error
		// wantTyped and wantMetadata are the clients' actions in order.
		wantTyped, wantMetadata []string
		// wantConditions: the conditions last written (nil: none written).
		wantConditions []cond
		wantFinalizers []corev1.FinalizerName
		wantErr        string
	}{
		{
			name:      "an active namespace causes no actions",
			ns:        active("shop"),
			content:   []content{{configMapsGVR, "cfg", nil}},
			discovery: standardDiscovery(),
		},
		{
			name:      "a terminating namespace without the kubernetes finalizer is only looked up",
			ns:        terminating("shop", "example.com/other"),
			discovery: standardDiscovery(),
			wantTyped: []string{"get namespaces shop"},
		},
		{
			name: "a terminating namespace with content has each resource deleted and the remaining content reported",
			ns:   terminating("shop", corev1.FinalizerKubernetes),
			pods: []runtime.Object{podWithGrace("shop", "web", 30)},
			content: []content{
				{podsGVR, "web", nil},
				{configMapsGVR, "held", []string{"example.com/hold"}},
				{widgetsGVR, "w1", nil},
				{widgetsGVR, "w2", nil},
			},
			discovery:               standardDiscovery(),
			widgetsDeleteCollection: apierrors.NewMethodNotSupported(widgetsGVR.GroupResource(), "deletecollection"),
			wantTyped: []string{
				"get namespaces shop",
				"list pods in shop",
				"update namespaces/status shop",
			},
			wantMetadata: []string{
				"delete-collection pods in shop", "list pods in shop",
				"delete-collection configmaps in shop", "list configmaps in shop",
				"delete-collection deployments.apps in shop", "list deployments.apps in shop",
				"delete-collection widgets.example.com in shop", "list widgets.example.com in shop",
				"delete widgets.example.com in shop w1 (Background)", "delete widgets.example.com in shop w2 (Background)",
				"list widgets.example.com in shop",
			},
			wantConditions: with(allClear,
				cond{corev1.NamespaceContentRemaining, corev1.ConditionTrue, "SomeResourcesRemain",
					"Some resources are remaining: configmaps. has 1 resource instances, pods. has 1 resource instances"},
				cond{corev1.NamespaceFinalizersRemaining, corev1.ConditionTrue, "SomeFinalizersRemain",
					"Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"}),
			wantFinalizers: []corev1.FinalizerName{corev1.FinalizerKubernetes},
			wantErr:        "some content remains in the namespace, estimate 30 seconds before it is removed",
		},
		{
			name: "a namespace not yet marked Terminating gets the Terminating phase first",
			ns: func() *corev1.Namespace {
				ns := terminating("shop", corev1.FinalizerKubernetes)
				ns.Status.Phase = corev1.NamespaceActive
				return ns
			}(),
			discovery: standardDiscovery()[:1],
			wantTyped: []string{
				"get namespaces shop",
				"update namespaces/status shop",
				"list pods in shop",
				"update namespaces/status shop",
				"get namespaces shop",
				"create namespaces/finalize shop",
			},
			wantMetadata: []string{
				"delete-collection pods in shop", "list pods in shop",
				"delete-collection configmaps in shop", "list configmaps in shop",
			},
			wantConditions: allClear,
			wantFinalizers: []corev1.FinalizerName{},
		},
		{
			name:      "an empty terminating namespace has its kubernetes finalizer removed through the finalize subresource",
			ns:        terminating("shop", corev1.FinalizerKubernetes, "example.com/other"),
			discovery: standardDiscovery(),
			wantTyped: []string{
				"get namespaces shop",
				"list pods in shop",
				"update namespaces/status shop",
				"get namespaces shop",
				"create namespaces/finalize shop",
			},
			wantMetadata: []string{
				"delete-collection pods in shop", "list pods in shop",
				"delete-collection configmaps in shop", "list configmaps in shop",
				"delete-collection deployments.apps in shop", "list deployments.apps in shop",
				"delete-collection widgets.example.com in shop", "list widgets.example.com in shop",
			},
			wantConditions: allClear,
			wantFinalizers: []corev1.FinalizerName{"example.com/other"},
		},
		{
			name: "content held by other finalizers sets NamespaceFinalizersRemaining and keeps the namespace",
			ns:   terminating("shop", corev1.FinalizerKubernetes),
			content: []content{
				{configMapsGVR, "a", []string{"example.com/hold"}},
				{configMapsGVR, "b", []string{"example.com/hold", "example.com/audit"}},
			},
			discovery: standardDiscovery()[:1],
			wantTyped: []string{
				"get namespaces shop",
				"list pods in shop",
				"update namespaces/status shop",
			},
			wantMetadata: []string{
				"delete-collection pods in shop", "list pods in shop",
				"delete-collection configmaps in shop", "list configmaps in shop",
			},
			wantConditions: with(allClear,
				cond{corev1.NamespaceContentRemaining, corev1.ConditionTrue, "SomeResourcesRemain",
					"Some resources are remaining: configmaps. has 2 resource instances"},
				cond{corev1.NamespaceFinalizersRemaining, corev1.ConditionTrue, "SomeFinalizersRemain",
					"Some content in the namespace has finalizers remaining: example.com/audit in 1 resource instances, example.com/hold in 2 resource instances"}),
			wantFinalizers: []corev1.FinalizerName{corev1.FinalizerKubernetes},
			wantErr:        "some content remains in the namespace, estimate 5 seconds before it is removed",
		},
		{
			name:      "a discovery failure sets NamespaceDeletionDiscoveryFailure and deletes nothing",
			ns:        terminating("shop", corev1.FinalizerKubernetes),
			content:   []content{{configMapsGVR, "cfg", nil}},
			discErr:   discoveryFailed,
			wantTyped: []string{"get namespaces shop", "update namespaces/status shop"},
			wantConditions: []cond{
				{corev1.NamespaceDeletionDiscoveryFailure, corev1.ConditionTrue, "DiscoveryFailed",
					"Discovery failed for some groups, 1 failing: metrics.k8s.io/v1beta1: the server is currently unable to handle the request"},
				allClear[1], allClear[2], allClear[3], allClear[4],
			},
			wantFinalizers: []corev1.FinalizerName{corev1.FinalizerKubernetes},
			wantErr:        "Discovery failed for some groups, 1 failing: metrics.k8s.io/v1beta1: the server is currently unable to handle the request",
		},
		{
			name:      "a partial discovery failure deletes what was discovered but keeps the finalizer",
			ns:        terminating("shop", corev1.FinalizerKubernetes),
			discovery: standardDiscovery()[1:2],
			discErr:   discoveryFailed,
			wantTyped: []string{"get namespaces shop", "update namespaces/status shop"},
			wantMetadata: []string{
				"delete-collection deployments.apps in shop", "list deployments.apps in shop",
			},
			wantConditions: with(allClear, cond{corev1.NamespaceDeletionDiscoveryFailure, corev1.ConditionTrue, "DiscoveryFailed",
				"Discovery failed for some groups, 1 failing: metrics.k8s.io/v1beta1: the server is currently unable to handle the request"}),
			wantFinalizers: []corev1.FinalizerName{corev1.FinalizerKubernetes},
			wantErr:        "namespace shop: Discovery failed for some groups, 1 failing: metrics.k8s.io/v1beta1: the server is currently unable to handle the request",
		},
		{
			name:                    "content that fails to delete sets NamespaceDeletionContentFailure",
			ns:                      terminating("shop", corev1.FinalizerKubernetes),
			discovery:               []*metav1.APIResourceList{standardDiscovery()[2]},
			widgetsDeleteCollection: apierrors.NewForbidden(widgetsGVR.GroupResource(), "", errors.New("denied")),
			wantTyped:               []string{"get namespaces shop", "update namespaces/status shop"},
			wantMetadata:            []string{"delete-collection widgets.example.com in shop"},
			wantConditions: with(allClear, cond{corev1.NamespaceDeletionContentFailure, corev1.ConditionTrue, "ContentDeletionFailed",
				`Failed to delete all resource types, 1 remaining: widgets: widgets.example.com is forbidden: denied`}),
			wantFinalizers: []corev1.FinalizerName{corev1.FinalizerKubernetes},
			wantErr:        `namespace shop: Failed to delete all resource types, 1 remaining: widgets: widgets.example.com is forbidden: denied`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			cs := fake.NewClientset(append([]runtime.Object{tc.ns}, tc.pods...)...)
			meta := fakemetadata.NewSimpleMetadataClient(fakemetadata.NewTestScheme())
			for _, c := range tc.content {
				obj := &metav1.PartialObjectMetadata{
					TypeMeta:   metav1.TypeMeta{APIVersion: c.gvr.GroupVersion().String(), Kind: "Object"},
					ObjectMeta: metav1.ObjectMeta{Namespace: tc.ns.Name, Name: c.name, Finalizers: c.finalizers}}
				if err := meta.Tracker().Create(c.gvr, obj, tc.ns.Name); err != nil {
					t.Fatal(err)
				}
			}
			// The API server accepts a deletecollection; what has a
			// finalizer or a grace period stays (the tracker keeps all).
			meta.PrependReactor("delete-collection", "*", func(a clienttesting.Action) (bool, runtime.Object, error) {
				if a.GetResource() == widgetsGVR {
					return true, nil, tc.widgetsDeleteCollection
				}
				return true, nil, nil
			})
			client := clientWithDiscovery{Clientset: cs, discovery: discoveryStub{
				FakeDiscovery: cs.Discovery().(*fakediscovery.FakeDiscovery), lists: tc.discovery, err: tc.discErr}}
			factory := informers.NewSharedInformerFactory(cs, 0)
			c, err := New(ctx, controllers.Context{Client: client, Metadata: meta, Informers: factory,
				Clock: clocktesting.NewFakeClock(epoch), Logger: testLogger()})
			if err != nil {
				t.Fatal(err)
			}
			if err := factory.Core().V1().Namespaces().Informer().GetIndexer().Add(tc.ns); err != nil {
				t.Fatal(err)
			}
			cs.ClearActions()

			err = c.(*Controller).sync(ctx, tc.ns.Name)

			if got := errString(err); got != tc.wantErr {
				t.Errorf("sync error = %q, want %q", got, tc.wantErr)
			}
			if got := describeAll(cs.Actions()); !slices.Equal(got, tc.wantTyped) {
				t.Errorf("clientset actions:\n got %q\nwant %q", got, tc.wantTyped)
			}
			if got := describeAll(meta.Actions()); !slices.Equal(got, tc.wantMetadata) {
				t.Errorf("metadata actions:\n got %q\nwant %q", got, tc.wantMetadata)
			}
			if got := writtenConditions(t, cs.Actions()); !slices.Equal(got, tc.wantConditions) {
				t.Errorf("conditions written:\n got %v\nwant %v", got, tc.wantConditions)
			}
			if tc.wantFinalizers != nil {
				ns, err := cs.CoreV1().Namespaces().Get(ctx, tc.ns.Name, metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if got := ns.Spec.Finalizers; !slices.Equal(got, tc.wantFinalizers) && !(len(got) == 0 && len(tc.wantFinalizers) == 0) {
					t.Errorf("spec.finalizers = %q, want %q", got, tc.wantFinalizers)
				}
				if ns.Status.Phase != corev1.NamespaceTerminating {
					t.Errorf("status.phase = %q, want Terminating", ns.Status.Phase)
				}
			}
		})
	}
}

func TestSyncKeepsTheTransitionTimeOfConditionsThatDidNotChange(t *testing.T) {
	ctx := context.Background()
	before := metav1.NewTime(epoch.Add(-time.Hour))
	ns := terminating("shop", corev1.FinalizerKubernetes)
	for _, c := range allClear {
		ns.Status.Conditions = append(ns.Status.Conditions, corev1.NamespaceCondition{
			Type: c.typ, Status: c.status, Reason: c.reason, Message: c.message, LastTransitionTime: before})
	}
	ns.Status.Conditions[3] = corev1.NamespaceCondition{Type: corev1.NamespaceContentRemaining, Status: corev1.ConditionTrue,
		Reason: "SomeResourcesRemain", Message: "Some resources are remaining: pods. has 1 resource instances", LastTransitionTime: before}
	cs := fake.NewClientset(ns)
	meta := fakemetadata.NewSimpleMetadataClient(fakemetadata.NewTestScheme())
	obj := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "held", Finalizers: []string{"example.com/hold"}}}
	if err := meta.Tracker().Create(configMapsGVR, obj, "shop"); err != nil {
		t.Fatal(err)
	}
	meta.PrependReactor("delete-collection", "*", func(clienttesting.Action) (bool, runtime.Object, error) { return true, nil, nil })
	client := clientWithDiscovery{Clientset: cs, discovery: discoveryStub{
		FakeDiscovery: cs.Discovery().(*fakediscovery.FakeDiscovery), lists: standardDiscovery()[:1]}}
	factory := informers.NewSharedInformerFactory(cs, 0)
	c, err := New(ctx, controllers.Context{Client: client, Metadata: meta, Informers: factory, Clock: clocktesting.NewFakeClock(epoch)})
	if err != nil {
		t.Fatal(err)
	}
	if err := factory.Core().V1().Namespaces().Informer().GetIndexer().Add(ns); err != nil {
		t.Fatal(err)
	}
	if err := c.(*Controller).sync(ctx, "shop"); err == nil {
		t.Fatal("sync returned nil with content remaining")
	}
	got, err := cs.CoreV1().Namespaces().Get(ctx, "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range got.Status.Conditions {
		want := before // the same status, even with a new message
		if c.Type == corev1.NamespaceFinalizersRemaining {
			want = metav1.NewTime(epoch) // False → True
		}
		if !c.LastTransitionTime.Equal(&want) {
			t.Errorf("%s lastTransitionTime = %v, want %v", c.Type, c.LastTransitionTime, want)
		}
	}
	if c := condition(got, corev1.NamespaceContentRemaining); c.Message != "Some resources are remaining: configmaps. has 1 resource instances" {
		t.Errorf("NamespaceContentRemaining message = %q", c.Message)
	}
}

// describeAll describes actions as "verb resource[.group][/subresource]
// [in namespace] [name] [(propagationPolicy)]".
func describeAll(actions []clienttesting.Action) []string {
	var out []string
	for _, a := range actions {
		s := a.GetVerb() + " " + a.GetResource().GroupResource().String()
		if sub := a.GetSubresource(); sub != "" {
			s += "/" + sub
		}
		if ns := a.GetNamespace(); ns != "" {
			s += " in " + ns
		}
		switch a := a.(type) {
		case clienttesting.DeleteAction: // before GetAction, which it also is
			s += " " + a.GetName()
			if p := a.GetDeleteOptions().PropagationPolicy; p != nil {
				s += " (" + string(*p) + ")"
			}
		case clienttesting.GetAction:
			s += " " + a.GetName()
		case clienttesting.CreateAction:
			if ns, ok := a.GetObject().(*corev1.Namespace); ok {
				s += " " + ns.Name
			}
		case clienttesting.UpdateAction:
			if ns, ok := a.GetObject().(*corev1.Namespace); ok {
				s += " " + ns.Name
			}
		}
		out = append(out, s)
	}
	return out
}

// writtenConditions returns the conditions of the last namespace status
// update that wrote conditions, checking their transition times are the
// fake clock's.
func writtenConditions(t *testing.T, actions []clienttesting.Action) []cond {
	t.Helper()
	var out []cond
	for _, a := range actions {
		u, ok := a.(clienttesting.UpdateAction)
		if !ok || a.GetSubresource() != "status" {
			continue
		}
		ns := u.GetObject().(*corev1.Namespace)
		if len(ns.Status.Conditions) == 0 {
			continue
		}
		out = nil
		for _, c := range ns.Status.Conditions {
			if !c.LastTransitionTime.Time.Equal(epoch) {
				t.Errorf("%s lastTransitionTime = %v, want the clock's %v", c.Type, c.LastTransitionTime, epoch)
			}
			out = append(out, cond{c.Type, c.Status, c.Reason, c.Message})
		}
	}
	return out
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
