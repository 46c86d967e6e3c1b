package registry

import (
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // time zones must validate the same on every host

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// cronJobStrategy holds the rules of batch/v1 CronJobs.
type cronJobStrategy struct{}

const (
	// maxCronJobNameLength leaves room for the 11-character suffix the
	// controller appends to name the jobs (63 - 11).
	maxCronJobNameLength              = 52
	defaultSuccessfulJobsHistoryLimit = 3
	defaultFailedJobsHistoryLimit     = 1
)

func (cronJobStrategy) Default(obj runtime.Object) {
	cj := obj.(*batchv1.CronJob)
	spec := &cj.Spec
	if spec.ConcurrencyPolicy == "" {
		spec.ConcurrencyPolicy = batchv1.AllowConcurrent
	}
	if spec.Suspend == nil {
		spec.Suspend = ptrTo(false)
	}
	if spec.SuccessfulJobsHistoryLimit == nil {
		spec.SuccessfulJobsHistoryLimit = ptrTo[int32](defaultSuccessfulJobsHistoryLimit)
	}
	if spec.FailedJobsHistoryLimit == nil {
		spec.FailedJobsHistoryLimit = ptrTo[int32](defaultFailedJobsHistoryLimit)
	}
	defaultPodTemplate(&spec.JobTemplate.Spec.Template)
}

func (cronJobStrategy) Validate(obj runtime.Object) field.ErrorList {
	cj := obj.(*batchv1.CronJob)
	return validateCronJob(cj, false)
}

// validateCronJob checks a CronJob; tzInSchedule allows a TZ= prefix in
// the schedule, kept only for objects stored before timeZone existed.
func validateCronJob(cj *batchv1.CronJob, tzInSchedule bool) field.ErrorList {
	errs := validateMeta(cj, true, validation.NameIsDNSSubdomain)
	if len(cj.Name) > maxCronJobNameLength {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), cj.Name, fmt.Sprintf("must be no more than %d characters", maxCronJobNameLength)))
	}
	spec, path := &cj.Spec, field.NewPath("spec")
	if spec.Schedule == "" {
		errs = append(errs, field.Required(path.Child("schedule"), ""))
	} else {
		errs = append(errs, validateSchedule(spec.Schedule, tzInSchedule, spec.TimeZone, path.Child("schedule"))...)
	}
	errs = append(errs, validateTimeZone(spec.TimeZone, path.Child("timeZone"))...)
	errs = append(errs, supported(spec.ConcurrencyPolicy, path.Child("concurrencyPolicy"),
		batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent)...)
	for _, f := range []struct {
		name  string
		value *int64
	}{
		{"startingDeadlineSeconds", spec.StartingDeadlineSeconds},
		{"successfulJobsHistoryLimit", int64Ptr(spec.SuccessfulJobsHistoryLimit)},
		{"failedJobsHistoryLimit", int64Ptr(spec.FailedJobsHistoryLimit)},
	} {
		if f.value != nil {
			errs = append(errs, nonNegative(*f.value, path.Child(f.name))...)
		}
	}
	return append(errs, validateJobTemplate(&spec.JobTemplate, path.Child("jobTemplate"))...)
}

func int64Ptr(v *int32) *int64 {
	if v == nil {
		return nil
	}
	return ptrTo(int64(*v))
}

func validateSchedule(schedule string, tzInSchedule bool, timeZone *string, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if err := parseCronSchedule(schedule); err != nil {
		errs = append(errs, field.Invalid(path, schedule, err.Error()))
	}
	switch {
	case tzInSchedule && strings.Contains(schedule, "TZ") && timeZone != nil:
		errs = append(errs, field.Invalid(path, schedule, "cannot use both timeZone field and TZ or CRON_TZ in schedule"))
	case !tzInSchedule && strings.Contains(schedule, "TZ"):
		errs = append(errs, field.Invalid(path, schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
	}
	return errs
}

func validateTimeZone(tz *string, path *field.Path) field.ErrorList {
	switch {
	case tz == nil:
		return nil
	case *tz == "":
		return field.ErrorList{field.Invalid(path, *tz, "timeZone must be nil or non-empty string")}
	case strings.EqualFold(*tz, "Local"):
		return field.ErrorList{field.Invalid(path, *tz, "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones")}
	}
	if _, err := time.LoadLocation(*tz); err != nil {
		return field.ErrorList{field.Invalid(path, *tz, err.Error())}
	}
	return nil
}

// validateJobTemplate checks a CronJob's job template: a job spec whose
// selector the Job itself will generate.
func validateJobTemplate(t *batchv1.JobTemplateSpec, path *field.Path) field.ErrorList {
	specPath := path.Child("spec")
	errs := validateJobSpec(&t.Spec, specPath)
	if t.Spec.Selector != nil {
		errs = append(errs, field.Invalid(specPath.Child("selector"), t.Spec.Selector, "`selector` will be auto-generated"))
	}
	if t.Spec.ManualSelector != nil && *t.Spec.ManualSelector {
		errs = append(errs, field.NotSupported(specPath.Child("manualSelector"), t.Spec.ManualSelector, []string{"nil", "false"}))
	}
	return errs
}

func (cronJobStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	cj, oldCJ := obj.(*batchv1.CronJob), old.(*batchv1.CronJob)
	errs := validateCronJob(cj, strings.Contains(oldCJ.Spec.Schedule, "TZ"))
	return append(errs, validateMetaUpdate(cj, oldCJ)...)
}

func (cronJobStrategy) FieldSet(obj runtime.Object) fields.Set {
	return namespacedFields(obj.(metav1.Object), nil)
}
