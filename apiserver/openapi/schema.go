package openapi

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/kube-openapi/pkg/validation/spec"
	smdschema "sigs.k8s.io/structured-merge-diff/v6/schema"
)

// Extension keys upstream's OpenAPI documents use.
const (
	extGVK           = "x-kubernetes-group-version-kind"
	extAction        = "x-kubernetes-action"
	extPatchStrategy = "x-kubernetes-patch-strategy"
	extPatchMergeKey = "x-kubernetes-patch-merge-key"
	extListType      = "x-kubernetes-list-type"
	extListMapKeys   = "x-kubernetes-list-map-keys"
	extMapType       = "x-kubernetes-map-type"
	extUnions        = "x-kubernetes-unions"
)

// Ref prefixes of the two OpenAPI versions.
const (
	refPrefixV2 = "#/definitions/"
	refPrefixV3 = "#/components/schemas/"
)

// Methods some apimachinery types have to say how they look on the wire
// (resource.Quantity, intstr.IntOrString, metav1.Time, ...).
type (
	openAPISchemaTyper     interface{ OpenAPISchemaType() []string }
	openAPISchemaFormatter interface{ OpenAPISchemaFormat() string }
	openAPIV3OneOfTyper    interface{ OpenAPIV3OneOfTypes() []string }
	openAPIModelNamer      interface{ OpenAPIModelName() string }
	swaggerDocer           interface{ SwaggerDoc() map[string]string }
)

// defBuilder turns Go API types into OpenAPI schema definitions by
// reflection. One builder builds one flavour (v2 or v3) of one set of
// definitions; it is not safe for concurrent use.
type defBuilder struct {
	v3   bool
	defs map[string]*spec.Schema // by definition name
	// names holds the definition name of every struct type seen so far.
	names map[reflect.Type]string
	// byName detects two Go types that map to one definition name.
	byName map[string]reflect.Type
	gvks   map[reflect.Type][]schema.GroupVersionKind
	smd    *smdschema.Schema // list and map semantics and defaults; may be nil
}

func newDefBuilder(v3 bool, gvks map[reflect.Type][]schema.GroupVersionKind, smd *smdschema.Schema) *defBuilder {
	return &defBuilder{
		v3:     v3,
		defs:   map[string]*spec.Schema{},
		names:  map[reflect.Type]string{},
		byName: map[string]reflect.Type{},
		gvks:   gvks,
		smd:    smd,
	}
}

func (b *defBuilder) refPrefix() string {
	if b.v3 {
		return refPrefixV3
	}
	return refPrefixV2
}

// definitionName returns upstream's name for a named Go type:
// k8s.io/api/core/v1.Pod is "io.k8s.api.core.v1.Pod".
func definitionName(t reflect.Type) string {
	if n, ok := reflect.Zero(t).Interface().(openAPIModelNamer); ok {
		return n.OpenAPIModelName()
	}
	parts := strings.Split(t.PkgPath(), "/")
	if strings.Contains(parts[0], ".") {
		host := strings.Split(parts[0], ".")
		for i, j := 0, len(host)-1; i < j; i, j = i+1, j-1 {
			host[i], host[j] = host[j], host[i]
		}
		parts[0] = strings.Join(host, ".")
	}
	return strings.Join(parts, ".") + "." + t.Name()
}

// add makes sure the definition of struct type t exists and returns its
// name.
func (b *defBuilder) add(t reflect.Type) (string, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t.Name() == "" {
		return "", fmt.Errorf("%v is not a named struct type", t)
	}
	if name, ok := b.names[t]; ok {
		return name, nil
	}
	name := definitionName(t)
	if other, ok := b.byName[name]; ok {
		return "", fmt.Errorf("definition name %s used by both %v and %v", name, other, t)
	}
	b.names[t] = name
	b.byName[name] = t
	def := &spec.Schema{}
	b.defs[name] = def // before recursing: types may refer to themselves
	if err := b.fillDefinition(def, name, t); err != nil {
		return "", fmt.Errorf("definition %s: %w", name, err)
	}
	return name, nil
}

func (b *defBuilder) fillDefinition(def *spec.Schema, name string, t reflect.Type) error {
	zero := reflect.Zero(t).Interface()
	doc := typeDocs[name]
	if d, ok := zero.(swaggerDocer); ok {
		doc = d.SwaggerDoc()
	}
	def.Description = doc[""]

	// Types that say how they look on the wire: Quantity, IntOrString,
	// Time, MicroTime, Duration.
	if typer, ok := zero.(openAPISchemaTyper); ok {
		if f, ok := zero.(openAPISchemaFormatter); ok {
			def.Format = f.OpenAPISchemaFormat()
		}
		if oneOf, ok := zero.(openAPIV3OneOfTyper); ok && b.v3 {
			for _, typ := range oneOf.OpenAPIV3OneOfTypes() {
				def.OneOf = append(def.OneOf, *(&spec.Schema{}).Typed(typ, ""))
			}
			return nil
		}
		def.Type = typer.OpenAPISchemaType()
		return nil
	}

	def.Type = spec.StringOrArray{"object"}
	var smdMap *smdschema.Map
	if b.smd != nil {
		if td, ok := b.smd.FindNamedType(name); ok && td.Map != nil {
			smdMap = td.Map
			if td.Map.ElementRelationship == smdschema.Atomic {
				def.AddExtension(extMapType, "atomic")
			}
			if unions := unionsValue(td.Map.Unions); unions != nil {
				def.AddExtension(extUnions, unions)
			}
		}
	}
	if err := b.addFields(def, t, doc, smdMap); err != nil {
		return err
	}
	if gvks := b.gvks[t]; len(gvks) > 0 {
		list := make([]any, 0, len(gvks))
		for _, gvk := range gvks {
			list = append(list, map[string]any{"group": gvk.Group, "version": gvk.Version, "kind": gvk.Kind})
		}
		def.AddExtension(extGVK, list)
	}
	return nil
}

// addFields adds the JSON fields of struct t to def, flattening embedded
// and `json:",inline"` structs the way encoding/json does. doc is t's
// SwaggerDoc; smdMap describes def's type in structured-merge-diff terms.
func (b *defBuilder) addFields(def *spec.Schema, t reflect.Type, doc map[string]string, smdMap *smdschema.Map) error {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				var innerDoc map[string]string
				if d, ok := reflect.Zero(ft).Interface().(swaggerDocer); ok {
					innerDoc = d.SwaggerDoc()
				}
				if err := b.addFields(def, ft, innerDoc, smdMap); err != nil {
					return err
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		var smdField *smdschema.StructField
		if smdMap != nil {
			if sf, ok := smdMap.FindField(name); ok {
				smdField = &sf
			}
		}
		req := required(t, name, opts)
		prop, err := b.property(f, req, doc[name], smdField)
		if err != nil {
			return fmt.Errorf("field %s: %w", f.Name, err)
		}
		if def.Properties == nil {
			def.Properties = map[string]spec.Schema{}
		}
		def.Properties[name] = prop
		if req {
			def.Required = append(def.Required, name)
		}
	}
	return nil
}

// required reports whether field name of struct t is required, by
// upstream's rule: a +required or +optional marker decides, else a field
// without omitempty is required. The markers are comments, so they come
// from the generated fieldMarkers table.
func required(t reflect.Type, name, opts string) bool {
	if t.Name() != "" {
		if req, ok := fieldMarkers[definitionName(t)][name]; ok {
			return req
		}
	}
	return !hasOpt(opts, "omitempty")
}

func hasOpt(opts, want string) bool {
	for o := range strings.SplitSeq(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}

// property returns the schema of struct field f, with its description and
// the Kubernetes extensions for patching and server-side apply.
func (b *defBuilder) property(f reflect.StructField, req bool, desc string, smdField *smdschema.StructField) (spec.Schema, error) {
	s, err := b.schemaOf(f.Type)
	if err != nil {
		return spec.Schema{}, err
	}
	ext := spec.Extensions{}
	strategy := f.Tag.Get("patchStrategy")
	mergeKey := f.Tag.Get("patchMergeKey")
	if strategy != "" {
		ext.Add(extPatchStrategy, strategy)
	}
	if mergeKey != "" {
		ext.Add(extPatchMergeKey, mergeKey)
	}
	var def any
	if smdField != nil {
		def = smdField.Default
		addSMDExtensions(ext, smdField.Type, strategy)
	}
	if def == nil && f.Type.Kind() != reflect.Pointer && (req || f.Type.Kind() == reflect.Struct) {
		// Upstream's implicit default: the zero value of a non-pointer
		// struct, or of a required non-pointer scalar.
		def = zeroDefault(f.Type)
	}
	return b.withMeta(s, desc, def, ext), nil
}

// withMeta adds a description, a default and extensions to s. In v3 a
// $ref gets them through a one-element allOf, as upstream does: OpenAPI
// 3.0 ignores the siblings of a $ref.
func (b *defBuilder) withMeta(s spec.Schema, desc string, def any, ext spec.Extensions) spec.Schema {
	if s.Ref.String() != "" && b.v3 && (desc != "" || def != nil || len(ext) > 0) {
		s = spec.Schema{SchemaProps: spec.SchemaProps{AllOf: []spec.Schema{s}}}
	}
	s.Description = desc
	s.Default = def
	for k, v := range ext {
		s.AddExtension(k, v)
	}
	return s
}

// zeroDefault is the default upstream gives list items and map values of
// non-pointer type: their zero value ({} for structs). nil for none.
func zeroDefault(t reflect.Type) any {
	switch t.Kind() {
	case reflect.Struct:
		return map[string]any{}
	case reflect.String:
		return ""
	case reflect.Bool:
		return false
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return 0
	case reflect.Float32, reflect.Float64:
		return 0.0
	}
	return nil
}

// addSMDExtensions adds x-kubernetes-list-type, -list-map-keys and
// -map-type for a field whose server-side apply semantics are tr. A list
// that is atomic gets an explicit list type only when its patch strategy
// would otherwise make it associative.
func addSMDExtensions(ext spec.Extensions, tr smdschema.TypeRef, strategy string) {
	if tr.ElementRelationship != nil && *tr.ElementRelationship == smdschema.Atomic {
		ext.Add(extMapType, "atomic")
	}
	switch {
	case tr.Inlined.List != nil:
		l := tr.Inlined.List
		switch {
		case l.ElementRelationship == smdschema.Associative && len(l.Keys) > 0:
			ext.Add(extListType, "map")
			ext.Add(extListMapKeys, append([]string(nil), l.Keys...))
		case l.ElementRelationship == smdschema.Associative:
			ext.Add(extListType, "set")
		case l.ElementRelationship == smdschema.Atomic && strings.Contains(strategy, "merge"):
			ext.Add(extListType, "atomic")
		}
	case tr.Inlined.Map != nil:
		if tr.Inlined.Map.ElementRelationship == smdschema.Atomic {
			ext.Add(extMapType, "atomic")
		}
	}
}

// unionsValue is the x-kubernetes-unions value for unions, nil for none.
func unionsValue(unions []smdschema.Union) []any {
	var out []any
	for _, u := range unions {
		v := map[string]any{}
		if u.Discriminator != nil {
			v["discriminator"] = *u.Discriminator
		}
		fields := map[string]any{}
		for _, f := range u.Fields {
			fields[f.FieldName] = f.DiscriminatorValue
		}
		v["fields-to-discriminateBy"] = fields
		out = append(out, v)
	}
	return out
}

// schemaOf returns the schema for a value of type t: a $ref for named
// structs (whose definition it adds), an inline schema otherwise.
func (b *defBuilder) schemaOf(t reflect.Type) (spec.Schema, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 { // []byte is base64
		return *spec.StrFmtProperty("byte"), nil
	}
	switch t.Kind() {
	case reflect.Struct:
		if t.Name() == "" {
			s := spec.Schema{}
			s.Type = spec.StringOrArray{"object"}
			return s, b.addFields(&s, t, nil, nil)
		}
		name, err := b.add(t)
		if err != nil {
			return spec.Schema{}, err
		}
		return *spec.RefSchema(b.refPrefix() + name), nil
	case reflect.Slice, reflect.Array:
		item, err := b.schemaOf(t.Elem())
		if err != nil {
			return spec.Schema{}, err
		}
		item = b.withMeta(item, "", zeroDefault(t.Elem()), nil)
		return *spec.ArrayProperty(&item), nil
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return spec.Schema{}, fmt.Errorf("map key %v is not a string", t.Key())
		}
		val, err := b.schemaOf(t.Elem())
		if err != nil {
			return spec.Schema{}, err
		}
		if t.Elem().Kind() != reflect.Slice { // []byte values have no default
			val = b.withMeta(val, "", zeroDefault(t.Elem()), nil)
		}
		return *spec.MapProperty(&val), nil
	case reflect.String:
		return *spec.StringProperty(), nil
	case reflect.Bool:
		return *spec.BoolProperty(), nil
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Uint8, reflect.Uint16:
		return *spec.Int32Property(), nil
	case reflect.Int64, reflect.Uint32, reflect.Uint64:
		return *spec.Int64Property(), nil
	case reflect.Int, reflect.Uint:
		return *(&spec.Schema{}).Typed("integer", ""), nil
	case reflect.Float32:
		return *spec.Float32Property(), nil
	case reflect.Float64:
		return *spec.Float64Property(), nil
	case reflect.Interface:
		return *(&spec.Schema{}).Typed("object", ""), nil
	}
	return spec.Schema{}, fmt.Errorf("unsupported Go type %v", t)
}

// kindsByType maps each Go type of the scheme to the kinds it is
// registered as, in the group versions of served (or, if the type is
// served in none, all of them), sorted.
func kindsByType(scheme *runtime.Scheme, served sets.Set[schema.GroupVersion]) map[reflect.Type][]schema.GroupVersionKind {
	all := map[reflect.Type][]schema.GroupVersionKind{}
	for gvk, t := range scheme.AllKnownTypes() {
		if gvk.Version == runtime.APIVersionInternal {
			continue
		}
		all[t] = append(all[t], gvk)
	}
	for t, gvks := range all {
		var kept []schema.GroupVersionKind
		for _, gvk := range gvks {
			if served.Has(gvk.GroupVersion()) {
				kept = append(kept, gvk)
			}
		}
		if len(kept) == 0 {
			kept = gvks
		}
		sort.Slice(kept, func(i, j int) bool {
			a, b := kept[i], kept[j]
			if a.Group != b.Group {
				return a.Group < b.Group
			}
			if a.Version != b.Version {
				return a.Version < b.Version
			}
			return a.Kind < b.Kind
		})
		all[t] = kept
	}
	return all
}
