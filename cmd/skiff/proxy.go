package main

import (
	"context"
	"fmt"
	"net"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiffk8s/skiff/proxy"
)

// proxyOptions are the `skiff proxy` flags.
type proxyOptions struct {
	kubeconfig, nodeName, clusterCIDR, healthz string
	nodeIPs                                    []string
	cleanup, localhostNodePorts                bool
}

func newProxyCommand() *cobra.Command {
	var o proxyOptions
	c := &cobra.Command{
		Use:   "proxy",
		Short: "Run the service proxy: Services and EndpointSlices to iptables rules",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signalContext()
			defer stop()
			return runProxy(ctx, o)
		},
	}
	fs := c.Flags()
	fs.StringVar(&o.kubeconfig, "kubeconfig", "/etc/skiff/admin.kubeconfig", "kubeconfig to reach the API server")
	fs.StringVar(&o.nodeName, "node-name", "", "this node's name, for the Local traffic policies (default: the host name)")
	fs.StringVar(&o.clusterCIDR, "cluster-cidr", "10.244.0.0/16", "the pod network (traffic to a ClusterIP from outside it is masqueraded)")
	fs.StringSliceVar(&o.nodeIPs, "nodeport-addresses", nil, "addresses NodePorts are served on (default: every local address)")
	fs.BoolVar(&o.localhostNodePorts, "localhost-nodeports", false, "also serve NodePorts on 127.0.0.1 (sets net.ipv4.conf.all.route_localnet=1)")
	fs.BoolVar(&o.cleanup, "cleanup", false, "remove every rule and chain of the proxy and exit")
	fs.StringVar(&o.healthz, "healthz-bind-address", "127.0.0.1:10256", "address of /healthz and /metrics (\"\" for none)")
	return c
}

func runProxy(ctx context.Context, o proxyOptions) error {
	if o.cleanup {
		return proxy.Cleanup(ctx, "")
	}
	if o.clusterCIDR != "" {
		if _, _, err := net.ParseCIDR(o.clusterCIDR); err != nil {
			return fmt.Errorf("--cluster-cidr: %w", err)
		}
	}
	for _, ip := range o.nodeIPs {
		if net.ParseIP(ip).To4() == nil {
			return fmt.Errorf("--nodeport-addresses: %q is not an IPv4 address", ip)
		}
	}
	rc, err := clientcmd.BuildConfigFromFlags("", o.kubeconfig)
	if err != nil {
		return fmt.Errorf("--kubeconfig: %w", err)
	}
	rc.UserAgent = "skiff-proxy"
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("--kubeconfig: %w", err)
	}
	logger := newLogger()
	if o.nodeName == "" {
		if o.nodeName, err = os.Hostname(); err != nil {
			return fmt.Errorf("--node-name: %w", err)
		}
	}
	tuneGC()
	go trimStartupPages(ctx, logger)
	return proxy.Run(ctx, proxy.Config{
		Client: client, NodeName: o.nodeName, NodeIPs: o.nodeIPs, ClusterCIDR: o.clusterCIDR,
		LocalhostNodePorts: o.localhostNodePorts, HealthzBindAddress: o.healthz, Logger: logger.With("component", "proxy"),
	})
}
