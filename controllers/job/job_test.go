package job

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/skiffk8s/skiff/controllers/internal/ctrltest"
)

func newJob(name string, completions, parallelism, backoff int32) *batchv1.Job {
	uid := types.UID(name + "-uid")
	labels := map[string]string{batchv1.ControllerUidLabel: string(uid), batchv1.JobNameLabel: name}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: uid},
		Spec: batchv1.JobSpec{
			Completions:  ptr.To(completions),
			Parallelism:  ptr.To(parallelism),
			BackoffLimit: ptr.To(backoff),
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{batchv1.ControllerUidLabel: string(uid)}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    []corev1.Container{{Name: "work", Image: "busybox"}},
				},
			},
		},
	}
}

func podOf(job *batchv1.Job, name string, phase corev1.PodPhase) *corev1.Pod {
	p := newPod(job, -1)
	p.Name, p.UID = name, types.UID(name+"-uid")
	p.Status.Phase = phase
	return p
}

func indexed(job *batchv1.Job) *batchv1.Job {
	job.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	return job
}

func TestSync(t *testing.T) {
	for _, tc := range []struct {
		name       string
		job        *batchv1.Job
		pods       func(*batchv1.Job) []*corev1.Pod
		wantWrites []string
		wantEvents []string
		check      func(t *testing.T, job *batchv1.Job)
	}{{
		name:       "a new job with parallelism 2 of 3 completions creates two pods and sets its start time",
		job:        newJob("pi", 3, 2, 6),
		wantWrites: []string{"create pods", "create pods", "update jobs/status pi"},
		wantEvents: []string{"Normal SuccessfulCreate Created pod: ", "Normal SuccessfulCreate Created pod: "},
		check: func(t *testing.T, job *batchv1.Job) {
			if job.Status.Active != 2 || job.Status.StartTime == nil {
				t.Errorf("active %d startTime %v, want 2 and set", job.Status.Active, job.Status.StartTime)
			}
		},
	}, {
		name:       "a failed pod is counted through uncountedTerminatedPods, loses its finalizer and is replaced after the back-off",
		job:        newJob("pi", 1, 1, 6),
		pods:       func(j *batchv1.Job) []*corev1.Pod { return []*corev1.Pod{podOf(j, "pi-a", corev1.PodFailed)} },
		wantWrites: []string{"update jobs/status pi", "patch pods pi-a", "update jobs/status pi"},
		check: func(t *testing.T, job *batchv1.Job) {
			if job.Status.Failed != 1 || len(job.Status.UncountedTerminatedPods.Failed) != 0 || job.Status.Active != 0 {
				t.Errorf("failed %d uncounted %v active %d, want 1 failed, none uncounted, none active (back-off)", job.Status.Failed, job.Status.UncountedTerminatedPods, job.Status.Active)
			}
		},
	}, {
		name: "a third failure past backoffLimit 2 sets FailureTarget and Failed with BackoffLimitExceeded",
		job: func() *batchv1.Job {
			j := newJob("pi", 1, 1, 2)
			j.Status.Failed = 2
			return j
		}(),
		pods:       func(j *batchv1.Job) []*corev1.Pod { return []*corev1.Pod{podOf(j, "pi-c", corev1.PodFailed)} },
		wantWrites: []string{"update jobs/status pi", "patch pods pi-c", "update jobs/status pi"},
		wantEvents: []string{"Warning BackoffLimitExceeded Job has reached the specified backoff limit"},
		check: func(t *testing.T, job *batchv1.Job) {
			if got := conditionTypes(job); !slices.Equal(got, []string{"FailureTarget=BackoffLimitExceeded", "Failed=BackoffLimitExceeded"}) {
				t.Errorf("conditions %v", got)
			}
		},
	}, {
		name:       "a succeeded pod completes a one-completion job with SuccessCriteriaMet then Complete",
		job:        newJob("pi", 1, 1, 6),
		pods:       func(j *batchv1.Job) []*corev1.Pod { return []*corev1.Pod{podOf(j, "pi-a", corev1.PodSucceeded)} },
		wantWrites: []string{"update jobs/status pi", "patch pods pi-a", "update jobs/status pi"},
		wantEvents: []string{"Normal Completed Job completed"},
		check: func(t *testing.T, job *batchv1.Job) {
			if got := conditionTypes(job); !slices.Equal(got, []string{"SuccessCriteriaMet=CompletionsReached", "Complete=CompletionsReached"}) {
				t.Errorf("conditions %v", got)
			}
			if job.Status.Succeeded != 1 || job.Status.CompletionTime == nil {
				t.Errorf("succeeded %d completionTime %v", job.Status.Succeeded, job.Status.CompletionTime)
			}
		},
	}, {
		name: "an active job past activeDeadlineSeconds deletes its pod and waits for it before Failed",
		job: func() *batchv1.Job {
			j := newJob("pi", 1, 1, 6)
			j.Spec.ActiveDeadlineSeconds = ptr.To[int64](30)
			j.Status.StartTime = &metav1.Time{Time: ctrltest.Epoch.Add(-time.Minute)}
			return j
		}(),
		pods:       func(j *batchv1.Job) []*corev1.Pod { return []*corev1.Pod{podOf(j, "pi-a", corev1.PodRunning)} },
		wantWrites: []string{"delete pods pi-a", "update jobs/status pi"},
		wantEvents: []string{"Normal SuccessfulDelete Deleted pod: pi-a"},
		check: func(t *testing.T, job *batchv1.Job) {
			if got := conditionTypes(job); !slices.Equal(got, []string{"FailureTarget=DeadlineExceeded"}) {
				t.Errorf("conditions %v, want only FailureTarget until the pod is gone", got)
			}
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			var pods []*corev1.Pod
			if tc.pods != nil {
				pods = tc.pods(tc.job)
			}
			u := ctrltest.NewUnit(t, tc.job)
			for _, p := range pods {
				if _, err := u.Fake.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			jc := newController(u.Context)
			u.Add(t, tc.job)
			for _, p := range pods {
				u.Add(t, p)
			}
			u.Fake.ClearActions()
			if err := jc.sync(context.Background(), "default/"+tc.job.Name); err != nil {
				t.Fatalf("sync: %v", err)
			}
			if got := u.Writes(); !slices.Equal(got, tc.wantWrites) {
				t.Errorf("writes %q, want %q", got, tc.wantWrites)
			}
			events := u.Events()
			for i := range events {
				if strings.HasPrefix(events[i], "Normal SuccessfulCreate Created pod: ") {
					events[i] = "Normal SuccessfulCreate Created pod: "
				}
			}
			if !slices.Equal(events, tc.wantEvents) {
				t.Errorf("events %q, want %q", events, tc.wantEvents)
			}
			got, err := u.Fake.BatchV1().Jobs("default").Get(context.Background(), tc.job.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, got)
			}
		})
	}
}

func TestIndexedPodsCarryTheirIndex(t *testing.T) {
	job := indexed(newJob("idx", 3, 3, 6))
	job.Spec.Template.Spec.Subdomain = "workers"
	u := ctrltest.NewUnit(t, job)
	jc := newController(u.Context)
	u.Add(t, job)
	if err := jc.sync(context.Background(), "default/idx"); err != nil {
		t.Fatal(err)
	}
	pods, _ := u.Fake.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
	var got []string
	for _, p := range pods.Items {
		env := p.Spec.Containers[0].Env
		if len(env) != 1 || env[0].Name != "JOB_COMPLETION_INDEX" || env[0].ValueFrom.FieldRef.FieldPath != "metadata.annotations['batch.kubernetes.io/job-completion-index']" {
			t.Errorf("pod env %+v", env)
		}
		if !slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer) || p.Labels[batchv1.JobNameLabel] != "idx" {
			t.Errorf("pod finalizers %v labels %v", p.Finalizers, p.Labels)
		}
		got = append(got, p.GenerateName+" "+p.Annotations[batchv1.JobCompletionIndexAnnotation]+" "+p.Labels[batchv1.JobCompletionIndexAnnotation]+" "+p.Spec.Hostname)
	}
	slices.Sort(got)
	want := []string{"idx-0- 0 0 idx-0", "idx-1- 1 1 idx-1", "idx-2- 2 2 idx-2"}
	if !slices.Equal(got, want) {
		t.Errorf("pods %q, want %q", got, want)
	}
}

func TestBackoffDoublesFromTenSeconds(t *testing.T) {
	u := ctrltest.NewUnit(t)
	jc := newController(u.Context)
	now := ctrltest.Epoch
	jc.noteBackoff("k", 0, 1, now)
	if got := jc.backoffRemaining("k", now); got != 10*time.Second {
		t.Errorf("after one failure %v, want 10s", got)
	}
	jc.noteBackoff("k", 0, 2, now)
	if got := jc.backoffRemaining("k", now.Add(5*time.Second)); got != 35*time.Second {
		t.Errorf("after three failures, 5s later %v, want 35s", got)
	}
	jc.noteBackoff("k", 0, 20, now)
	if got := jc.backoffRemaining("k", now); got != MaxPodFailureBackOff {
		t.Errorf("after many failures %v, want the cap", got)
	}
	jc.noteBackoff("k", 1, 0, now)
	if got := jc.backoffRemaining("k", now); got != 0 {
		t.Errorf("after a success %v, want 0", got)
	}
}

func TestCompletedIndexesFormat(t *testing.T) {
	set := parseIndexes("0-2,4,7-8", 10)
	if got := formatIndexes(set); got != "0-2,4,7-8" {
		t.Errorf("round trip %q", got)
	}
}

func conditionTypes(job *batchv1.Job) []string {
	var out []string
	for _, c := range job.Status.Conditions {
		if c.Status == corev1.ConditionTrue {
			out = append(out, string(c.Type)+"="+c.Reason)
		}
	}
	return out
}
