// Package pluginargs decodes the scheduler plugins' pluginConfig args:
// the strict JSON decoding and the "<Plugin> args: " error prefix every
// plugin's New shares. Defaulting and validation stay with each plugin.
package pluginargs

import (
	"bytes"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime/schema"
	sigsjson "sigs.k8s.io/json"
)

// Object is a pointer to an args type embedding metav1.TypeMeta, so that
// apiVersion and kind are accepted fields and the kind can be checked.
type Object interface {
	GetObjectKind() schema.ObjectKind
}

// Decode decodes the JSON args data strictly into args: field names are
// case-sensitive, and an unknown or duplicate field, or a value of the
// wrong type, is an error naming the field. apiVersion and kind are
// accepted; when kind is not empty, a different non-empty kind in data is
// an error ("kind %q, want <kind>"), and apiVersion is not checked. Empty
// (or blank) data leaves args as it is. Every error is prefixed
// "<plugin> args: ", as Error does.
func Decode(plugin, kind string, data []byte, args Object) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	strict, err := sigsjson.UnmarshalStrict(data, args)
	if err == nil {
		err = errors.Join(strict...)
	}
	if err != nil {
		return Error(plugin, err)
	}
	if got := args.GetObjectKind().GroupVersionKind().Kind; kind != "" && got != "" && got != kind {
		return fmt.Errorf("%s args: kind %q, want %s", plugin, got, kind)
	}
	return nil
}

// Error prefixes err, e.g. a validation error naming the field, with
// "<plugin> args: ". It wraps err (errors.Is and As see it).
func Error(plugin string, err error) error {
	return fmt.Errorf("%s args: %w", plugin, err)
}
