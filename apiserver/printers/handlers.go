package printers

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// printer renders one resource: its columns, and for each object a row with
// one cell per column (wide columns included) and, for some kinds, row
// conditions. The row's Object is filled in by Print.
type printer struct {
	columns []metav1.TableColumnDefinition
	row     func(obj runtime.Object, now time.Time) (metav1.TableRow, error)
}

// printerFor returns the printer for gr, or the default one (Name, Age) for
// a resource we do not know.
func printerFor(gr schema.GroupResource) printer {
	switch gr.Group {
	case "":
		switch gr.Resource {
		case "pods":
			return printer{podColumns, typed(podRow)}
		case "nodes":
			return printer{nodeColumns, typed(nodeRow)}
		case "namespaces":
			return printer{namespaceColumns, typed(namespaceRow)}
		case "services":
			return printer{serviceColumns, typed(serviceRow)}
		case "endpoints":
			return printer{endpointsColumns, typed(endpointsRow)}
		case "configmaps":
			return printer{configMapColumns, typed(configMapRow)}
		case "secrets":
			return printer{secretColumns, typed(secretRow)}
		case "serviceaccounts":
			return printer{serviceAccountColumns, typed(serviceAccountRow)}
		case "events":
			return printer{eventColumns, typed(coreEventRow)}
		}
	case "events.k8s.io":
		if gr.Resource == "events" {
			return printer{eventColumns, typed(eventsV1Row)}
		}
	case "apps":
		switch gr.Resource {
		case "deployments":
			return printer{deploymentColumns, typed(deploymentRow)}
		case "replicasets":
			return printer{replicaSetColumns, typed(replicaSetRow)}
		case "daemonsets":
			return printer{daemonSetColumns, typed(daemonSetRow)}
		case "statefulsets":
			return printer{statefulSetColumns, typed(statefulSetRow)}
		case "controllerrevisions":
			return printer{controllerRevisionColumns, typed(controllerRevisionRow)}
		}
	case "batch":
		switch gr.Resource {
		case "jobs":
			return printer{jobColumns, typed(jobRow)}
		case "cronjobs":
			return printer{cronJobColumns, typed(cronJobRow)}
		}
	case "discovery.k8s.io":
		if gr.Resource == "endpointslices" {
			return printer{endpointSliceColumns, typed(endpointSliceRow)}
		}
	case "coordination.k8s.io":
		if gr.Resource == "leases" {
			return printer{leaseColumns, typed(leaseRow)}
		}
	case "policy":
		if gr.Resource == "poddisruptionbudgets" {
			return printer{podDisruptionBudgetColumns, typed(podDisruptionBudgetRow)}
		}
	case "scheduling.k8s.io":
		if gr.Resource == "priorityclasses" {
			return printer{priorityClassColumns, typed(priorityClassRow)}
		}
	case "rbac.authorization.k8s.io":
		switch gr.Resource {
		case "roles", "clusterroles":
			return printer{createdAtColumns, createdAtRow}
		case "rolebindings":
			return printer{roleBindingColumns, typed(roleBindingRow)}
		case "clusterrolebindings":
			return printer{clusterRoleBindingColumns, typed(clusterRoleBindingRow)}
		}
	case "certificates.k8s.io":
		if gr.Resource == "certificatesigningrequests" {
			return printer{csrColumns, typed(csrRow)}
		}
	}
	return printer{defaultColumns, defaultRow}
}

// typed adapts a row function of one Go type to any object of the
// resource: the type itself, or an unstructured object converted to it.
func typed[T any](row func(obj *T, now time.Time) metav1.TableRow) func(runtime.Object, time.Time) (metav1.TableRow, error) {
	return func(obj runtime.Object, now time.Time) (metav1.TableRow, error) {
		if t, ok := any(obj).(*T); ok {
			return row(t, now), nil
		}
		u, ok := obj.(runtime.Unstructured)
		if !ok {
			return metav1.TableRow{}, fmt.Errorf("unexpected object type %T, want %T", obj, new(T))
		}
		t := new(T)
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.UnstructuredContent(), t); err != nil {
			return metav1.TableRow{}, fmt.Errorf("converting %s to %T: %w", u.GetObjectKind().GroupVersionKind().Kind, t, err)
		}
		return row(t, now), nil
	}
}

// cells is a row of the given cells, without conditions.
func cells(c ...interface{}) metav1.TableRow {
	return metav1.TableRow{Cells: c}
}
