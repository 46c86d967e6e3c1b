package openapi

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/skiffk8s/skiff/apiserver/registry"
)

var update = flag.Bool("update", false, "rewrite markers_generated.go from the Go sources of the API types")

const markersFile = "markers_generated.go"

// TestFieldMarkersUpToDate reads the `+optional` and `+required` comment
// markers of every field of every described type from the k8s.io module
// sources (via `go list`) and checks that markers_generated.go records all
// those that disagree with the field's omitempty. With -update it rewrites
// the file. It fails when a k8s.io/api upgrade changed a marker.
func TestFieldMarkersUpToDate(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to locate the module sources")
	}
	b := newDefBuilder(true, nil, nil)
	for _, r := range registry.All() {
		for _, obj := range []any{r.New(), r.NewList()} {
			if _, err := b.add(reflect.TypeOf(obj)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, typ := range commonTypes(true) {
		if _, err := b.add(typ); err != nil {
			t.Fatal(err)
		}
	}
	// The described types and the structs embedded in them.
	types := map[reflect.Type]bool{}
	var collect func(reflect.Type)
	collect = func(typ reflect.Type) {
		if types[typ] {
			return
		}
		types[typ] = true
		for i := range typ.NumField() {
			f := typ.Field(i)
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if f.Anonymous && ft.Kind() == reflect.Struct && ft.Name() != "" {
				collect(ft)
			}
		}
	}
	for typ := range b.names {
		collect(typ)
	}

	pkgs := map[string][]reflect.Type{}
	for typ := range types {
		pkgs[typ.PkgPath()] = append(pkgs[typ.PkgPath()], typ)
	}
	var paths []string
	for p := range pkgs {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	out, err := exec.Command("go", append([]string{"list", "-f", "{{.ImportPath}} {{.Dir}}"}, paths...)...).Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	got := map[string]map[string]bool{}
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		pkg, dir, _ := strings.Cut(line, " ")
		structs, err := parseStructs(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, typ := range pkgs[pkg] {
			st, ok := structs[typ.Name()]
			if !ok {
				t.Fatalf("type %s not found in %s", typ.Name(), dir)
			}
			for name, req := range markerExceptions(st) {
				def := definitionName(typ)
				if got[def] == nil {
					got[def] = map[string]bool{}
				}
				got[def][name] = req
			}
		}
	}

	src, err := renderMarkers(got)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(markersFile, src, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !reflect.DeepEqual(got, fieldMarkers) {
		t.Errorf("%s is stale; run go test -run TestFieldMarkersUpToDate -update", markersFile)
	}
}

// parseStructs returns the struct types declared in the non-test Go files
// of dir, by name.
func parseStructs(dir string) (map[string]*ast.StructType, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	structs := map[string]*ast.StructType{}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, parser.ParseComments)
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %w", f, err)
		}
		for _, decl := range file.Decls {
			gen, ok := decl.(*ast.GenDecl)
			if !ok {
				continue
			}
			for _, spec := range gen.Specs {
				if ts, ok := spec.(*ast.TypeSpec); ok {
					if st, ok := ts.Type.(*ast.StructType); ok {
						structs[ts.Name.Name] = st
					}
				}
			}
		}
	}
	return structs, nil
}

// markerExceptions returns the fields of st, by JSON name, whose
// +optional or +required marker disagrees with their omitempty, mapped to
// whether they are required. The rules are kube-openapi's openapi-gen's.
func markerExceptions(st *ast.StructType) map[string]bool {
	out := map[string]bool{}
	for _, f := range st.Fields.List {
		if len(f.Names) == 0 || f.Tag == nil {
			continue
		}
		tag, err := strconv.Unquote(f.Tag.Value)
		if err != nil {
			continue
		}
		jsonTag := reflect.StructTag(tag).Get("json")
		name, _, _ := strings.Cut(jsonTag, ",")
		if name == "" || name == "-" {
			continue
		}
		omitempty := strings.HasSuffix(jsonTag, ",omitempty") || strings.Contains(jsonTag, ",omitempty,")
		var optional, required bool
		if f.Doc != nil {
			for _, c := range f.Doc.List {
				line := strings.Trim(strings.TrimPrefix(c.Text, "//"), " ")
				if !strings.HasPrefix(line, "+") {
					continue
				}
				key, _, _ := strings.Cut(line[1:], "=")
				switch key {
				case "optional":
					optional = true
				case "required":
					required = true
				}
			}
		}
		switch {
		case required && omitempty:
			out[name] = true
		case optional && !omitempty:
			out[name] = false
		}
	}
	return out
}

func renderMarkers(m map[string]map[string]bool) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(`// Code generated by go test -run TestFieldMarkersUpToDate -update. DO NOT EDIT.

package openapi

// fieldMarkers records, by definition name and JSON field name, the fields
// of the described types whose +optional or +required comment marker
// disagrees with their omitempty: true for required, false for optional.
// Comments are not available at run time; this table carries them.
var fieldMarkers = map[string]map[string]bool{
`)
	var defs []string
	for d := range m {
		defs = append(defs, d)
	}
	sort.Strings(defs)
	for _, d := range defs {
		var fields []string
		for f := range m[d] {
			fields = append(fields, f)
		}
		sort.Strings(fields)
		fmt.Fprintf(&buf, "\t%q: {", d)
		for i, f := range fields {
			if i > 0 {
				buf.WriteString(", ")
			}
			fmt.Fprintf(&buf, "%q: %v", f, m[d][f])
		}
		buf.WriteString("},\n")
	}
	buf.WriteString("}\n")
	return format.Source(buf.Bytes())
}
