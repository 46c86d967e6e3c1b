package openapi

import (
	"sort"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// Keys of the swagger 2.0 document's global parameters that are not query
// parameters from queryParams.
const (
	v2ParamNamespace = "namespace"
	v2ParamPretty    = "pretty"
)

// buildV2 renders the routes and definitions (built with v2 refs) as one
// swagger 2.0 document. Query parameters are global and referenced from
// the operations, as upstream does.
func buildV2(routes []route, defs map[string]*spec.Schema, version string) *spec.Swagger {
	sw := &spec.Swagger{SwaggerProps: spec.SwaggerProps{
		Swagger:     "2.0",
		Info:        &spec.Info{InfoProps: spec.InfoProps{Title: "Kubernetes", Version: version}},
		Paths:       &spec.Paths{Paths: map[string]spec.PathItem{}},
		Definitions: spec.Definitions{},
		Parameters:  map[string]spec.Parameter{},
		SecurityDefinitions: spec.SecurityDefinitions{"BearerToken": &spec.SecurityScheme{SecuritySchemeProps: spec.SecuritySchemeProps{
			Description: "Bearer Token authentication", Type: "apiKey", Name: "authorization", In: "header",
		}}},
		Security: []map[string][]string{{"BearerToken": {}}},
	}}
	for name, d := range defs {
		sw.Definitions[name] = *d
	}
	for key, q := range queryParams {
		sw.Parameters[key] = v2QueryParam(key, q)
	}
	sw.Parameters[v2ParamPretty] = v2QueryParam("pretty", queryParams["pretty"])
	sw.Parameters[v2ParamNamespace] = spec.Parameter{
		SimpleSchema:      spec.SimpleSchema{Type: "string"},
		CommonValidations: spec.CommonValidations{UniqueItems: true},
		ParamProps:        spec.ParamProps{Name: "namespace", In: "path", Required: true, Description: namespaceParamDesc},
	}

	for _, r := range routes {
		item := spec.PathItem{}
		if r.nameOf != "" {
			item.Parameters = append(item.Parameters, spec.Parameter{
				SimpleSchema:      spec.SimpleSchema{Type: "string"},
				CommonValidations: spec.CommonValidations{UniqueItems: true},
				ParamProps:        spec.ParamProps{Name: "name", In: "path", Required: true, Description: "name of the " + r.nameOf},
			})
		}
		if r.namespaced {
			item.Parameters = append(item.Parameters, v2ParamRef(v2ParamNamespace))
		}
		item.Parameters = append(item.Parameters, v2ParamRef(v2ParamPretty))
		for _, q := range r.query {
			item.Parameters = append(item.Parameters, v2ParamRef(q))
		}
		sortV2Params(item.Parameters, sw.Parameters)
		for _, o := range r.ops {
			op := v2Operation(o)
			switch o.method {
			case "get":
				item.Get = op
			case "put":
				item.Put = op
			case "post":
				item.Post = op
			case "delete":
				item.Delete = op
			case "patch":
				item.Patch = op
			}
		}
		sw.Paths.Paths[r.path] = item
	}
	return sw
}

func v2QueryParam(key string, q queryParam) spec.Parameter {
	name := key
	if key == "fieldManagerPatch" {
		name = "fieldManager"
	}
	return spec.Parameter{
		SimpleSchema:      spec.SimpleSchema{Type: q.typ},
		CommonValidations: spec.CommonValidations{UniqueItems: true},
		ParamProps:        spec.ParamProps{Name: name, In: "query", Description: q.desc},
	}
}

func v2ParamRef(key string) spec.Parameter {
	return spec.Parameter{Refable: spec.Refable{Ref: spec.MustCreateRef("#/parameters/" + key)}}
}

// sortV2Params orders parameters by name, as upstream does, looking
// references up in global.
func sortV2Params(params []spec.Parameter, global map[string]spec.Parameter) {
	name := func(p spec.Parameter) string {
		if p.Name != "" {
			return p.Name
		}
		tokens := p.Ref.GetPointer().DecodedTokens()
		if len(tokens) == 2 {
			return global[tokens[1]].Name
		}
		return ""
	}
	sort.SliceStable(params, func(i, j int) bool { return name(params[i]) < name(params[j]) })
}

func v2Operation(o operation) *spec.Operation {
	op := &spec.Operation{OperationProps: spec.OperationProps{
		Description: o.desc,
		ID:          o.id,
		Tags:        []string{o.tag},
		Schemes:     []string{"https"},
		Consumes:    []string{"*/*"},
		Produces:    produces,
		Responses:   &spec.Responses{ResponsesProps: spec.ResponsesProps{StatusCodeResponses: map[int]spec.Response{}}},
	}}
	if o.patch {
		op.Consumes = patchConsumes
	}
	if o.stream {
		op.Produces = producesStream
	}
	if o.body != "" {
		op.Parameters = append(op.Parameters, spec.Parameter{ParamProps: spec.ParamProps{
			Name: "body", In: "body", Required: o.method != "delete", Schema: spec.RefSchema(refPrefixV2 + o.body),
		}})
	}
	for _, q := range o.query {
		op.Parameters = append(op.Parameters, v2ParamRef(q))
	}
	for _, code := range o.codes {
		resp := spec.Response{ResponseProps: spec.ResponseProps{Description: responseText[code]}}
		if code < 300 {
			resp.Schema = spec.RefSchema(refPrefixV2 + o.result)
		}
		op.Responses.StatusCodeResponses[code] = resp
	}
	if o.action != "" {
		op.AddExtension(extAction, o.action)
	}
	if o.gvk != nil {
		op.AddExtension(extGVK, gvkValue(*o.gvk))
	}
	return op
}

// gvkValue is the value of x-kubernetes-group-version-kind on an
// operation.
func gvkValue(gvk schema.GroupVersionKind) map[string]any {
	return map[string]any{"group": gvk.Group, "version": gvk.Version, "kind": gvk.Kind}
}
