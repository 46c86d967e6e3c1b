package runtime

// This file holds the containerd-backed Runtime: connection, configuration
// and the bookkeeping shared by images and containers.
//
// Logs. Each started task gets its stdout and stderr through FIFOs that
// containerd's shim writes (cio.NewCreator with a FIFO directory); a small
// copier in this process reads them and writes cfg.LogPath in the CRI log
// format, adding the timestamp, the stream and the F/P tag. A shim that
// writes a file itself (the "file://" log URI of the 1.6 runc shim) cannot
// add CRI timestamps, and a "binary://" logger would have to be shipped and
// found on every host; the FIFO copier is the simplest design that produces
// the exact CRI format. Its limit: the copier lives in the kubelet's
// process. When the process restarts, New re-attaches a copier to every
// running task that has a log path (the shim keeps the FIFOs open, so a
// container blocked on a full pipe resumes); output written while no reader
// was attached stays in the pipe (64 KiB) and is not lost.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	clog "github.com/containerd/log"
	"github.com/sirupsen/logrus"
)

// Config configures a containerd-backed Runtime.
type Config struct {
	// Address is containerd's gRPC socket (default /run/containerd/containerd.sock).
	Address string
	// Namespace is the containerd namespace everything lives in (default "skiff").
	Namespace string
	// RegistriesConfig is a k3s-format registries.yaml (default
	// /etc/skiff/registries.yaml); a missing file means no mirrors.
	RegistriesConfig string
	// FIFODir holds the stdout/stderr FIFOs of tasks (default /run/skiff/fifo).
	FIFODir string
	// Snapshotter is the snapshotter for images and containers (default
	// "overlayfs", or "native" when containerd reports overlayfs unusable).
	Snapshotter string
	// Logger receives the runtime's own diagnostics (default: discarded).
	Logger *slog.Logger
}

// Containerd is a Runtime backed by containerd. Create it with New; Close it
// when done.
type Containerd struct {
	client      *containerd.Client
	ns          string
	snapshotter string
	fifoDir     string
	registries  *registries
	log         *slog.Logger
	quiet       *clog.Entry // discards containerd's client-side logs
	// bg is a namespaced context for work that outlives a call (log
	// copiers, exit watchers); cancelled by Close.
	bg     context.Context
	cancel context.CancelFunc

	mu sync.Mutex
	// running maps a container ID to its log copier; guarded by mu.
	running map[string]*taskLog
}

var _ Runtime = (*Containerd)(nil)

// New connects to containerd and prepares the namespace. It does not
// require containerd's transfer service, so containerd 1.6 works.
func New(ctx context.Context, cfg Config) (*Containerd, error) {
	if cfg.Address == "" {
		cfg.Address = "/run/containerd/containerd.sock"
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "skiff"
	}
	if cfg.RegistriesConfig == "" {
		cfg.RegistriesConfig = "/etc/skiff/registries.yaml"
	}
	if cfg.FIFODir == "" {
		cfg.FIFODir = "/run/skiff/fifo"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	regs, err := loadRegistries(cfg.RegistriesConfig)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.FIFODir, 0o700); err != nil {
		return nil, fmt.Errorf("fifo dir: %w", err)
	}
	client, err := containerd.New(cfg.Address, containerd.WithDefaultNamespace(cfg.Namespace))
	if err != nil {
		return nil, fmt.Errorf("connect to containerd at %s: %w", cfg.Address, err)
	}
	nctx := namespaces.WithNamespace(ctx, cfg.Namespace)
	if _, err := client.Version(nctx); err != nil {
		client.Close()
		return nil, fmt.Errorf("containerd at %s: %w", cfg.Address, err)
	}
	snap := cfg.Snapshotter
	if snap == "" {
		snap = pickSnapshotter(nctx, client)
	}
	bg, cancel := context.WithCancel(namespaces.WithNamespace(context.Background(), cfg.Namespace))
	c := &Containerd{
		client:      client,
		ns:          cfg.Namespace,
		snapshotter: snap,
		fifoDir:     cfg.FIFODir,
		registries:  regs,
		log:         cfg.Logger,
		quiet:       quietLogger(),
		bg:          bg,
		cancel:      cancel,
		running:     map[string]*taskLog{},
	}
	c.reattachLogs(nctx)
	return c, nil
}

// pickSnapshotter returns "overlayfs" unless containerd reports that plugin
// failed to load (e.g. the root is on a file system overlay cannot use).
func pickSnapshotter(ctx context.Context, client *containerd.Client) string {
	resp, err := client.IntrospectionService().Plugins(ctx, `type=="io.containerd.snapshotter.v1"`)
	if err != nil {
		return "overlayfs"
	}
	for _, p := range resp.GetPlugins() {
		if p.GetID() == "overlayfs" {
			if p.GetInitErr() == nil {
				return "overlayfs"
			}
			return "native"
		}
	}
	return "native"
}

// Client is the underlying containerd client (for tools and tests).
func (c *Containerd) Client() *containerd.Client { return c.client }

// Snapshotter names the snapshotter in use.
func (c *Containerd) Snapshotter() string { return c.snapshotter }

// Close stops the log copiers of this process (containers keep running)
// and closes the connection.
func (c *Containerd) Close() error {
	c.cancel()
	c.mu.Lock()
	logs := c.running
	c.running = map[string]*taskLog{}
	c.mu.Unlock()
	for _, l := range logs {
		l.detach()
	}
	return c.client.Close()
}

// ctx returns ctx in the runtime's namespace.
func (c *Containerd) nsCtx(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, c.ns)
}

// Version names the runtime and its version.
func (c *Containerd) Version(ctx context.Context) (string, string, error) {
	v, err := c.client.Version(c.nsCtx(ctx))
	if err != nil {
		return "", "", fmt.Errorf("containerd version: %w", err)
	}
	return "containerd", strings.TrimPrefix(v.Version, "v"), nil
}

// ensureDir creates the parent directory of path.
func ensureDir(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	return nil
}

// joinErrs joins non-nil errors.
func joinErrs(errs ...error) error { return errors.Join(errs...) }

// quietLogger is a containerd log entry that writes nowhere.
func quietLogger() *clog.Entry {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return logrus.NewEntry(l)
}
