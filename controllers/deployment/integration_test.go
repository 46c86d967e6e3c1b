package deployment_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/skiffk8s/skiff/apiserver/apitest"
)

// podTracker follows the pods of a namespace with a watch and checks an
// invariant on every state it observes.
type podTracker struct {
	mu     sync.Mutex
	pods   map[types.UID]*corev1.Pod
	errs   []string
	states int
}

func trackPods(t *testing.T, srv *apitest.Server, ns string, check func(pods map[types.UID]*corev1.Pod) string) *podTracker {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	list, err := srv.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pt := &podTracker{pods: map[types.UID]*corev1.Pod{}}
	for i := range list.Items {
		pt.pods[list.Items[i].UID] = &list.Items[i]
	}
	w, err := srv.Client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for ev := range w.ResultChan() {
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			pt.mu.Lock()
			if ev.Type == watch.Deleted {
				delete(pt.pods, pod.UID)
			} else {
				pt.pods[pod.UID] = pod
			}
			pt.states++
			if msg := check(pt.pods); msg != "" {
				pt.errs = append(pt.errs, msg)
			}
			pt.mu.Unlock()
		}
	}()
	return pt
}

func (pt *podTracker) result() (int, []string) {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	return pt.states, append([]string(nil), pt.errs...)
}

func isReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func TestARollingUpdateStaysWithinMaxSurgeAndMaxUnavailable(t *testing.T) {
	srv := apitest.Start(t)
	startControllers(t, srv.Config)
	ns := "rolling"
	newNamespace(t, srv.Client, ns)
	fakeKubelet(t, srv.Client, ns, 150*time.Millisecond)
	ctx := context.Background()
	if _, err := srv.Client.AppsV1().Deployments(ns).Create(ctx, rolling(newDeployment(ns, "web", 4), 1, 1), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitComplete(t, srv.Client, ns, "web")

	pt := trackPods(t, srv, ns, func(pods map[types.UID]*corev1.Pod) string {
		ready := 0
		for _, p := range pods {
			if isReady(p) && p.DeletionTimestamp == nil {
				ready++
			}
		}
		if len(pods) > 5 {
			return "more than replicas+maxSurge=5 pods"
		}
		if ready < 3 {
			return "fewer than replicas-maxUnavailable=3 ready pods"
		}
		return ""
	})
	updateDeployment(t, srv.Client, ns, "web", func(d *appsv1.Deployment) {
		d.Spec.Template.Spec.Containers[0].Image = "busybox:2"
	})
	d := waitComplete(t, srv.Client, ns, "web")
	states, errs := pt.result()
	if len(errs) > 0 {
		t.Fatalf("rollout broke its bounds in %d of %d observed states; first: %s", len(errs), states, errs[0])
	}
	if states < 8 {
		t.Errorf("observed only %d pod states during the rollout", states)
	}
	if got := d.Annotations["deployment.kubernetes.io/revision"]; got != "2" {
		t.Errorf("deployment revision = %q, want 2", got)
	}
	pods, _ := srv.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	for _, p := range pods.Items {
		if p.Spec.Containers[0].Image != "busybox:2" {
			t.Errorf("pod %s still runs %s", p.Name, p.Spec.Containers[0].Image)
		}
		if !strings.HasPrefix(p.Name, "web-"+p.Labels["pod-template-hash"]+"-") {
			t.Errorf("pod %s is not named after its replica set web-%s", p.Name, p.Labels["pod-template-hash"])
		}
	}
	cond := condition(d, appsv1.DeploymentProgressing)
	if cond == nil || cond.Reason != "NewReplicaSetAvailable" || cond.Status != corev1.ConditionTrue {
		t.Errorf("Progressing condition = %+v, want True NewReplicaSetAvailable", cond)
	}
	if cond := condition(d, appsv1.DeploymentAvailable); cond == nil || cond.Reason != "MinimumReplicasAvailable" {
		t.Errorf("Available condition = %+v, want MinimumReplicasAvailable", cond)
	}
	events, _ := srv.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	var scaling []string
	for _, e := range events.Items {
		if e.Reason == "ScalingReplicaSet" {
			scaling = append(scaling, e.Message)
		}
	}
	if len(scaling) == 0 || !strings.HasPrefix(scaling[0], "Scaled up replica set web-") || !strings.HasSuffix(scaling[0], " from 0 to 4") {
		t.Errorf("ScalingReplicaSet events = %q, want the first to be \"Scaled up replica set web-<hash> from 0 to 4\"", scaling)
	}
}

func condition(d *appsv1.Deployment, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range d.Status.Conditions {
		if d.Status.Conditions[i].Type == t {
			return &d.Status.Conditions[i]
		}
	}
	return nil
}

func TestRecreateDeletesAllOldPodsBeforeCreatingNewOnes(t *testing.T) {
	srv := apitest.Start(t)
	startControllers(t, srv.Config)
	ns := "recreate"
	newNamespace(t, srv.Client, ns)
	fakeKubelet(t, srv.Client, ns, 50*time.Millisecond)
	d := newDeployment(ns, "db", 3)
	d.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType
	if _, err := srv.Client.AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitComplete(t, srv.Client, ns, "db")
	pt := trackPods(t, srv, ns, func(pods map[types.UID]*corev1.Pod) string {
		var old, cur int
		for _, p := range pods {
			if p.Spec.Containers[0].Image == "busybox:2" {
				cur++
			} else {
				old++
			}
		}
		if old > 0 && cur > 0 {
			return "old and new pods exist at once"
		}
		return ""
	})
	updateDeployment(t, srv.Client, ns, "db", func(d *appsv1.Deployment) {
		d.Spec.Template.Spec.Containers[0].Image = "busybox:2"
	})
	waitComplete(t, srv.Client, ns, "db")
	if states, errs := pt.result(); len(errs) > 0 {
		t.Fatalf("in %d of %d observed states: %s", len(errs), states, errs[0])
	}
}

func TestKubectlRolloutUndoRestoresThePreviousTemplateAndRevision(t *testing.T) {
	srv := apitest.Start(t)
	startControllers(t, srv.Config)
	ns := "undo"
	newNamespace(t, srv.Client, ns)
	fakeKubelet(t, srv.Client, ns, 20*time.Millisecond)
	if _, err := srv.Client.AppsV1().Deployments(ns).Create(context.Background(), newDeployment(ns, "web", 2), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	out, err := kubectl(t, srv, "-n", ns, "rollout", "status", "deployment/web", "--timeout=20s")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `deployment "web" successfully rolled out`) {
		t.Errorf("rollout status printed %q", out)
	}
	if _, err := kubectl(t, srv, "-n", ns, "set", "image", "deployment/web", "app=busybox:2"); err != nil {
		t.Fatal(err)
	}
	if _, err := kubectl(t, srv, "-n", ns, "rollout", "status", "deployment/web", "--timeout=20s"); err != nil {
		t.Fatal(err)
	}
	hist, err := kubectl(t, srv, "-n", ns, "rollout", "history", "deployment/web")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(hist, "1 ") || !strings.Contains(hist, "2 ") {
		t.Errorf("rollout history lacks revisions 1 and 2:\n%s", hist)
	}
	out, err = kubectl(t, srv, "-n", ns, "rollout", "undo", "deployment/web")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "deployment.apps/web rolled back") {
		t.Errorf("rollout undo printed %q", out)
	}
	d := waitComplete(t, srv.Client, ns, "web")
	if img := d.Spec.Template.Spec.Containers[0].Image; img != "busybox:1" {
		t.Errorf("template image after undo = %s, want busybox:1", img)
	}
	if rev := d.Annotations["deployment.kubernetes.io/revision"]; rev != "3" {
		t.Errorf("revision after undo = %s, want 3", rev)
	}
	rss, _ := srv.Client.AppsV1().ReplicaSets(ns).List(context.Background(), metav1.ListOptions{})
	if len(rss.Items) != 2 {
		t.Fatalf("%d replica sets after undo, want the 2 of the two templates", len(rss.Items))
	}
	for _, rs := range rss.Items {
		if rs.Spec.Template.Spec.Containers[0].Image != "busybox:1" {
			continue
		}
		if rs.Annotations["deployment.kubernetes.io/revision"] != "3" || rs.Annotations["deployment.kubernetes.io/revision-history"] != "1" {
			t.Errorf("rolled-back-to replica set annotations = %v, want revision 3 and revision-history 1", rs.Annotations)
		}
		if *rs.Spec.Replicas != 2 {
			t.Errorf("rolled-back-to replica set has %d replicas, want 2", *rs.Spec.Replicas)
		}
	}

	if _, err := kubectl(t, srv, "-n", ns, "scale", "deployment/web", "--replicas=5"); err != nil {
		t.Fatal(err)
	}
	d = waitComplete(t, srv.Client, ns, "web")
	if d.Status.AvailableReplicas != 5 {
		t.Errorf("available after scale = %d, want 5", d.Status.AvailableReplicas)
	}

	if _, err := kubectl(t, srv, "-n", ns, "rollout", "restart", "deployment/web"); err != nil {
		t.Fatal(err)
	}
	d = waitComplete(t, srv.Client, ns, "web")
	if d.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"] == "" || d.Annotations["deployment.kubernetes.io/revision"] != "4" {
		t.Errorf("after restart: template annotations %v, revision %s; want restartedAt and revision 4", d.Spec.Template.Annotations, d.Annotations["deployment.kubernetes.io/revision"])
	}
}

func TestAPausedDeploymentDoesNotRollUntilResumed(t *testing.T) {
	srv := apitest.Start(t)
	startControllers(t, srv.Config)
	ns := "paused"
	newNamespace(t, srv.Client, ns)
	fakeKubelet(t, srv.Client, ns, 20*time.Millisecond)
	if _, err := srv.Client.AppsV1().Deployments(ns).Create(context.Background(), newDeployment(ns, "web", 2), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitComplete(t, srv.Client, ns, "web")
	if _, err := kubectl(t, srv, "-n", ns, "rollout", "pause", "deployment/web"); err != nil {
		t.Fatal(err)
	}
	if _, err := kubectl(t, srv, "-n", ns, "set", "image", "deployment/web", "app=busybox:2"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "DeploymentPaused condition", func() (bool, error) {
		d := getDeployment(t, srv.Client, ns, "web")
		c := condition(d, appsv1.DeploymentProgressing)
		return c != nil && c.Reason == "DeploymentPaused" && c.Status == corev1.ConditionUnknown, nil
	})
	time.Sleep(500 * time.Millisecond)
	rss, _ := srv.Client.AppsV1().ReplicaSets(ns).List(context.Background(), metav1.ListOptions{})
	if len(rss.Items) != 1 {
		t.Fatalf("a paused deployment has %d replica sets, want 1", len(rss.Items))
	}
	if _, err := kubectl(t, srv, "-n", ns, "rollout", "resume", "deployment/web"); err != nil {
		t.Fatal(err)
	}
	d := waitComplete(t, srv.Client, ns, "web")
	pods, _ := srv.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	for _, p := range pods.Items {
		if p.Spec.Containers[0].Image != "busybox:2" {
			t.Errorf("after resume pod %s runs %s", p.Name, p.Spec.Containers[0].Image)
		}
	}
	if c := condition(d, appsv1.DeploymentProgressing); c == nil || c.Reason != "NewReplicaSetAvailable" {
		t.Errorf("Progressing after resume = %+v", c)
	}
}

func TestARolloutWithoutReadyPodsExceedsItsProgressDeadline(t *testing.T) {
	srv := apitest.Start(t)
	startControllers(t, srv.Config)
	ns := "deadline"
	newNamespace(t, srv.Client, ns)
	d := newDeployment(ns, "stuck", 2)
	two := int32(2)
	d.Spec.ProgressDeadlineSeconds = &two
	if _, err := srv.Client.AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "ProgressDeadlineExceeded", func() (bool, error) {
		d := getDeployment(t, srv.Client, ns, "stuck")
		c := condition(d, appsv1.DeploymentProgressing)
		return c != nil && c.Reason == "ProgressDeadlineExceeded" && c.Status == corev1.ConditionFalse, nil
	})
	d = getDeployment(t, srv.Client, ns, "stuck")
	c := condition(d, appsv1.DeploymentProgressing)
	if !strings.HasPrefix(c.Message, `ReplicaSet "stuck-`) || !strings.HasSuffix(c.Message, `" has timed out progressing.`) {
		t.Errorf("message = %q", c.Message)
	}
	if c := condition(d, appsv1.DeploymentAvailable); c == nil || c.Status != corev1.ConditionFalse || c.Reason != "MinimumReplicasUnavailable" {
		t.Errorf("Available = %+v, want False MinimumReplicasUnavailable", c)
	}
	if _, err := kubectl(t, srv, "-n", ns, "rollout", "status", "deployment/stuck", "--timeout=5s"); err == nil || !strings.Contains(err.Error(), "exceeded its progress deadline") {
		t.Errorf("rollout status error = %v, want it to report the exceeded deadline", err)
	}
}
