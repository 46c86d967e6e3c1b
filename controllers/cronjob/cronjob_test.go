package cronjob

import (
	"context"
	"slices"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/skiffk8s/skiff/controllers/internal/ctrltest"
)

func newCronJob(schedule string, policy batchv1.ConcurrencyPolicy) *batchv1.CronJob {
	return &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "tick", Namespace: "default", UID: "cj-uid",
			CreationTimestamp: metav1.Time{Time: ctrltest.Epoch.Add(-90 * time.Second)}},
		Spec: batchv1.CronJobSpec{
			Schedule:          schedule,
			ConcurrencyPolicy: policy,
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "tick"}},
				Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    []corev1.Container{{Name: "c", Image: "busybox"}},
				}}},
			},
		},
	}
}

func ownedJob(cj *batchv1.CronJob, name string, finished batchv1.JobConditionType, start time.Time) *batchv1.Job {
	j := jobFromTemplate(cj, start)
	j.Name, j.UID = name, types.UID(name+"-uid")
	j.Status.StartTime = &metav1.Time{Time: start}
	if finished != "" {
		j.Status.Conditions = []batchv1.JobCondition{{Type: finished, Status: corev1.ConditionTrue}}
		j.Status.CompletionTime = &metav1.Time{Time: start.Add(time.Second)}
	}
	return j
}

func TestSync(t *testing.T) {
	// Epoch is 10:00:30, so the last schedule time of "*/1 * * * *" is 10:00:00.
	due := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name       string
		cj         func() *batchv1.CronJob
		jobs       func(*batchv1.CronJob) []*batchv1.Job
		wantWrites []string
		wantEvents []string
		check      func(*testing.T, *batchv1.CronJob)
	}{{
		name:       "a due schedule creates the job named by its minute and records it as active",
		cj:         func() *batchv1.CronJob { return newCronJob("*/1 * * * *", batchv1.AllowConcurrent) },
		wantWrites: []string{"create jobs tick-29539320", "update cronjobs/status tick"},
		wantEvents: []string{"Normal SuccessfulCreate Created job tick-29539320"},
		check: func(t *testing.T, cj *batchv1.CronJob) {
			if len(cj.Status.Active) != 1 || !cj.Status.LastScheduleTime.Time.Equal(due) {
				t.Errorf("active %v lastScheduleTime %v", cj.Status.Active, cj.Status.LastScheduleTime)
			}
		},
	}, {
		name: "Forbid with a running job starts nothing and says so",
		cj: func() *batchv1.CronJob {
			cj := newCronJob("*/1 * * * *", batchv1.ForbidConcurrent)
			cj.Status.Active = []corev1.ObjectReference{{Name: "tick-1", Namespace: "default", UID: "tick-1-uid"}}
			return cj
		},
		jobs: func(cj *batchv1.CronJob) []*batchv1.Job {
			return []*batchv1.Job{ownedJob(cj, "tick-1", "", due.Add(-time.Hour))}
		},
		wantEvents: []string{"Normal JobAlreadyActive Not starting job because prior execution is running and concurrency policy is Forbid"},
	}, {
		name: "Replace deletes the running job before starting the new one",
		cj: func() *batchv1.CronJob {
			cj := newCronJob("*/1 * * * *", batchv1.ReplaceConcurrent)
			cj.Status.Active = []corev1.ObjectReference{{Name: "tick-1", Namespace: "default", UID: "tick-1-uid"}}
			return cj
		},
		jobs: func(cj *batchv1.CronJob) []*batchv1.Job {
			return []*batchv1.Job{ownedJob(cj, "tick-1", "", due.Add(-time.Hour))}
		},
		wantWrites: []string{"delete jobs tick-1", "create jobs tick-29539320", "update cronjobs/status tick"},
		wantEvents: []string{"Normal SuccessfulDelete Deleted job tick-1", "Normal SuccessfulCreate Created job tick-29539320"},
	}, {
		name: "a suspended cronjob trims history to the limit, oldest first, and starts nothing",
		cj: func() *batchv1.CronJob {
			cj := newCronJob("*/1 * * * *", batchv1.AllowConcurrent)
			cj.Spec.Suspend = ptr.To(true)
			cj.Spec.SuccessfulJobsHistoryLimit = ptr.To[int32](1)
			return cj
		},
		jobs: func(cj *batchv1.CronJob) []*batchv1.Job {
			return []*batchv1.Job{
				ownedJob(cj, "tick-3", batchv1.JobComplete, due.Add(-1*time.Minute)),
				ownedJob(cj, "tick-1", batchv1.JobComplete, due.Add(-3*time.Minute)),
				ownedJob(cj, "tick-2", batchv1.JobComplete, due.Add(-2*time.Minute)),
			}
		},
		wantWrites: []string{"delete jobs tick-1", "delete jobs tick-2", "update cronjobs/status tick"},
		wantEvents: []string{"Normal SuccessfulDelete Deleted job tick-1", "Normal SuccessfulDelete Deleted job tick-2"},
		check: func(t *testing.T, cj *batchv1.CronJob) {
			if cj.Status.LastSuccessfulTime == nil || !cj.Status.LastSuccessfulTime.Time.Equal(due.Add(-time.Minute+time.Second)) {
				t.Errorf("lastSuccessfulTime %v", cj.Status.LastSuccessfulTime)
			}
		},
	}, {
		name: "a schedule missed by more than startingDeadlineSeconds is skipped with MissSchedule",
		cj: func() *batchv1.CronJob {
			cj := newCronJob("0 * * * *", batchv1.AllowConcurrent)
			cj.CreationTimestamp = metav1.Time{Time: due.Add(-2 * time.Hour)}
			cj.Status.LastScheduleTime = &metav1.Time{Time: due.Add(-time.Hour)}
			cj.Spec.StartingDeadlineSeconds = ptr.To[int64](10)
			return cj
		},
	}, {
		name: "more than 100 missed start times warns TooManyMissedTimes and starts the latest",
		cj: func() *batchv1.CronJob {
			cj := newCronJob("*/1 * * * *", batchv1.AllowConcurrent)
			cj.CreationTimestamp = metav1.Time{Time: due.Add(-3 * time.Hour)}
			return cj
		},
		wantWrites: []string{"create jobs tick-29539320", "update cronjobs/status tick"},
		wantEvents: []string{"Warning TooManyMissedTimes too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew", "Normal SuccessfulCreate Created job tick-29539320"},
	}, {
		name: "spec.timeZone shifts the schedule: 10:00 in Berlin is not due at 10:00 UTC",
		cj: func() *batchv1.CronJob {
			cj := newCronJob("0 10 * * *", batchv1.AllowConcurrent)
			cj.Spec.TimeZone = ptr.To("Europe/Berlin")
			return cj
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			cj := tc.cj()
			var jobs []*batchv1.Job
			if tc.jobs != nil {
				jobs = tc.jobs(cj)
			}
			u := ctrltest.NewUnit(t, cj)
			for _, j := range jobs {
				u.Fake.Tracker().Add(j)
			}
			jm := newController(u.Context)
			u.Add(t, cj)
			for _, j := range jobs {
				u.Add(t, j)
			}
			if err := jm.sync(context.Background(), "default/tick"); err != nil {
				t.Fatalf("sync: %v", err)
			}
			if got := u.Writes(); !slices.Equal(got, tc.wantWrites) {
				t.Errorf("writes %q, want %q", got, tc.wantWrites)
			}
			if got := u.Events(); !slices.Equal(got, tc.wantEvents) {
				t.Errorf("events %q, want %q", got, tc.wantEvents)
			}
			if tc.check != nil {
				got, _ := u.Fake.BatchV1().CronJobs("default").Get(context.Background(), "tick", metav1.GetOptions{})
				tc.check(t, got)
			}
		})
	}
}

func TestCreatedJobCarriesTheScheduledTimestampInTheTimeZone(t *testing.T) {
	cj := newCronJob("0 10 * * *", batchv1.AllowConcurrent)
	cj.Spec.TimeZone = ptr.To("Europe/Berlin")
	j := jobFromTemplate(cj, time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	if got := j.Annotations[batchv1.CronJobScheduledTimestampAnnotation]; got != "2026-03-01T10:00:00+01:00" {
		t.Errorf("annotation %q", got)
	}
	if j.Name != "tick-29539260" || j.Labels["app"] != "tick" || !metav1.IsControlledBy(j, cj) {
		t.Errorf("job %s labels %v owners %v", j.Name, j.Labels, j.OwnerReferences)
	}
}
