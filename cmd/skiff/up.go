package main

import (
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/skiffk8s/skiff/apiserver"
)

// defaultDataDir is where `skiff up` keeps its state by default.
const defaultDataDir = "/var/lib/skiff"

func newUpCommand() *cobra.Command {
	var cfg apiserver.Config
	var etcdServers string
	c := &cobra.Command{
		Use:   "up",
		Short: "Run a whole single-host cluster in one process until SIGINT/SIGTERM",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			finishAPIServerConfig(&cfg, etcdServers, newLogger())
			if filepath.Clean(cfg.DataDir) == defaultDataDir && os.Geteuid() == 0 {
				cfg.KubeconfigPaths = append(cfg.KubeconfigPaths, "/etc/skiff/admin.kubeconfig")
			}
			ctx, stop := signalContext()
			defer stop()
			// Later components (scheduler, controller manager, kubelet,
			// proxy) join here as they are built.
			return apiserver.Run(ctx, cfg)
		},
	}
	apiserverFlags(c.Flags(), &cfg, &etcdServers)
	return c
}
