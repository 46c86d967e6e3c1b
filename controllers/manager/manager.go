package manager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"

	"github.com/skiffk8s/skiff/controllers"
)

// Run runs the enabled controllers until ctx ends: while holding the
// leader Lease (unless LeaderElection.Disabled), serving /healthz and
// /metrics all along. It returns nil when ctx ends, and an error for a
// bad config, a controller constructor's error, or a lost Lease (as
// upstream, which exits then: another replica takes over).
func Run(ctx context.Context, cfg Config) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	enabled, err := Enabled(cfg.Controllers, names(cfg.Registry))
	if err != nil {
		return err
	}
	m := &manager{cfg: cfg, enabled: enabled, log: cfg.Logger, registry: prometheus.NewRegistry()}
	m.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.queues = newWorkqueueMetrics(m.registry)
	m.restarts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "skiff_controller_restarts_total",
		Help: "Number of times a controller was restarted after a panic or an early return.",
	}, []string{"controller"})
	m.registry.MustRegister(m.restarts)
	m.health = leaderelection.NewLeaderHealthzAdaptor(20 * time.Second)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	serveDone, err := m.serve(ctx)
	if err != nil {
		return err
	}
	defer func() { <-serveDone }()
	m.log.Info("controller manager starting", "controllers", enabled)
	if cfg.LeaderElection.Disabled {
		return m.runControllers(ctx)
	}
	return m.runElected(ctx)
}

// manager is one Run's state.
type manager struct {
	cfg      Config
	enabled  []string
	log      *slog.Logger
	registry *prometheus.Registry
	queues   *workqueueMetrics
	restarts *prometheus.CounterVec
	health   *leaderelection.HealthzAdaptor
}

// runElected runs the controllers only while holding the Lease.
func (m *manager) runElected(ctx context.Context) error {
	le := m.cfg.LeaderElection
	client, err := kubernetes.NewForConfig(rest.AddUserAgent(rest.CopyConfig(m.cfg.RESTConfig), "leader-election"))
	if err != nil {
		return fmt.Errorf("leader election client: %w", err)
	}
	var (
		led    bool
		runErr error
		mu     sync.Mutex
	)
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Namespace: le.Namespace, Name: le.Name},
			Client:     client.CoordinationV1(),
			LockConfig: resourcelock.ResourceLockConfig{Identity: le.Identity},
		},
		LeaseDuration:   le.LeaseDuration,
		RenewDeadline:   le.RenewDeadline,
		RetryPeriod:     le.RetryPeriod,
		ReleaseOnCancel: true,
		WatchDog:        m.health,
		Name:            le.Name,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				m.log.Info("became the leader: starting controllers", "lease", le.Namespace+"/"+le.Name, "identity", le.Identity)
				err := m.runControllers(ctx)
				mu.Lock()
				led, runErr = true, err
				mu.Unlock()
			},
			OnStoppedLeading: func() { m.log.Info("stopped leading", "identity", le.Identity) },
		},
	})
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	m.health.SetLeaderElection(elector)
	elector.Run(ctx)
	mu.Lock()
	defer mu.Unlock()
	switch {
	case runErr != nil:
		return runErr
	case ctx.Err() != nil:
		return nil
	case led:
		return errors.New("controller manager: lost the leader lease")
	}
	return nil
}

// runControllers builds the shared parts and the enabled controllers,
// starts the informers, and supervises each controller until ctx ends.
func (m *manager) runControllers(ctx context.Context) error {
	shared, err := kubernetes.NewForConfig(rest.AddUserAgent(rest.CopyConfig(m.cfg.RESTConfig), "shared-informers"))
	if err != nil {
		return fmt.Errorf("informer client: %w", err)
	}
	meta, err := metadata.NewForConfig(rest.AddUserAgent(rest.CopyConfig(m.cfg.RESTConfig), "metadata"))
	if err != nil {
		return fmt.Errorf("metadata client: %w", err)
	}
	events, err := kubernetes.NewForConfig(rest.AddUserAgent(rest.CopyConfig(m.cfg.RESTConfig), "events"))
	if err != nil {
		return fmt.Errorf("events client: %w", err)
	}
	factory := informers.NewSharedInformerFactory(shared, m.cfg.ResyncPeriod)
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: events.CoreV1().Events("")})
	defer broadcaster.Shutdown()

	contextFor := func(name string) (controllers.Context, error) {
		client, err := kubernetes.NewForConfig(rest.AddUserAgent(rest.CopyConfig(m.cfg.RESTConfig), name+"-controller"))
		if err != nil {
			return controllers.Context{}, fmt.Errorf("%s: client: %w", name, err)
		}
		return controllers.Context{
			Client:    client,
			Metadata:  meta,
			Informers: factory,
			Recorder:  broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: name + "-controller"}),
			Clock:     m.cfg.Clock,
			Logger:    m.log.With("controller", name),
			Metrics:   m.queues,
			Options:   m.cfg.Options,
		}, nil
	}
	build := func(name string) (controllers.Controller, error) {
		cc, err := contextFor(name)
		if err != nil {
			return nil, err
		}
		c, err := m.cfg.Registry[name](ctx, cc)
		if err != nil {
			return nil, fmt.Errorf("controller %s: %w", name, err)
		}
		return c, nil
	}
	built := map[string]controllers.Controller{}
	for _, name := range m.enabled {
		c, err := build(name)
		if err != nil {
			return err
		}
		built[name] = c
	}
	factory.Start(ctx.Done())
	var wg sync.WaitGroup
	for _, name := range m.enabled {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.supervise(ctx, name, built[name], func() (controllers.Controller, error) {
				c, err := build(name)
				if err == nil {
					factory.Start(ctx.Done()) // informers the new instance asked for
				}
				return c, err
			})
		}()
	}
	m.log.Info("controllers started", "controllers", m.enabled)
	wg.Wait()
	factory.Shutdown()
	return nil
}

// supervise runs c until ctx ends. When Run panics or returns early, it
// logs that (with the stack of a panic), waits a doubling back-off and
// runs a new instance from rebuild, leaving the other controllers alone.
func (m *manager) supervise(ctx context.Context, name string, c controllers.Controller, rebuild func() (controllers.Controller, error)) {
	log := m.log.With("controller", name)
	workers := m.cfg.workers(name)
	backoff := m.cfg.RestartBackoff
	for {
		started := m.cfg.Clock.Now()
		var err error
		if c != nil {
			err = runSafely(ctx, c, workers)
		}
		if ctx.Err() != nil {
			return
		}
		if m.cfg.Clock.Since(started) >= m.cfg.MaxRestartBackoff {
			backoff = m.cfg.RestartBackoff
		}
		if err == nil {
			err = errors.New("Run returned before the manager stopped")
		}
		log.Error("controller failed; restarting it", "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return
		case <-m.cfg.Clock.After(backoff):
		}
		backoff = min(2*backoff, m.cfg.MaxRestartBackoff)
		m.restarts.WithLabelValues(name).Inc()
		if c, err = rebuild(); err != nil {
			log.Error("controller could not be rebuilt", "err", err)
			c = nil
		}
	}
}

// runSafely runs c, turning a panic in Run's goroutine into an error that
// carries the stack. (A panic in a goroutine that Run started itself
// cannot be caught here and ends the process, as in any Go program.)
func runSafely(ctx context.Context, c controllers.Controller, workers int) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	return c.Run(ctx, workers)
}

// serve starts the /healthz and /metrics server; the returned channel
// closes when it has stopped after ctx ended.
func (m *manager) serve(ctx context.Context) (<-chan struct{}, error) {
	done := make(chan struct{})
	ln := m.cfg.HealthzListener
	if ln == nil && m.cfg.HealthzAddr == "-" {
		close(done)
		return done, nil
	}
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", m.cfg.HealthzAddr); err != nil {
			return nil, fmt.Errorf("healthz address: %w", err)
		}
	}
	mux := http.NewServeMux()
	healthz := func(w http.ResponseWriter, r *http.Request) {
		if err := m.health.Check(r); err != nil {
			http.Error(w, "leader election: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok"))
	}
	mux.HandleFunc("/healthz", healthz)
	mux.HandleFunc("/livez", healthz)
	mux.HandleFunc("/readyz", healthz)
	mux.Handle("/metrics", promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.log.Error("healthz server", "err", err)
		}
	}()
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	m.log.Info("serving /healthz and /metrics", "addr", ln.Addr().String())
	return done, nil
}

// identity is this replica's default leader-election identity.
func identity() string {
	host, err := os.Hostname()
	if err != nil {
		host = "controller-manager"
	}
	return host + "_" + rand.String(8)
}

// names returns the registry's names, sorted.
func names(registry map[string]controllers.InitFunc) []string {
	out := make([]string, 0, len(registry))
	for name := range registry {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}
