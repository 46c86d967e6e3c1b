// Package registry describes every resource the API server serves: its
// names, Go types, subresources, and the rules (defaulting, validation,
// selectable fields) that the generic REST handler applies to it.
//
// The handler in package apiserver does the generic work for all resources
// (metadata, resourceVersion, status/spec split, generation, storage). A
// Resource only says what is particular to its kind.
package registry

import (
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Resource is one served API resource in one group version.
type Resource struct {
	Group   string // "" for the core group
	Version string // "v1"
	// Resource is the lower-case plural used in URLs: "pods".
	Resource     string
	Kind         string // "Pod"
	SingularName string // "pod"
	ShortNames   []string
	Categories   []string // e.g. "all"
	Namespaced   bool

	// New returns an empty object of Kind; NewList an empty list of it.
	New     func() runtime.Object
	NewList func() runtime.Object

	// Status is true when the resource has a /status subresource: writes to
	// the main resource then keep the stored status, and writes to /status
	// change only status.
	Status bool
	// Scale is true when the resource has a /scale subresource mapping to
	// spec.replicas, status.replicas and spec.selector.
	Scale bool

	// Generation is true for kinds whose metadata.generation counts spec
	// changes (1 on create, +1 per spec change), as upstream's workload and
	// pod strategies do; other kinds leave it 0.
	Generation bool
	// CreateOnUpdate is true for kinds where an update (PUT) of a missing
	// object creates it, as upstream allows for services, endpoints,
	// events, leases, service accounts and RBAC objects.
	CreateOnUpdate bool

	// Strategy holds the kind-specific rules. Never nil for a registered
	// resource.
	Strategy Strategy
}

// GVR returns the resource's group, version and resource.
func (r *Resource) GVR() schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: r.Group, Version: r.Version, Resource: r.Resource}
}

// GVK returns the resource's group, version and kind.
func (r *Resource) GVK() schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: r.Group, Version: r.Version, Kind: r.Kind}
}

// GroupResource returns the group and resource, the name used in errors.
func (r *Resource) GroupResource() schema.GroupResource {
	return schema.GroupResource{Group: r.Group, Resource: r.Resource}
}

// Strategy is what is particular to a kind. The handler calls the methods in
// this order on create: Default, Validate; on update: Default,
// ValidateUpdate. Objects passed in are the handler's own copies; Default may
// mutate obj, the Validate methods must not mutate anything.
type Strategy interface {
	// Default fills in unset fields the way upstream Kubernetes defaults
	// them (e.g. a pod's restartPolicy Always).
	Default(obj runtime.Object)
	// Validate checks a new object, including its metadata (name syntax,
	// labels, annotations). Field paths are rooted at the object
	// ("metadata.name", "spec.containers[0].image").
	Validate(obj runtime.Object) field.ErrorList
	// ValidateUpdate checks an update of old to obj: Validate(obj) plus
	// immutability rules. old has been read from storage.
	ValidateUpdate(obj, old runtime.Object) field.ErrorList
	// FieldSet returns the fields a fieldSelector may match for obj. It
	// always contains metadata.name, and metadata.namespace for namespaced
	// resources.
	FieldSet(obj runtime.Object) fields.Set
}
