package registry

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Every served resource's strategy handles its own kind: defaulting and
// validating an empty object of the kind works, reports the missing name,
// and the field set holds the metadata fields the contract promises.
func TestEveryResourceStrategyHandlesItsKind(t *testing.T) {
	for _, r := range All() {
		t.Run(r.GVR().String(), func(t *testing.T) {
			if r.Strategy == nil {
				t.Fatal("no strategy")
			}
			obj := r.New()
			if r.Namespaced {
				m, _ := meta.Accessor(obj)
				m.SetNamespace("default")
			}
			r.Strategy.Default(obj)
			var nameErr bool
			for _, e := range r.Strategy.Validate(obj) {
				nameErr = nameErr || (e.Type == field.ErrorTypeRequired && e.Field == "metadata.name")
			}
			if !nameErr {
				t.Errorf("an object without a name: no metadata.name Required error")
			}
			r.Strategy.ValidateUpdate(obj, obj.DeepCopyObject())

			fs := r.Strategy.FieldSet(r.New())
			if _, ok := fs["metadata.name"]; !ok {
				t.Errorf("field set %v lacks metadata.name", fs)
			}
			if _, ok := fs["metadata.namespace"]; ok != r.Namespaced {
				t.Errorf("field set %v: has metadata.namespace = %v, want %v", fs, ok, r.Namespaced)
			}
		})
	}
}
