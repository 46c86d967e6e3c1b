package manager

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/skiffk8s/skiff/apiserver/apitest"
	"github.com/skiffk8s/skiff/controllers"
)

func TestEnabled(t *testing.T) {
	registry := []string{"a", "b", "c"}
	for _, tc := range []struct {
		name string
		list []string
		want []string
		err  string
	}{
		{name: "star enables every controller", list: []string{"*"}, want: []string{"a", "b", "c"}},
		{name: "star with a minus disables that one", list: []string{"*", "-b"}, want: []string{"a", "c"}},
		{name: "names alone enable only those", list: []string{"c", "a"}, want: []string{"a", "c"}},
		{name: "a minus without star enables nothing", list: []string{"-a"}, want: nil},
		{name: "an unknown name is an error naming the flag", list: []string{"*", "-nope"}, err: `--controllers: unknown controller "nope"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Enabled(tc.list, registry)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Enabled(%v) = %v, %v; want %v", tc.list, got, err, tc.want)
			}
		})
	}
}

// start runs a manager in the background until the returned cancel is
// called; done receives Run's result.
func start(t *testing.T, cfg Config) (addr string, cancel func(), done <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.HealthzListener = ln
	if cfg.RestartBackoff == 0 {
		cfg.RestartBackoff = 20 * time.Millisecond
	}
	ctx, stop := context.WithCancel(context.Background())
	ch, stopped := make(chan error, 1), make(chan struct{})
	go func() { ch <- Run(ctx, cfg); close(stopped) }()
	t.Cleanup(func() {
		stop()
		select {
		case <-stopped:
		case <-time.After(20 * time.Second):
			t.Error("manager did not stop")
		}
	})
	return "http://" + ln.Addr().String(), stop, ch
}

func configMap(t *testing.T, cs kubernetes.Interface, name string) {
	t.Helper()
	_, err := cs.CoreV1().ConfigMaps("default").Create(context.Background(),
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

// handledBy waits until the ConfigMap carries a handled-by label and
// returns it.
func handledBy(t *testing.T, cs kubernetes.Interface, name string, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		cm, err := cs.CoreV1().ConfigMaps("default").Get(context.Background(), name, metav1.GetOptions{})
		if err == nil && cm.Labels["handled-by"] != "" {
			return cm.Labels["handled-by"]
		}
		time.Sleep(50 * time.Millisecond)
	}
	return ""
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestPanickingControllerIsRestartedAndOthersKeepRunning(t *testing.T) {
	srv := apitest.Start(t)
	runs := &atomic.Int32{}
	var disabledBuilt atomic.Bool
	addr, _, _ := start(t, Config{
		RESTConfig: srv.Config,
		Registry: map[string]controllers.InitFunc{
			"labeler": newLabeler,
			"panicky": func(context.Context, controllers.Context) (controllers.Controller, error) {
				return &panicky{runs: runs, panics: 2}, nil
			},
			"disabled": func(context.Context, controllers.Context) (controllers.Controller, error) {
				disabledBuilt.Store(true)
				return idle{"disabled"}, nil
			},
		},
		Controllers:    []string{"*", "-disabled"},
		Options:        map[string]string{"id": "solo"},
		LeaderElection: LeaderElection{Disabled: true},
	})
	configMap(t, srv.Client, "before")
	if got := handledBy(t, srv.Client, "before", 10*time.Second); got != "solo" {
		t.Fatalf("labeler did not act: handled-by=%q", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for runs.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runs.Load(); n != 3 {
		t.Fatalf("panicky ran %d times, want 3 (two panics, then a steady run)", n)
	}
	configMap(t, srv.Client, "after")
	if got := handledBy(t, srv.Client, "after", 10*time.Second); got != "solo" {
		t.Fatalf("labeler stopped acting after the other controller's panics: handled-by=%q", got)
	}
	if disabledBuilt.Load() {
		t.Error(`a controller disabled with "-disabled" was built`)
	}
	_, metrics := get(t, addr+"/metrics")
	if !strings.Contains(metrics, `skiff_controller_restarts_total{controller="panicky"} 2`) {
		t.Errorf("/metrics lacks 2 restarts of panicky:\n%s", grep(metrics, "restarts"))
	}
}

func TestHealthzAndWorkqueueMetrics(t *testing.T) {
	srv := apitest.Start(t)
	addr, _, _ := start(t, Config{
		RESTConfig:     srv.Config,
		Registry:       map[string]controllers.InitFunc{"labeler": newLabeler},
		Options:        map[string]string{"id": "m"},
		LeaderElection: LeaderElection{Name: "test-lease", LeaseDuration: 3 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: 200 * time.Millisecond},
	})
	configMap(t, srv.Client, "one")
	if got := handledBy(t, srv.Client, "one", 10*time.Second); got != "m" {
		t.Fatalf("labeler did not act: %q", got)
	}
	if code, body := get(t, addr+"/healthz"); code != http.StatusOK || body != "ok" {
		t.Errorf("/healthz = %d %q, want 200 ok", code, body)
	}
	_, metrics := get(t, addr+"/metrics")
	for _, want := range []string{
		`workqueue_adds_total{name="labeler"}`,
		`workqueue_depth{name="labeler"} 0`,
		`workqueue_queue_duration_seconds_count{name="labeler"}`,
		`workqueue_work_duration_seconds_count{name="labeler"}`,
		`workqueue_unfinished_work_seconds{name="labeler"}`,
		`workqueue_retries_total{name="labeler"}`,
		`go_goroutines`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grep(metrics, "workqueue"))
		}
	}
}

func TestOnlyTheLeaderActsAndTheOtherTakesOver(t *testing.T) {
	srv := apitest.Start(t)
	le := func(id string) LeaderElection {
		return LeaderElection{Identity: id, LeaseDuration: 2 * time.Second, RenewDeadline: 1500 * time.Millisecond, RetryPeriod: 100 * time.Millisecond}
	}
	quiet := slog.New(slog.DiscardHandler)
	_, stopA, doneA := start(t, Config{RESTConfig: srv.Config, Logger: quiet, Options: map[string]string{"id": "a"},
		Registry: map[string]controllers.InitFunc{"labeler": newLabeler}, LeaderElection: le("a")})
	configMap(t, srv.Client, "first")
	if got := handledBy(t, srv.Client, "first", 10*time.Second); got != "a" {
		t.Fatalf("first ConfigMap handled by %q, want the first leader a", got)
	}
	_, _, _ = start(t, Config{RESTConfig: srv.Config, Logger: quiet, Options: map[string]string{"id": "b"},
		Registry: map[string]controllers.InitFunc{"labeler": newLabeler}, LeaderElection: le("b")})
	time.Sleep(time.Second) // b is up and campaigning
	configMap(t, srv.Client, "second")
	if got := handledBy(t, srv.Client, "second", 10*time.Second); got != "a" {
		t.Fatalf("second ConfigMap handled by %q while a leads", got)
	}
	lease, err := srv.Client.CoordinationV1().Leases("kube-system").Get(context.Background(), DefaultLeaseName, metav1.GetOptions{})
	if err != nil || lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != "a" {
		t.Fatalf("lease kube-system/%s holder: %v %v, want a", DefaultLeaseName, lease.Spec.HolderIdentity, err)
	}
	stopA()
	if err := <-doneA; err != nil {
		t.Fatalf("leader a stopped with %v", err)
	}
	configMap(t, srv.Client, "third")
	if got := handledBy(t, srv.Client, "third", 10*time.Second); got != "b" {
		t.Fatalf("third ConfigMap handled by %q, want b after a stopped", got)
	}
}

func grep(s, sub string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
