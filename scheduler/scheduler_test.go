package scheduler

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffk8s/skiff/apiserver/apitest"
)

func TestAPodIsBoundToTheOnlyNodeWhereItFits(t *testing.T) {
	srv := apitest.Start(t)
	createNode(t, srv, node("small", "1"))
	createNode(t, srv, node("big", "8"))
	createNode(t, srv, node("tainted", "8", corev1.Taint{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}))
	startScheduler(t, testConfig(srv.Client))
	createPod(t, srv, pod("web", "4"))
	waitFor(t, srv, "web", 10*time.Second, "binding to big", boundTo("big"))
	waitForEvent(t, srv, "web", "Scheduled", "Successfully assigned default/web to big")
}

func TestAnUnschedulablePodIsToldWhyAndScheduledWhenAFittingNodeAppears(t *testing.T) {
	srv := apitest.Start(t)
	createNode(t, srv, node("small", "1"))
	createNode(t, srv, node("tainted-a", "8", corev1.Taint{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}))
	createNode(t, srv, node("tainted-b", "8", corev1.Taint{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}))
	startScheduler(t, testConfig(srv.Client))
	createPod(t, srv, pod("web", "4"))
	want := "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {dedicated: gpu}."
	// The scheduler's node informer may start from a list a moment older
	// than the last node (a list at resourceVersion 0, as upstream's);
	// the node's add event then retries the pod, so wait for the verdict
	// over all three.
	waitFor(t, srv, "web", 10*time.Second, "PodScheduled=False Unschedulable: "+want, func(p *corev1.Pod) bool {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled {
				return c.Status == corev1.ConditionFalse && c.Reason == "Unschedulable" && c.Message == want
			}
		}
		return false
	})
	waitForEvent(t, srv, "web", "FailedScheduling", want)

	start := time.Now()
	createNode(t, srv, node("big", "8"))
	// Event-driven: the pod leaves the unschedulable queue on the Node add
	// (back-off applies); the bound only guards against a hang.
	waitFor(t, srv, "web", 15*time.Second, "binding to the new node", boundTo("big"))
	t.Logf("bound %v after the node appeared", time.Since(start))
}

func waitForEvent(t *testing.T, srv *apitest.Server, podName, reason, message string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var seen []string
	for time.Now().Before(deadline) {
		evs, err := srv.Client.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{})
		if err == nil {
			seen = seen[:0]
			for _, e := range evs.Items {
				if e.InvolvedObject.Name == podName && e.Reason == reason {
					if e.Message == message {
						return
					}
					seen = append(seen, e.Message)
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no %s event %q for pod %s; saw %s", reason, message, podName, strings.Join(seen, " | "))
}
