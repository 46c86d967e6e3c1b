package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiffk8s/skiff/apiserver"
	"github.com/skiffk8s/skiff/kubelet/agent"
	"github.com/skiffk8s/skiff/proxy"
)

// defaultDataDir is where `skiff up` keeps its state by default.
const defaultDataDir = "/var/lib/skiff"

func newUpCommand() *cobra.Command {
	var cfg apiserver.Config
	var etcdServers string
	var node kubeletOptions
	var sched schedulerOptions
	var cm controllerManagerOptions
	withKubelet, withProxy, withDNS := true, true, true
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
			// The CSR signer is this cluster's CA too.
			if !cmd.Flags().Changed("cluster-signing-cert-file") {
				cm.clusterSigningCertFile = filepath.Join(cfg.DataDir, "pki", "ca.crt")
			}
			if !cmd.Flags().Changed("cluster-signing-key-file") {
				cm.clusterSigningKeyFile = filepath.Join(cfg.DataDir, "pki", "ca.key")
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
			done := make(chan error, 5)
			if withKubelet {
				go func() { done <- runUpKubelet(ctx, srv.Kubeconfig, agentCfg) }()
			}
			nodeDone := make(chan struct{}, 2) // the proxy and DNS clean up before the API server stops
			nodeRunning := 0
			if withKubelet && withProxy {
				nodeRunning++
				go func() {
					defer func() { nodeDone <- struct{}{} }()
					done <- runUpProxy(ctx, srv.Kubeconfig, agentCfg, logger.With("component", "proxy"))
				}()
			}
			if withKubelet && withDNS {
				nodeRunning++
				go func() {
					defer func() { nodeDone <- struct{}{} }()
					client, err := kubeletClient(srv.Kubeconfig)
					if err == nil {
						err = runUpDNS(ctx, client, agentCfg.HostNetNS, clusterDNSIP, logger.With("component", "dns"))
					}
					if ctx.Err() != nil {
						err = nil
					}
					done <- err
				}()
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
			for range nodeRunning {
				select {
				case <-nodeDone:
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
	c.Flags().BoolVar(&withProxy, "proxy", true, "with the kubelet, also run the service proxy (iptables rules in the node's network namespace)")
	c.Flags().BoolVar(&withDNS, "dns", true, "with the kubelet, also serve cluster DNS on "+clusterDNSIP+":53 (added to the node's loopback) and create the kube-dns Service")
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

// runUpProxy runs the service proxy for the kubelet's node (its name,
// cluster CIDR and network namespace) against the API server of `skiff up`.
func runUpProxy(ctx context.Context, kubeconfig string, node agent.Config, logger *slog.Logger) error {
	client, err := kubeletClient(kubeconfig)
	if err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	name := node.NodeName
	if name == "" {
		if name, err = os.Hostname(); err != nil {
			return fmt.Errorf("proxy: node name: %w", err)
		}
	}
	if err := proxy.Run(ctx, proxy.Config{Client: client, NodeName: name, ClusterCIDR: node.ClusterCIDR, NetNS: node.HostNetNS, Logger: logger}); err != nil && ctx.Err() == nil {
		return fmt.Errorf("proxy: %w (use --proxy=false to run without it)", err)
	}
	return nil
}
