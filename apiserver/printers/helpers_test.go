package printers_test

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/skiffk8s/skiff/apiserver/printers"
)

// now is the clock every test prints with.
var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }

func gr(group, resource string) schema.GroupResource {
	return schema.GroupResource{Group: group, Resource: resource}
}

// printOne prints obj as resource g and returns its only row, keyed by
// column name.
func printOne(t *testing.T, g schema.GroupResource, obj runtime.Object) map[string]interface{} {
	t.Helper()
	table, err := printers.Print(g, []runtime.Object{obj}, printers.Options{Now: now, IncludeObject: metav1.IncludeNone})
	if err != nil {
		t.Fatalf("Print: %v", err)
	}
	if len(table.Rows) != 1 {
		t.Fatalf("got %d rows, want 1", len(table.Rows))
	}
	row := table.Rows[0]
	if len(row.Cells) != len(table.ColumnDefinitions) {
		t.Fatalf("got %d cells for %d columns", len(row.Cells), len(table.ColumnDefinitions))
	}
	cells := map[string]interface{}{}
	for i, c := range table.ColumnDefinitions {
		cells[c.Name] = row.Cells[i]
	}
	return cells
}

// Container status builders.

func running(ready bool) corev1.ContainerStatus {
	return corev1.ContainerStatus{Ready: ready, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
}

func waiting(reason string) corev1.ContainerStatus {
	return corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}}
}

func terminated(reason string, exitCode int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: reason, ExitCode: exitCode}}}
}

// restarted adds n restarts, the last one finished `last` before now.
func restarted(cs corev1.ContainerStatus, n int32, last time.Duration) corev1.ContainerStatus {
	cs.RestartCount = n
	cs.LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: ago(last)}}
	return cs
}

func named(name string, cs corev1.ContainerStatus) corev1.ContainerStatus {
	cs.Name = name
	return cs
}
