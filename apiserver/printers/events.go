package printers

import (
	"github.com/skiffk8s/skiff/apiserver/registry"

	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// eventColumns serve both core/v1 and events.k8s.io/v1 events, as upstream
// prints both from one internal type.
var eventColumns = []metav1.TableColumnDefinition{
	{Name: "Last Seen", Type: "string", Description: corev1.Event{}.SwaggerDoc()["lastTimestamp"]},
	{Name: "Type", Type: "string", Description: corev1.Event{}.SwaggerDoc()["type"]},
	{Name: "Reason", Type: "string", Description: corev1.Event{}.SwaggerDoc()["reason"]},
	{Name: "Object", Type: "string", Description: corev1.Event{}.SwaggerDoc()["involvedObject"]},
	{Name: "Subobject", Type: "string", Priority: 1, Description: corev1.Event{}.InvolvedObject.SwaggerDoc()["fieldPath"]},
	{Name: "Source", Type: "string", Priority: 1, Description: corev1.Event{}.SwaggerDoc()["source"]},
	{Name: "Message", Type: "string", Description: corev1.Event{}.SwaggerDoc()["message"]},
	{Name: "First Seen", Type: "string", Priority: 1, Description: corev1.Event{}.SwaggerDoc()["firstTimestamp"]},
	{Name: "Count", Type: "string", Priority: 1, Description: corev1.Event{}.SwaggerDoc()["count"]},
	{Name: "Name", Type: "string", Priority: 1, Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
}

// coreEventRow is upstream's printEvent. New-style events (eventTime and
// series, no first/last timestamps or count) print the same way.
func coreEventRow(e *corev1.Event, now time.Time) metav1.TableRow {
	first := age(e.FirstTimestamp, now)
	if e.FirstTimestamp.IsZero() {
		first = microAge(e.EventTime, now)
	}
	last := age(e.LastTimestamp, now)
	if e.LastTimestamp.IsZero() {
		last = first
	}
	count := e.Count
	if e.Series != nil {
		last = microAge(e.Series.LastObservedTime, now)
		count = e.Series.Count
	} else if count == 0 {
		count = 1 // singleton events have no count in the new API
	}

	object := strings.ToLower(e.InvolvedObject.Kind)
	if e.InvolvedObject.Name != "" {
		object = fmt.Sprintf("%s/%s", object, e.InvolvedObject.Name)
	}
	return cells(last, e.Type, e.Reason, object, e.InvolvedObject.FieldPath,
		eventSource(e.Source, e.ReportingController, e.ReportingInstance),
		strings.TrimSpace(e.Message), first, int64(count), e.Name)
}

// eventSource is "component, host", or "component" without a host; the
// reporting controller and instance stand in for an empty component and host.
func eventSource(s corev1.EventSource, controller, instance string) string {
	component := firstNonEmpty(s.Component, controller)
	host := firstNonEmpty(s.Host, instance)
	if host == "" {
		return component
	}
	return component + ", " + host
}

// eventsV1Row prints an events.k8s.io/v1 Event through its core/v1 form,
// mapped field by field as upstream's conversion does.
func eventsV1Row(e *eventsv1.Event, now time.Time) metav1.TableRow {
	core := registry.EventToCore(e).(*corev1.Event)
	return coreEventRow(core, now)
}
