package registry

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
)

// validCoreEvent is an event as client-go's record package writes it.
func validCoreEvent() *corev1.Event {
	return &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "web.17a3b2c1d0e9f8a7", Namespace: "default"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web", UID: "3c1a7d2e", APIVersion: "v1", ResourceVersion: "42", FieldPath: "spec.containers{app}"},
		Reason:         "Pulled",
		Message:        "Successfully pulled image",
		Source:         corev1.EventSource{Component: "kubelet", Host: "node-1"},
		Type:           corev1.EventTypeNormal,
		Count:          1,
	}
}

// newStyleCoreEvent is a core event written by the events API library.
func newStyleCoreEvent() *corev1.Event {
	ev := validCoreEvent()
	ev.Source = corev1.EventSource{}
	ev.EventTime = metav1.NewMicroTime(time.Unix(1700000000, 0))
	ev.ReportingController = "skiff.io/scheduler"
	ev.ReportingInstance = "scheduler-1"
	ev.Action = "Binding"
	return ev
}

func TestCoreEventValidation(t *testing.T) {
	runValidateCases(t, coreEventStrategy{}, validCoreEvent, []validateCase[*corev1.Event]{
		{name: "a kubelet event about a pod is valid"},
		{"an event name may hold ':' like the RBAC objects it is about", func(e *corev1.Event) {
			e.Name = "system:controller:foo.17a3"
		}, nil},
		{"an event about a cluster-scoped object lives in default", func(e *corev1.Event) {
			e.InvolvedObject = corev1.ObjectReference{Kind: "Node", Name: "node-1"}
		}, nil},
		{"an event lives in its object's namespace", func(e *corev1.Event) { e.Namespace = "kube-system" },
			[]fieldErr{invalid("involvedObject.namespace")}},
		{"an event about a cluster-scoped object does not live elsewhere", func(e *corev1.Event) {
			e.InvolvedObject = corev1.ObjectReference{Kind: "Node", Name: "node-1"}
			e.Namespace = "team-a"
		}, []fieldErr{invalid("involvedObject.namespace")}},
		{"a new-style event names its reporter, instance and action", func(e *corev1.Event) {
			*e = *newStyleCoreEvent()
			e.ReportingController, e.ReportingInstance, e.Action = "", "", ""
		}, []fieldErr{required("reportingComponent"), required("reportingInstance"), required("action")}},
		{"a new-style event message is at most 1024 characters", func(e *corev1.Event) {
			*e = *newStyleCoreEvent()
			e.Message = strings.Repeat("x", 1025)
		}, []fieldErr{invalid("message")}},
	})
}

func TestCoreEventUpdateValidation(t *testing.T) {
	runUpdateCases(t, coreEventStrategy{}, validCoreEvent, []updateCase[*corev1.Event]{
		{name: "an event may count repetitions", update: func(e *corev1.Event) { e.Count = 2 }},
		{name: "an event is validated on update too", update: func(e *corev1.Event) { e.InvolvedObject.Namespace = "other" },
			want: []fieldErr{invalid("involvedObject.namespace")}},
	})
}

func TestCoreEventFieldSet(t *testing.T) {
	want := fields.Set{
		"metadata.name":                  "web.17a3b2c1d0e9f8a7",
		"metadata.namespace":             "default",
		"involvedObject.kind":            "Pod",
		"involvedObject.namespace":       "default",
		"involvedObject.name":            "web",
		"involvedObject.uid":             "3c1a7d2e",
		"involvedObject.apiVersion":      "v1",
		"involvedObject.resourceVersion": "42",
		"involvedObject.fieldPath":       "spec.containers{app}",
		"reason":                         "Pulled",
		"reportingComponent":             "",
		"source":                         "kubelet",
		"type":                           "Normal",
	}
	if got := (coreEventStrategy{}).FieldSet(validCoreEvent()); !semanticEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := (coreEventStrategy{}).FieldSet(newStyleCoreEvent())["source"]; got != "skiff.io/scheduler" {
		t.Errorf("source of a new-style event: got %q, want the reporting controller", got)
	}
}

func validEvent() *eventsv1.Event {
	return &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: "web.17a3b2c1d0e9f8a7", Namespace: "default"},
		EventTime:           metav1.NewMicroTime(time.Unix(1700000000, 0)),
		ReportingController: "skiff.io/scheduler",
		ReportingInstance:   "scheduler-1",
		Action:              "Binding",
		Reason:              "Scheduled",
		Regarding:           corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web", UID: "3c1a7d2e", APIVersion: "v1"},
		Note:                "Successfully assigned default/web to node-1",
		Type:                corev1.EventTypeNormal,
	}
}

func TestEventValidation(t *testing.T) {
	runValidateCases(t, eventStrategy{}, validEvent, []validateCase[*eventsv1.Event]{
		{name: "a scheduler event is valid"},
		{"an event name is a DNS subdomain", func(e *eventsv1.Event) { e.Name = "system:foo.17a3" }, []fieldErr{invalid("metadata.name")}},
		{"an event needs an eventTime", func(e *eventsv1.Event) { e.EventTime = metav1.MicroTime{} }, []fieldErr{required("eventTime")}},
		{"an event type is Normal or Warning", func(e *eventsv1.Event) { e.Type = "Info" }, []fieldErr{invalid("type")}},
		{"an event names its reporting controller", func(e *eventsv1.Event) { e.ReportingController = "" }, []fieldErr{required("reportingController")}},
		{"a reporting controller is a qualified name", func(e *eventsv1.Event) { e.ReportingController = "my scheduler" },
			[]fieldErr{invalid("reportingController")}},
		{"an event needs a reason and an action", func(e *eventsv1.Event) { e.Reason, e.Action = "", "" },
			[]fieldErr{required("reason"), required("action")}},
		{"a reason is at most 128 characters", func(e *eventsv1.Event) { e.Reason = strings.Repeat("x", 129) }, []fieldErr{invalid("reason")}},
		{"a note is at most 1024 characters", func(e *eventsv1.Event) { e.Note = strings.Repeat("x", 1025) }, []fieldErr{invalid("note")}},
		{"an event lives in its object's namespace", func(e *eventsv1.Event) { e.Regarding.Namespace = "other" },
			[]fieldErr{invalid("regarding.namespace")}},
		{"deprecated fields stay unset", func(e *eventsv1.Event) { e.DeprecatedCount = 3 }, []fieldErr{invalid("deprecatedCount")}},
		{"a series has repeated at least twice", func(e *eventsv1.Event) {
			e.Series = &eventsv1.EventSeries{Count: 1, LastObservedTime: metav1.NewMicroTime(time.Unix(1700000100, 0))}
		}, []fieldErr{invalid("series.count")}},
		{"a series records when it was last observed", func(e *eventsv1.Event) { e.Series = &eventsv1.EventSeries{Count: 2} },
			[]fieldErr{required("series.lastObservedTime")}},
	})
}

func TestEventUpdateValidation(t *testing.T) {
	runUpdateCases(t, eventStrategy{}, validEvent, []updateCase[*eventsv1.Event]{
		{name: "a series may be added", update: func(e *eventsv1.Event) {
			e.Series = &eventsv1.EventSeries{Count: 2, LastObservedTime: metav1.NewMicroTime(time.Unix(1700000100, 0))}
		}},
		{name: "the note does not change", update: func(e *eventsv1.Event) { e.Note = "edited" }, want: []fieldErr{invalid("note")}},
		{name: "the regarded object does not change", update: func(e *eventsv1.Event) { e.Regarding.Name = "db" },
			want: []fieldErr{invalid("regarding")}},
	})
}

func TestEventFieldSet(t *testing.T) {
	got := (eventStrategy{}).FieldSet(validEvent())
	for k, v := range map[string]string{"regarding.name": "web", "regarding.kind": "Pod", "reason": "Scheduled", "reportingController": "skiff.io/scheduler", "type": "Normal", "metadata.namespace": "default"} {
		if got[k] != v {
			t.Errorf("%s: got %q, want %q", k, got[k], v)
		}
	}
}

func TestEventReportingValidation(t *testing.T) {
	runValidateCases(t, eventStrategy{}, validEvent, []validateCase[*eventsv1.Event]{
		{"a reporting instance is at most 128 characters", func(e *eventsv1.Event) { e.ReportingInstance = strings.Repeat("x", 129) },
			[]fieldErr{invalid("reportingInstance")}},
		{"an event about a cluster-scoped object may live in kube-system", func(e *eventsv1.Event) {
			e.Namespace = "kube-system"
			e.Regarding = corev1.ObjectReference{Kind: "Node", Name: "node-1"}
		}, nil},
	})
}
