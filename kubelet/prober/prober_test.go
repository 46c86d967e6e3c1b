package prober

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
)

// harness runs a Manager on a fake clock and lets the test wait for each
// probe attempt of a given worker.
type harness struct {
	t        *testing.T
	m        *Manager
	clock    *clocktesting.FakeClock
	recorder *record.FakeRecorder
	attempts map[ProbeType]chan struct{}

	mu      sync.Mutex
	updates []Update
}

func newHarness(t *testing.T, exec ExecFunc) *harness {
	t.Helper()
	h := &harness{
		t:        t,
		clock:    clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		recorder: record.NewFakeRecorder(100),
		attempts: map[ProbeType]chan struct{}{
			Liveness: make(chan struct{}, 100), Readiness: make(chan struct{}, 100), Startup: make(chan struct{}, 100)},
	}
	h.m = New(Config{Exec: exec, Clock: h.clock, Recorder: h.recorder, OnUpdate: func(u Update) {
		h.mu.Lock()
		h.updates = append(h.updates, u)
		h.mu.Unlock()
	}})
	h.m.afterProbe = func(w *worker) { h.attempts[w.key.typ] <- struct{}{} }
	t.Cleanup(h.m.Stop)
	return h
}

// wait blocks until the worker for typ has finished one more loop.
func (h *harness) wait(typ ProbeType) {
	h.t.Helper()
	select {
	case <-h.attempts[typ]:
	case <-time.After(5 * time.Second):
		h.t.Fatalf("no %s probe attempt within 5s", typ)
	}
}

// tick moves the clock one period and waits for the worker's attempt.
func (h *harness) tick(typ ProbeType, period time.Duration) {
	h.t.Helper()
	h.clock.Step(period)
	h.wait(typ)
}

func (h *harness) events() []string {
	var out []string
	for {
		select {
		case e := <-h.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func (h *harness) gotUpdates() []Update {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Update(nil), h.updates...)
}

func podWith(c corev1.Container) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: types.UID("uid-1")},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{c}},
	}
}

func hostPort(t *testing.T, addr string) (string, int) {
	t.Helper()
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(p)
	return host, port
}

func TestReadinessFollowsHTTPStatusWithThresholds(t *testing.T) {
	var status atomic.Int32
	status.Store(200)
	var gotHeader, gotHost, gotQuery atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotHeader.Store(r.Header.Get("X-Probe"))
		gotHost.Store(r.Host)
		gotQuery.Store(r.URL.Path + "?" + r.URL.RawQuery)
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	ip, port := hostPort(t, srv.Listener.Addr().String())

	h := newHarness(t, nil)
	c := corev1.Container{
		Name:  "app",
		Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: int32(port)}},
		ReadinessProbe: &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: "/healthz?full=1", Port: intstr.FromString("http"),
				HTTPHeaders: []corev1.HTTPHeader{{Name: "X-Probe", Value: "yes"}, {Name: "Host", Value: "example.test"}},
			}},
			PeriodSeconds: 1, FailureThreshold: 2, SuccessThreshold: 1,
		},
	}
	pod := podWith(c)
	if h.m.Readiness(pod.UID, "app") != true {
		t.Fatal("a container without a registered readiness probe should read as ready")
	}
	h.m.UpdatePod(pod, ip, []ContainerState{{Name: "app", ID: "c1", StartedAt: h.clock.Now()}})
	h.wait(Readiness)
	if !h.m.Readiness(pod.UID, "app") {
		t.Fatal("not ready after a successful probe")
	}
	if gotHeader.Load() != "yes" || gotHost.Load() != "example.test" || gotQuery.Load() != "/healthz?full=1" {
		t.Fatalf("request: header %v host %v path %v", gotHeader.Load(), gotHost.Load(), gotQuery.Load())
	}

	status.Store(500)
	h.tick(Readiness, time.Second)
	if !h.m.Readiness(pod.UID, "app") {
		t.Fatal("one failure below failureThreshold 2 should keep the container ready")
	}
	h.tick(Readiness, time.Second)
	if h.m.Readiness(pod.UID, "app") {
		t.Fatal("still ready after failureThreshold failures")
	}
	ev := h.events()
	want := "Warning Unhealthy Readiness probe failed: HTTP probe failed with statuscode: 500"
	if len(ev) != 2 || ev[0] != want {
		t.Fatalf("events = %q, want two of %q", ev, want)
	}
	status.Store(204)
	h.tick(Readiness, time.Second)
	if !h.m.Readiness(pod.UID, "app") {
		t.Fatal("not ready again after a success")
	}
	ups := h.gotUpdates()
	var seq []string
	for _, u := range ups {
		seq = append(seq, string(u.Type)+":"+u.Result.String())
	}
	if strings.Join(seq, ",") != "Readiness:Success,Readiness:Failure,Readiness:Success" {
		t.Fatalf("updates = %v", seq)
	}
}

func TestLivenessTCPFailureIsReportedOnceAndHeldUntilRestart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ip, port := hostPort(t, ln.Addr().String())
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	h := newHarness(t, nil)
	c := corev1.Container{Name: "db", LivenessProbe: &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(int32(port))}},
		PeriodSeconds: 2, FailureThreshold: 1,
	}}
	pod := podWith(c)
	h.m.UpdatePod(pod, ip, []ContainerState{{Name: "db", ID: "c1", StartedAt: h.clock.Now()}})
	h.wait(Liveness)
	if !h.m.Alive(pod.UID, "db") {
		t.Fatal("not alive while the port accepts")
	}
	ln.Close()
	h.tick(Liveness, 2*time.Second)
	if h.m.Alive(pod.UID, "db") {
		t.Fatal("alive after the port closed")
	}
	ups := h.gotUpdates()
	if len(ups) != 1 || ups[0].Type != Liveness || ups[0].Result != Failure || ups[0].ContainerID != "c1" ||
		!strings.Contains(ups[0].Message, "connection refused") {
		t.Fatalf("updates = %+v", ups)
	}
	ev := h.events()
	if len(ev) != 1 || !strings.HasPrefix(ev[0], "Warning Unhealthy Liveness probe failed: dial tcp "+ip) {
		t.Fatalf("events = %q", ev)
	}
	// Held: no more attempts are made against the same container.
	h.tick(Liveness, 2*time.Second)
	if got := len(h.events()); got != 0 {
		t.Fatalf("%d more events while on hold", got)
	}
	// The restarted container is probed again, and passes once the port
	// accepts again.
	ln2, err := net.Listen("tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("cannot listen again on %s: %v", ln.Addr(), err)
	}
	defer ln2.Close()
	h.m.UpdatePod(pod, ip, []ContainerState{{Name: "db", ID: "c2", StartedAt: h.clock.Now()}})
	h.wait(Liveness)
	if !h.m.Alive(pod.UID, "db") {
		t.Fatal("a new container should start alive")
	}
}

func TestExecProbeMessagesAndTimeout(t *testing.T) {
	var mu sync.Mutex
	calls := map[string]int{}
	exec := func(ctx context.Context, id string, cmd []string, timeout time.Duration) (int, []byte, error) {
		mu.Lock()
		calls[cmd[0]]++
		mu.Unlock()
		switch cmd[0] {
		case "fail":
			return 1, []byte("boom"), nil
		case "slow":
			if timeout != 3*time.Second {
				t.Errorf("timeout = %v, want 3s", timeout)
			}
			return -1, nil, context.DeadlineExceeded
		}
		return 0, nil, nil
	}
	for _, tc := range []struct {
		name, cmd, event string
	}{
		{"a non-zero exit reports the output", "fail", "Warning Unhealthy Liveness probe failed: boom"},
		{"a timeout says so", "slow", `Warning Unhealthy Liveness probe failed: command "slow --now" timed out`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, exec)
			pod := podWith(corev1.Container{Name: "app", LivenessProbe: &corev1.Probe{
				ProbeHandler:   corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{tc.cmd, "--now"}}},
				TimeoutSeconds: 3, PeriodSeconds: 1, FailureThreshold: 1,
			}})
			h.m.UpdatePod(pod, "", []ContainerState{{Name: "app", ID: "c1", StartedAt: h.clock.Now()}})
			h.wait(Liveness)
			if ev := h.events(); len(ev) != 1 || ev[0] != tc.event {
				t.Fatalf("events = %q, want %q", ev, tc.event)
			}
			if h.m.Alive(pod.UID, "app") {
				t.Fatal("alive after a failed liveness probe")
			}
		})
	}
}

func TestStartupProbeGatesLivenessAndInitialDelay(t *testing.T) {
	var mu sync.Mutex
	calls := map[string]int{}
	startupOK := atomic.Bool{}
	exec := func(ctx context.Context, id string, cmd []string, timeout time.Duration) (int, []byte, error) {
		mu.Lock()
		calls[cmd[0]]++
		mu.Unlock()
		if cmd[0] == "startup" && !startupOK.Load() {
			return 1, []byte("not yet"), nil
		}
		return 0, nil, nil
	}
	count := func(name string) int {
		mu.Lock()
		defer mu.Unlock()
		return calls[name]
	}
	h := newHarness(t, exec)
	pod := podWith(corev1.Container{Name: "app",
		StartupProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"startup"}}},
			PeriodSeconds: 1, FailureThreshold: 30},
		LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"live"}}},
			PeriodSeconds: 1, InitialDelaySeconds: 3},
	})
	h.m.UpdatePod(pod, "", []ContainerState{{Name: "app", ID: "c1", StartedAt: h.clock.Now()}})
	h.wait(Startup)
	h.wait(Liveness)
	if h.m.Started(pod.UID, "app") {
		t.Fatal("started before the startup probe succeeded")
	}
	if count("live") != 0 {
		t.Fatal("liveness ran before startup succeeded")
	}
	startupOK.Store(true)
	h.clock.Step(time.Second)
	h.wait(Startup)
	h.wait(Liveness)
	if !h.m.Started(pod.UID, "app") {
		t.Fatal("not started after the startup probe succeeded")
	}
	// 1s after start: still inside initialDelaySeconds 3.
	if count("live") != 0 {
		t.Fatalf("liveness ran %d times inside its initial delay", count("live"))
	}
	h.clock.Step(2 * time.Second)
	h.wait(Liveness)
	if count("live") != 1 {
		t.Fatalf("liveness ran %d times after its initial delay, want 1", count("live"))
	}
	if ev := h.events(); len(ev) != 1 || ev[0] != "Warning Unhealthy Startup probe failed: not yet" {
		t.Fatalf("events = %q", ev)
	}
}

func TestRemovePodStopsProbes(t *testing.T) {
	h := newHarness(t, func(context.Context, string, []string, time.Duration) (int, []byte, error) { return 0, nil, nil })
	pod := podWith(corev1.Container{Name: "app", ReadinessProbe: &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}, PeriodSeconds: 1}})
	h.m.UpdatePod(pod, "", []ContainerState{{Name: "app", ID: "c1", StartedAt: h.clock.Now()}})
	h.wait(Readiness)
	if !h.m.Readiness(pod.UID, "app") {
		t.Fatal("not ready")
	}
	h.m.RemovePod(pod.UID)
	if !h.m.Readiness(pod.UID, "app") {
		t.Fatal("a removed pod's container should read as having no probe")
	}
	h.m.mu.Lock()
	n := len(h.m.workers)
	h.m.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d workers left", n)
	}
}

func TestReplacedContainerIsNotReadyBeforeItsFirstProbe(t *testing.T) {
	release := make(chan struct{})
	h := newHarness(t, func(_ context.Context, id string, _ []string, _ time.Duration) (int, []byte, error) {
		if id == "c2" {
			<-release // c2's first probe is still running while the test looks
		}
		return 0, nil, nil
	})
	defer close(release)
	pod := podWith(corev1.Container{Name: "app", ReadinessProbe: &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}, PeriodSeconds: 1}})
	h.m.UpdatePod(pod, "", []ContainerState{{Name: "app", ID: "c1", StartedAt: h.clock.Now()}})
	h.wait(Readiness)
	if !h.m.Readiness(pod.UID, "app") {
		t.Fatal("c1 not ready after a successful probe")
	}
	h.m.UpdatePod(pod, "", []ContainerState{{Name: "app", ID: "c2", StartedAt: h.clock.Now()}})
	if h.m.Readiness(pod.UID, "app") {
		t.Fatal("the replacement c2 reads as ready with c1's result")
	}
}
