package openapi

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// buildV3 renders the routes of one group version as an OpenAPI 3.0
// document holding the definitions (built with v3 refs) its operations
// refer to, directly or not.
func buildV3(routes []route, defs map[string]*spec.Schema, version string) (*spec3.OpenAPI, error) {
	doc := &spec3.OpenAPI{
		Version: "3.0.0",
		Info:    &spec.Info{InfoProps: spec.InfoProps{Title: "Kubernetes", Version: version}},
		Paths:   &spec3.Paths{Paths: map[string]*spec3.Path{}},
		Components: &spec3.Components{
			Schemas: map[string]*spec.Schema{},
			SecuritySchemes: spec3.SecuritySchemes{"BearerToken": &spec3.SecurityScheme{SecuritySchemeProps: spec3.SecuritySchemeProps{
				Type: "apiKey", Description: "Bearer Token authentication", Name: "authorization", In: "header",
			}}},
		},
	}
	var roots []string
	for _, r := range routes {
		item := &spec3.Path{}
		if r.nameOf != "" {
			item.Parameters = append(item.Parameters, v3Param("name", "path", "string", "name of the "+r.nameOf, true))
		}
		if r.namespaced {
			item.Parameters = append(item.Parameters, v3Param("namespace", "path", "string", namespaceParamDesc, true))
		}
		item.Parameters = append(item.Parameters, v3QueryParam("pretty"))
		for _, q := range r.query {
			item.Parameters = append(item.Parameters, v3QueryParam(q))
		}
		sort.SliceStable(item.Parameters, func(i, j int) bool { return item.Parameters[i].Name < item.Parameters[j].Name })
		for _, o := range r.ops {
			op := v3Operation(o)
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
			if o.body != "" {
				roots = append(roots, o.body)
			}
			roots = append(roots, o.result)
		}
		doc.Paths.Paths[r.path] = item
	}
	if err := closure(defs, roots, doc.Components.Schemas); err != nil {
		return nil, err
	}
	return doc, nil
}

// closure copies into out the definitions named by roots and every
// definition they refer to.
func closure(defs map[string]*spec.Schema, roots []string, out map[string]*spec.Schema) error {
	var visit func(name string) error
	var walk func(s *spec.Schema) error
	visit = func(name string) error {
		if _, ok := out[name]; ok {
			return nil
		}
		d, ok := defs[name]
		if !ok {
			return fmt.Errorf("no definition %s", name)
		}
		out[name] = d
		return walk(d)
	}
	walk = func(s *spec.Schema) error {
		if s == nil {
			return nil
		}
		if ref := s.Ref.String(); ref != "" {
			if err := visit(strings.TrimPrefix(ref, refPrefixV3)); err != nil {
				return err
			}
		}
		for _, p := range s.Properties {
			if err := walk(&p); err != nil {
				return err
			}
		}
		if s.Items != nil {
			if err := walk(s.Items.Schema); err != nil {
				return err
			}
		}
		if s.AdditionalProperties != nil {
			if err := walk(s.AdditionalProperties.Schema); err != nil {
				return err
			}
		}
		for i := range s.AllOf {
			if err := walk(&s.AllOf[i]); err != nil {
				return err
			}
		}
		return nil
	}
	for _, name := range roots {
		if err := visit(name); err != nil {
			return err
		}
	}
	return nil
}

func v3Param(name, in, typ, desc string, required bool) *spec3.Parameter {
	return &spec3.Parameter{ParameterProps: spec3.ParameterProps{
		Name: name, In: in, Description: desc, Required: required,
		Schema: &spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{typ}, UniqueItems: true}},
	}}
}

func v3QueryParam(key string) *spec3.Parameter {
	q := queryParams[key]
	name := key
	if key == "fieldManagerPatch" {
		name = "fieldManager"
	}
	return v3Param(name, "query", q.typ, q.desc, false)
}

func v3Content(mediaTypes []string, def string) map[string]*spec3.MediaType {
	content := map[string]*spec3.MediaType{}
	for _, mt := range mediaTypes {
		content[mt] = &spec3.MediaType{MediaTypeProps: spec3.MediaTypeProps{Schema: spec.RefSchema(refPrefixV3 + def)}}
	}
	return content
}

func v3Operation(o operation) *spec3.Operation {
	op := &spec3.Operation{OperationProps: spec3.OperationProps{
		Tags:        []string{o.tag},
		Description: o.desc,
		OperationId: o.id,
		Responses:   &spec3.Responses{ResponsesProps: spec3.ResponsesProps{StatusCodeResponses: map[int]*spec3.Response{}}},
	}}
	for _, q := range o.query {
		op.Parameters = append(op.Parameters, v3QueryParam(q))
	}
	if o.body != "" {
		consumes := []string{"*/*"}
		if o.patch {
			consumes = patchConsumes
		}
		op.RequestBody = &spec3.RequestBody{RequestBodyProps: spec3.RequestBodyProps{
			Content: v3Content(consumes, o.body),
		}}
	}
	produced := produces
	if o.stream {
		produced = producesStream
	}
	for _, code := range o.codes {
		resp := &spec3.Response{ResponseProps: spec3.ResponseProps{Description: responseText[code]}}
		if code < 300 {
			resp.Content = v3Content(produced, o.result)
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
