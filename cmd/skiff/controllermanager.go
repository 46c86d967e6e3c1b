package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiffk8s/skiff/controllers/csrsigning"
	"github.com/skiffk8s/skiff/controllers/manager"
)

// controllerManagerOptions are the `skiff controller-manager` flags (also
// used by `skiff up`, with the prefix "controller-manager-" where a name
// would clash).
type controllerManagerOptions struct {
	kubeconfig    string
	controllers   []string
	leaderElect   bool
	leaseDuration time.Duration
	renewDeadline time.Duration
	retryPeriod   time.Duration
	healthzAddr   string
	qps           float32
	burst         int
	// options are passed to the controllers by flag name.
	clusterCIDR            string
	nodeMonitorGracePeriod time.Duration
	nodeMonitorPeriod      time.Duration
	nodeStartupGracePeriod time.Duration
	podEvictionTimeout     time.Duration
	rootCAFile             string
	// clusterSigning* configure the csrsigning controller (upstream's
	// flags of the same names).
	clusterSigningCertFile string
	clusterSigningKeyFile  string
	clusterSigningDuration time.Duration
	// syncs are the --concurrent-*-syncs worker counts by controller.
	syncs map[string]*int
	// prefix is what addFlags put before the clashing flag names.
	prefix string
}

// concurrentSyncsFlags maps upstream's --concurrent-*-syncs flags to the
// controller they size.
var concurrentSyncsFlags = map[string]string{
	"concurrent-replicaset-syncs":           "replicaset",
	"concurrent-deployment-syncs":           "deployment",
	"concurrent-daemonset-syncs":            "daemonset",
	"concurrent-statefulset-syncs":          "statefulset",
	"concurrent-job-syncs":                  "job",
	"concurrent-cron-job-syncs":             "cronjob",
	"concurrent-ttl-after-finished-syncs":   "ttl-after-finished",
	"concurrent-endpoint-syncs":             "endpoint",
	"concurrent-service-endpoint-syncs":     "endpointslice",
	"concurrent-namespace-syncs":            "namespace",
	"concurrent-gc-syncs":                   "garbagecollector",
	"concurrent-serviceaccount-token-syncs": "serviceaccount-token",
}

func newControllerManagerCommand() *cobra.Command {
	var o controllerManagerOptions
	c := &cobra.Command{
		Use:   "controller-manager",
		Short: "Run the controllers: replicas, rollouts, endpoints, nodes, namespaces, garbage collection",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger := newLogger()
			cfg, err := o.managerConfig(cmd.Flags(), logger)
			if err != nil {
				return err
			}
			if cfg.RESTConfig, err = clientcmd.BuildConfigFromFlags("", o.kubeconfig); err != nil {
				return fmt.Errorf("--kubeconfig: %w", err)
			}
			o.tuneClient(&cfg)
			ctx, stop := signalContext()
			defer stop()
			tuneGC()
			go trimStartupPages(ctx, logger)
			return manager.Run(ctx, cfg)
		},
	}
	fs := c.Flags()
	fs.StringVar(&o.kubeconfig, "kubeconfig", "/etc/skiff/admin.kubeconfig", "kubeconfig to reach the API server")
	o.addFlags(fs, "")
	return c
}

// addFlags binds the controller manager flags. prefix ("" for `skiff
// controller-manager`, "controller-manager-" for `skiff up`) goes before
// the names that other components also have (leader election, healthz,
// API rate limits); --cluster-cidr is shared with the kubelet's in up.
func (o *controllerManagerOptions) addFlags(fs *pflag.FlagSet, prefix string) {
	o.prefix = prefix
	fs.StringSliceVar(&o.controllers, "controllers", []string{"*"}, `controllers to run: "*" for all, "name" to enable one, "-name" to disable one`)
	fs.BoolVar(&o.leaderElect, prefix+"leader-elect", true, "elect a leader on the Lease kube-system/kube-controller-manager so that only one replica acts")
	fs.DurationVar(&o.leaseDuration, prefix+"leader-elect-lease-duration", manager.DefaultLeaseDuration, "how long a leader's lease lasts without renewal")
	fs.DurationVar(&o.renewDeadline, prefix+"leader-elect-renew-deadline", manager.DefaultRenewDeadline, "how long the leader tries to renew before giving up")
	fs.DurationVar(&o.retryPeriod, prefix+"leader-elect-retry-period", manager.DefaultRetryPeriod, "how often replicas try to acquire or renew the lease")
	fs.StringVar(&o.healthzAddr, prefix+"healthz-bind-address", manager.DefaultHealthzAddr, `host:port serving /healthz and /metrics over HTTP ("" for none)`)
	fs.Float32Var(&o.qps, prefix+"kube-api-qps", 500, "requests per second to the API server (a ReplicaSet scaled by 3,000 is 3,000 creates)")
	fs.IntVar(&o.burst, prefix+"kube-api-burst", 1000, "burst of requests to the API server")
	if fs.Lookup("cluster-cidr") == nil {
		fs.StringVar(&o.clusterCIDR, "cluster-cidr", "10.244.0.0/16", "the pod network, split into a podCIDR per node")
	}
	fs.DurationVar(&o.nodeMonitorGracePeriod, "node-monitor-grace-period", 40*time.Second, "how long a node may go without a heartbeat before it is marked Ready=Unknown")
	fs.DurationVar(&o.nodeMonitorPeriod, "node-monitor-period", 5*time.Second, "how often node health is checked")
	fs.DurationVar(&o.nodeStartupGracePeriod, "node-startup-grace-period", time.Minute, "how long a starting node may go without a heartbeat")
	fs.DurationVar(&o.podEvictionTimeout, "pod-eviction-timeout", 5*time.Minute, "grace before pods on a failed node are evicted (tolerationSeconds of the default not-ready/unreachable tolerations)")
	fs.StringVar(&o.rootCAFile, "root-ca-file", "/var/lib/skiff/pki/ca.crt", "CA bundle published as the kube-root-ca.crt ConfigMap in every namespace")
	fs.StringVar(&o.clusterSigningCertFile, "cluster-signing-cert-file", csrsigning.DefaultCertFile, "PEM CA certificate that signs approved CertificateSigningRequests (kubelet client, API client and kubelet serving signers)")
	fs.StringVar(&o.clusterSigningKeyFile, "cluster-signing-key-file", csrsigning.DefaultKeyFile, "PEM private key of --cluster-signing-cert-file")
	fs.DurationVar(&o.clusterSigningDuration, "cluster-signing-duration", csrsigning.DefaultDuration, "longest lifetime of a signed certificate (a CSR's spec.expirationSeconds may ask for less)")
	o.syncs = map[string]*int{}
	workers := manager.DefaultWorkers()
	names := make([]string, 0, len(concurrentSyncsFlags))
	for f := range concurrentSyncsFlags {
		names = append(names, f)
	}
	sort.Strings(names)
	for _, f := range names {
		ctl := concurrentSyncsFlags[f]
		o.syncs[f] = fs.Int(f, workers[ctl], fmt.Sprintf("workers of the %s controller", ctl))
	}
}

// managerConfig checks the flags and builds the manager's config (without
// its RESTConfig); errors name the flag. clusterCIDR is the value of the
// --cluster-cidr flag wherever it was bound.
func (o controllerManagerOptions) managerConfig(fs *pflag.FlagSet, logger *slog.Logger) (manager.Config, error) {
	flag := func(name string) string { return "--" + o.prefix + name }
	if o.healthzAddr != "" {
		if _, _, err := net.SplitHostPort(o.healthzAddr); err != nil {
			return manager.Config{}, fmt.Errorf("%s: %w", flag("healthz-bind-address"), err)
		}
	}
	if o.qps <= 0 {
		return manager.Config{}, fmt.Errorf("%s: %v must be positive", flag("kube-api-qps"), o.qps)
	}
	if o.burst <= 0 {
		return manager.Config{}, fmt.Errorf("%s: %d must be positive", flag("kube-api-burst"), o.burst)
	}
	if o.leaderElect && (o.leaseDuration <= o.renewDeadline || o.renewDeadline <= o.retryPeriod || o.retryPeriod <= 0) {
		return manager.Config{}, fmt.Errorf("%s (%v) must exceed %s (%v), which must exceed %s (%v) > 0",
			flag("leader-elect-lease-duration"), o.leaseDuration, flag("leader-elect-renew-deadline"), o.renewDeadline,
			flag("leader-elect-retry-period"), o.retryPeriod)
	}
	cidr := o.clusterCIDR
	if f := fs.Lookup("cluster-cidr"); f != nil {
		cidr = f.Value.String()
	}
	if _, _, err := net.ParseCIDR(cidr); err != nil {
		return manager.Config{}, fmt.Errorf("--cluster-cidr: %w", err)
	}
	for name, d := range map[string]time.Duration{"node-monitor-grace-period": o.nodeMonitorGracePeriod,
		"node-monitor-period": o.nodeMonitorPeriod, "node-startup-grace-period": o.nodeStartupGracePeriod,
		"pod-eviction-timeout": o.podEvictionTimeout, "cluster-signing-duration": o.clusterSigningDuration} {
		if d <= 0 {
			return manager.Config{}, fmt.Errorf("--%s: %v must be positive", name, d)
		}
	}
	workers := map[string]int{}
	for f, n := range o.syncs {
		if *n <= 0 {
			return manager.Config{}, fmt.Errorf("--%s: %d must be positive", f, *n)
		}
		workers[concurrentSyncsFlags[f]] = *n
	}
	registry := manager.DefaultControllers()
	names := make([]string, 0, len(registry))
	for name := range registry {
		names = append(names, name)
	}
	if _, err := manager.Enabled(o.controllers, names); err != nil {
		return manager.Config{}, err
	}
	healthz := o.healthzAddr
	if healthz == "" {
		healthz = "-"
	}
	return manager.Config{
		Registry:    registry,
		Controllers: o.controllers,
		Workers:     workers,
		Options: map[string]string{
			"cluster-cidr":              cidr,
			"node-monitor-grace-period": o.nodeMonitorGracePeriod.String(),
			"node-monitor-period":       o.nodeMonitorPeriod.String(),
			"node-startup-grace-period": o.nodeStartupGracePeriod.String(),
			"pod-eviction-timeout":      o.podEvictionTimeout.String(),
			"root-ca-file":              o.rootCAFile,
			csrsigning.OptionCertFile:   o.clusterSigningCertFile,
			csrsigning.OptionKeyFile:    o.clusterSigningKeyFile,
			csrsigning.OptionDuration:   o.clusterSigningDuration.String(),
		},
		HealthzAddr: healthz,
		Logger:      logger,
		LeaderElection: manager.LeaderElection{Disabled: !o.leaderElect,
			LeaseDuration: o.leaseDuration, RenewDeadline: o.renewDeadline, RetryPeriod: o.retryPeriod},
	}, nil
}

// tuneClient sets the API rate limits (client-go's default 5 qps would
// throttle the controllers) and the user agent.
func (o controllerManagerOptions) tuneClient(cfg *manager.Config) {
	cfg.RESTConfig.QPS, cfg.RESTConfig.Burst = o.qps, o.burst
	cfg.RESTConfig.UserAgent = "skiff-controller-manager"
}

// runUpControllerManager runs the controller manager against the API
// server of `skiff up`.
func runUpControllerManager(ctx context.Context, kubeconfig string, o controllerManagerOptions, cfg manager.Config) error {
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("controller manager: %w", err)
	}
	cfg.RESTConfig = rc
	o.tuneClient(&cfg)
	if err := manager.Run(ctx, cfg); err != nil && ctx.Err() == nil {
		return fmt.Errorf("controller manager: %w", err)
	}
	return nil
}
