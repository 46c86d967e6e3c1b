package registry

import (
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
)

// newJob is a job as a user writes it; the handler has set its uid.
func newJob() *batchv1.Job {
	t := podTemplate()
	t.Labels = nil
	t.Spec.RestartPolicy = corev1.RestartPolicyNever
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "report", Namespace: "default", UID: "9f2b"},
		Spec:       batchv1.JobSpec{Template: t},
	}
}

func validJob() *batchv1.Job {
	j := newJob()
	jobStrategy{}.Default(j)
	return j
}

func TestJobDefaults(t *testing.T) {
	manual := func() *batchv1.Job {
		j := newJob()
		j.Spec.ManualSelector = ptrTo(true)
		j.Spec.Selector = webSelector()
		j.Spec.Template.Labels = map[string]string{"app": "web"}
		return j
	}
	runDefaultCases(t, jobStrategy{}, []defaultCase[*batchv1.Job]{
		{"a job runs one pod to completion by default", newJob,
			func(j *batchv1.Job) any { return []int32{*j.Spec.Completions, *j.Spec.Parallelism} }, []int32{1, 1}},
		{"a work queue job (parallelism only) keeps completions unset",
			func() *batchv1.Job { j := newJob(); j.Spec.Parallelism = ptrTo[int32](3); return j },
			func(j *batchv1.Job) any { return j.Spec.Completions }, (*int32)(nil)},
		{"parallelism defaults to 1 when completions is set",
			func() *batchv1.Job { j := newJob(); j.Spec.Completions = ptrTo[int32](5); return j },
			func(j *batchv1.Job) any { return *j.Spec.Parallelism }, int32(1)},
		{"backoffLimit defaults to 6", newJob, func(j *batchv1.Job) any { return *j.Spec.BackoffLimit }, int32(6)},
		{"completionMode defaults to NonIndexed", newJob, func(j *batchv1.Job) any { return *j.Spec.CompletionMode }, batchv1.NonIndexedCompletion},
		{"a job is not suspended", newJob, func(j *batchv1.Job) any { return *j.Spec.Suspend }, false},
		{"manualSelector defaults to false", newJob, func(j *batchv1.Job) any { return *j.Spec.ManualSelector }, false},
		{"pods are replaced once terminating or failed", newJob,
			func(j *batchv1.Job) any { return *j.Spec.PodReplacementPolicy }, batchv1.TerminatingOrFailed},
		{"the selector is generated from the job's uid", newJob,
			func(j *batchv1.Job) any { return j.Spec.Selector },
			&metav1.LabelSelector{MatchLabels: map[string]string{"batch.kubernetes.io/controller-uid": "9f2b"}}},
		{"the template is labelled with the job's uid and name", newJob,
			func(j *batchv1.Job) any { return j.Spec.Template.Labels },
			map[string]string{
				"batch.kubernetes.io/controller-uid": "9f2b", "controller-uid": "9f2b",
				"batch.kubernetes.io/job-name": "report", "job-name": "report",
			}},
		{"a manual selector is kept and the template left alone", manual,
			func(j *batchv1.Job) any { return []any{j.Spec.Selector, j.Spec.Template.Labels} },
			[]any{webSelector(), map[string]string{"app": "web"}}},
		{"a job is labelled like its pods", func() *batchv1.Job {
			j := newJob()
			j.Spec.Template.Labels = map[string]string{"app": "report"}
			return j
		}, func(j *batchv1.Job) any { return j.Labels }, map[string]string{"app": "report"}},
		{"a job without pod labels is labelled like its generated pods", newJob,
			func(j *batchv1.Job) any { return j.Labels },
			map[string]string{
				"batch.kubernetes.io/controller-uid": "9f2b", "controller-uid": "9f2b",
				"batch.kubernetes.io/job-name": "report", "job-name": "report",
			}},
		{"the pod template gets pod spec defaults", newJob,
			func(j *batchv1.Job) any { return j.Spec.Template.Spec.DNSPolicy }, corev1.DNSClusterFirst},
		{"defaulting a stored job changes nothing",
			func() *batchv1.Job { return validJob() },
			func(j *batchv1.Job) any { return j }, validJob()},
	})
}

func TestJobValidation(t *testing.T) {
	runValidateCases(t, jobStrategy{}, validJob, []validateCase[*batchv1.Job]{
		{name: "a defaulted job is valid"},
		{"a job with a manual selector is valid", func(j *batchv1.Job) {
			j.Spec.ManualSelector = ptrTo(true)
			j.Spec.Selector = webSelector()
			j.Spec.Template.Labels = map[string]string{"app": "web"}
		}, nil},
		{"a job needs a selector", func(j *batchv1.Job) { j.Spec.Selector = nil }, []fieldErr{required("spec.selector")}},
		{"the selector matches the template labels", func(j *batchv1.Job) { j.Spec.Template.Labels["batch.kubernetes.io/controller-uid"] = "other" },
			[]fieldErr{invalid("spec.template.metadata.labels")}},
		{"a job's pods restart OnFailure", func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure }, nil},
		{"a job's pods do not restart Always", func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways },
			[]fieldErr{required("spec.template.spec.restartPolicy")}},
		{"a job's pods restart OnFailure or Never", func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = "Sometimes" },
			[]fieldErr{notSupported("spec.template.spec.restartPolicy")}},
		{"parallelism is not negative", func(j *batchv1.Job) { j.Spec.Parallelism = ptrTo[int32](-1) }, []fieldErr{invalid("spec.parallelism")}},
		{"completions is not negative", func(j *batchv1.Job) { j.Spec.Completions = ptrTo[int32](-1) }, []fieldErr{invalid("spec.completions")}},
		{"backoffLimit is not negative", func(j *batchv1.Job) { j.Spec.BackoffLimit = ptrTo[int32](-1) }, []fieldErr{invalid("spec.backoffLimit")}},
		{"activeDeadlineSeconds is not negative", func(j *batchv1.Job) { j.Spec.ActiveDeadlineSeconds = ptrTo[int64](-1) },
			[]fieldErr{invalid("spec.activeDeadlineSeconds")}},
		{"completionMode is NonIndexed or Indexed", func(j *batchv1.Job) { j.Spec.CompletionMode = ptrTo[batchv1.CompletionMode]("Ordered") },
			[]fieldErr{notSupported("spec.completionMode")}},
		{"an indexed job needs completions", func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptrTo(batchv1.IndexedCompletion)
			j.Spec.Completions = nil
		}, []fieldErr{required("spec.completions")}},
		{"backoffLimitPerIndex needs indexed completion", func(j *batchv1.Job) { j.Spec.BackoffLimitPerIndex = ptrTo[int32](1) },
			[]fieldErr{invalid("spec.backoffLimitPerIndex")}},
		{"the pod template is a valid pod spec", func(j *batchv1.Job) { j.Spec.Template.Spec.Containers[0].Name = "" },
			[]fieldErr{required("spec.template.spec.containers[0].name")}},
	})
}

func TestJobUpdateValidation(t *testing.T) {
	runUpdateCases(t, jobStrategy{}, validJob, []updateCase[*batchv1.Job]{
		{name: "a job may be suspended", update: func(j *batchv1.Job) { j.Spec.Suspend = ptrTo(true) }},
		{name: "parallelism may change", update: func(j *batchv1.Job) { j.Spec.Parallelism = ptrTo[int32](4) }},
		{name: "the selector does not change", update: func(j *batchv1.Job) {
			j.Spec.Selector.MatchLabels["job-name"] = "report"
		}, want: []fieldErr{invalid("spec.selector")}},
		{name: "the template does not change", update: func(j *batchv1.Job) { j.Spec.Template.Spec.Containers[0].Image = "report:2" },
			want: []fieldErr{invalid("spec.template")}},
		{name: "completions do not change", update: func(j *batchv1.Job) { j.Spec.Completions = ptrTo[int32](3) },
			want: []fieldErr{invalid("spec.completions")}},
		{name: "an elastic indexed job scales completions with parallelism",
			old: func(j *batchv1.Job) { j.Spec.CompletionMode = ptrTo(batchv1.IndexedCompletion) },
			update: func(j *batchv1.Job) {
				j.Spec.Completions, j.Spec.Parallelism = ptrTo[int32](3), ptrTo[int32](3)
			}},
		{name: "the completion mode does not change", update: func(j *batchv1.Job) { j.Spec.CompletionMode = ptrTo(batchv1.IndexedCompletion) },
			want: []fieldErr{invalid("spec.completionMode")}},
	})
}

func TestJobFieldSet(t *testing.T) {
	j := validJob()
	j.Status.Succeeded = 2
	want := fields.Set{"metadata.name": "report", "metadata.namespace": "default", "status.successful": "2"}
	if got := (jobStrategy{}).FieldSet(j); !semanticEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestJobSettingsValidation(t *testing.T) {
	runValidateCases(t, jobStrategy{}, validJob, []validateCase[*batchv1.Job]{
		{"an indexed job with completions is valid", func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptrTo(batchv1.IndexedCompletion)
			j.Spec.Completions, j.Spec.Parallelism = ptrTo[int32](10), ptrTo[int32](3)
		}, nil},
		{"an indexed job runs at most 100000 pods at once", func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptrTo(batchv1.IndexedCompletion)
			j.Spec.Completions, j.Spec.Parallelism = ptrTo[int32](200000), ptrTo[int32](100001)
		}, []fieldErr{invalid("spec.parallelism")}},
		{"ttlSecondsAfterFinished is not negative", func(j *batchv1.Job) { j.Spec.TTLSecondsAfterFinished = ptrTo[int32](-1) },
			[]fieldErr{invalid("spec.ttlSecondsAfterFinished")}},
		{"podReplacementPolicy is TerminatingOrFailed or Failed", func(j *batchv1.Job) {
			j.Spec.PodReplacementPolicy = ptrTo[batchv1.PodReplacementPolicy]("Never")
		}, []fieldErr{notSupported("spec.podReplacementPolicy")}},
		{"a pod failure policy needs pods that never restart", func(j *batchv1.Job) {
			j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{}
		}, []fieldErr{invalid("spec.template.spec.restartPolicy")}},
	})
}
