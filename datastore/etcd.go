// Package datastore runs the embedded etcd that backs a single-host cluster
// and keeps etcd history bounded with the upstream kube-apiserver compaction
// protocol.
//
// The embedded member listens on loopback only, with plain HTTP: it is
// reached by the API server in the same host, never from the network. For
// an HA cluster the API server talks to an external etcd instead, and only
// the compactor here is used.
package datastore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap/zapcore"
)

// DefaultStartTimeout bounds how long Start waits for the member to serve.
const DefaultStartTimeout = 30 * time.Second

// clusterToken is the initial-cluster-token of every embedded member. It only
// matters when a cluster is created: it seeds the cluster and member IDs.
const clusterToken = "skiff"

// Config configures the embedded etcd member.
type Config struct {
	// DataDir holds etcd's data (member/wal, member/snap). It is created with
	// mode 0700 if missing. Starting again on the same DataDir restarts the
	// same member with its data. Required.
	DataDir string
	// ClientPort is the loopback TCP port of the client (gRPC) endpoint.
	// 0 picks a free port (tests).
	ClientPort int
	// PeerPort is the loopback TCP port of the raft peer endpoint. 0 picks a
	// free port (tests).
	PeerPort int
	// Name is the member's name. "" means the host name.
	Name string
	// Logger receives etcd's warnings and errors; etcd's info chatter is
	// dropped. nil discards everything.
	Logger *slog.Logger
	// QuotaBackendBytes is the backend size quota in bytes. 0 means etcd's
	// default (2 GiB).
	QuotaBackendBytes int64
	// StartTimeout bounds the wait for the member to be ready. 0 means
	// DefaultStartTimeout.
	StartTimeout time.Duration
}

// Etcd is a running embedded etcd member and a client connected to it.
type Etcd struct {
	etcd      *embed.Etcd
	client    *clientv3.Client
	endpoints []string

	// stopping demotes etcd's logs while Close runs: listeners and
	// in-flight requests report their own ends as errors.
	stopping *atomic.Bool

	closeOnce sync.Once
	closeErr  error
}

// Start starts the member and returns once it is ready to serve requests
// (it has a leader and has published itself), or with an error saying why it
// is not after cfg.StartTimeout. ctx bounds the start only: once Start has
// returned, the member runs until Close.
func Start(ctx context.Context, cfg Config) (*Etcd, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("datastore: DataDir is required")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("datastore: start etcd: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("datastore: create data dir: %w", err)
	}
	// etcd wants its data private; an existing dir may be wider.
	if err := os.Chmod(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("datastore: data dir permissions: %w", err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	name := cfg.Name
	if name == "" {
		name = hostnameOr("default")
	}
	timeout := cfg.StartTimeout
	if timeout <= 0 {
		timeout = DefaultStartTimeout
	}

	// With a port of 0 we reserve a free port and hand its number to etcd,
	// so that the advertised URLs (stored in the member list) are the real
	// ones. Another process may take the port in between: then try again.
	autoPorts := cfg.ClientPort == 0 || cfg.PeerPort == 0
	var (
		e        *embed.Etcd
		err      error
		stopping = new(atomic.Bool)
	)
	etcdLogger := slog.New(&demoteHandler{
		Handler: logger.Handler(),
		demote:  harmlessWarning,
		all:     stopping,
	})
	for attempt := 0; ; attempt++ {
		var ec *embed.Config
		ec, err = embedConfig(cfg, name, etcdLogger)
		if err != nil {
			return nil, err
		}
		e, err = embed.StartEtcd(ec)
		if err == nil {
			break
		}
		if autoPorts && errors.Is(err, syscall.EADDRINUSE) && attempt < 5 {
			continue
		}
		return nil, fmt.Errorf("datastore: start etcd in %s: %w", cfg.DataDir, err)
	}

	// On failure the reason goes into the error; etcd's complaints about
	// being stopped are noise.
	abort := func() {
		stopping.Store(true)
		e.Close()
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-e.Server.ReadyNotify():
	case <-e.Server.StopNotify():
		abort()
		return nil, fmt.Errorf("datastore: etcd stopped before it was ready: %w", errOrUnknown(e.Err()))
	case err := <-e.Err():
		abort()
		return nil, fmt.Errorf("datastore: etcd failed before it was ready: %w", err)
	case <-ctx.Done():
		abort()
		return nil, fmt.Errorf("datastore: waiting for etcd: %w", ctx.Err())
	case <-timer.C:
		reason := "it has not published itself to the cluster"
		if e.Server.Leader() == 0 {
			reason = "no raft leader was elected"
		}
		abort()
		return nil, fmt.Errorf("datastore: etcd not ready after %s: %s", timeout, reason)
	}

	endpoints := make([]string, 0, len(e.Clients))
	for _, l := range e.Clients {
		endpoints = append(endpoints, "http://"+l.Addr().String())
	}
	client, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 5 * time.Second,
		// The client warns on every failed attempt, including answers such as
		// "compacted" that callers handle: only errors are worth a line.
		Logger: newZapLogger(etcdLogger, zapcore.ErrorLevel),
	})
	if err != nil {
		abort()
		return nil, fmt.Errorf("datastore: connect to embedded etcd: %w", err)
	}
	return &Etcd{etcd: e, client: client, endpoints: endpoints, stopping: stopping}, nil
}

// embedConfig builds etcd's configuration for one start attempt.
func embedConfig(cfg Config, name string, logger *slog.Logger) (*embed.Config, error) {
	clientPort, err := portOrFree(cfg.ClientPort)
	if err != nil {
		return nil, err
	}
	peerPort, err := portOrFree(cfg.PeerPort)
	if err != nil {
		return nil, err
	}
	clientURL := loopbackURL(clientPort)
	peerURL := loopbackURL(peerPort)

	ec := embed.NewConfig()
	ec.Name = name
	ec.Dir = cfg.DataDir
	ec.ListenClientUrls = []url.URL{clientURL}
	ec.AdvertiseClientUrls = []url.URL{clientURL}
	ec.ListenPeerUrls = []url.URL{peerURL}
	ec.AdvertisePeerUrls = []url.URL{peerURL}
	// Only read when the member is created; a restart uses the stored
	// membership whatever the ports are now.
	ec.InitialCluster = name + "=" + peerURL.String()
	ec.InitialClusterToken = clusterToken
	ec.ClusterState = embed.ClusterStateFlagNew
	ec.QuotaBackendBytes = cfg.QuotaBackendBytes
	// A lone member becomes leader only when its randomized election
	// timeout (one to two election timeouts) runs out; etcd fast-forwards
	// all but one tick on a fresh start but not on a restart. With the
	// defaults (100 ms ticks, 1 s election) that is 0.1-1.1 s on a fresh
	// start and 1-2 s on a restart. A single member never loses leadership,
	// so short ticks cost only the timer: ready in 10-100 ms fresh,
	// 100-200 ms on restart.
	ec.TickMs = 10
	ec.ElectionMs = 100
	// The API server speaks gRPC; the JSON gateway is one more thing to set
	// up on every start that nobody uses.
	ec.EnableGRPCGateway = false
	// History is compacted by the API server's compactor (RunCompactor).
	ec.AutoCompactionMode = embed.CompactorModePeriodic
	ec.AutoCompactionRetention = "0"
	// Raft keeps every entry since the last snapshot in memory (10,000 by
	// default, each a whole write). A lone member has no follower to catch
	// up, so snapshot sooner and keep fewer: about 5 MiB less with 10,000
	// objects written.
	ec.SnapshotCount = 2000
	ec.SnapshotCatchUpEntries = 1000
	ec.LogLevel = "warn"
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(newZapLogger(logger, zapcore.WarnLevel))
	return ec, nil
}

// harmlessWarning tells whether an etcd warning or error is expected of a
// healthy embedded member; such records are logged at debug level.
func harmlessWarning(r slog.Record) bool {
	switch r.Message {
	case
		// One listener for gRPC and HTTP is what a loopback member wants.
		"Running http and grpc server on single port. This is not recommended for production.",
		// etcd auth is off: the API server is the only client.
		"simple token is not cryptographically signed":
		return true
	case "Failed to detect schema version", "failed to update storage version":
		// A new member elects itself before its backend has committed the
		// raft term; the storage version is set at the monitor's next run.
		missingTerm := false
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "error" && strings.Contains(a.Value.String(), "missing term information") {
				missingTerm = true
			}
			return !missingTerm
		})
		return missingTerm
	}
	return false
}

// demoteHandler logs the records for which demote is true, and everything
// while all is set, at debug level.
type demoteHandler struct {
	slog.Handler
	demote func(slog.Record) bool
	all    *atomic.Bool
}

func (h *demoteHandler) Enabled(ctx context.Context, l slog.Level) bool {
	// The message is not known yet: let Handle decide.
	return h.Handler.Enabled(ctx, l) || h.Handler.Enabled(ctx, slog.LevelDebug)
}

func (h *demoteHandler) Handle(ctx context.Context, r slog.Record) error {
	if h.demote(r) || h.all.Load() {
		r.Level = slog.LevelDebug
	}
	if !h.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h *demoteHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &demoteHandler{Handler: h.Handler.WithAttrs(attrs), demote: h.demote, all: h.all}
}

func (h *demoteHandler) WithGroup(name string) slog.Handler {
	return &demoteHandler{Handler: h.Handler.WithGroup(name), demote: h.demote, all: h.all}
}

// hostnameOr returns the host name, or def if it has none.
func hostnameOr(def string) string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return def
	}
	return h
}

func loopbackURL(port int) url.URL {
	return url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
}

// portOrFree returns port, or a currently free loopback port if it is 0.
func portOrFree(port int) (int, error) {
	if port != 0 {
		return port, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("datastore: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// errOrUnknown returns the first error on errc, if one is there already.
func errOrUnknown(errc <-chan error) error {
	select {
	case err, ok := <-errc:
		if ok && err != nil {
			return err
		}
	default:
	}
	return errors.New("no error reported")
}

// Endpoints returns the member's client URLs, e.g. "http://127.0.0.1:2379".
func (e *Etcd) Endpoints() []string {
	return append([]string(nil), e.endpoints...)
}

// Client returns a client connected to the member. It is closed by Close.
func (e *Etcd) Client() *clientv3.Client {
	return e.client
}

// Stopped is closed when the member stops, by Close or because it failed.
func (e *Etcd) Stopped() <-chan struct{} {
	return e.etcd.Server.StopNotify()
}

// Close closes the client and stops the member, waiting for it to flush and
// release the data dir. It is safe to call more than once.
func (e *Etcd) Close() error {
	e.closeOnce.Do(func() {
		e.stopping.Store(true)
		if err := e.client.Close(); err != nil && !errors.Is(err, context.Canceled) {
			e.closeErr = fmt.Errorf("datastore: close client: %w", err)
		}
		e.etcd.Close()
	})
	return e.closeErr
}
