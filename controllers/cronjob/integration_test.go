package cronjob

import (
	"context"
	"slices"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/skiffk8s/skiff/controllers/internal/ctrltest"
)

func listJobs(t *testing.T, c *ctrltest.Cluster) []batchv1.Job {
	t.Helper()
	l, err := c.Server.Client.BatchV1().Jobs("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

// TestIntegrationEveryMinute: a "*/1" CronJob starts a Job each time the
// fake clock crosses a minute, skips starts under Forbid while one runs,
// and keeps one finished Job of history.
func TestIntegrationEveryMinute(t *testing.T) {
	c := ctrltest.NewCluster(t, Name)
	c.Run(t, newController(c.Context))
	cs, ctx := c.Server.Client, context.Background()
	cj := newCronJob("*/1 * * * *", batchv1.ForbidConcurrent)
	cj.Namespace, cj.UID, cj.CreationTimestamp = "", "", metav1.Time{}
	cj.Spec.SuccessfulJobsHistoryLimit = ptr.To[int32](1)
	if _, err := cs.BatchV1().CronJobs("default").Create(ctx, cj, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(listJobs(t, c)); n != 0 {
		t.Fatalf("%d jobs before the first minute, want 0", n)
	}
	nextMinute := func() {
		now := c.Clock.Now()
		c.Clock.SetTime(now.Truncate(time.Minute).Add(time.Minute + time.Second))
	}
	nextMinute()
	ctrltest.Eventually(t, "the first job", func() bool { return len(listJobs(t, c)) == 1 })
	first := listJobs(t, c)[0]
	if want := jobNameFor(cj, c.Clock.Now().Truncate(time.Minute)); first.Name != want {
		t.Errorf("job %s, want %s", first.Name, want)
	}
	if first.Annotations[batchv1.CronJobScheduledTimestampAnnotation] == "" {
		t.Errorf("job annotations %v, want the scheduled timestamp", first.Annotations)
	}

	// Forbid: the first job still runs at the next minute. (Real minutes
	// leave the controller time to record the job as active; the fake
	// clock must wait for that too.)
	ctrltest.Eventually(t, "the first job in status.active", func() bool {
		got, err := cs.BatchV1().CronJobs("default").Get(ctx, "tick", metav1.GetOptions{})
		return err == nil && len(got.Status.Active) == 1
	})
	nextMinute()
	ctrltest.Eventually(t, "JobAlreadyActive", func() bool {
		return slices.Contains(ctrltest.EventReasons(t, cs, "default", "tick"), "JobAlreadyActive")
	})
	if n := len(listJobs(t, c)); n != 1 {
		t.Fatalf("%d jobs under Forbid, want 1", n)
	}

	// Finish jobs as the job controller would; history keeps one.
	complete := func(j batchv1.Job) {
		now := metav1.Time{Time: c.Clock.Now()}
		j.Status.StartTime, j.Status.CompletionTime, j.Status.Succeeded = &now, &now, 1
		j.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now},
		}
		if _, err := cs.BatchV1().Jobs("default").UpdateStatus(ctx, &j, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// The first job finishing frees the slot: the start skipped under
	// Forbid is made now (upstream starts a missed time while within its
	// deadline), and the first job counts as the last success.
	complete(first)
	var second batchv1.Job
	ctrltest.Eventually(t, "the skipped start made late", func() bool {
		for _, j := range listJobs(t, c) {
			if j.Name != first.Name {
				second = j
				return true
			}
		}
		return false
	})
	got, _ := cs.BatchV1().CronJobs("default").Get(ctx, "tick", metav1.GetOptions{})
	if got.Status.LastSuccessfulTime == nil || len(got.Status.Active) != 1 || got.Status.Active[0].Name != second.Name {
		t.Errorf("status %+v, want the second job active and a last success", got.Status)
	}
	complete(second)
	ctrltest.Eventually(t, "history trimmed to the newest finished job", func() bool {
		jobs := listJobs(t, c)
		return len(jobs) == 1 && jobs[0].Name == second.Name
	})
}
