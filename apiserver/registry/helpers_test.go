package registry

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// fieldErr is an expected validation error: its type and field path.
type fieldErr struct {
	Type  field.ErrorType
	Field string
}

func (e fieldErr) String() string { return fmt.Sprintf("%s: %s", e.Field, e.Type) }

func required(f string) fieldErr     { return fieldErr{field.ErrorTypeRequired, f} }
func invalid(f string) fieldErr      { return fieldErr{field.ErrorTypeInvalid, f} }
func forbidden(f string) fieldErr    { return fieldErr{field.ErrorTypeForbidden, f} }
func notSupported(f string) fieldErr { return fieldErr{field.ErrorTypeNotSupported, f} }
func duplicate(f string) fieldErr    { return fieldErr{field.ErrorTypeDuplicate, f} }
func notFound(f string) fieldErr     { return fieldErr{field.ErrorTypeNotFound, f} }
func tooLong(f string) fieldErr      { return fieldErr{field.ErrorTypeTooLong, f} }
func tooMany(f string) fieldErr      { return fieldErr{field.ErrorTypeTooMany, f} }

// checkErrors fails unless got reports exactly the wanted (type, field)
// pairs; several errors with the same pair count once.
func checkErrors(t *testing.T, got field.ErrorList, want ...fieldErr) {
	t.Helper()
	set := func(errs []fieldErr) []string {
		seen := map[string]bool{}
		var out []string
		for _, e := range errs {
			if s := e.String(); !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
		sort.Strings(out)
		return out
	}
	var gotErrs []fieldErr
	for _, e := range got {
		gotErrs = append(gotErrs, fieldErr{e.Type, e.Field})
	}
	if g, w := set(gotErrs), set(want); strings.Join(g, "\n") != strings.Join(w, "\n") {
		t.Errorf("errors:\n got  %q\n want %q\nfull errors: %v", g, w, got.ToAggregate())
	}
}

// validateCase changes a valid object and states the errors Validate
// reports; a nil mutate checks the valid object itself.
type validateCase[T runtime.Object] struct {
	name   string
	mutate func(T)
	want   []fieldErr
}

func runValidateCases[T runtime.Object](t *testing.T, s Strategy, valid func() T, cases []validateCase[T]) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			obj := valid()
			if c.mutate != nil {
				c.mutate(obj)
			}
			checkErrors(t, s.Validate(obj), c.want...)
		})
	}
}

// updateCase changes a copy of a valid stored object (optionally changed
// first by old) and states the errors ValidateUpdate reports.
type updateCase[T runtime.Object] struct {
	name   string
	old    func(T)
	update func(T)
	want   []fieldErr
}

func runUpdateCases[T runtime.Object](t *testing.T, s Strategy, valid func() T, cases []updateCase[T]) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			old := valid()
			m, err := meta.Accessor(old)
			if err != nil {
				t.Fatal(err)
			}
			m.SetResourceVersion("7")
			if c.old != nil {
				c.old(old)
			}
			obj := old.DeepCopyObject().(T)
			if c.update != nil {
				c.update(obj)
			}
			checkErrors(t, s.ValidateUpdate(obj, old), c.want...)
		})
	}
}

// defaultCase defaults an object and states the value one field gets.
type defaultCase[T runtime.Object] struct {
	name string
	obj  func() T
	got  func(T) any
	want any
}

func runDefaultCases[T runtime.Object](t *testing.T, s Strategy, cases []defaultCase[T]) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			obj := c.obj()
			s.Default(obj)
			if got := c.got(obj); !semanticEqual(got, c.want) {
				t.Errorf("got %s, want %s", toJSON(got), toJSON(c.want))
			}
		})
	}
}

func toJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%#v", v)
	}
	return string(b)
}
