// Package apiserver serves the Kubernetes REST API on etcd: discovery,
// OpenAPI, the resources of package registry with their subresources, watch,
// patch and server-side apply, over HTTPS with client-certificate and
// bearer-token authentication. Upstream clients (client-go, kubectl) use it
// as they use kube-apiserver.
package apiserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"github.com/skiffk8s/skiff/apiserver/auth"
	"github.com/skiffk8s/skiff/apiserver/openapi"
	"github.com/skiffk8s/skiff/apiserver/pki"
	"github.com/skiffk8s/skiff/apiserver/registry"
	"github.com/skiffk8s/skiff/apiserver/storage"
	"github.com/skiffk8s/skiff/datastore"
)

// Config configures an API server.
type Config struct {
	// DataDir holds the PKI (DataDir/pki), the embedded etcd
	// (DataDir/etcd) and the admin kubeconfig (DataDir/admin.kubeconfig).
	DataDir string
	// BindAddress is the address to listen on; "" means 0.0.0.0.
	BindAddress string
	// SecurePort is the HTTPS port; 0 picks a free one (tests).
	SecurePort int
	// AdvertiseAddress is the address other members of the cluster reach
	// this server at (the kubernetes Service's endpoint). nil means the
	// bind address, or the host's first non-loopback IPv4 address.
	AdvertiseAddress net.IP

	// EtcdServers are the client URLs of an external etcd cluster. Empty
	// means an embedded etcd under DataDir/etcd.
	EtcdServers                           []string
	EtcdCAFile, EtcdCertFile, EtcdKeyFile string
	// EtcdClientPort and EtcdPeerPort are the embedded etcd's loopback
	// ports; 0 picks free ones.
	EtcdClientPort, EtcdPeerPort int

	// ServiceCIDR is the range of Service cluster IPs; "" means 10.96.0.0/12.
	ServiceCIDR string
	// ServiceAccountIssuer is the iss claim of service-account tokens and
	// their default audience; "" means
	// https://kubernetes.default.svc.cluster.local.
	ServiceAccountIssuer string
	// AdmitPodsWithoutServiceAccount admits a pod whose service account
	// does not exist, unchanged (no token volume), instead of refusing
	// it with 403 Forbidden as upstream's ServiceAccount admission does.
	// For harnesses that run no serviceaccount controller (apitest sets
	// it); clusters leave it false.
	AdmitPodsWithoutServiceAccount bool
	// TokenAuthFile is a static token file (token,user,uid,"groups").
	TokenAuthFile string
	// AnonymousAuth serves requests without credentials as
	// system:anonymous (group system:unauthenticated), as kube-apiserver
	// with --anonymous-auth (true there by default): the authorizer
	// decides what they may do (the public paths and
	// kube-public/cluster-info), and only wrong credentials get 401.
	// False refuses requests without credentials with 401 Unauthorized,
	// except on the public paths (/healthz, /livez, /readyz, /version).
	AnonymousAuth bool
	// CompactionInterval is the etcd compaction period; 0 means 5 minutes,
	// negative disables compaction.
	CompactionInterval time.Duration
	// MaxRequestsInFlight and MaxMutatingRequestsInFlight bound concurrent
	// non-watch requests; past them the server answers 429. 0 means 400
	// and 200.
	MaxRequestsInFlight, MaxMutatingRequestsInFlight int
	// RequestTimeout bounds non-watch requests; 0 means 60s.
	RequestTimeout time.Duration
	// MinRequestTimeout is the shortest server-chosen watch duration (a
	// watch lasts between it and twice it); 0 means 30 minutes.
	MinRequestTimeout time.Duration
	// KubeletCAFile is a PEM bundle of the CAs that verify kubelets'
	// serving certificates when the server reaches them (pods/log, exec,
	// attach, portforward, nodes/proxy, the metrics API). "" means the
	// cluster CA (DataDir/pki/ca.crt): kubelets then serve with a
	// certificate the cluster CA issued (pki.Bundle.IssueServingCert),
	// naming the Node address the server dials. The server authenticates
	// with DataDir/pki/apiserver-kubelet-client.{crt,key} (user
	// kube-apiserver-kubelet-client, group system:masters).
	KubeletCAFile string
	// KubeletTLSConfig, when set, is the TLS client config of every
	// connection to a kubelet, replacing the one built from the kubelet
	// client certificate and KubeletCAFile (tests, custom PKI).
	KubeletTLSConfig *tls.Config
	// MetricsCacheTTL is how long the metrics API (metrics.k8s.io) reuses
	// what kubelets reported; 0 means 5s, negative means no cache.
	MetricsCacheTTL time.Duration
	// MetricsScrapeTimeout bounds each kubelet's /stats/summary fetch; 0
	// means 5s.
	MetricsScrapeTimeout time.Duration

	// KubeconfigPaths are extra places to write the admin kubeconfig.
	KubeconfigPaths []string
	// Version is the Kubernetes version reported by /version.
	Version string
	Logger  *slog.Logger
	// Clock returns the time; nil means time.Now.
	Clock func() time.Time
}

func (c *Config) setDefaults() error {
	if c.DataDir == "" {
		return errors.New("apiserver: --data-dir is required")
	}
	if c.BindAddress == "" {
		c.BindAddress = "0.0.0.0"
	}
	if net.ParseIP(c.BindAddress) == nil {
		return fmt.Errorf("apiserver: --bind-address %q is not an IP address", c.BindAddress)
	}
	if c.SecurePort < 0 || c.SecurePort > 65535 {
		return fmt.Errorf("apiserver: --secure-port %d is out of range 0-65535", c.SecurePort)
	}
	if c.ServiceCIDR == "" {
		c.ServiceCIDR = "10.96.0.0/12"
	}
	if c.ServiceAccountIssuer == "" {
		c.ServiceAccountIssuer = "https://kubernetes.default.svc.cluster.local"
	}
	if c.CompactionInterval == 0 {
		c.CompactionInterval = datastore.DefaultCompactInterval
	}
	if c.MaxRequestsInFlight == 0 {
		c.MaxRequestsInFlight = 400
	}
	if c.MaxMutatingRequestsInFlight == 0 {
		c.MaxMutatingRequestsInFlight = 200
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 60 * time.Second
	}
	if c.MinRequestTimeout == 0 {
		c.MinRequestTimeout = 30 * time.Minute
	}
	if c.MetricsCacheTTL == 0 {
		c.MetricsCacheTTL = 5 * time.Second
	}
	if c.MetricsScrapeTimeout == 0 {
		c.MetricsScrapeTimeout = 5 * time.Second
	}
	if c.Version == "" {
		c.Version = "v1.37.2"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.AdvertiseAddress == nil {
		if ip := net.ParseIP(c.BindAddress); ip != nil && !ip.IsUnspecified() {
			c.AdvertiseAddress = ip
		} else {
			c.AdvertiseAddress = firstHostIPv4()
		}
	}
	return nil
}

func firstHostIPv4() net.IP {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.To4()
		}
	}
	return net.IPv4(127, 0, 0, 1)
}

// advertiseHostPort is host:port clients are told to use.
func (c *Config) advertiseHostPort() string {
	return net.JoinHostPort(c.AdvertiseAddress.String(), strconv.Itoa(c.SecurePort))
}

// Server is a running API server.
type Server struct {
	// URL is the server's https:// URL on loopback (or the bind address).
	URL string
	// Kubeconfig is the path of the admin kubeconfig.
	Kubeconfig string
	// CAPEM is the cluster CA certificate.
	CAPEM []byte

	s       *server
	etcd    *datastore.Etcd // nil with an external etcd
	client  *clientv3.Client
	httpSrv *http.Server
	done    chan error
	cancel  context.CancelFunc

	stopOnce sync.Once
	stopErr  error
}

// EtcdEndpoints returns the client URLs of the etcd this server uses.
func (s *Server) EtcdEndpoints() []string { return s.client.Endpoints() }

// EtcdClient returns the server's etcd client (for tests and tools).
func (s *Server) EtcdClient() *clientv3.Client { return s.client }

// Run starts an API server and serves until ctx is done.
func Run(ctx context.Context, cfg Config) error {
	srv, err := Start(ctx, cfg)
	if err != nil {
		return err
	}
	<-ctx.Done()
	return srv.Stop()
}

// server is the HTTP handler and its state.
type server struct {
	cfg       Config
	log       *slog.Logger
	clock     func() time.Time
	codecs    *codecs
	resources map[schema.GroupVersionResource]*resource
	ordered   []*resource
	authn     auth.Authenticator
	authz     auth.Authorizer
	saTokens  *auth.ServiceAccountTokens
	openapi   *openapi.Service
	metrics   *metrics
	promReg   *prometheus.Registry

	serviceIPs *serviceIPs
	nodePorts  *allocator
	// kubelets reaches the nodes' kubelets (logs, exec, node proxy).
	kubelets *kubeletClient
	// metricsScraper feeds the metrics API from the kubelets.
	metricsScraper *metricsScraper

	readOnlySlots, mutatingSlots chan struct{}

	readyMu sync.Mutex
	ready   bool // guarded by readyMu
}

func (s *server) lookup(group, version, res string) *resource {
	return s.resources[schema.GroupVersionResource{Group: group, Version: version, Resource: res}]
}

func (ri requestInfo) groupResource() schema.GroupResource {
	return schema.GroupResource{Group: ri.Group, Resource: ri.Resource}
}

func goVersion() string { return runtime.Version() }

// Start starts the data store (embedded or external), loads or creates the
// PKI, writes the admin kubeconfig, and serves HTTPS. It returns once the
// server answers requests.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	_, svcNet, err := net.ParseCIDR(cfg.ServiceCIDR)
	if err != nil || svcNet.IP.To4() == nil {
		return nil, fmt.Errorf("apiserver: --service-cluster-ip-range %q is not an IPv4 CIDR", cfg.ServiceCIDR)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("apiserver: data dir: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	out := &Server{cancel: cancel, done: make(chan error, 1)}
	fail := func(err error) (*Server, error) {
		cancel()
		if out.client != nil && out.etcd == nil {
			out.client.Close()
		}
		if out.etcd != nil {
			out.etcd.Close()
		}
		return nil, err
	}

	began := time.Now()
	phase := func(name string) {
		cfg.Logger.Debug("start-up phase done", "phase", name, "elapsed", time.Since(began))
	}
	// The OpenAPI documents take the most CPU of the start-up; build them
	// while etcd elects itself.
	scheme := registry.NewScheme()
	type openapiResult struct {
		svc *openapi.Service
		err error
	}
	openapiDone := make(chan openapiResult, 1)
	go func() {
		svc, err := openapi.New(openapi.Config{Resources: registry.All(), Scheme: scheme, Version: cfg.Version})
		openapiDone <- openapiResult{svc, err}
	}()
	// Data store.
	if len(cfg.EtcdServers) == 0 {
		e, err := datastore.Start(ctx, datastore.Config{
			DataDir: filepath.Join(cfg.DataDir, "etcd"), ClientPort: cfg.EtcdClientPort, PeerPort: cfg.EtcdPeerPort,
			Logger: cfg.Logger.With("component", "etcd"),
		})
		if err != nil {
			return fail(fmt.Errorf("apiserver: embedded etcd: %w", err))
		}
		out.etcd, out.client = e, e.Client()
	} else {
		c, err := externalEtcd(cfg)
		if err != nil {
			return fail(err)
		}
		out.client = c
	}

	phase("etcd")
	// Identity.
	svcIPs := newServiceIPs(out.client, svcNet)
	kubeSvcIP := svcIPs.ip(1)
	sans := []string{cfg.AdvertiseAddress.String()}
	if ip := net.ParseIP(cfg.BindAddress); ip != nil && !ip.IsUnspecified() {
		sans = append(sans, cfg.BindAddress)
	}
	bundle, err := pki.LoadOrCreate(pki.Config{Dir: filepath.Join(cfg.DataDir, "pki"), ServiceIP: kubeSvcIP, ExtraSANs: sans, Clock: cfg.Clock})
	if err != nil {
		return fail(fmt.Errorf("apiserver: pki: %w", err))
	}
	out.CAPEM = bundle.CAPEM
	phase("pki")

	oa := <-openapiDone
	if oa.err != nil {
		return fail(fmt.Errorf("apiserver: openapi: %w", oa.err))
	}
	phase("openapi")
	s, err := newServer(cfg, out.client, svcIPs, scheme, oa.svc)
	if err != nil {
		return fail(err)
	}
	out.s = s
	if s.kubelets, err = newKubeletClient(cfg, bundle); err != nil {
		return fail(err)
	}
	s.metricsScraper = &metricsScraper{kubelets: s.kubelets, ttl: cfg.MetricsCacheTTL, timeout: cfg.MetricsScrapeTimeout,
		clock: cfg.Clock, log: cfg.Logger.With("component", "metrics-api")}
	s.saTokens = &auth.ServiceAccountTokens{Key: bundle.ServiceAccountKey, Issuer: cfg.ServiceAccountIssuer, Clock: cfg.Clock, Valid: s.tokenObjectsExist}
	authn := auth.Union{auth.ClientCert{}, s.saTokens, &auth.BootstrapTokens{Secret: s.bootstrapTokenSecret, Clock: cfg.Clock}}
	if cfg.TokenAuthFile != "" {
		tf, err := auth.LoadTokenFile(cfg.TokenAuthFile)
		if err != nil {
			return fail(fmt.Errorf("apiserver: --token-auth-file: %w", err))
		}
		authn = append(authn, tf)
	}
	s.authn = authn
	if cfg.AnonymousAuth {
		s.authn = auth.WithAnonymous{Authenticator: authn}
	}
	phase("handler")
	for _, r := range s.ordered {
		if err := r.store.Start(runCtx); err != nil {
			return fail(fmt.Errorf("apiserver: %w", err))
		}
	}
	phase("watch caches")

	// Listener.
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.BindAddress, strconv.Itoa(cfg.SecurePort)))
	if err != nil {
		return fail(fmt.Errorf("apiserver: listen: %w", err))
	}
	port := ln.Addr().(*net.TCPAddr).Port
	s.cfg.SecurePort = port
	host := cfg.BindAddress
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	out.URL = "https://" + net.JoinHostPort(host, strconv.Itoa(port))

	if err := s.bootstrap(ctx, kubeSvcIP); err != nil {
		ln.Close()
		return fail(fmt.Errorf("apiserver: bootstrap: %w", err))
	}

	phase("bootstrap")
	// Admin kubeconfig.
	out.Kubeconfig = filepath.Join(cfg.DataDir, "admin.kubeconfig")
	for _, p := range append([]string{out.Kubeconfig}, cfg.KubeconfigPaths...) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			ln.Close()
			return fail(fmt.Errorf("apiserver: kubeconfig: %w", err))
		}
		if err := pki.WriteKubeconfig(p, out.URL, bundle.CAPEM, bundle.AdminCertPEM, bundle.AdminKeyPEM, "skiff"); err != nil {
			ln.Close()
			return fail(fmt.Errorf("apiserver: kubeconfig: %w", err))
		}
	}

	pool := x509.NewCertPool()
	pool.AddCert(bundle.CA)
	tlsCfg := &tls.Config{
		Certificates: []tls.Certificate{bundle.ServingCert},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"h2", "http/1.1"},
	}
	out.httpSrv = &http.Server{
		Handler:           s,
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: 10 * time.Second,
		// Informers multiplex many watches over one HTTP/2 connection; Go's
		// default of 250 streams is too few (upstream allows 1000).
		HTTP2:          &http.HTTP2Config{MaxConcurrentStreams: 1000},
		MaxHeaderBytes: 1 << 20,
		ErrorLog:       slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
	}
	go func() {
		err := out.httpSrv.ServeTLS(ln, "", "")
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		out.done <- err
	}()

	if cfg.CompactionInterval > 0 {
		go func() {
			_ = datastore.RunCompactor(runCtx, datastore.CompactorConfig{
				Client: out.client, Interval: cfg.CompactionInterval, Logger: cfg.Logger,
				OnCompact: s.compacted,
			})
		}()
	}
	go s.maintainKubernetesEndpoints(runCtx)
	// Start-up (OpenAPI documents, scheme, caches) allocates far more than
	// it keeps; hand the garbage back to the OS now rather than over
	// minutes, so the resident size reflects what the server holds.
	debug.FreeOSMemory()
	s.readyMu.Lock()
	s.ready = true
	s.readyMu.Unlock()
	cfg.Logger.Info("API server ready", "url", out.URL, "kubeconfig", out.Kubeconfig)
	return out, nil
}

// compacted tells every watch cache that etcd forgot history up to rev.
func (s *server) compacted(rev int64) {
	for _, r := range s.ordered {
		r.store.Compacted(rev)
	}
}

// Compact compacts etcd now and tells the watch caches (tests, tools).
func (s *Server) Compact(ctx context.Context) (int64, error) {
	rev, err := datastore.Compact(ctx, s.client)
	if err != nil {
		return 0, err
	}
	s.s.compacted(rev)
	return rev, nil
}

// Stop stops serving and closes the data store. Calling it again returns
// the first call's result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() { s.stopErr = s.stop() })
	return s.stopErr
}

func (s *Server) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.httpSrv.Shutdown(ctx)
	if err != nil {
		_ = s.httpSrv.Close()
	}
	s.cancel()
	if s.etcd != nil {
		if cerr := s.etcd.Close(); cerr != nil && err == nil {
			err = cerr
		}
	} else if s.client != nil {
		s.client.Close()
	}
	if serr := <-s.done; serr != nil && err == nil {
		err = serr
	}
	if errors.Is(err, context.DeadlineExceeded) {
		err = nil
	}
	return err
}

func externalEtcd(cfg Config) (*clientv3.Client, error) {
	ccfg := clientv3.Config{Endpoints: cfg.EtcdServers, DialTimeout: 10 * time.Second,
		Logger: datastore.ClientLogger(cfg.Logger.With("component", "etcd-client"))}
	if cfg.EtcdCAFile != "" || cfg.EtcdCertFile != "" || cfg.EtcdKeyFile != "" {
		tlsInfo := transport.TLSInfo{TrustedCAFile: cfg.EtcdCAFile, CertFile: cfg.EtcdCertFile, KeyFile: cfg.EtcdKeyFile}
		t, err := tlsInfo.ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("apiserver: --etcd-cafile/--etcd-certfile/--etcd-keyfile: %w", err)
		}
		ccfg.TLS = t
	}
	c, err := clientv3.New(ccfg)
	if err != nil {
		return nil, fmt.Errorf("apiserver: --etcd-servers %v: %w", cfg.EtcdServers, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Get(ctx, "/registry/health-check"); err != nil {
		c.Close()
		return nil, fmt.Errorf("apiserver: --etcd-servers %v: not reachable: %w", cfg.EtcdServers, err)
	}
	return c, nil
}

// newServer builds the handler: codecs, stores, field managers.
func newServer(cfg Config, client *clientv3.Client, svcIPs *serviceIPs, scheme *k8sruntime.Scheme, oa *openapi.Service) (*server, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s := &server{
		cfg:           cfg,
		log:           cfg.Logger,
		clock:         cfg.Clock,
		codecs:        newCodecs(scheme),
		resources:     map[schema.GroupVersionResource]*resource{},
		authn:         auth.ClientCert{},
		authz:         auth.BuiltinPolicy{},
		metrics:       newMetrics(reg),
		promReg:       reg,
		serviceIPs:    svcIPs,
		nodePorts:     &allocator{client: client, prefix: "/registry/ranges/servicenodeports/", size: 32768 - nodePortBase},
		readOnlySlots: make(chan struct{}, cfg.MaxRequestsInFlight),
		mutatingSlots: make(chan struct{}, cfg.MaxMutatingRequestsInFlight),
	}
	// Server-side apply's schema is our own OpenAPI (the same one kubectl
	// sees), which also makes it 60 times faster to build than client-go's.
	typeConverter, err := managedfields.NewTypeConverter(oa.Definitions(), false)
	if err != nil {
		return nil, fmt.Errorf("apiserver: apply schema: %w", err)
	}
	for _, r := range registry.All() {
		gr := r.GroupResource()
		prefix := "/registry/" + r.Resource
		if r.Group != "" && r.Group != "apps" && r.Group != "batch" {
			// Kinds whose plural clashes across groups get their group in the
			// key; core, apps and batch keep upstream's plain layout.
			prefix = "/registry/" + r.Group + "/" + r.Resource
		}
		var stored *storage.StoredForm
		if r.Group == "events.k8s.io" && r.Resource == "events" {
			prefix = "/registry/events" // one resource in two groups
			stored = &storage.StoredForm{GVK: corev1.SchemeGroupVersion.WithKind("Event"), New: func() k8sruntime.Object { return &corev1.Event{} },
				ToStorage: registry.EventToCore, FromStorage: registry.EventFromCore}
		}
		res := &resource{resourceDef: r, store: storage.New(storage.Config{
			Client: client, Prefix: prefix, Resource: gr, GVK: r.GVK(), Scheme: scheme, New: r.New,
			Stored: stored, Logger: cfg.Logger,
		})}
		fm, err := managedfields.NewDefaultFieldManager(typeConverter, scheme, scheme, scheme, r.GVK(), r.GVK().GroupVersion(), "", nil)
		if err != nil {
			cfg.Logger.Warn("server-side apply unavailable", "resource", gr.String(), "err", err)
		} else {
			res.fieldManager = fm
		}
		if r.Status && res.fieldManager != nil {
			if sfm, err := managedfields.NewDefaultFieldManager(typeConverter, scheme, scheme, scheme, r.GVK(), r.GVK().GroupVersion(), "status", nil); err == nil {
				res.statusFieldManager = sfm
			}
		}
		s.resources[r.GVR()] = res
		s.ordered = append(s.ordered, res)
	}
	s.openapi = oa
	return s, nil
}

// bootstrapTokenSecret is the bootstrap-token authenticator's lookup of
// kube-system/<name>: the secrets watch cache, as upstream's authenticator
// reads its informer's lister. No etcd read per request (nor for
// unknown token ids guessed by unauthenticated callers). A Secret is seen,
// and its deletion too, once the cache has the etcd event: usually within
// a millisecond of the write, but a request sent right after the delete
// returns can still beat it.
func (s *server) bootstrapTokenSecret(_ context.Context, name string) (*corev1.Secret, bool) {
	res := s.lookup("", "v1", "secrets")
	obj, ok := res.store.GetCached(res.store.Key(metav1.NamespaceSystem, name))
	if !ok {
		return nil, false
	}
	secret, ok := obj.(*corev1.Secret)
	return secret, ok
}

// route dispatches an authenticated, admitted request.
func (s *server) route(w http.ResponseWriter, r *http.Request, ri requestInfo, isResource bool) {
	p := r.URL.Path
	switch {
	case isResource && ri.Group == metricsv1beta1.GroupName:
		s.serveMetrics(w, r, ri)
	case isResource:
		s.serveResource(w, r, ri)
	case p == "/healthz" || p == "/livez" || p == "/readyz" ||
		len(p) > 8 && (p[:8] == "/healthz" || p[:8] == "/readyz/") || len(p) > 6 && p[:6] == "/livez":
		s.serveHealth(w, r)
	case p == "/version" || p == "/version/":
		b, _ := json.MarshalIndent(versionInfo(s.cfg.Version), "", "  ")
		w.Header().Set("Content-Type", mediaJSON)
		_, _ = w.Write(b)
	case p == "/metrics":
		promhttp.HandlerFor(s.promReg, promhttp.HandlerOpts{}).ServeHTTP(w, r)
	case len(p) >= 8 && p[:8] == "/openapi":
		s.openapi.ServeHTTP(w, r)
	case s.serveDiscovery(w, r):
	default:
		s.writeError(w, r, apierrors.NewGenericServerResponse(http.StatusNotFound, "get", schema.GroupResource{}, "", "the server could not find the requested resource", 0, false))
	}
}

// serveHealth answers /healthz, /livez and /readyz: ok once the server is
// ready and etcd answers.
func (s *server) serveHealth(w http.ResponseWriter, r *http.Request) {
	s.readyMu.Lock()
	ready := s.ready
	s.readyMu.Unlock()
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	nsRes := s.lookup("", "v1", "namespaces")
	_, etcdErr := nsRes.store.CurrentRevision(ctx)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	check, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/") // healthz, livez or readyz
	if !ready || etcdErr != nil {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, "[-]etcd failed: %v\n%s check failed\n", etcdErr, check)
		return
	}
	if r.URL.Query().Has("verbose") {
		fmt.Fprintf(w, "[+]ping ok\n[+]etcd ok\n[+]poststarthook/bootstrap ok\n%s check passed\n", check)
		return
	}
	fmt.Fprint(w, "ok")
}
