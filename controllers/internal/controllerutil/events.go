package controllerutil

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// EnqueueHandler is the event handler that adds the key (see Key) of an
// added, updated (the new object) or deleted object to queue.
func EnqueueHandler(queue workqueue.TypedInterface[string]) cache.ResourceEventHandlerFuncs {
	enqueue := func(obj any) {
		if key := Key(obj); key != "" {
			queue.Add(key)
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, cur any) { enqueue(cur) },
		DeleteFunc: enqueue,
	}
}

// FromEvent is an informer event's object as a T, looking through a
// cache.DeletedFinalStateUnknown; ok is false when it is no T.
func FromEvent[T any](obj any) (T, bool) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	t, ok := obj.(T)
	return t, ok
}

// ResolveControllerRef is the object of kind gvk that the controller
// reference ref names, fetched with get (a namespaced lister's Get), or
// the zero T (nil) when ref is of another kind or the object is gone or
// was replaced (same name, other UID).
func ResolveControllerRef[T metav1.Object](ref *metav1.OwnerReference, gvk schema.GroupVersionKind, get func(name string) (T, error)) T {
	var none T
	if ref.Kind != gvk.Kind || ref.APIVersion != gvk.GroupVersion().String() {
		return none
	}
	o, err := get(ref.Name)
	if err != nil || o.GetUID() != ref.UID {
		return none
	}
	return o
}

// Selecting are those of objs whose label selector (from selector) is
// valid, not empty and matches lbls: the candidates to adopt an orphan
// labelled lbls. None when lbls is empty.
func Selecting[T any](objs []T, selector func(T) *metav1.LabelSelector, lbls map[string]string) []T {
	if len(lbls) == 0 {
		return nil
	}
	var out []T
	for _, o := range objs {
		sel, err := metav1.LabelSelectorAsSelector(selector(o))
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(lbls)) {
			continue
		}
		out = append(out, o)
	}
	return out
}

// ControllerKey is the namespace/name key of o's controller when its
// controller reference is of kind kind (any API version), else "".
func ControllerKey(o metav1.Object, kind string) string {
	if ref := metav1.GetControllerOf(o); ref != nil && ref.Kind == kind {
		return o.GetNamespace() + "/" + ref.Name
	}
	return ""
}
