package registry

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Events exist in two API groups over the same storage: core/v1, whose
// validation stays lenient for old clients, and events.k8s.io/v1, which
// validates strictly on create and keeps an event's identity immutable.

const (
	reportingInstanceLengthLimit = 128
	actionLengthLimit            = 128
	reasonLengthLimit            = 128
	noteLengthLimit              = 1024
)

// coreEventStrategy holds the rules of core/v1 Events.
type coreEventStrategy struct{}

func (coreEventStrategy) Default(runtime.Object) {}

func (coreEventStrategy) Validate(obj runtime.Object) field.ErrorList {
	ev := obj.(*corev1.Event)
	// Event names derive from the involved object's name, which may be any
	// path segment (e.g. RBAC names with ':').
	errs := validateMeta(ev, true, nameIsPathSegment)
	nsPath := field.NewPath("involvedObject", "namespace")
	involvedNS := ev.InvolvedObject.Namespace
	if ev.EventTime.IsZero() {
		// Old-style event: its namespace is the involved object's, or
		// "default" for cluster-scoped objects.
		if (involvedNS == "" && ev.Namespace != metav1.NamespaceDefault) || (involvedNS != "" && involvedNS != ev.Namespace) {
			errs = append(errs, field.Invalid(nsPath, involvedNS, "does not match event.namespace"))
		}
		return errs
	}
	// New-style event (eventTime set), written by the events API library.
	if (involvedNS == "" && ev.Namespace != metav1.NamespaceDefault && ev.Namespace != metav1.NamespaceSystem) || (involvedNS != "" && involvedNS != ev.Namespace) {
		errs = append(errs, field.Invalid(nsPath, involvedNS, "does not match event.namespace"))
	}
	return append(errs, validateReporting(ev.ReportingController, ev.ReportingInstance, ev.Action, ev.Reason, ev.Message,
		field.NewPath("reportingComponent"), field.NewPath("message"))...)
}

// validateReporting checks the fields every new-style event carries.
func validateReporting(controller, instance, action, reason, note string, controllerPath, notePath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if controller == "" {
		errs = append(errs, field.Required(controllerPath, ""))
	} else {
		errs = append(errs, validateQualifiedName(controller, controllerPath)...)
	}
	for _, f := range []struct {
		name  string
		value string
		limit int
	}{
		{"reportingInstance", instance, reportingInstanceLengthLimit},
		{"action", action, actionLengthLimit},
		{"reason", reason, reasonLengthLimit},
	} {
		if f.value == "" {
			errs = append(errs, field.Required(field.NewPath(f.name), ""))
		}
		if len(f.value) > f.limit {
			errs = append(errs, field.Invalid(field.NewPath(f.name), "", fmt.Sprintf("can have at most %v characters", f.limit)))
		}
	}
	if len(note) > noteLengthLimit {
		errs = append(errs, field.Invalid(notePath, "", fmt.Sprintf("can have at most %v characters", noteLengthLimit)))
	}
	return errs
}

func (s coreEventStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	ev, oldEv := obj.(*corev1.Event), old.(*corev1.Event)
	return append(s.Validate(ev), validateMetaUpdate(ev, oldEv)...)
}

func (coreEventStrategy) FieldSet(obj runtime.Object) fields.Set {
	ev := obj.(*corev1.Event)
	source := ev.Source.Component
	if source == "" {
		source = ev.ReportingController
	}
	ref := ev.InvolvedObject
	return namespacedFields(ev, fields.Set{
		"involvedObject.kind":            ref.Kind,
		"involvedObject.namespace":       ref.Namespace,
		"involvedObject.name":            ref.Name,
		"involvedObject.uid":             string(ref.UID),
		"involvedObject.apiVersion":      ref.APIVersion,
		"involvedObject.resourceVersion": ref.ResourceVersion,
		"involvedObject.fieldPath":       ref.FieldPath,
		"reason":                         ev.Reason,
		"reportingComponent":             ev.ReportingController,
		"source":                         source,
		"type":                           ev.Type,
	})
}

// eventStrategy holds the rules of events.k8s.io/v1 Events.
type eventStrategy struct{}

func (eventStrategy) Default(runtime.Object) {}

func (eventStrategy) Validate(obj runtime.Object) field.ErrorList {
	ev := obj.(*eventsv1.Event)
	errs := validateMeta(ev, true, validation.NameIsDNSSubdomain)
	regardingNS := ev.Regarding.Namespace
	if (regardingNS == "" && ev.Namespace != metav1.NamespaceDefault && ev.Namespace != metav1.NamespaceSystem) || (regardingNS != "" && regardingNS != ev.Namespace) {
		errs = append(errs, field.Invalid(field.NewPath("regarding", "namespace"), regardingNS, "does not match event.namespace"))
	}
	errs = append(errs, validateReporting(ev.ReportingController, ev.ReportingInstance, ev.Action, ev.Reason, ev.Note,
		field.NewPath("reportingController"), field.NewPath("note"))...)
	if ev.EventTime.IsZero() {
		errs = append(errs, field.Required(field.NewPath("eventTime"), ""))
	}
	if ev.Type != corev1.EventTypeNormal && ev.Type != corev1.EventTypeWarning {
		errs = append(errs, field.Invalid(field.NewPath("type"), ev.Type, fmt.Sprintf("has invalid value: %v", ev.Type)))
	}
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"deprecatedFirstTimestamp", !ev.DeprecatedFirstTimestamp.IsZero()},
		{"deprecatedLastTimestamp", !ev.DeprecatedLastTimestamp.IsZero()},
		{"deprecatedCount", ev.DeprecatedCount != 0},
		{"deprecatedSource", ev.DeprecatedSource != corev1.EventSource{}},
	} {
		if f.set {
			errs = append(errs, field.Invalid(field.NewPath(f.name), "", "needs to be unset"))
		}
	}
	return append(errs, validateEventSeries(ev.Series)...)
}

func validateEventSeries(s *eventsv1.EventSeries) field.ErrorList {
	if s == nil {
		return nil
	}
	var errs field.ErrorList
	if s.Count < 2 {
		errs = append(errs, field.Invalid(field.NewPath("series", "count"), s.Count, "should be at least 2"))
	}
	if s.LastObservedTime.IsZero() {
		errs = append(errs, field.Required(field.NewPath("series", "lastObservedTime"), ""))
	}
	return errs
}

func (s eventStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	ev, oldEv := obj.(*eventsv1.Event), old.(*eventsv1.Event)
	errs := s.Validate(ev)
	errs = append(errs, validateMetaUpdate(ev, oldEv)...)
	// What happened, to what, and who said so never change; only the
	// series (repetitions) does.
	for _, f := range []struct {
		name     string
		now, was any
	}{
		{"regarding", ev.Regarding, oldEv.Regarding},
		{"related", ev.Related, oldEv.Related},
		{"reason", ev.Reason, oldEv.Reason},
		{"note", ev.Note, oldEv.Note},
		{"type", ev.Type, oldEv.Type},
		{"action", ev.Action, oldEv.Action},
		{"eventTime", ev.EventTime, oldEv.EventTime},
		{"reportingController", ev.ReportingController, oldEv.ReportingController},
		{"reportingInstance", ev.ReportingInstance, oldEv.ReportingInstance},
	} {
		errs = append(errs, immutable(f.now, f.was, field.NewPath(f.name))...)
	}
	return errs
}

func (eventStrategy) FieldSet(obj runtime.Object) fields.Set {
	ev := obj.(*eventsv1.Event)
	ref := ev.Regarding
	return namespacedFields(ev, fields.Set{
		"regarding.kind":            ref.Kind,
		"regarding.namespace":       ref.Namespace,
		"regarding.name":            ref.Name,
		"regarding.uid":             string(ref.UID),
		"regarding.apiVersion":      ref.APIVersion,
		"regarding.resourceVersion": ref.ResourceVersion,
		"regarding.fieldPath":       ref.FieldPath,
		"reason":                    ev.Reason,
		"reportingController":       ev.ReportingController,
		"type":                      ev.Type,
	})
}
