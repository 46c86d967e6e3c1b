package scheduler

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiffk8s/skiff/apiserver/apitest"
	"github.com/skiffk8s/skiff/scheduler/plugins"
)

func TestTheDefaultProfileExplainsInUpstreamsWordsWhyAPodFitsNowhere(t *testing.T) {
	srv := apitest.Start(t)
	// 1 cpu is less than the pod asks for: evicting pods cannot help there
	// either, so preemption finds no node where it helps.
	createNode(t, srv, node("small", "1"))
	createNode(t, srv, node("tainted-a", "8", corev1.Taint{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}))
	createNode(t, srv, node("tainted-b", "8", corev1.Taint{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}))
	cfg := testConfig(srv.Client)
	cfg.Registry, cfg.SchedulerConfig = plugins.NewInTreeRegistry(), nil
	startScheduler(t, cfg)
	createPod(t, srv, pod("web", "4"))
	waitForEvent(t, srv, "web", "FailedScheduling",
		"0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {dedicated: gpu}. "+
			"preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.")
	createNode(t, srv, node("big", "8"))
	waitFor(t, srv, "web", 5*time.Second, "binding to the new node", boundTo("big"))
}
