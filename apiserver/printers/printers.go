// Package printers turns API objects into the metav1.Table that kubectl
// prints: the server side of `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`.
//
// Every served resource gets the columns and cells upstream kube-apiserver
// gives it (pkg/printers/internalversion), computed here from the v1 types,
// so `kubectl get` output looks the same against Skiff as against upstream.
// Like upstream's server, Print always fills the -o wide columns (Priority
// greater than 0); kubectl hides them unless asked for -o wide. Roles and
// cluster roles get upstream's default columns, Name and Created At; a
// resource Print does not know gets Name and Age.
//
// Print is pure: the clock comes in as Options.Now, and the caller (the HTTP
// handler) sets the table's resourceVersion and continue token.
package printers

import (
	"encoding/json"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
)

// Options says how Print renders a table.
type Options struct {
	// Now is the instant ages ("5m", "2d3h") are measured to. The zero
	// value means the time Print is called.
	Now time.Time
	// IncludeObject says what each row's Object carries, as the
	// includeObject parameter of the request: "None" (nothing), "Metadata"
	// (a meta.k8s.io/v1 PartialObjectMetadata; the default when empty) or
	// "Object" (the whole object with apiVersion and kind). Any other value
	// makes Print fail with an *InvalidIncludeObjectError.
	IncludeObject metav1.IncludeObjectPolicy
	// NoHeaders leaves out the column definitions, as kubectl asks for with
	// --no-headers and for watch events after the first.
	NoHeaders bool
}

// InvalidIncludeObjectError is returned by Print for an IncludeObject value
// it does not know. Handlers answer it with 400 Bad Request.
type InvalidIncludeObjectError struct {
	Policy metav1.IncludeObjectPolicy
}

func (e *InvalidIncludeObjectError) Error() string {
	return fmt.Sprintf("unrecognized includeObject value: %q", string(e.Policy))
}

// Print returns a Table for objs, which are all of resource gr (objects of a
// list, or one object). A list object among objs stands for its items.
// Objects may be typed (*corev1.Pod) or unstructured. The table has one row
// per object, in order; its ResourceVersion and Continue are left empty.
func Print(gr schema.GroupResource, objs []runtime.Object, opts Options) (*metav1.Table, error) {
	switch opts.IncludeObject {
	case "", metav1.IncludeMetadata, metav1.IncludeObject, metav1.IncludeNone:
	default:
		return nil, &InvalidIncludeObjectError{Policy: opts.IncludeObject}
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	items, err := flatten(objs)
	if err != nil {
		return nil, err
	}

	p := printerFor(gr)
	table := &metav1.Table{
		TypeMeta: metav1.TypeMeta{APIVersion: metav1.SchemeGroupVersion.String(), Kind: "Table"},
		Rows:     make([]metav1.TableRow, 0, len(items)),
	}
	if !opts.NoHeaders {
		table.ColumnDefinitions = append([]metav1.TableColumnDefinition(nil), p.columns...)
	}
	for _, obj := range items {
		row, err := p.row(obj, now)
		if err != nil {
			return nil, fmt.Errorf("printing %s: %w", gr.String(), err)
		}
		if len(row.Cells) != len(p.columns) {
			return nil, fmt.Errorf("printing %s: %d cells for %d columns", gr.String(), len(row.Cells), len(p.columns))
		}
		row.Object, err = rowObject(obj, opts.IncludeObject)
		if err != nil {
			return nil, fmt.Errorf("printing %s: %w", gr.String(), err)
		}
		table.Rows = append(table.Rows, row)
	}
	return table, nil
}

// flatten replaces list objects by their items.
func flatten(objs []runtime.Object) ([]runtime.Object, error) {
	var out []runtime.Object
	for _, obj := range objs {
		if obj == nil {
			return nil, fmt.Errorf("nil object")
		}
		if !meta.IsListType(obj) {
			out = append(out, obj)
			continue
		}
		items, err := meta.ExtractList(obj)
		if err != nil {
			return nil, err
		}
		out = append(out, items...)
	}
	return out, nil
}

// rowObject is the row's Object for the policy: raw JSON, as written on the
// wire.
func rowObject(obj runtime.Object, policy metav1.IncludeObjectPolicy) (runtime.RawExtension, error) {
	switch policy {
	case metav1.IncludeNone:
		return runtime.RawExtension{}, nil
	case metav1.IncludeObject:
		gvk, err := kindOf(obj)
		if err != nil {
			return runtime.RawExtension{}, err
		}
		full := obj.DeepCopyObject()
		full.GetObjectKind().SetGroupVersionKind(gvk)
		raw, err := json.Marshal(full)
		return runtime.RawExtension{Raw: raw}, err
	default: // "" and Metadata
		m, err := meta.Accessor(obj)
		if err != nil {
			return runtime.RawExtension{}, err
		}
		partial := meta.AsPartialObjectMetadata(m)
		partial.SetGroupVersionKind(metav1.SchemeGroupVersion.WithKind("PartialObjectMetadata"))
		raw, err := json.Marshal(partial)
		return runtime.RawExtension{Raw: raw}, err
	}
}

// kindOf is obj's apiVersion and kind: its own when set, else the one the
// client-go scheme registers for its Go type.
func kindOf(obj runtime.Object) (schema.GroupVersionKind, error) {
	if gvk := obj.GetObjectKind().GroupVersionKind(); !gvk.Empty() && gvk.Kind != "" {
		return gvk, nil
	}
	gvks, _, err := clientgoscheme.Scheme.ObjectKinds(obj)
	if err != nil {
		return schema.GroupVersionKind{}, err
	}
	return gvks[0], nil
}
