package main

import (
	"context"
	"fmt"
	"net"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiffk8s/skiff/dns"
)

// dnsOptions are the `skiff dns` flags.
type dnsOptions struct {
	kubeconfig    string
	listen        string
	clusterDomain string
	upstreams     []string
	metricsAddr   string
}

func newDNSCommand() *cobra.Command {
	var o dnsOptions
	c := &cobra.Command{
		Use:   "dns",
		Short: "Run the node-local cluster DNS server (Services and endpoints by name; other names forwarded)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signalContext()
			defer stop()
			return runDNS(ctx, o)
		},
	}
	fs := c.Flags()
	fs.StringVar(&o.kubeconfig, "kubeconfig", "/etc/skiff/admin.kubeconfig", "kubeconfig to reach the API server")
	fs.StringVar(&o.listen, "listen", "10.96.0.10:53", "UDP and TCP address to serve on")
	fs.StringVar(&o.clusterDomain, "cluster-domain", "cluster.local", "the cluster's DNS domain")
	fs.StringSliceVar(&o.upstreams, "upstream", nil, "resolvers for other names (default: the nameservers of /etc/resolv.conf)")
	fs.StringVar(&o.metricsAddr, "metrics-bind-address", "127.0.0.1:9153", "address of /healthz, /readyz and /metrics (\"\" for none)")
	return c
}

func runDNS(ctx context.Context, o dnsOptions) error {
	if o.metricsAddr != "" {
		if _, _, err := net.SplitHostPort(o.metricsAddr); err != nil {
			return fmt.Errorf("--metrics-bind-address: %w", err)
		}
	}
	rc, err := clientcmd.BuildConfigFromFlags("", o.kubeconfig)
	if err != nil {
		return fmt.Errorf("--kubeconfig: %w", err)
	}
	rc.UserAgent = "skiff-dns"
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("--kubeconfig: %w", err)
	}
	logger := newLogger()
	tuneGC()
	go trimStartupPages(ctx, logger)
	cfg := dns.Config{Client: client, Listen: o.listen, ClusterDomain: o.clusterDomain, Upstreams: o.upstreams,
		MetricsBindAddress: o.metricsAddr, Logger: logger}
	// On the cluster DNS address, as on every node, the server puts the
	// address on the loopback and keeps the kube-dns Service (see
	// ensureKubeDNSService); other addresses are served as they are.
	if host, port, err := net.SplitHostPort(o.listen); err == nil && host == clusterDNSIP && port == "53" {
		return runNodeDNS(ctx, cfg, "", host)
	}
	return dns.Run(ctx, cfg)
}
