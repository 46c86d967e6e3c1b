package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Config is the proxy's configuration.
type Config struct {
	// Client reaches the API server. Required.
	Client kubernetes.Interface
	// NodeName is this node's name, for the Local traffic policies and
	// topology hints; the proxy watches this Node for its zone label.
	NodeName string
	// NodeIPs are the addresses NodePorts are served on; empty means every
	// local address.
	NodeIPs []string
	// ClusterCIDR is the pod network (traffic to a ClusterIP from outside
	// it is masqueraded); empty for none.
	ClusterCIDR string
	// LocalhostNodePorts also serves NodePorts on 127.0.0.1, setting
	// net.ipv4.conf.all.route_localnet=1 in the proxy's network namespace
	// (upstream's localhostNodePorts). Off by default.
	LocalhostNodePorts bool
	// HealthzBindAddress serves /healthz and /metrics ("host:port");
	// empty for no server.
	HealthzBindAddress string
	// SyncPeriod is the full resync interval; 0 means 30 s.
	SyncPeriod time.Duration
	// MinSyncPeriod debounces changes: a sync waits this long after the
	// first change so a burst is one sync; 0 means 100 ms.
	MinSyncPeriod time.Duration
	// NetNS, when set, is the network namespace path to manage (labs);
	// empty means this process's.
	NetNS string
	// Logger is required.
	Logger *slog.Logger
}

// Run keeps the node's rules in step with the cluster until ctx ends. It
// returns an error only when it cannot start.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Client == nil || cfg.Logger == nil {
		return errors.New("proxy: Client and Logger are required")
	}
	if cfg.SyncPeriod <= 0 {
		cfg.SyncPeriod = 30 * time.Second
	}
	if cfg.MinSyncPeriod <= 0 {
		cfg.MinSyncPeriod = 100 * time.Millisecond
	}
	p := newProxier(cfg)
	if cfg.LocalhostNodePorts {
		if err := p.applier.EnableRouteLocalnet(); err != nil {
			return fmt.Errorf("proxy: localhost NodePorts: %w", err)
		}
	}
	if cfg.HealthzBindAddress != "" {
		ln, err := net.Listen("tcp", cfg.HealthzBindAddress)
		if err != nil {
			return fmt.Errorf("proxy: healthz: %w", err)
		}
		srv := &http.Server{Handler: p.handler(), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		go func() { <-ctx.Done(); _ = srv.Close() }()
	}
	factory := informers.NewSharedInformerFactory(cfg.Client, 0)
	svcs := factory.Core().V1().Services()
	slices := factory.Discovery().V1().EndpointSlices()
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { p.trigger() },
		UpdateFunc: func(any, any) { p.trigger() },
		DeleteFunc: func(any) { p.trigger() },
	}
	if _, err := svcs.Informer().AddEventHandler(h); err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	if _, err := slices.Informer().AddEventHandler(h); err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	// Its own Node only, for the zone its topology hints are matched to.
	zone := func() string { return "" }
	var nodeFactory informers.SharedInformerFactory
	if cfg.NodeName != "" {
		nodeFactory = informers.NewSharedInformerFactoryWithOptions(cfg.Client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", cfg.NodeName).String()
		}))
		nodes := nodeFactory.Core().V1().Nodes()
		if _, err := nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: func(any) { p.trigger() },
			UpdateFunc: func(old, cur any) {
				o, ok1 := old.(*corev1.Node)
				c, ok2 := cur.(*corev1.Node)
				if !ok1 || !ok2 || o.Labels[corev1.LabelTopologyZone] != c.Labels[corev1.LabelTopologyZone] {
					p.trigger()
				}
			},
			DeleteFunc: func(any) { p.trigger() },
		}); err != nil {
			return fmt.Errorf("proxy: %w", err)
		}
		zone = func() string {
			n, err := nodes.Lister().Get(cfg.NodeName)
			if err != nil {
				return "" // not registered (yet): no zone
			}
			return n.Labels[corev1.LabelTopologyZone]
		}
		nodeFactory.Start(ctx.Done())
		defer nodeFactory.Shutdown()
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	for _, f := range []informers.SharedInformerFactory{factory, nodeFactory} {
		if f == nil {
			continue
		}
		for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
			if !ok {
				return fmt.Errorf("proxy: cache of %v did not sync", typ)
			}
		}
	}
	p.input = func() (Input, error) {
		s, err := svcs.Lister().List(labels.Everything())
		if err != nil {
			return Input{}, err
		}
		e, err := slices.Lister().List(labels.Everything())
		if err != nil {
			return Input{}, err
		}
		return Input{Services: s, Slices: e, NodeName: cfg.NodeName, Zone: zone(), NodeIPs: cfg.NodeIPs, ClusterCIDR: cfg.ClusterCIDR, LocalhostNodePorts: cfg.LocalhostNodePorts}, nil
	}
	p.loop(ctx)
	return nil
}

// proxier is the sync loop's state.
type proxier struct {
	cfg     Config
	applier *Applier
	render  Renderer
	input   func() (Input, error)
	kick    chan struct{}

	duration prometheus.Histogram
	rules    *prometheus.GaugeVec
	registry *prometheus.Registry

	mu       sync.Mutex
	lastSync time.Time // guarded by mu
	lastUDP  map[string]map[string]bool
}

func newProxier(cfg Config) *proxier {
	p := &proxier{
		cfg: cfg, applier: &Applier{NetNS: cfg.NetNS}, kick: make(chan struct{}, 1),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "skiff_proxy_sync_proxy_rules_duration_seconds", Help: "Duration of one rules sync (render and apply).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}),
		rules: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "skiff_proxy_iptables_rules", Help: "Rules of the proxy per table after the last sync.",
		}, []string{"table"}),
		registry: prometheus.NewRegistry(),
	}
	p.registry.MustRegister(p.duration, p.rules)
	return p
}

// trigger asks for a sync; it never blocks.
func (p *proxier) trigger() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// loop syncs on changes (debounced by MinSyncPeriod) and fully every
// SyncPeriod, and until ctx ends.
func (p *proxier) loop(ctx context.Context) {
	full := time.NewTicker(p.cfg.SyncPeriod)
	defer full.Stop()
	p.sync(ctx, true)
	for {
		isFull := false
		select {
		case <-ctx.Done():
			return
		case <-full.C:
			isFull = true
		case <-p.kick:
			select {
			case <-ctx.Done():
				return
			case <-time.After(p.cfg.MinSyncPeriod):
			}
		}
		p.sync(ctx, isFull)
	}
}

// sync renders and applies once; on failure the next sync is a full one.
func (p *proxier) sync(ctx context.Context, full bool) {
	start := time.Now()
	in, err := p.input()
	if err != nil {
		p.cfg.Logger.Error("proxy: list", "err", err)
		return
	}
	rs := p.render.Render(in)
	n, err := p.applier.Apply(ctx, rs, full)
	if err != nil {
		p.cfg.Logger.Error("proxy: sync rules", "err", err)
		p.trigger()
		return
	}
	p.duration.Observe(time.Since(start).Seconds())
	nat, filter := 0, 0
	for _, c := range rs.NAT {
		nat += len(c.Rules)
	}
	for _, c := range rs.Filter {
		filter += len(c.Rules)
	}
	p.rules.WithLabelValues("nat").Set(float64(nat))
	p.rules.WithLabelValues("filter").Set(float64(filter))
	if stale := staleUDP(p.lastUDP, rs.UDP); len(stale) > 0 {
		if err := p.applier.do(func() error { return flushConntrack(ctx, stale) }); err != nil {
			p.cfg.Logger.Warn("proxy: conntrack flush", "err", err)
		}
	}
	p.lastUDP = rs.UDP
	p.mu.Lock()
	p.lastSync = time.Now()
	p.mu.Unlock()
	p.cfg.Logger.Debug("proxy: synced", "full", full, "chains", n, "duration", time.Since(start))
}

// handler serves /healthz (200 with the last sync time while syncs are
// recent, 503 before the first and after 2 missed resyncs) and /metrics.
func (p *proxier) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		p.mu.Lock()
		last := p.lastSync
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if last.IsZero() || time.Since(last) > 2*p.cfg.SyncPeriod+10*time.Second {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprintf(w, "{\"lastUpdated\": %q, \"currentTime\": %q}\n", last.UTC().Format(time.RFC3339Nano), time.Now().UTC().Format(time.RFC3339Nano))
	})
	mux.Handle("/metrics", promhttp.HandlerFor(p.registry, promhttp.HandlerOpts{}))
	return mux
}

// Cleanup removes every rule and chain the proxy creates, in the network
// namespace at netnsPath (empty: this process's).
func Cleanup(ctx context.Context, netnsPath string) error {
	a := &Applier{NetNS: netnsPath}
	return a.Cleanup(ctx)
}
