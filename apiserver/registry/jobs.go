package registry

import (
	"fmt"
	"strconv"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// jobStrategy holds the rules of batch/v1 Jobs.
type jobStrategy struct{}

const (
	defaultBackoffLimit = 6
	// legacyJobNameLabel and legacyControllerUIDLabel predate the
	// batch.kubernetes.io/ prefixed labels; both are still set.
	legacyJobNameLabel         = "job-name"
	legacyControllerUIDLabel   = "controller-uid"
	maxParallelismIndexedJob   = 100000
	maxBackoffLimitPerIndexJob = 1<<31 - 1
)

func (jobStrategy) Default(obj runtime.Object) {
	job := obj.(*batchv1.Job)
	spec := &job.Spec
	if spec.Completions == nil && spec.Parallelism == nil {
		spec.Completions = ptrTo[int32](1)
		spec.Parallelism = ptrTo[int32](1)
	}
	if spec.Parallelism == nil {
		spec.Parallelism = ptrTo[int32](1)
	}
	if spec.BackoffLimit == nil {
		if spec.BackoffLimitPerIndex != nil {
			spec.BackoffLimit = ptrTo[int32](maxBackoffLimitPerIndexJob)
		} else {
			spec.BackoffLimit = ptrTo[int32](defaultBackoffLimit)
		}
	}
	if spec.CompletionMode == nil {
		spec.CompletionMode = ptrTo(batchv1.NonIndexedCompletion)
	}
	if spec.Suspend == nil {
		spec.Suspend = ptrTo(false)
	}
	if spec.PodReplacementPolicy == nil {
		policy := batchv1.TerminatingOrFailed
		if spec.PodFailurePolicy != nil {
			policy = batchv1.Failed
		}
		spec.PodReplacementPolicy = &policy
	}
	if spec.ManualSelector == nil {
		spec.ManualSelector = ptrTo(false)
	}
	// A job carries its pods' labels: those the user gave the template, or
	// the generated ones when there were none (upstream copies these when
	// it next reads the job).
	labels := copyLabels(spec.Template.Labels)
	if spec.Selector == nil && !*spec.ManualSelector && job.UID != "" {
		generateJobSelector(job)
	}
	if len(labels) == 0 {
		labels = copyLabels(spec.Template.Labels)
	}
	if len(job.Labels) == 0 && len(labels) > 0 {
		job.Labels = labels
	}
	defaultPodTemplate(&spec.Template)
}

// generateJobSelector selects the job's pods by the job's uid, and labels
// the template with the uid and the job name (keeping labels the user set).
func generateJobSelector(job *batchv1.Job) {
	t := &job.Spec.Template
	if t.Labels == nil {
		t.Labels = map[string]string{}
	}
	for key, value := range map[string]string{
		batchv1.JobNameLabel:       job.Name,
		legacyJobNameLabel:         job.Name,
		batchv1.ControllerUidLabel: string(job.UID),
		legacyControllerUIDLabel:   string(job.UID),
	} {
		if _, set := t.Labels[key]; !set {
			t.Labels[key] = value
		}
	}
	job.Spec.Selector = &metav1.LabelSelector{
		MatchLabels: map[string]string{batchv1.ControllerUidLabel: string(job.UID)},
	}
}

func copyLabels(l map[string]string) map[string]string {
	c := make(map[string]string, len(l))
	for k, v := range l {
		c[k] = v
	}
	return c
}

func (jobStrategy) Validate(obj runtime.Object) field.ErrorList {
	job := obj.(*batchv1.Job)
	path := field.NewPath("spec")
	errs := validateMeta(job, true, validation.NameIsDNSSubdomain)
	errs = append(errs, validateSelectorMatches(job.Spec.Selector, &job.Spec.Template, path)...)
	return append(errs, validateJobSpec(&job.Spec, path)...)
}

// validateJobSpec checks a job's spec except its selector; it serves Jobs
// and CronJob job templates.
func validateJobSpec(spec *batchv1.JobSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, f := range []struct {
		name  string
		value *int32
	}{
		{"parallelism", spec.Parallelism},
		{"completions", spec.Completions},
		{"backoffLimit", spec.BackoffLimit},
		{"ttlSecondsAfterFinished", spec.TTLSecondsAfterFinished},
	} {
		if f.value != nil {
			errs = append(errs, nonNegative(int64(*f.value), path.Child(f.name))...)
		}
	}
	if spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, nonNegative(*spec.ActiveDeadlineSeconds, path.Child("activeDeadlineSeconds"))...)
	}
	indexed := spec.CompletionMode != nil && *spec.CompletionMode == batchv1.IndexedCompletion
	if spec.CompletionMode != nil {
		errs = append(errs, supported(*spec.CompletionMode, path.Child("completionMode"), batchv1.NonIndexedCompletion, batchv1.IndexedCompletion)...)
	}
	if indexed {
		if spec.Completions == nil {
			errs = append(errs, field.Required(path.Child("completions"), fmt.Sprintf("when completion mode is %s", batchv1.IndexedCompletion)))
		}
		if spec.Parallelism != nil && *spec.Parallelism > maxParallelismIndexedJob {
			errs = append(errs, field.Invalid(path.Child("parallelism"), *spec.Parallelism,
				fmt.Sprintf("must be less than or equal to %d when completion mode is %s", maxParallelismIndexedJob, batchv1.IndexedCompletion)))
		}
	}
	if spec.BackoffLimitPerIndex != nil {
		errs = append(errs, nonNegative(int64(*spec.BackoffLimitPerIndex), path.Child("backoffLimitPerIndex"))...)
		if !indexed {
			errs = append(errs, field.Invalid(path.Child("backoffLimitPerIndex"), *spec.BackoffLimitPerIndex, "requires indexed completion mode"))
		}
	}
	if spec.PodReplacementPolicy != nil {
		errs = append(errs, supported(*spec.PodReplacementPolicy, path.Child("podReplacementPolicy"), batchv1.TerminatingOrFailed, batchv1.Failed)...)
	}
	errs = append(errs, validatePodTemplate(&spec.Template, path.Child("template"))...)
	restartPath := path.Child("template", "spec", "restartPolicy")
	switch rp := spec.Template.Spec.RestartPolicy; rp {
	case corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever:
		if spec.PodFailurePolicy != nil && rp != corev1.RestartPolicyNever {
			errs = append(errs, field.Invalid(restartPath, rp, fmt.Sprintf("only %q is supported when podFailurePolicy is specified", corev1.RestartPolicyNever)))
		}
	case corev1.RestartPolicyAlways, "":
		// Defaulting turns an unset restartPolicy into Always: say what is
		// needed rather than that Always is wrong.
		errs = append(errs, field.Required(restartPath, fmt.Sprintf("valid values: %q, %q", corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever)))
	default:
		errs = append(errs, field.NotSupported(restartPath, rp, []corev1.RestartPolicy{corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever}))
	}
	return errs
}

func (s jobStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	job, oldJob := obj.(*batchv1.Job), old.(*batchv1.Job)
	spec, oldSpec, path := &job.Spec, &oldJob.Spec, field.NewPath("spec")
	errs := append(s.Validate(job), validateMetaUpdate(job, oldJob)...)
	errs = append(errs, validateSelectorUpdate(spec.Selector, oldSpec.Selector)...)
	errs = append(errs, immutable(spec.Template, oldSpec.Template, path.Child("template"))...)
	errs = append(errs, immutable(spec.CompletionMode, oldSpec.CompletionMode, path.Child("completionMode"))...)
	errs = append(errs, immutable(spec.PodFailurePolicy, oldSpec.PodFailurePolicy, path.Child("podFailurePolicy"))...)
	errs = append(errs, immutable(spec.BackoffLimitPerIndex, oldSpec.BackoffLimitPerIndex, path.Child("backoffLimitPerIndex"))...)
	// An indexed job may be scaled (elastic) when completions follows
	// parallelism; otherwise completions is fixed.
	elastic := spec.CompletionMode != nil && *spec.CompletionMode == batchv1.IndexedCompletion &&
		semanticEqual(spec.Completions, spec.Parallelism) && semanticEqual(oldSpec.Completions, oldSpec.Parallelism)
	if !elastic {
		errs = append(errs, immutable(spec.Completions, oldSpec.Completions, path.Child("completions"))...)
	}
	return errs
}

func (jobStrategy) FieldSet(obj runtime.Object) fields.Set {
	job := obj.(*batchv1.Job)
	return namespacedFields(job, fields.Set{"status.successful": strconv.Itoa(int(job.Status.Succeeded))})
}
