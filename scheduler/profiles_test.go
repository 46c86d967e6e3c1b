package scheduler

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffk8s/skiff/apiserver/apitest"
)

func TestTwoProfilesServeTheirOwnSchedulerNamesAndUnknownNamesStayPending(t *testing.T) {
	srv := apitest.Start(t)
	createNode(t, srv, node("n1", "8"))
	cfg := testConfig(srv.Client)
	var err error
	cfg.SchedulerConfig, err = ParseConfig([]byte(`
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: default-scheduler
  plugins:
    multiPoint:
      enabled:
      - name: TestFitCPU
- schedulerName: batch
  plugins:
    multiPoint:
      enabled:
      - name: TestLeastPods
`))
	if err != nil {
		t.Fatal(err)
	}
	startScheduler(t, cfg)
	def, batch, custom := pod("default", "1"), pod("batch", "100"), pod("custom", "1")
	batch.Spec.SchedulerName = "batch" // no TestFitCPU in this profile: 100 cpu fits
	custom.Spec.SchedulerName = "my-own-scheduler"
	createPod(t, srv, def)
	waitFor(t, srv, "default", 10*time.Second, "binding", boundTo("n1"))
	createPod(t, srv, batch)
	createPod(t, srv, custom)
	waitFor(t, srv, "batch", 10*time.Second, "binding by the batch profile", boundTo("n1"))
	waitForEvent(t, srv, "batch", "Scheduled", "Successfully assigned default/batch to n1")
	time.Sleep(500 * time.Millisecond)
	p, err := srv.Client.CoreV1().Pods("default").Get(context.Background(), "custom", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Spec.NodeName != "" || len(p.Status.Conditions) != 0 {
		t.Errorf("pod for an unknown scheduler was touched: nodeName=%q conditions=%v", p.Spec.NodeName, p.Status.Conditions)
	}
}

func TestHealthzAndMetricsAnswer(t *testing.T) {
	srv := apitest.Start(t)
	createNode(t, srv, node("n1", "8"))
	cfg := testConfig(srv.Client)
	cfg.HealthzAddr = "127.0.0.1:0"
	s := startScheduler(t, cfg)
	createPod(t, srv, pod("web", "1"))
	createPod(t, srv, pod("huge", "100"))
	waitFor(t, srv, "web", 10*time.Second, "binding", boundTo("n1"))
	waitForEvent(t, srv, "huge", "FailedScheduling", "0/1 nodes are available: 1 Insufficient cpu.")
	get := func(path string) string { return httpGet(t, s.HealthzAddr(), path) }
	if got := get("/healthz"); got != "ok" {

		t.Errorf("/healthz = %q", got)
	}
	m := get("/metrics")
	for _, want := range []string{
		`scheduler_schedule_attempts_total{profile="default-scheduler",result="scheduled"} 1`,
		`scheduler_schedule_attempts_total{profile="default-scheduler",result="unschedulable"} `,
		`scheduler_pending_pods{queue="unschedulable"} 1`,
		`scheduler_e2e_scheduling_duration_seconds_count{profile="default-scheduler",result="scheduled"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestOnlyTheLeaderSchedulesAndAnotherReplicaTakesOverWhenItStops(t *testing.T) {
	srv := apitest.Start(t)
	createNode(t, srv, node("n1", "8"))
	elected := func(id string) Config {
		cfg := testConfig(srv.Client)
		cfg.LeaderElection = LeaderElection{Enabled: true, Identity: id,
			LeaseDuration: 2 * time.Second, RenewDeadline: 1500 * time.Millisecond, RetryPeriod: 200 * time.Millisecond}
		return cfg
	}
	ctxA, stopA := context.WithCancel(context.Background())
	a, err := New(ctxA, elected("replica-a"))
	if err != nil {
		t.Fatal(err)
	}
	doneA := make(chan error, 1)
	go func() { doneA <- a.Run(ctxA) }()
	defer stopA()
	waitForLeader(t, srv, "replica-a")
	cfgB := elected("replica-b")
	cfgB.HealthzAddr = "127.0.0.1:0"
	b := startScheduler(t, cfgB)

	createPod(t, srv, pod("first", "1"))
	waitFor(t, srv, "first", 10*time.Second, "binding by the leader", boundTo("n1"))
	waitForEvent(t, srv, "first", "Scheduled", "Successfully assigned default/first to n1")
	if m := httpGet(t, b.HealthzAddr(), "/metrics"); strings.Contains(m, "scheduler_schedule_attempts_total") {
		t.Errorf("the standby replica made scheduling attempts while the other led")
	}

	stopA()
	if err := <-doneA; err != nil {
		t.Fatalf("leader Run: %v", err)
	}
	waitForLeader(t, srv, "replica-b")
	createPod(t, srv, pod("second", "1"))
	waitFor(t, srv, "second", 10*time.Second, "binding by the new leader", boundTo("n1"))
	if m := httpGet(t, b.HealthzAddr(), "/metrics"); !strings.Contains(m, `scheduler_schedule_attempts_total{profile="default-scheduler",result="scheduled"} 1`) {
		t.Errorf("the new leader did not count its binding")
	}
}

func waitForLeader(t *testing.T, srv *apitest.Server, id string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	holder := ""
	for time.Now().Before(deadline) {
		l, err := srv.Client.CoordinationV1().Leases("kube-system").Get(context.Background(), DefaultLeaseName, metav1.GetOptions{})
		if err == nil && l.Spec.HolderIdentity != nil {
			if holder = *l.Spec.HolderIdentity; holder == id {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("lease holder = %q, want %q", holder, id)
}

func httpGet(t *testing.T, addr, path string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %s", path, resp.Status)
	}
	return string(b)
}
