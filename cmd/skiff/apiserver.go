package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/klog/v2"

	"github.com/skiffk8s/skiff/apiserver"
	"github.com/skiffk8s/skiff/internal/version"
)

// apiserverFlags binds the API server's flags to cfg.
func apiserverFlags(fs *pflag.FlagSet, cfg *apiserver.Config, etcdServers *string) {
	fs.StringVar(&cfg.DataDir, "data-dir", "/var/lib/skiff", "directory for the PKI, the embedded etcd and the admin kubeconfig")
	fs.StringVar(&cfg.BindAddress, "bind-address", "0.0.0.0", "address to serve HTTPS on")
	fs.IntVar(&cfg.SecurePort, "secure-port", 6443, "HTTPS port")
	fs.IPVar(&cfg.AdvertiseAddress, "advertise-address", nil, "address the cluster reaches this server at (default: the bind address or the host's first IPv4 address)")
	fs.StringVar(etcdServers, "etcd-servers", "", "comma-separated client URLs of an external etcd cluster (default: embedded etcd)")
	fs.StringVar(&cfg.EtcdCAFile, "etcd-cafile", "", "CA file to verify the external etcd's certificates")
	fs.StringVar(&cfg.EtcdCertFile, "etcd-certfile", "", "client certificate for the external etcd")
	fs.StringVar(&cfg.EtcdKeyFile, "etcd-keyfile", "", "client key for the external etcd")
	fs.IntVar(&cfg.EtcdClientPort, "etcd-client-port", 2379, "loopback client port of the embedded etcd")
	fs.IntVar(&cfg.EtcdPeerPort, "etcd-peer-port", 2380, "loopback peer port of the embedded etcd")
	fs.StringVar(&cfg.ServiceCIDR, "service-cluster-ip-range", "10.96.0.0/12", "CIDR of Service cluster IPs")
	fs.StringVar(&cfg.TokenAuthFile, "token-auth-file", "", "static bearer token file (token,user,uid,\"group1,group2\")")
	fs.BoolVar(&cfg.AnonymousAuth, "anonymous-auth", true, "serve requests without credentials as system:anonymous, which may read only the public paths and kube-public/cluster-info (joining nodes read it); false: 401 for them")
	fs.DurationVar(&cfg.CompactionInterval, "etcd-compaction-interval", 5*time.Minute, "how often etcd history is compacted (0s disables)")
	fs.IntVar(&cfg.MaxRequestsInFlight, "max-requests-inflight", 400, "concurrent non-mutating requests before 429")
	fs.IntVar(&cfg.MaxMutatingRequestsInFlight, "max-mutating-requests-inflight", 200, "concurrent mutating requests before 429")
	fs.DurationVar(&cfg.RequestTimeout, "request-timeout", time.Minute, "timeout of non-watch requests")
	fs.StringVar(&cfg.KubeletCAFile, "kubelet-certificate-authority", "", "CA bundle that verifies kubelets' serving certificates (default: the cluster CA)")
}

// tuneGC makes long-running server components (every one calls it) keep
// less garbage: a GC target of 50% over the live heap instead of Go's 100%
// trades a little CPU for less resident memory (the API server with
// 10,000 objects: about 20 MiB less, BenchmarkMemory10k; the scheduler
// with 10,000 pods: 128 → 101 MiB private). A GOGC environment variable
// wins.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
}

func finishAPIServerConfig(cfg *apiserver.Config, etcdServers string, logger *slog.Logger) {
	tuneGC()
	if etcdServers != "" {
		cfg.EtcdServers = strings.Split(etcdServers, ",")
	}
	if cfg.CompactionInterval == 0 {
		cfg.CompactionInterval = -1 // the flag's 0s means off
	}
	cfg.Version = version.Kubernetes
	cfg.Logger = logger
}

func newAPIServerCommand() *cobra.Command {
	var cfg apiserver.Config
	var etcdServers string
	c := &cobra.Command{
		Use:   "apiserver",
		Short: "Run the Kubernetes API server (embedded etcd unless --etcd-servers)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger := newLogger()
			finishAPIServerConfig(&cfg, etcdServers, logger)
			ctx, stop := signalContext()
			defer stop()
			go trimStartupPages(ctx, logger)
			return apiserver.Run(ctx, cfg)
		},
	}
	apiserverFlags(c.Flags(), &cfg, &etcdServers)
	return c
}

// signalContext is done on SIGINT or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// newLogger is the components' logger. Libraries that log with klog
// (client-go, cadvisor) write through it too, so a component's output is
// one format.
func newLogger() *slog.Logger {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	klog.SetSlogLogger(logger.With("logger", "klog"))
	return logger
}
