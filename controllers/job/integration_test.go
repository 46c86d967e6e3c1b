package job

import (
	"context"
	"slices"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/skiffk8s/skiff/controllers/internal/ctrltest"
)

func apiJob(name string, completions, parallelism, backoff int32) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: batchv1.JobSpec{
			Completions:  ptr.To(completions),
			Parallelism:  ptr.To(parallelism),
			BackoffLimit: ptr.To(backoff),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers:    []corev1.Container{{Name: "work", Image: "busybox"}},
			}},
		},
	}
}

// setPhase marks a pod as a kubelet would.
func setPhase(t *testing.T, cs kubernetes.Interface, pod *corev1.Pod, phase corev1.PodPhase) {
	t.Helper()
	pod = pod.DeepCopy()
	pod.Status.Phase = phase
	if _, err := cs.CoreV1().Pods(pod.Namespace).UpdateStatus(context.Background(), pod, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("set pod %s %s: %v", pod.Name, phase, err)
	}
}

func activePods(t *testing.T, cs kubernetes.Interface, job string) []corev1.Pod {
	t.Helper()
	list, err := cs.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=" + job})
	if err != nil {
		t.Fatal(err)
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.Status.Phase != corev1.PodFailed && p.Status.Phase != corev1.PodSucceeded && p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

func TestIntegrationBackoffLimitFailsAfterThreeFailures(t *testing.T) {
	c := ctrltest.NewCluster(t, Name)
	c.Run(t, newController(c.Context))
	cs, ctx := c.Server.Client, context.Background()
	if _, err := cs.BatchV1().Jobs("default").Create(ctx, apiJob("flaky", 1, 1, 2), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for attempt := 1; attempt <= 3; attempt++ {
		var pods []corev1.Pod
		ctrltest.Eventually(t, "a pod for attempt", func() bool {
			pods = activePods(t, cs, "flaky")
			if len(pods) == 0 {
				c.Clock.Step(5 * time.Second) // skip the back-off
			}
			return len(pods) == 1
		})
		if !slices.Contains(pods[0].Finalizers, batchv1.JobTrackingFinalizer) {
			t.Errorf("pod finalizers %v, want the job-tracking finalizer", pods[0].Finalizers)
		}
		setPhase(t, cs, &pods[0], corev1.PodFailed)
		ctrltest.Eventually(t, "the failure counted", func() bool {
			j, _ := cs.BatchV1().Jobs("default").Get(ctx, "flaky", metav1.GetOptions{})
			return j.Status.Failed == int32(attempt)
		})
	}
	var job *batchv1.Job
	ctrltest.Eventually(t, "the job Failed", func() bool {
		job, _ = cs.BatchV1().Jobs("default").Get(ctx, "flaky", metav1.GetOptions{})
		return finishedCondition(job) != nil
	})
	if got := conditionTypes(job); !slices.Equal(got, []string{"FailureTarget=BackoffLimitExceeded", "Failed=BackoffLimitExceeded"}) {
		t.Errorf("conditions %v", got)
	}
	if job.Status.Failed != 3 || job.Status.Active != 0 {
		t.Errorf("failed %d active %d, want 3 and 0", job.Status.Failed, job.Status.Active)
	}
	ctrltest.Eventually(t, "the BackoffLimitExceeded event", func() bool {
		return slices.Contains(ctrltest.EventReasons(t, cs, "default", "flaky"), "BackoffLimitExceeded")
	})
	pods, _ := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	for _, p := range pods.Items {
		if len(p.Finalizers) != 0 {
			t.Errorf("pod %s keeps finalizers %v", p.Name, p.Finalizers)
		}
	}
}

func TestIntegrationIndexedJobCompletesWhenEveryIndexSucceeded(t *testing.T) {
	c := ctrltest.NewCluster(t, Name)
	c.Run(t, newController(c.Context))
	cs, ctx := c.Server.Client, context.Background()
	j := apiJob("idx", 3, 3, 6)
	j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	if _, err := cs.BatchV1().Jobs("default").Create(ctx, j, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var pods []corev1.Pod
	ctrltest.Eventually(t, "three indexed pods", func() bool {
		pods = activePods(t, cs, "idx")
		return len(pods) == 3
	})
	for i := range pods {
		setPhase(t, cs, &pods[i], corev1.PodSucceeded)
		if i == 0 {
			ctrltest.Eventually(t, "one index completed", func() bool {
				j, _ := cs.BatchV1().Jobs("default").Get(ctx, "idx", metav1.GetOptions{})
				return j.Status.Succeeded == 1 && finishedCondition(j) == nil
			})
		}
	}
	var job *batchv1.Job
	ctrltest.Eventually(t, "the job Complete", func() bool {
		job, _ = cs.BatchV1().Jobs("default").Get(ctx, "idx", metav1.GetOptions{})
		return finishedCondition(job) != nil
	})
	if got := conditionTypes(job); !slices.Equal(got, []string{"SuccessCriteriaMet=CompletionsReached", "Complete=CompletionsReached"}) {
		t.Errorf("conditions %v", got)
	}
	if job.Status.CompletedIndexes != "0-2" || job.Status.Succeeded != 3 || job.Status.CompletionTime == nil {
		t.Errorf("completedIndexes %q succeeded %d completionTime %v", job.Status.CompletedIndexes, job.Status.Succeeded, job.Status.CompletionTime)
	}
}

func TestIntegrationTTLDeletesAFinishedJob(t *testing.T) {
	c := ctrltest.NewCluster(t, TTLName)
	c.Run(t, newTTL(c.Context))
	cs, ctx := c.Server.Client, context.Background()
	j := apiJob("done", 1, 1, 6)
	j.Spec.TTLSecondsAfterFinished = ptr.To[int32](60)
	created, err := cs.BatchV1().Jobs("default").Create(ctx, j, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := metav1.Time{Time: c.Clock.Now()}
	created.Status.StartTime = &now
	created.Status.CompletionTime = &now
	created.Status.Succeeded = 1
	created.Status.Conditions = []batchv1.JobCondition{
		{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now, Reason: reasonCompletionsReached},
		{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now, Reason: reasonCompletionsReached},
	}
	if _, err := cs.BatchV1().Jobs("default").UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if _, err := cs.BatchV1().Jobs("default").Get(ctx, "done", metav1.GetOptions{}); err != nil {
		t.Fatalf("job gone before its TTL: %v", err)
	}
	ctrltest.Eventually(t, "the job deleted after its TTL", func() bool {
		c.Clock.Step(10 * time.Second)
		got, err := cs.BatchV1().Jobs("default").Get(ctx, "done", metav1.GetOptions{})
		return err != nil || got.DeletionTimestamp != nil
	})
}
