package openapi

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/applyconfigurations"
	smdschema "sigs.k8s.io/structured-merge-diff/v6/schema"
)

// applySchema returns the structured-merge-diff schema that client-go
// ships for every built-in type. It was generated from upstream's OpenAPI
// and so knows what reflection cannot: the `+listType`, `+listMapKey`,
// `+mapType` and `+structType` markers, and upstream's field defaults.
func applySchema(scheme *runtime.Scheme) (*smdschema.Schema, error) {
	tc := applyconfigurations.NewTypeConverter(scheme)
	probe := &unstructured.Unstructured{}
	probe.SetAPIVersion("v1")
	probe.SetKind("Namespace")
	tv, err := tc.ObjectToTyped(probe)
	if err != nil {
		return nil, fmt.Errorf("loading client-go's apply schema (the scheme must know v1 Namespace): %w", err)
	}
	return tv.Schema(), nil
}
