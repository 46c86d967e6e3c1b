package cronjob

import (
	"fmt"
	"maps"
	"time"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// tooManyMissed is the count of missed start times above which upstream
// warns with TooManyMissedTimes.
const tooManyMissed = 100

// jobNameFor is upstream's Job name: <cronjob>-<minutes since the epoch>.
func jobNameFor(cj *batchv1.CronJob, scheduled time.Time) string {
	return fmt.Sprintf("%s-%d", cj.Name, scheduled.Unix()/60)
}

// jobFromTemplate is the Job cj runs for the scheduled time.
func jobFromTemplate(cj *batchv1.CronJob, scheduled time.Time) *batchv1.Job {
	loc := time.Local
	if tz := ptr.Deref(cj.Spec.TimeZone, ""); tz != "" {
		if l, err := time.LoadLocation(tz); err == nil {
			loc = l
		}
	}
	annotations := maps.Clone(cj.Spec.JobTemplate.Annotations)
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[batchv1.CronJobScheduledTimestampAnnotation] = scheduled.In(loc).Format(time.RFC3339)
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:              jobNameFor(cj, scheduled),
			Namespace:         cj.Namespace,
			Labels:            maps.Clone(cj.Spec.JobTemplate.Labels),
			Annotations:       annotations,
			CreationTimestamp: metav1.Time{Time: scheduled},
			OwnerReferences:   []metav1.OwnerReference{*metav1.NewControllerRef(cj, cronJobKind)},
		},
		Spec: *cj.Spec.JobTemplate.Spec.DeepCopy(),
	}
}

// mostRecentScheduleTime is upstream's: the earliest time to consider
// (last schedule, creation, or now minus startingDeadlineSeconds), the
// most recent unmet schedule time at or before now (nil if none), and how
// many were missed.
func mostRecentScheduleTime(cj *batchv1.CronJob, now time.Time, sched cron.Schedule, withDeadline bool) (time.Time, *time.Time, int64, error) {
	earliest := cj.CreationTimestamp.Time
	if cj.Status.LastScheduleTime != nil {
		earliest = cj.Status.LastScheduleTime.Time
	}
	if d := cj.Spec.StartingDeadlineSeconds; withDeadline && d != nil {
		if dl := now.Add(-time.Duration(*d) * time.Second); dl.After(earliest) {
			earliest = dl
		}
	}
	t1 := sched.Next(earliest)
	t2 := sched.Next(t1)
	if now.Before(t1) {
		return earliest, nil, 0, nil
	}
	if now.Before(t2) {
		return earliest, &t1, 1, nil
	}
	between := int64(t2.Sub(t1).Round(time.Second).Seconds())
	if between < 1 {
		return earliest, nil, 0, fmt.Errorf("time difference between two schedules is less than 1 second")
	}
	missed := int64(now.Sub(t1).Seconds())/between + 1
	recent := time.Unix(t1.Unix()+(missed-1)*between, 0).In(t1.Location())
	// Schedules are not always evenly spaced (months, DST): walk to the
	// true most recent time.
	for n := sched.Next(recent); !n.After(now); n = sched.Next(n) {
		recent = n
	}
	for recent.After(now) {
		recent = recent.Add(-time.Duration(between) * time.Second)
	}
	return earliest, &recent, missed, nil
}

// nextScheduleTime is the time of the job to start now, if any, warning
// with TooManyMissedTimes when more than 100 starts were missed.
func (jm *Controller) nextScheduleTime(cj *batchv1.CronJob, now time.Time, sched cron.Schedule) (*time.Time, error) {
	_, recent, missed, err := mostRecentScheduleTime(cj, now, sched, true)
	if recent == nil || recent.After(now) {
		return nil, err
	}
	if missed > tooManyMissed {
		jm.recorder.Eventf(cj, "Warning", "TooManyMissedTimes", "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew")
	}
	return recent, err
}

// nextScheduleTimeDuration is how long until the schedule time after the
// most recent one, plus a small delta.
func nextScheduleTimeDuration(cj *batchv1.CronJob, now time.Time, sched cron.Schedule) *time.Duration {
	earliest, recent, _, err := mostRecentScheduleTime(cj, now, sched, false)
	if err != nil {
		return nil
	}
	if recent == nil {
		recent = &earliest
	}
	d := sched.Next(*recent).Add(nextScheduleDelta).Sub(now)
	return &d
}
