package apiserver

import (
	"reflect"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
)

// field returns the addressable struct field name of a typed object, or an
// invalid Value when the kind has no such field (e.g. ConfigMap has no Spec).
func structField(obj runtime.Object, name string) reflect.Value {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return reflect.Value{}
	}
	return v.Elem().FieldByName(name)
}

// copyField sets obj.name to from.name (e.g. keep the stored status).
func copyField(obj, from runtime.Object, name string) {
	dst, src := structField(obj, name), structField(from, name)
	if dst.IsValid() && src.IsValid() && dst.CanSet() {
		dst.Set(src)
	}
}

// clearField zeroes obj.name.
func clearField(obj runtime.Object, name string) {
	if f := structField(obj, name); f.IsValid() && f.CanSet() {
		f.Set(reflect.Zero(f.Type()))
	}
}

// hasField reports whether the kind has the field.
func hasField(obj runtime.Object, name string) bool {
	return structField(obj, name).IsValid()
}

// specChanged reports whether the desired state differs between obj and
// old: Spec for kinds that have one, otherwise everything except metadata
// and status (e.g. a ConfigMap's data). Generation counts these changes.
func specChanged(obj, old runtime.Object) bool {
	if hasField(obj, "Spec") {
		return !equality.Semantic.DeepEqual(structField(obj, "Spec").Interface(), structField(old, "Spec").Interface())
	}
	v, o := reflect.ValueOf(obj).Elem(), reflect.ValueOf(old).Elem()
	for i := 0; i < v.NumField(); i++ {
		switch v.Type().Field(i).Name {
		case "TypeMeta", "ObjectMeta", "Status":
			continue
		}
		if !equality.Semantic.DeepEqual(v.Field(i).Interface(), o.Field(i).Interface()) {
			return true
		}
	}
	return false
}
