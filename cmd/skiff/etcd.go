package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/skiffk8s/skiff/datastore"
)

func newEtcdCommand() *cobra.Command {
	var cfg datastore.Config
	c := &cobra.Command{
		Use:   "etcd",
		Short: "Run one etcd member for an API server started with --etcd-servers",
		Long: `Run one embedded etcd member standalone, until SIGTERM or SIGINT.

The member serves plain HTTP on loopback only (client URL
http://127.0.0.1:<client-port>), so it is reached by an API server on the same
host started with --etcd-servers http://127.0.0.1:<client-port>. It is a
single-member cluster: members that form a cluster across hosts (HA) are not
supported yet.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Logger = newLogger()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runEtcd(ctx, cfg)
		},
	}
	fs := c.Flags()
	fs.StringVar(&cfg.DataDir, "data-dir", "/var/lib/skiff/etcd", "etcd's data directory (created with mode 0700)")
	fs.StringVar(&cfg.Name, "name", "", "the member's name (default: the host name)")
	fs.IntVar(&cfg.ClientPort, "client-port", 2379, "loopback port of the client endpoint (0: a free port)")
	fs.IntVar(&cfg.PeerPort, "peer-port", 2380, "loopback port of the peer endpoint (0: a free port)")
	fs.Int64Var(&cfg.QuotaBackendBytes, "quota-backend-bytes", 0, "backend size quota in bytes (0: etcd's default, 2 GiB)")
	return c
}

// runEtcd runs the member until ctx is done or the member stops by
// itself.
func runEtcd(ctx context.Context, cfg datastore.Config) error {
	for _, p := range []struct {
		flag string
		port int
	}{{"--client-port", cfg.ClientPort}, {"--peer-port", cfg.PeerPort}} {
		if p.port < 0 || p.port > 65535 {
			return fmt.Errorf("%s: %d is not a port", p.flag, p.port)
		}
	}
	if cfg.QuotaBackendBytes < 0 {
		return fmt.Errorf("--quota-backend-bytes: %d is negative", cfg.QuotaBackendBytes)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	e, err := datastore.Start(ctx, cfg)
	if err != nil {
		return err
	}
	logger.Info("etcd serving", "endpoints", e.Endpoints(), "dataDir", cfg.DataDir)
	select {
	case <-ctx.Done():
		logger.Info("etcd stopping")
		return e.Close()
	case <-e.Stopped():
		err := e.Close()
		if err == nil {
			err = fmt.Errorf("stopped unexpectedly")
		}
		return fmt.Errorf("etcd: %w", err)
	}
}
