// Package server is the kubelet's HTTPS API (upstream's port 10250): the
// endpoints the apiserver and kubectl reach through it and that metrics
// pipelines scrape.
//
//	GET  /healthz                                  "ok"
//	GET  /pods                                     v1 PodList of the pods the kubelet runs
//	GET  /containerLogs/{ns}/{pod}/{container}     container logs (follow, tailLines, limitBytes,
//	                                               timestamps, previous, sinceSeconds, sinceTime)
//	*    /exec/{ns}/{pod}/{container}              remote command (websocket v5/v4, SPDY v5..v2)
//	*    /attach/{ns}/{pod}/{container}            attach to the main process (same protocols)
//	*    /portForward/{ns}/{pod}                   SPDY portforward.k8s.io, also tunneled in a websocket
//	GET  /stats/summary                            stats/v1alpha1 Summary from the StatsProvider
//	GET  /metrics/resource                         Prometheus text rendered from the Summary
//
// Every request must present a client certificate signed by the client CA
// (the cluster CA): anonymous requests get 401 on every path, /healthz
// included, as upstream with --anonymous-auth=false. An Authorizer then
// decides by user and path (default: any authenticated client).
//
// The server reads the pods and their containers through functions given
// in Config; it runs nothing itself: exec and attach go to a Streamer (the
// containerd runtime), port-forward dials through Config.DialPod, stats come
// from a StatsProvider.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/skiffk8s/skiff/runtime"
)

// Config configures the kubelet server. Only TLS material and ClientCA are
// required; a missing dependency turns its endpoints into 404s (stats) or
// errors that say what is missing.
type Config struct {
	// Addr is the listen address (default ":10250").
	Addr string
	// TLS serving certificate and key, PEM; or files when the PEM fields
	// are empty.
	CertPEM, KeyPEM   []byte
	CertFile, KeyFile string
	// GetCertificate, when set, is asked for the serving certificate at
	// every handshake instead (a certificate its provider renews); it
	// returns nil when it has none.
	GetCertificate func() *tls.Certificate
	// ClientCA holds the PEM certificates that sign client certificates
	// (the cluster CA); or ClientCAFile when empty.
	ClientCA     []byte
	ClientCAFile string
	// Authorizer decides what an authenticated user may do (default:
	// everything).
	Authorizer Authorizer

	// Pods returns the pods the kubelet runs (not mutated by the server).
	Pods func() []*corev1.Pod
	// LookupContainer reports the runtime ID of a pod's current container
	// and whether it is running. Default: read pod.Status's container
	// statuses ("containerd://<id>", state running).
	LookupContainer func(pod *corev1.Pod, container string) (ContainerInfo, bool)
	// PodLogsDir is where the kubelet writes container logs:
	// <PodLogsDir>/<ns>_<pod>_<uid>/<container>/<restart>.log (default
	// /var/log/pods).
	PodLogsDir string
	// Streamer runs exec and attach sessions (*runtime.Containerd).
	Streamer Streamer
	// DialPod connects to port on the pod's network namespace (loopback
	// inside the pod), for port-forward.
	DialPod func(ctx context.Context, pod *corev1.Pod, port int32) (net.Conn, error)
	// Stats provides /stats/summary and /metrics/resource (nil: 404).
	Stats StatsProvider

	// StreamIdleTimeout ends exec/attach/port-forward connections idle
	// that long (default 4h, as upstream).
	StreamIdleTimeout time.Duration
	// LogPollInterval is how often a followed log is checked for new
	// lines (default 250ms).
	LogPollInterval time.Duration
	// Logger receives the server's diagnostics (default: discarded).
	Logger *slog.Logger
}

// ContainerInfo is what the server needs to know about a pod's container.
type ContainerInfo struct {
	ID      string // runtime container ID, without "containerd://"
	Running bool
}

// Streamer runs processes in containers with streams attached.
// *runtime.Containerd implements it.
type Streamer interface {
	// ExecStream runs cmd in container id and returns its exit code.
	ExecStream(ctx context.Context, id string, cmd []string, s runtime.Streams) (int, error)
	// Attach connects s to container id's main process until it exits or
	// ctx ends; runtime.ErrNoStdin when stdin is asked of a container
	// created without it.
	Attach(ctx context.Context, id string, s runtime.Streams) error
}

var _ Streamer = (*runtime.Containerd)(nil)

// StatsProvider reports the node's resource usage summary.
type StatsProvider interface {
	Summary(ctx context.Context) (*statsv1alpha1.Summary, error)
}

// Server is the kubelet's HTTP handler, before TLS.
type Server struct {
	cfg Config
	log *slog.Logger
	mux *http.ServeMux
}

// New returns the server's handler for cfg. TLS and client-certificate
// authentication happen in Run's listener; New's handler authenticates
// from r.TLS, so it must be served over TLS that requests client
// certificates (TLSConfig does that).
func New(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.PodLogsDir == "" {
		cfg.PodLogsDir = "/var/log/pods"
	}
	if cfg.Pods == nil {
		cfg.Pods = func() []*corev1.Pod { return nil }
	}
	if cfg.LookupContainer == nil {
		cfg.LookupContainer = ContainerFromStatus
	}
	if cfg.Authorizer == nil {
		cfg.Authorizer = AllowAuthenticated{}
	}
	if cfg.StreamIdleTimeout == 0 {
		cfg.StreamIdleTimeout = 4 * time.Hour
	}
	if cfg.LogPollInterval == 0 {
		cfg.LogPollInterval = 250 * time.Millisecond
	}
	pool, err := loadClientCA(cfg)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux()}
	s.routes()
	authn := &authenticator{pool: pool}
	s.mux = wrap(s.mux, authn, cfg.Authorizer, s.log)
	return s, nil
}

// ServeHTTP serves one authenticated request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) routes() {
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok"))
	})
	s.mux.HandleFunc("GET /pods", s.handlePods)
	s.mux.HandleFunc("GET /containerLogs/{ns}/{pod}/{container}", s.handleContainerLogs)
	s.mux.HandleFunc("/exec/{ns}/{pod}/{container}", s.handleExec)
	s.mux.HandleFunc("/attach/{ns}/{pod}/{container}", s.handleAttach)
	s.mux.HandleFunc("/portForward/{ns}/{pod}", s.handlePortForward)
	s.mux.HandleFunc("GET /stats/summary", s.handleSummary)
	s.mux.HandleFunc("GET /metrics/resource", s.handleMetricsResource)
}

// Run serves cfg on cfg.Addr over TLS until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	s, err := New(cfg)
	if err != nil {
		return err
	}
	tlsCfg, err := TLSConfig(cfg)
	if err != nil {
		return err
	}
	addr := cfg.Addr
	if addr == "" {
		addr = ":10250"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("kubelet server: listen on %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           s,
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(tls.NewListener(ln, tlsCfg)) }()
	s.log.Info("kubelet server listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("kubelet server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("kubelet server: shutdown: %w", err)
	}
	srv.Close() // hijacked streaming connections are not tracked by Shutdown
	return nil
}
