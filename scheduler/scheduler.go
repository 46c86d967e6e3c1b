// Package scheduler is Skiff's pod scheduler: informers feed a scheduling
// queue and a cache of nodes and pods; one loop takes a pod at a time,
// runs its profile's plugins (package framework/frameworkruntime) on a
// snapshot, assumes the pod on the chosen node and binds it
// asynchronously so the next cycle starts at once. Pods that fit nowhere
// get upstream's PodScheduled=False condition and FailedScheduling event
// and wait for a cluster event that may help. Profiles come from a
// KubeSchedulerConfiguration; several replicas elect a leader on a Lease.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/events"
	configv1 "k8s.io/kube-scheduler/config/v1"
	"k8s.io/utils/clock"

	schedcache "github.com/skiffk8s/skiff/scheduler/cache"
	"github.com/skiffk8s/skiff/scheduler/framework"
	"github.com/skiffk8s/skiff/scheduler/framework/frameworkruntime"
	"github.com/skiffk8s/skiff/scheduler/plugins/defaultbinder"
	"github.com/skiffk8s/skiff/scheduler/queue"
)

// Config is what the scheduler needs. Client, Registry and Logger are
// required.
type Config struct {
	// Client talks to the API server; give it generous rate limits
	// (binding is one request per pod).
	Client kubernetes.Interface
	// Registry holds the plugins profiles may name (DefaultBinder is added
	// when missing).
	Registry framework.Registry
	Logger   *slog.Logger
	// Clock defaults to the real clock.
	Clock clock.WithTicker
	// SchedulerConfig chooses profiles, plugins, weights and args; nil
	// runs the default profile "default-scheduler".
	SchedulerConfig *configv1.KubeSchedulerConfiguration
	// LeaderElection, when Enabled, makes only the holder of the Lease
	// schedule.
	LeaderElection LeaderElection
	// HealthzAddr is where /healthz and /metrics are served (plain HTTP),
	// e.g. "127.0.0.1:10259"; "" serves nothing.
	HealthzAddr string
	// AssumedPodTTL is how long an assumed pod stays after binding without
	// the informer confirming it (0: 30 s).
	AssumedPodTTL time.Duration
	// Parallelism bounds Filter and Score goroutines (0: GOMAXPROCS).
	Parallelism int
}

// LeaderElection configures the Lease election. Zero durations take the
// defaults (15 s lease, 10 s renew deadline, 2 s retry).
type LeaderElection struct {
	Enabled bool
	// Namespace and Name of the Lease (default kube-system/skiff-scheduler).
	Namespace, Name string
	// Identity of this replica (default hostname_random).
	Identity                                  string
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
}

// Scheduler is a configured scheduler; New builds it, Run runs it.
type Scheduler struct {
	cfg       Config
	log       *slog.Logger
	clock     clock.WithTicker
	client    kubernetes.Interface
	factory   informers.SharedInformerFactory
	podLister corelisters.PodLister
	profiles  map[string]*frameworkruntime.Framework
	queue     *queue.Queue
	cache     *schedcache.Cache
	snapshot  *schedcache.Snapshot
	events    events.EventBroadcaster
	metrics   *metrics
	listener  net.Listener
}

// Run builds the scheduler and runs it until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	s, err := New(ctx, cfg)
	if err != nil {
		return err
	}
	return s.Run(ctx)
}

// New checks the configuration, builds every profile's plugins and
// listens on HealthzAddr. Errors name the bad field.
func New(ctx context.Context, cfg Config) (*Scheduler, error) {
	if cfg.Client == nil || cfg.Logger == nil {
		return nil, errors.New("scheduler: Client and Logger are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	registry := framework.Registry{}
	for name, f := range cfg.Registry {
		registry[name] = f
	}
	if _, ok := registry[defaultbinder.Name]; !ok {
		registry[defaultbinder.Name] = defaultbinder.New
	}
	profiles, err := Profiles(cfg.SchedulerConfig, registry)
	if err != nil {
		return nil, err
	}
	s := &Scheduler{
		cfg: cfg, log: cfg.Logger, clock: cfg.Clock, client: cfg.Client,
		factory:  informers.NewSharedInformerFactoryWithOptions(cfg.Client, 0, informers.WithTransform(trimManagedFields)),
		profiles: map[string]*frameworkruntime.Framework{},
		cache:    schedcache.New(cfg.Clock, cfg.AssumedPodTTL),
		snapshot: schedcache.NewEmptySnapshot(),
		events:   events.NewBroadcaster(&events.EventSinkImpl{Interface: cfg.Client.EventsV1()}),
	}
	s.podLister = s.factory.Core().V1().Pods().Lister()
	pluginEvents := map[string][]framework.ClusterEvent{}
	q := &lazyNominator{}
	for _, p := range profiles {
		fwk, err := frameworkruntime.New(ctx, registry, p, frameworkruntime.Options{
			Client: cfg.Client, InformerFactory: s.factory,
			EventRecorder: s.events.NewRecorder(scheme.Scheme, p.SchedulerName),
			Nominator:     q, Parallelism: cfg.Parallelism, Clock: cfg.Clock,
		})
		if err != nil {
			return nil, err
		}
		s.profiles[p.SchedulerName] = fwk
		for name, evs := range fwk.EventsToRegister() {
			if old, seen := pluginEvents[name]; seen && (old == nil || evs == nil) {
				pluginEvents[name] = nil
				continue
			}
			pluginEvents[name] = append(pluginEvents[name], evs...)
		}
	}
	qopts := queue.Options{Clock: cfg.Clock, PluginEvents: pluginEvents}
	if sc := cfg.SchedulerConfig; sc != nil {
		if sc.PodInitialBackoffSeconds != nil {
			qopts.InitialBackoff = time.Duration(*sc.PodInitialBackoffSeconds) * time.Second
		}
		if sc.PodMaxBackoffSeconds != nil {
			qopts.MaxBackoff = time.Duration(*sc.PodMaxBackoffSeconds) * time.Second
		}
	}
	s.queue = queue.New(qopts)
	q.q = s.queue
	s.metrics = newMetrics(s.queue)
	if cfg.HealthzAddr != "" {
		if s.listener, err = net.Listen("tcp", cfg.HealthzAddr); err != nil {
			return nil, fmt.Errorf("healthz address: %w", err)
		}
	}
	return s, nil
}

// trimManagedFields drops metadata.managedFields from informed objects
// (as kube-scheduler does): no plugin reads them, and they are a large
// part of every cached pod and node.
func trimManagedFields(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok && m.GetManagedFields() != nil {
		m.SetManagedFields(nil)
	}
	return obj, nil
}

// lazyNominator lets profiles be built before the queue exists.
type lazyNominator struct{ q *queue.Queue }

func (n *lazyNominator) NominatedPodsForNode(node string) []*framework.PodInfo {
	return n.q.NominatedPodsForNode(node)
}

func (n *lazyNominator) NominatedPods() map[string][]*framework.PodInfo {
	return n.q.NominatedPods()
}

// HealthzAddr is the address /healthz and /metrics are served on ("" if
// none).
func (s *Scheduler) HealthzAddr() string {
	if s.listener == nil {
		return ""
	}
	return s.listener.Addr().String()
}

// Run starts informers, the HTTP server and (as leader, when leader
// election is on) the scheduling loop, until ctx ends. Losing the lease
// while ctx is alive is an error.
func (s *Scheduler) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if s.listener != nil {
		srv := &http.Server{Handler: s.httpHandler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(s.listener) }()
		defer srv.Close()
	}
	s.events.StartRecordingToSink(ctx.Done())
	defer s.events.Shutdown()
	s.addEventHandlers()
	s.factory.Start(ctx.Done())
	defer s.factory.Shutdown()
	for typ, ok := range s.factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("scheduler: informer for %v did not sync", typ)
		}
	}
	go s.queue.Run(ctx)
	go s.cleanupAssumedPods(ctx)
	if !s.cfg.LeaderElection.Enabled {
		s.log.Info("scheduler started", "profiles", len(s.profiles))
		s.loop(ctx)
		return nil
	}
	return s.runElected(ctx)
}

// loop schedules one pod at a time until ctx ends.
func (s *Scheduler) loop(ctx context.Context) {
	go func() { <-ctx.Done(); s.queue.Close() }()
	for ctx.Err() == nil {
		s.scheduleOne(ctx)
	}
}

// cleanupAssumedPods expires assumed pods every second.
func (s *Scheduler) cleanupAssumedPods(ctx context.Context) {
	t := s.clock.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			for _, p := range s.cache.CleanupExpiredAssumedPods() {
				s.log.Warn("assumed pod expired: its binding was never confirmed", "pod", p.Namespace+"/"+p.Name, "node", p.Spec.NodeName)
			}
		}
	}
}

func (s *Scheduler) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.Handle("/metrics", s.metrics.handler())
	return mux
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "skiff-scheduler"
	}
	return h
}
