package printers_test

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func int32p(n int32) *int32 { return &n }

func template() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		NodeSelector: map[string]string{"kubernetes.io/os": "linux"},
		Containers:   []corev1.Container{{Name: "web", Image: "nginx:1.27"}, {Name: "log", Image: "busybox"}},
	}}
}

func selector() *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
}

var objectMeta = metav1.ObjectMeta{Name: "web", Namespace: "default", CreationTimestamp: ago(10 * time.Minute)}

func TestWorkloadColumns(t *testing.T) {
	zero := &appsv1.Deployment{ObjectMeta: objectMeta}
	noSelector := &appsv1.ReplicaSet{ObjectMeta: objectMeta, Spec: appsv1.ReplicaSetSpec{Replicas: int32p(1)}}

	tests := []struct {
		name  string
		gr    schema.GroupResource
		obj   runtime.Object
		cells map[string]interface{}
	}{
		{"a deployment with two of three replicas ready is READY 2/3",
			gr("apps", "deployments"),
			&appsv1.Deployment{ObjectMeta: objectMeta,
				Spec:   appsv1.DeploymentSpec{Replicas: int32p(3), Selector: selector(), Template: template()},
				Status: appsv1.DeploymentStatus{ReadyReplicas: 2, UpdatedReplicas: 3, AvailableReplicas: 2}},
			map[string]interface{}{"Name": "web", "Ready": "2/3", "Up-to-date": int64(3), "Available": int64(2), "Age": "10m",
				"Containers": "web,log", "Images": "nginx:1.27,busybox", "Selector": "app=web"}},
		{"a deployment without replicas prints 0 desired",
			gr("apps", "deployments"), zero,
			map[string]interface{}{"Ready": "0/0", "Containers": "", "Images": ""}},
		{"a replicaset shows desired, current and ready counts",
			gr("apps", "replicasets"),
			&appsv1.ReplicaSet{ObjectMeta: objectMeta,
				Spec:   appsv1.ReplicaSetSpec{Replicas: int32p(3), Selector: selector(), Template: template()},
				Status: appsv1.ReplicaSetStatus{Replicas: 3, ReadyReplicas: 1}},
			map[string]interface{}{"Desired": int64(3), "Current": int64(3), "Ready": int64(1), "Selector": "app=web"}},
		{"a replicaset without selector shows <none>",
			gr("apps", "replicasets"), noSelector,
			map[string]interface{}{"Selector": "<none>"}},
		{"a daemonset shows its scheduling counts and node selector",
			gr("apps", "daemonsets"),
			&appsv1.DaemonSet{ObjectMeta: objectMeta,
				Spec:   appsv1.DaemonSetSpec{Selector: selector(), Template: template()},
				Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, NumberReady: 2, UpdatedNumberScheduled: 1, NumberAvailable: 2}},
			map[string]interface{}{"Desired": int64(3), "Current": int64(3), "Ready": int64(2), "Up-to-date": int64(1), "Available": int64(2),
				"Node Selector": "kubernetes.io/os=linux", "Age": "10m", "Selector": "app=web"}},
		{"a statefulset shows ready over desired",
			gr("apps", "statefulsets"),
			&appsv1.StatefulSet{ObjectMeta: objectMeta,
				Spec:   appsv1.StatefulSetSpec{Replicas: int32p(3), Template: template()},
				Status: appsv1.StatefulSetStatus{ReadyReplicas: 1}},
			map[string]interface{}{"Ready": "1/3", "Containers": "web,log"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := printOne(t, tt.gr, tt.obj)
			for col, want := range tt.cells {
				if got[col] != want {
					t.Errorf("%s = %#v, want %#v", col, got[col], want)
				}
			}
		})
	}
}

func job(mod func(*batchv1.Job)) *batchv1.Job {
	j := &batchv1.Job{ObjectMeta: objectMeta, Spec: batchv1.JobSpec{Selector: selector(), Template: template()}}
	mod(j)
	return j
}

func jobCondition(t batchv1.JobConditionType) batchv1.JobCondition {
	return batchv1.JobCondition{Type: t, Status: corev1.ConditionTrue}
}

func TestJobColumns(t *testing.T) {
	start, end := ago(5*time.Minute), ago(2*time.Minute)
	deleted := ago(time.Second)
	tests := []struct {
		name                      string
		job                       *batchv1.Job
		status, completions, took string
	}{
		{"a job that has not started is Running with no duration",
			job(func(j *batchv1.Job) { j.Spec.Completions = int32p(1) }),
			"Running", "0/1", ""},
		{"a running job's duration runs until now",
			job(func(j *batchv1.Job) {
				j.Spec.Completions = int32p(3)
				j.Status.Succeeded = 1
				j.Status.StartTime = &start
			}),
			"Running", "1/3", "5m"},
		{"a complete job's duration ends at completion",
			job(func(j *batchv1.Job) {
				j.Spec.Completions = int32p(1)
				j.Status.Succeeded = 1
				j.Status.StartTime, j.Status.CompletionTime = &start, &end
				j.Status.Conditions = []batchv1.JobCondition{jobCondition(batchv1.JobSuccessCriteriaMet), jobCondition(batchv1.JobComplete)}
			}),
			"Complete", "1/1", "3m"},
		{"a work queue job shows its parallelism",
			job(func(j *batchv1.Job) { j.Spec.Parallelism = int32p(4); j.Status.Succeeded = 2 }),
			"Running", "2/1 of 4", ""},
		{"a failed job is Failed",
			job(func(j *batchv1.Job) {
				j.Status.Conditions = []batchv1.JobCondition{jobCondition(batchv1.JobFailureTarget), jobCondition(batchv1.JobFailed)}
			}),
			"Failed", "0/1", ""},
		{"a job being deleted is Terminating",
			job(func(j *batchv1.Job) { j.DeletionTimestamp = &deleted }),
			"Terminating", "0/1", ""},
		{"a suspended job is Suspended",
			job(func(j *batchv1.Job) { j.Status.Conditions = []batchv1.JobCondition{jobCondition(batchv1.JobSuspended)} }),
			"Suspended", "0/1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := printOne(t, gr("batch", "jobs"), tt.job)
			if got["Status"] != tt.status || got["Completions"] != tt.completions || got["Duration"] != tt.took {
				t.Errorf("STATUS COMPLETIONS DURATION = %q %q %q, want %q %q %q", got["Status"], got["Completions"], got["Duration"], tt.status, tt.completions, tt.took)
			}
			if got["Images"] != "nginx:1.27,busybox" || got["Selector"] != "app=web" {
				t.Errorf("IMAGES SELECTOR = %q %q", got["Images"], got["Selector"])
			}
		})
	}
}

func TestCronJobColumns(t *testing.T) {
	yes, tz, last := true, "Europe/Paris", ago(30*time.Second)
	tests := []struct {
		name  string
		cj    *batchv1.CronJob
		cells map[string]interface{}
	}{
		{"a cronjob that never ran has no last schedule and unset suspend",
			&batchv1.CronJob{ObjectMeta: objectMeta, Spec: batchv1.CronJobSpec{Schedule: "*/5 * * * *"}},
			map[string]interface{}{"Schedule": "*/5 * * * *", "Timezone": "<none>", "Suspend": "<unset>", "Active": int64(0), "Last Schedule": "<none>", "Selector": "<none>"}},
		{"a suspended cronjob with a time zone and an active job",
			&batchv1.CronJob{ObjectMeta: objectMeta,
				Spec:   batchv1.CronJobSpec{Schedule: "@hourly", TimeZone: &tz, Suspend: &yes, JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: template()}}},
				Status: batchv1.CronJobStatus{Active: []corev1.ObjectReference{{Name: "web-1"}}, LastScheduleTime: &last}},
			map[string]interface{}{"Timezone": "Europe/Paris", "Suspend": "True", "Active": int64(1), "Last Schedule": "30s", "Containers": "web,log"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := printOne(t, gr("batch", "cronjobs"), tt.cj)
			for col, want := range tt.cells {
				if got[col] != want {
					t.Errorf("%s = %#v, want %#v", col, got[col], want)
				}
			}
		})
	}
}
