package registry

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
)

func newNamespace(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

func validNamespace() *corev1.Namespace {
	ns := newNamespace("team-a")
	namespaceStrategy{}.Default(ns)
	return ns
}

func TestNamespaceDefaults(t *testing.T) {
	bare := func() *corev1.Namespace { return newNamespace("team-a") }
	runDefaultCases(t, namespaceStrategy{}, []defaultCase[*corev1.Namespace]{
		{"a new namespace gets the kubernetes finalizer", bare,
			func(ns *corev1.Namespace) any { return ns.Spec.Finalizers }, []corev1.FinalizerName{corev1.FinalizerKubernetes}},
		{"the kubernetes finalizer is added once",
			func() *corev1.Namespace {
				ns := bare()
				ns.Spec.Finalizers = []corev1.FinalizerName{"kubernetes"}
				return ns
			},
			func(ns *corev1.Namespace) any { return ns.Spec.Finalizers }, []corev1.FinalizerName{corev1.FinalizerKubernetes}},
		{"a namespace whose finalizer was removed does not get it back",
			func() *corev1.Namespace {
				ns := validNamespace()
				ns.Spec.Finalizers = nil
				ns.Status.Phase = corev1.NamespaceTerminating
				ns.DeletionTimestamp = &metav1.Time{}
				return ns
			},
			func(ns *corev1.Namespace) any { return ns.Spec.Finalizers }, []corev1.FinalizerName(nil)},
		{"a new namespace is Active", bare, func(ns *corev1.Namespace) any { return ns.Status.Phase }, corev1.NamespaceActive},
		{"a namespace is labelled with its name", bare,
			func(ns *corev1.Namespace) any { return ns.Labels }, map[string]string{"kubernetes.io/metadata.name": "team-a"}},
	})
}

func TestNamespaceValidation(t *testing.T) {
	runValidateCases(t, namespaceStrategy{}, validNamespace, []validateCase[*corev1.Namespace]{
		{name: "a defaulted namespace is valid"},
		{"a namespace name is a DNS label", func(ns *corev1.Namespace) { ns.Name = "team.a" }, []fieldErr{invalid("metadata.name")}},
		{"a namespace name is lower case", func(ns *corev1.Namespace) { ns.Name = "TeamA" }, []fieldErr{invalid("metadata.name")}},
		{"a namespace is not in a namespace", func(ns *corev1.Namespace) { ns.Namespace = "default" }, []fieldErr{forbidden("metadata.namespace")}},
		{"a domain-qualified spec finalizer is valid", func(ns *corev1.Namespace) {
			ns.Spec.Finalizers = append(ns.Spec.Finalizers, "example.com/archive")
		}, nil},
		{"spec finalizers are standard or domain-qualified", func(ns *corev1.Namespace) {
			ns.Spec.Finalizers = append(ns.Spec.Finalizers, "archive")
		}, []fieldErr{invalid("spec.finalizers[1]")}},
	})
}

func TestNamespaceUpdateValidation(t *testing.T) {
	runUpdateCases(t, namespaceStrategy{}, validNamespace, []updateCase[*corev1.Namespace]{
		{name: "labels may change", update: func(ns *corev1.Namespace) { ns.Labels["team"] = "a" }},
		{name: "the name does not change", update: func(ns *corev1.Namespace) { ns.Name = "team-b" }, want: []fieldErr{invalid("metadata.name")}},
	})
}

func TestNamespaceFieldSet(t *testing.T) {
	want := fields.Set{"metadata.name": "team-a", "status.phase": "Active"}
	if got := (namespaceStrategy{}).FieldSet(validNamespace()); !semanticEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
