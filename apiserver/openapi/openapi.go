// Package openapi builds and serves the OpenAPI v2 and v3 documents of the
// API server, the ones upstream clients read: `kubectl explain` and
// kubectl's field-validation check (/openapi/v3), client-side `kubectl
// apply` (patch merge keys, from v3 or v2), and client-go's
// discovery.OpenAPISchema (/openapi/v2, protobuf or JSON).
//
// The schemas are built by reflection over the k8s.io/api Go types, named
// and shaped as upstream's generated definitions are:
//   - definition names from the Go package path
//     (k8s.io/api/core/v1.Pod is "io.k8s.api.core.v1.Pod");
//   - properties from json tags, embedded and inline structs flattened;
//     fields without omitempty are required;
//   - descriptions from the types' SwaggerDoc methods;
//   - wire formats from the OpenAPISchemaType/Format/V3OneOfTypes methods
//     (Quantity, IntOrString, Time, MicroTime, Duration);
//   - x-kubernetes-group-version-kind from the scheme, patch strategy and
//     merge key from struct tags, and list types, list map keys, map types
//     and field defaults from the structured-merge-diff schema that
//     client-go ships for server-side apply (applyconfigurations).
//
// Paths cover every served resource: list, create and deletecollection on
// the collection, get, replace, patch and delete on the item, the /status
// and /scale subresources, the deprecated watch paths and lists across
// namespaces.
//
// All documents, and the v2 protobuf encoding, are built once by New and
// are immutable afterwards; the v3 protobuf and the gzip encodings are
// computed on first request.
package openapi

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"sort"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/skiffk8s/skiff/apiserver/registry"
)

// Config says what the documents describe.
type Config struct {
	// Resources are the served resources, usually registry.All().
	Resources []*registry.Resource
	// Scheme maps Go types to kinds (x-kubernetes-group-version-kind);
	// usually registry.NewScheme(). It must know v1 Namespace.
	Scheme *runtime.Scheme
	// Version is the server version in the documents' info, e.g.
	// "v1.37.2".
	Version string
}

// Service holds the built documents and serves them over HTTP. It is safe
// for concurrent use.
type Service struct {
	defs map[string]*spec.Schema // v3 flavour, for Definitions

	v2     *document
	v3Root *document
	// v3 holds one document per group version, keyed "api/v1",
	// "apis/apps/v1".
	v3 map[string]*document
}

// New builds every document. It fails on a resource whose Go types it
// cannot describe.
func New(cfg Config) (*Service, error) {
	if cfg.Scheme == nil {
		return nil, errors.New("openapi: Config.Scheme is nil")
	}
	if len(cfg.Resources) == 0 {
		return nil, errors.New("openapi: Config.Resources is empty")
	}
	smd, err := applySchema(cfg.Scheme)
	if err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}

	served := sets.New[schema.GroupVersion]()
	withScale := false
	for _, r := range cfg.Resources {
		served.Insert(schema.GroupVersion{Group: r.Group, Version: r.Version})
		withScale = withScale || r.Scale
	}
	gvks := kindsByType(cfg.Scheme, served)

	// Definitions, once with v2 refs and once with v3 refs.
	v2b := newDefBuilder(false, gvks, smd)
	v3b := newDefBuilder(true, gvks, smd)
	var types []reflect.Type
	for _, r := range cfg.Resources {
		if r.New == nil || r.NewList == nil {
			return nil, fmt.Errorf("openapi: resource %s has no New or NewList", r.GVR())
		}
		types = append(types, reflect.TypeOf(r.New()), reflect.TypeOf(r.NewList()))
	}
	types = append(types, commonTypes(withScale)...)
	for _, b := range []*defBuilder{v2b, v3b} {
		for _, t := range types {
			if _, err := b.add(t); err != nil {
				return nil, fmt.Errorf("openapi: %w", err)
			}
		}
	}

	// Routes, by group version.
	byGV := map[schema.GroupVersion][]route{}
	var all []route
	gvOrder := []schema.GroupVersion{}
	for _, r := range cfg.Resources {
		gv := schema.GroupVersion{Group: r.Group, Version: r.Version}
		if _, ok := byGV[gv]; !ok {
			gvOrder = append(gvOrder, gv)
			byGV[gv] = []route{discoveryRoute(gv)}
		}
		kindDef := v2b.names[reflect.TypeOf(r.New()).Elem()]
		listDef := v2b.names[reflect.TypeOf(r.NewList()).Elem()]
		byGV[gv] = append(byGV[gv], routesFor(r, kindDef, listDef)...)
	}
	for _, gv := range gvOrder {
		all = append(all, byGV[gv]...)
	}
	if err := checkRoutes(all); err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}

	s := &Service{defs: v3b.defs, v3: map[string]*document{}}
	v2doc := buildV2(all, v2b.defs, cfg.Version)
	if s.v2, err = newDocument(v2doc, v2ProtoEncoder); err != nil {
		return nil, fmt.Errorf("openapi: v2 document: %w", err)
	}
	// Encode the v2 protobuf now: client-go always asks for it, and
	// parsing the document with gnostic checks it is valid swagger 2.0.
	if _, err := s.v2.protobuf(); err != nil {
		return nil, fmt.Errorf("openapi: v2 document: %w", err)
	}
	discovery := newV3Discovery()
	sort.Slice(gvOrder, func(i, j int) bool { return v3Key(gvOrder[i]) < v3Key(gvOrder[j]) })
	for _, gv := range gvOrder {
		doc, err := buildV3(byGV[gv], v3b.defs, cfg.Version)
		if err != nil {
			return nil, fmt.Errorf("openapi: v3 document of %s: %w", gv, err)
		}
		d, err := newDocument(doc, v3ProtoEncoder)
		if err != nil {
			return nil, fmt.Errorf("openapi: v3 document of %s: %w", gv, err)
		}
		key := v3Key(gv)
		s.v3[key] = d
		discovery.add(key, d)
	}
	if s.v3Root, err = newDocument(discovery.doc(), nil); err != nil {
		return nil, fmt.Errorf("openapi: v3 discovery: %w", err)
	}
	return s, nil
}

// v3Key is a group version's path below /openapi/v3/.
func v3Key(gv schema.GroupVersion) string {
	return gvPrefix(gv)[1:]
}

// Definitions returns the schema definitions, keyed by definition name
// ("io.k8s.api.core.v1.Pod"), in their OpenAPI v3 form: references are
// "#/components/schemas/<name>". They carry x-kubernetes-group-version-kind
// and the list and map types, so
// k8s.io/apimachinery/pkg/util/managedfields.NewTypeConverter accepts them
// for server-side apply. The map is the caller's; the schemas are shared
// and must not be modified.
func (s *Service) Definitions() map[string]*spec.Schema {
	return maps.Clone(s.defs)
}
