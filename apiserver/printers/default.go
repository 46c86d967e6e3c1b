package printers

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// createdAtColumns are upstream's default table convertor columns
// (k8s.io/apiserver/pkg/registry/rest/table.go). Upstream has no printer for
// roles and clusterroles, so `kubectl get roles` shows these.
var createdAtColumns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
	{Name: "Created At", Type: "date", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
}

// createdAtRow is the name and the creation time in RFC 3339, UTC.
func createdAtRow(obj runtime.Object, _ time.Time) (metav1.TableRow, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return metav1.TableRow{}, err
	}
	return cells(m.GetName(), m.GetCreationTimestamp().UTC().Format(time.RFC3339)), nil
}

// defaultColumns are for resources Print does not know: the name and the
// age, as kubectl prints objects without a server-side table.
var defaultColumns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
	{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
}

func defaultRow(obj runtime.Object, now time.Time) (metav1.TableRow, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return metav1.TableRow{}, err
	}
	return cells(m.GetName(), age(m.GetCreationTimestamp(), now)), nil
}
