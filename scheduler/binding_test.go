package scheduler

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffk8s/skiff/apiserver/apitest"
	"github.com/skiffk8s/skiff/scheduler/framework"
)

// gate is a Permit plugin that holds every pod for up to a minute.
type gate struct{}

func (gate) Name() string { return "TestGate" }
func (gate) Permit(context.Context, *framework.CycleState, *corev1.Pod, string) (*framework.Status, time.Duration) {
	return framework.NewStatus(framework.Wait), time.Minute
}

// flakyBinder fails its first Bind and then leaves binding to the next
// bind plugin (Skip).
type flakyBinder struct{ calls *atomic.Int32 }

func (flakyBinder) Name() string { return "TestFlakyBinder" }
func (b flakyBinder) Bind(context.Context, *framework.CycleState, *corev1.Pod, string) *framework.Status {
	if b.calls.Add(1) == 1 {
		return framework.AsStatus(errors.New("the binding service is down"))
	}
	return framework.NewStatus(framework.Skip)
}

// configWith is testConfig's plugins plus extra ones enabled by yaml (a
// plugins: block of the default profile).
func configWith(t *testing.T, srv *apitest.Server, extra map[string]framework.Plugin, plugins string) Config {
	t.Helper()
	cfg := testConfig(srv.Client)
	for name, p := range extra {
		cfg.Registry[name] = plugin(p)
	}
	var err error
	cfg.SchedulerConfig, err = ParseConfig([]byte(`
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: default-scheduler
  plugins:
` + plugins))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestAPodHeldByPermitIsBoundOnlyOnceThePluginAllowsIt(t *testing.T) {
	srv := apitest.Start(t)
	createNode(t, srv, node("n1", "8"))
	s := startScheduler(t, configWith(t, srv, map[string]framework.Plugin{"TestGate": gate{}}, `
    multiPoint:
      enabled:
      - name: TestFitCPU
      - name: TestGate
`))
	fwk := s.profiles["default-scheduler"]
	for _, name := range []string{"allowed", "rejected"} {
		createPod(t, srv, pod(name, "1"))
	}
	waiting := map[string]string{} // name → UID
	deadline := time.Now().Add(10 * time.Second)
	for len(waiting) < 2 && time.Now().Before(deadline) {
		for _, name := range []string{"allowed", "rejected"} {
			p, err := srv.Client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
			if err == nil && fwk.GetWaitingPod(string(p.UID)) != nil {
				waiting[name] = string(p.UID)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(waiting) < 2 {
		t.Fatalf("pods waiting on Permit: %v, want allowed and rejected", waiting)
	}
	time.Sleep(200 * time.Millisecond)
	for _, name := range []string{"allowed", "rejected"} {
		if p, _ := srv.Client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{}); p.Spec.NodeName != "" {
			t.Fatalf("pod %s bound to %s while Permit holds it", name, p.Spec.NodeName)
		}
	}
	fwk.GetWaitingPod(waiting["allowed"]).Allow("TestGate")
	waitFor(t, srv, "allowed", 5*time.Second, "binding once allowed", boundTo("n1"))

	fwk.GetWaitingPod(waiting["rejected"]).Reject("TestGate", "the gate is closed")
	waitFor(t, srv, "rejected", 5*time.Second, "PodScheduled=False", func(p *corev1.Pod) bool {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == "Unschedulable" && c.Message == "the gate is closed" {
				return true
			}
		}
		return false
	})
	waitForEvent(t, srv, "rejected", "FailedScheduling", "the gate is closed")
}

func TestABindFailureRequeuesThePodWhichIsBoundOnTheNextAttempt(t *testing.T) {
	srv := apitest.Start(t)
	createNode(t, srv, node("n1", "8"))
	calls := &atomic.Int32{}
	startScheduler(t, configWith(t, srv, map[string]framework.Plugin{"TestFlakyBinder": flakyBinder{calls}}, `
    multiPoint:
      enabled:
      - name: TestFitCPU
    bind:
      disabled:
      - name: "*"
      enabled:
      - name: TestFlakyBinder
      - name: DefaultBinder
`))
	createPod(t, srv, pod("web", "1"))
	want := `running Bind plugin "TestFlakyBinder": the binding service is down`
	waitForEvent(t, srv, "web", "FailedScheduling", want)
	// The pod goes back to the queue with back-off: until it is retried
	// it shows the error.
	waitFor(t, srv, "web", 10*time.Second, "PodScheduled=False SchedulerError", func(p *corev1.Pod) bool {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
				if c.Reason != "SchedulerError" || c.Message != want {
					t.Errorf("PodScheduled condition = %s %q, want SchedulerError %q", c.Reason, c.Message, want)
				}
				return true
			}
		}
		return false
	})
	waitFor(t, srv, "web", 10*time.Second, "binding on the next attempt", boundTo("n1"))
	waitForEvent(t, srv, "web", "Scheduled", "Successfully assigned default/web to n1")
	if n := calls.Load(); n != 2 {
		t.Errorf("bind attempts = %d, want 2", n)
	}
}
