package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiffk8s/skiff/apiserver"
	"github.com/skiffk8s/skiff/kubelet/agent"
)

// defaultDataDir is where `skiff up` keeps its state by default.
const defaultDataDir = "/var/lib/skiff"

func newUpCommand() *cobra.Command {
	var cfg apiserver.Config
	var etcdServers string
	var node kubeletOptions
	var sched schedulerOptions
	var cm controllerManagerOptions
	withKubelet := true
	c := &cobra.Command{
		Use:   "up",
		Short: "Run a whole single-host cluster in one process until SIGINT/SIGTERM",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger := newLogger()
			finishAPIServerConfig(&cfg, etcdServers, logger)
			if filepath.Clean(cfg.DataDir) == defaultDataDir && os.Geteuid() == 0 {
				cfg.KubeconfigPaths = append(cfg.KubeconfigPaths, "/etc/skiff/admin.kubeconfig")
			}
			if !cmd.Flags().Changed("root-dir") {
				node.rootDir = filepath.Join(cfg.DataDir, "kubelet")
			}
			// The kubelet server's certificate comes from this cluster's CA.
			if !cmd.Flags().Changed("client-ca-file") {
				node.clientCAFile = filepath.Join(cfg.DataDir, "pki", "ca.crt")
			}
			if !cmd.Flags().Changed("ca-key-file") {
				node.caKeyFile = filepath.Join(cfg.DataDir, "pki", "ca.key")
			}
			var agentCfg agent.Config
			if withKubelet {
				var err error
				if agentCfg, err = node.agentConfig(nil, logger.With("component", "kubelet")); err != nil {
					return err
				}
			}
			schedCfg, err := sched.schedulerConfig(logger.With("component", "scheduler"))
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("root-ca-file") {
				cm.rootCAFile = filepath.Join(cfg.DataDir, "pki", "ca.crt")
			}
			cmCfg, err := cm.managerConfig(cmd.Flags(), logger.With("component", "controller-manager"))
			if err != nil {
				return err
			}
			ctx, stop := signalContext()
			defer stop()
			srv, err := apiserver.Start(ctx, cfg)
			if err != nil {
				return err
			}
			go trimStartupPages(ctx, logger)
			done := make(chan error, 3)
			if withKubelet {
				go func() { done <- runUpKubelet(ctx, srv.Kubeconfig, agentCfg) }()
			}
			schedDone := make(chan struct{})
			go func() {
				defer close(schedDone)
				done <- runUpScheduler(ctx, srv.Kubeconfig, sched, schedCfg)
			}()
			cmDone := make(chan struct{})
			go func() {
				defer close(cmDone)
				done <- runUpControllerManager(ctx, srv.Kubeconfig, cm, cmCfg)
			}()
			select {
			case <-ctx.Done():
			case err = <-done:
				stop()
			}
			// The scheduler and the controller manager release their
			// leases while the API server is up.
			wait := time.After(5 * time.Second)
			for _, ch := range []chan struct{}{schedDone, cmDone} {
				select {
				case <-ch:
				case <-wait:
				}
			}
			if serr := srv.Stop(); serr != nil && err == nil {
				err = serr
			}
			return err
		},
	}
	apiserverFlags(c.Flags(), &cfg, &etcdServers)
	node.addFlags(c.Flags())
	c.Flags().Lookup("pod-cidr").DefValue = "10.244.0.0/24"
	node.podCIDR = "10.244.0.0/24"
	sched.addFlags(c.Flags(), "scheduler-")
	cm.addFlags(c.Flags(), "controller-manager-")
	c.Flags().BoolVar(&withKubelet, "kubelet", true, "also run the kubelet on this host (needs root and containerd)")
	return c
}

// runUpKubelet runs the node agent against the API server of `skiff up`.
func runUpKubelet(ctx context.Context, kubeconfig string, cfg agent.Config) error {
	client, err := kubeletClient(kubeconfig)
	if err != nil {
		return fmt.Errorf("kubelet: %w", err)
	}
	cfg.Client = client
	if err := agent.Run(ctx, cfg); err != nil && ctx.Err() == nil {
		return fmt.Errorf("kubelet: %w (use --kubelet=false to run the control plane only)", err)
	}
	return nil
}
