package openapi

import (
	"fmt"
	"reflect"
	"strings"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/skiffk8s/skiff/apiserver/registry"
)

// The paths are first described in a form common to both OpenAPI versions
// (route, operation), then rendered as swagger 2.0 (v2.go) and OpenAPI 3.0
// (v3.go).

// route is one URL path and its operations.
type route struct {
	path string // "/api/v1/namespaces/{namespace}/pods"
	gv   schema.GroupVersion
	// nameOf is the kind named by the {name} path parameter ("" if the
	// path has none).
	nameOf     string
	namespaced bool // has a {namespace} path parameter
	// query names path-level query parameters besides "pretty" (watch
	// routes put the list parameters here, as upstream does).
	query []string
	ops   []operation
}

// operation is one HTTP method on a route.
type operation struct {
	method string // "get", "put", "post", "delete" or "patch"
	id     string // operationId
	desc   string
	action string // x-kubernetes-action; "" for discovery
	gvk    *schema.GroupVersionKind
	query  []string // keys of queryParams
	// body is the definition name of the request body, "" for none.
	body  string
	patch bool // the body is a patch: accept the four patch media types
	// result is the definition name of the response body for codes.
	result string
	codes  []int
	stream bool // also produces the watch stream media types
	tag    string
}

// Media types of requests and responses, as upstream lists them.
var (
	produces       = []string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf"}
	producesStream = []string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf", "application/json;stream=watch", "application/vnd.kubernetes.protobuf;stream=watch"}
	patchConsumes  = []string{"application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json", "application/apply-patch+yaml"}
)

// responseText is the description of each status code operations return.
var responseText = map[int]string{200: "OK", 201: "Created", 202: "Accepted", 401: "Unauthorized"}

// Definitions every document refers to, besides the resources' own.
const (
	deleteOptionsName   = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"
	statusName          = "io.k8s.apimachinery.pkg.apis.meta.v1.Status"
	watchEventName      = "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent"
	patchName           = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"
	apiResourceListName = "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList"
	scaleName           = "io.k8s.api.autoscaling.v1.Scale"
)

// commonTypes returns the Go types of the definitions above, the scale
// only if some resource has a /scale subresource.
func commonTypes(withScale bool) []reflect.Type {
	types := []reflect.Type{
		reflect.TypeFor[metav1.DeleteOptions](),
		reflect.TypeFor[metav1.Status](),
		reflect.TypeFor[metav1.WatchEvent](),
		reflect.TypeFor[metav1.Patch](),
		reflect.TypeFor[metav1.APIResourceList](),
	}
	if withScale {
		types = append(types, reflect.TypeFor[autoscalingv1.Scale]())
	}
	return types
}

// groupWords returns the group as upstream spells it in operation ids:
// "" → "Core", "rbac.authorization.k8s.io" → "RbacAuthorization".
func groupWords(group string) string {
	if group == "" {
		return "Core"
	}
	group = strings.TrimSuffix(group, ".k8s.io")
	var b strings.Builder
	for part := range strings.SplitSeq(group, ".") {
		b.WriteString(upperFirst(part))
	}
	return b.String()
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// gvPrefix is the URL prefix of a group version: "/api/v1",
// "/apis/apps/v1".
func gvPrefix(gv schema.GroupVersion) string {
	if gv.Group == "" {
		return "/api/" + gv.Version
	}
	return "/apis/" + gv.Group + "/" + gv.Version
}

// routesFor returns the routes of one resource. kindDef and listDef are
// the definition names of its object and list types.
func routesFor(r *registry.Resource, kindDef, listDef string) []route {
	gv := schema.GroupVersion{Group: r.Group, Version: r.Version}
	gvk := r.GVK()
	words := groupWords(r.Group) + upperFirst(r.Version)
	tag := lowerFirst(groupWords(r.Group)) + "_" + r.Version
	prefix := gvPrefix(gv)
	scope := ""
	nsPath := ""
	if r.Namespaced {
		scope = "Namespaced"
		nsPath = "/namespaces/{namespace}"
	}
	collection := prefix + nsPath + "/" + r.Resource
	item := collection + "/{name}"
	kind := r.Kind
	op := func(method, id, desc, action string, gvk schema.GroupVersionKind, query []string, body string, result string, codes ...int) operation {
		return operation{method: method, id: id, desc: desc, action: action, gvk: &gvk, query: query,
			body: body, patch: method == "patch", result: result, codes: codes, tag: tag}
	}
	list := op("get", "list"+words+scope+kind, "list or watch objects of kind "+kind, "list", gvk, listParams, "", listDef, 200, 401)
	list.stream = true

	routes := []route{
		{path: collection, gv: gv, namespaced: r.Namespaced, ops: []operation{
			list,
			op("post", "create"+words+scope+kind, "create "+article(kind)+kind, "post", gvk, createParams, kindDef, kindDef, 200, 201, 202, 401),
			op("delete", "delete"+words+"Collection"+scope+kind, "delete collection of "+kind, "deletecollection", gvk, deleteCollectionParams, deleteOptionsName, statusName, 200, 401),
		}},
		{path: item, gv: gv, namespaced: r.Namespaced, nameOf: kind, ops: []operation{
			op("get", "read"+words+scope+kind, "read the specified "+kind, "get", gvk, nil, "", kindDef, 200, 401),
			op("put", "replace"+words+scope+kind, "replace the specified "+kind, "put", gvk, updateParams, kindDef, kindDef, 200, 201, 401),
			op("patch", "patch"+words+scope+kind, "partially update the specified "+kind, "patch", gvk, patchParams, patchName, kindDef, 200, 201, 401),
			op("delete", "delete"+words+scope+kind, "delete "+article(kind)+kind, "delete", gvk, deleteParams, deleteOptionsName, statusName, 200, 202, 401),
		}},
	}
	if r.Status {
		routes = append(routes, route{path: item + "/status", gv: gv, namespaced: r.Namespaced, nameOf: kind, ops: []operation{
			op("get", "read"+words+scope+kind+"Status", "read status of the specified "+kind, "get", gvk, nil, "", kindDef, 200, 401),
			op("put", "replace"+words+scope+kind+"Status", "replace status of the specified "+kind, "put", gvk, updateParams, kindDef, kindDef, 200, 201, 401),
			op("patch", "patch"+words+scope+kind+"Status", "partially update status of the specified "+kind, "patch", gvk, patchParams, patchName, kindDef, 200, 201, 401),
		}})
	}
	if r.Scale {
		routes = append(routes, route{path: item + "/scale", gv: gv, namespaced: r.Namespaced, nameOf: "Scale", ops: []operation{
			op("get", "read"+words+scope+kind+"Scale", "read scale of the specified "+kind, "get", autoscalingv1.SchemeGroupVersion.WithKind("Scale"), nil, "", scaleName, 200, 401),
			op("put", "replace"+words+scope+kind+"Scale", "replace scale of the specified "+kind, "put", autoscalingv1.SchemeGroupVersion.WithKind("Scale"), updateParams, scaleName, scaleName, 200, 201, 401),
			op("patch", "patch"+words+scope+kind+"Scale", "partially update scale of the specified "+kind, "patch", autoscalingv1.SchemeGroupVersion.WithKind("Scale"), patchParams, patchName, scaleName, 200, 201, 401),
		}})
	}

	// Watch routes (deprecated upstream, still published) and, for
	// namespaced resources, the lists across all namespaces.
	watch := func(id, desc string) operation {
		o := op("get", id, desc, "watch", gvk, nil, "", watchEventName, 200, 401)
		o.stream = true
		return o
	}
	watchList := watch("watch"+words+scope+kind+"List", "watch individual changes to a list of "+kind+". deprecated: use the 'watch' parameter with a list operation instead.")
	watchList.action = "watchlist"
	routes = append(routes,
		route{path: prefix + "/watch" + nsPath + "/" + r.Resource, gv: gv, namespaced: r.Namespaced, query: listParams, ops: []operation{watchList}},
		route{path: prefix + "/watch" + nsPath + "/" + r.Resource + "/{name}", gv: gv, namespaced: r.Namespaced, nameOf: kind, query: listParams, ops: []operation{
			watch("watch"+words+scope+kind, "watch changes to an object of kind "+kind+". deprecated: use the 'watch' parameter with a list operation instead, filtered to a single item with the 'fieldSelector' parameter."),
		}},
	)
	if r.Namespaced {
		all := op("get", "list"+words+kind+"ForAllNamespaces", "list or watch objects of kind "+kind, "list", gvk, nil, "", listDef, 200, 401)
		all.stream = true
		allWatch := watch("watch"+words+kind+"ListForAllNamespaces", "watch individual changes to a list of "+kind+". deprecated: use the 'watch' parameter with a list operation instead.")
		allWatch.action = "watchlist"
		routes = append(routes,
			route{path: prefix + "/" + r.Resource, gv: gv, query: listParams, ops: []operation{all}},
			route{path: prefix + "/watch/" + r.Resource, gv: gv, query: listParams, ops: []operation{allWatch}},
		)
	}
	return routes
}

// discoveryRoute is the group version's resource list, "/api/v1/".
func discoveryRoute(gv schema.GroupVersion) route {
	words := groupWords(gv.Group) + upperFirst(gv.Version)
	return route{path: gvPrefix(gv) + "/", gv: gv, ops: []operation{{
		method: "get", id: "get" + words + "APIResources", desc: "get available resources",
		result: apiResourceListName, codes: []int{200, 401}, tag: lowerFirst(groupWords(gv.Group)) + "_" + gv.Version,
	}}}
}

// article returns the article upstream puts before a kind in operation
// descriptions: none before a plural-looking "Endpoints", "an" before a
// vowel, "a" otherwise.
func article(kind string) string {
	switch {
	case strings.HasSuffix(kind, "s") && !strings.HasSuffix(kind, "ss"):
		return ""
	case kind != "" && strings.ContainsRune("AEIOUaeiou", rune(kind[0])):
		return "an "
	}
	return "a "
}

// checkRoutes reports duplicate paths or operation ids.
func checkRoutes(routes []route) error {
	paths := map[string]bool{}
	ids := map[string]bool{}
	for _, r := range routes {
		if paths[r.path] {
			return fmt.Errorf("path %s published twice", r.path)
		}
		paths[r.path] = true
		for _, o := range r.ops {
			if ids[o.id] {
				return fmt.Errorf("operation id %s used twice", o.id)
			}
			ids[o.id] = true
		}
	}
	return nil
}
