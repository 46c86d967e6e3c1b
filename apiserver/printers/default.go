package printers

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// defaultColumns are upstream's default table convertor columns
// (k8s.io/apiserver/pkg/registry/rest/table.go), used for resources without
// a printer of their own, e.g. roles and clusterroles.
var defaultColumns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
	{Name: "Created At", Type: "date", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
}

// defaultRow is the name and the creation time in RFC 3339, UTC.
func defaultRow(obj runtime.Object, _ time.Time) (metav1.TableRow, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return metav1.TableRow{}, err
	}
	return cells(m.GetName(), m.GetCreationTimestamp().UTC().Format(time.RFC3339)), nil
}
