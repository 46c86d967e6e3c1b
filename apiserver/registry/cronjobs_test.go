package registry

import (
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func newCronJob() *batchv1.CronJob {
	t := podTemplate()
	t.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
	return &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "nightly", Namespace: "default"},
		Spec: batchv1.CronJobSpec{
			Schedule:    "0 3 * * *",
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: t}},
		},
	}
}

func validCronJob() *batchv1.CronJob {
	cj := newCronJob()
	cronJobStrategy{}.Default(cj)
	return cj
}

func TestCronJobDefaults(t *testing.T) {
	runDefaultCases(t, cronJobStrategy{}, []defaultCase[*batchv1.CronJob]{
		{"runs may overlap by default", newCronJob, func(cj *batchv1.CronJob) any { return cj.Spec.ConcurrencyPolicy }, batchv1.AllowConcurrent},
		{"a cron job is not suspended", newCronJob, func(cj *batchv1.CronJob) any { return *cj.Spec.Suspend }, false},
		{"three successful jobs are kept", newCronJob, func(cj *batchv1.CronJob) any { return *cj.Spec.SuccessfulJobsHistoryLimit }, int32(3)},
		{"one failed job is kept", newCronJob, func(cj *batchv1.CronJob) any { return *cj.Spec.FailedJobsHistoryLimit }, int32(1)},
		{"the job's pod template gets pod spec defaults", newCronJob,
			func(cj *batchv1.CronJob) any {
				return cj.Spec.JobTemplate.Spec.Template.Spec.TerminationGracePeriodSeconds
			}, ptrTo[int64](30)},
	})
}

func TestCronJobValidation(t *testing.T) {
	schedule := func(s string) func(*batchv1.CronJob) { return func(cj *batchv1.CronJob) { cj.Spec.Schedule = s } }
	runValidateCases(t, cronJobStrategy{}, validCronJob, []validateCase[*batchv1.CronJob]{
		{name: "a nightly cron job is valid"},
		{"a name is at most 52 characters", func(cj *batchv1.CronJob) { cj.Name = strings.Repeat("a", 53) }, []fieldErr{invalid("metadata.name")}},
		{"a schedule is required", schedule(""), []fieldErr{required("spec.schedule")}},
		{"a schedule has five fields", schedule("0 3 * *"), []fieldErr{invalid("spec.schedule")}},
		{"a schedule may use ranges, lists, steps and names", schedule("*/15 9-17 1,15 jan-jun mon-fri"), nil},
		{"a schedule may be a descriptor", schedule("@hourly"), nil},
		{"a schedule may not use an unknown descriptor", schedule("@fortnightly"), []fieldErr{invalid("spec.schedule")}},
		{"schedule minutes are below 60", schedule("60 3 * * *"), []fieldErr{invalid("spec.schedule")}},
		{"a schedule may not carry a time zone", schedule("CRON_TZ=UTC 0 3 * * *"), []fieldErr{invalid("spec.schedule")}},
		{"a time zone is set in timeZone", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptrTo("Europe/Paris") }, nil},
		{"timeZone is a known zone", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptrTo("Mars/Olympus") }, []fieldErr{invalid("spec.timeZone")}},
		{"timeZone is not Local", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptrTo("Local") }, []fieldErr{invalid("spec.timeZone")}},
		{"concurrencyPolicy is Allow, Forbid or Replace", func(cj *batchv1.CronJob) { cj.Spec.ConcurrencyPolicy = "Queue" },
			[]fieldErr{notSupported("spec.concurrencyPolicy")}},
		{"startingDeadlineSeconds is not negative", func(cj *batchv1.CronJob) { cj.Spec.StartingDeadlineSeconds = ptrTo[int64](-1) },
			[]fieldErr{invalid("spec.startingDeadlineSeconds")}},
		{"history limits are not negative", func(cj *batchv1.CronJob) { cj.Spec.FailedJobsHistoryLimit = ptrTo[int32](-1) },
			[]fieldErr{invalid("spec.failedJobsHistoryLimit")}},
		{"the job template gets its selector generated", func(cj *batchv1.CronJob) { cj.Spec.JobTemplate.Spec.Selector = webSelector() },
			[]fieldErr{invalid("spec.jobTemplate.spec.selector")}},
		{"the job template's pods do not restart Always", func(cj *batchv1.CronJob) {
			cj.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
		}, []fieldErr{required("spec.jobTemplate.spec.template.spec.restartPolicy")}},
		{"the job template's pod spec is valid", func(cj *batchv1.CronJob) { cj.Spec.JobTemplate.Spec.Template.Spec.Containers = nil },
			[]fieldErr{required("spec.jobTemplate.spec.template.spec.containers")}},
	})
}

func TestCronJobUpdateValidation(t *testing.T) {
	runUpdateCases(t, cronJobStrategy{}, validCronJob, []updateCase[*batchv1.CronJob]{
		{name: "the schedule may change", update: func(cj *batchv1.CronJob) { cj.Spec.Schedule = "@daily" }},
		{name: "a cron job may be suspended", update: func(cj *batchv1.CronJob) { cj.Spec.Suspend = ptrTo(true) }},
		{name: "a schedule stored with a time zone keeps it",
			old:    func(cj *batchv1.CronJob) { cj.Spec.Schedule = "TZ=UTC 0 3 * * *" },
			update: func(cj *batchv1.CronJob) { cj.Spec.Schedule = "TZ=UTC 0 4 * * *" }},
		{name: "a time zone is not added to a schedule",
			update: func(cj *batchv1.CronJob) { cj.Spec.Schedule = "TZ=UTC 0 4 * * *" },
			want:   []fieldErr{invalid("spec.schedule")}},
	})
}

func TestCronScheduleParsing(t *testing.T) {
	for _, c := range []struct {
		schedule string
		err      string
	}{
		{"* * * * *", ""},
		{"0 0 1 1 0", ""},
		{"5/10 * * * *", ""},
		{"? ? ? ? ?", ""},
		{"0 12 * DEC SUN", ""},
		{"@every 1h30m", ""},
		{"@annually", ""},
		{"TZ=Asia/Tokyo 0 9 * * *", ""},
		{"* * * *", "expected exactly 5 fields, found 4: [* * * *]"},
		{"* * * * * *", "expected exactly 5 fields, found 6: [* * * * * *]"},
		{"0 24 * * *", "end of range (24) above maximum (23): 24"},
		{"* * 0 * *", "beginning of range (0) below minimum (1): 0"},
		{"* * * * 7", "end of range (7) above maximum (6): 7"},
		{"30-10 * * * *", "beginning of range (30) beyond end of range (10): 30-10"},
		{"*/0 * * * *", "step of range should be a positive number: */0"},
		{"1-2-3 * * * *", "too many hyphens: 1-2-3"},
		{"*/2/3 * * * *", "too many slashes: */2/3"},
		{"x * * * *", `failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax`},
		{"* * * smarch *", `failed to parse int from smarch: strconv.Atoi: parsing "smarch": invalid syntax`},
		{"@every soon", `failed to parse duration @every soon: time: invalid duration "soon"`},
		{"@weekdays", "unrecognized descriptor: @weekdays"},
		{"TZ=Nowhere/Land * * * * *", "provided bad location Nowhere/Land: unknown time zone Nowhere/Land"},
	} {
		t.Run(c.schedule, func(t *testing.T) {
			got := ""
			if err := parseCronSchedule(c.schedule); err != nil {
				got = err.Error()
			}
			if got != c.err {
				t.Errorf("got error %q, want %q", got, c.err)
			}
		})
	}
}

func TestCronJobTemplateValidation(t *testing.T) {
	runValidateCases(t, cronJobStrategy{}, validCronJob, []validateCase[*batchv1.CronJob]{
		{"the job template has no manual selector", func(cj *batchv1.CronJob) { cj.Spec.JobTemplate.Spec.ManualSelector = ptrTo(true) },
			[]fieldErr{notSupported("spec.jobTemplate.spec.manualSelector")}},
		{"timeZone is not empty", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptrTo("") }, []fieldErr{invalid("spec.timeZone")}},
		{"concurrencyPolicy is required", func(cj *batchv1.CronJob) { cj.Spec.ConcurrencyPolicy = "" }, []fieldErr{required("spec.concurrencyPolicy")}},
		{"the successful jobs history limit is not negative", func(cj *batchv1.CronJob) { cj.Spec.SuccessfulJobsHistoryLimit = ptrTo[int32](-1) },
			[]fieldErr{invalid("spec.successfulJobsHistoryLimit")}},
	})
}
