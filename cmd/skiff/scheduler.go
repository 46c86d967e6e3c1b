package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiffk8s/skiff/scheduler"
	"github.com/skiffk8s/skiff/scheduler/plugins"
)

// schedulerOptions are the `skiff scheduler` flags (also used by `skiff
// up`).
type schedulerOptions struct {
	kubeconfig string
	// configFile names a KubeSchedulerConfiguration; configFlag is the
	// flag that named it, for errors.
	configFile    string
	configFlag    string
	leaderElect   bool
	healthzAddr   string
	qps           float32
	burst         int
	leaseDuration time.Duration
	renewDeadline time.Duration
	retryPeriod   time.Duration
	// prefix is what addFlags put before the flag names.
	prefix string
}

func newSchedulerCommand() *cobra.Command {
	var o schedulerOptions
	c := &cobra.Command{
		Use:   "scheduler",
		Short: "Run the scheduler: assigns pending pods to nodes",
		Args:  cobra.NoArgs,
		// --config (added by withConfigFile) takes either a flag file or,
		// as kube-scheduler's does, a KubeSchedulerConfiguration.
		Annotations: map[string]string{configKindAnnotation: "KubeSchedulerConfiguration=scheduler-config"},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f := cmd.Flags().Lookup("config"); f != nil && f.Changed && f.Value.String() == o.configFile {
				o.configFlag = "--config"
			}
			logger := newLogger()
			cfg, err := o.schedulerConfig(logger)
			if err != nil {
				return err
			}
			if cfg.Client, err = schedulerClient(o.kubeconfig, o.qps, o.burst); err != nil {
				return fmt.Errorf("--kubeconfig: %w", err)
			}
			ctx, stop := signalContext()
			defer stop()
			tuneGC()
			go trimStartupPages(ctx, logger)
			return scheduler.Run(ctx, cfg)
		},
	}
	fs := c.Flags()
	fs.StringVar(&o.kubeconfig, "kubeconfig", "/etc/skiff/admin.kubeconfig", "kubeconfig to reach the API server")
	o.addFlags(fs, "")
	return c
}

// addFlags binds the scheduler flags; prefix is "" for `skiff scheduler`
// and "scheduler-" for `skiff up`.
func (o *schedulerOptions) addFlags(fs *pflag.FlagSet, prefix string) {
	o.prefix = prefix
	// --scheduler-config in both: `skiff scheduler --config` is the
	// component config file (which may also be a
	// KubeSchedulerConfiguration).
	name := prefix + "config"
	if prefix == "" {
		name = "scheduler-config"
	}
	o.configFlag = "--" + name
	fs.StringVar(&o.configFile, name, "", "KubeSchedulerConfiguration file (kubescheduler.config.k8s.io/v1): profiles, plugins, weights (default: the default profile)")
	fs.BoolVar(&o.leaderElect, prefix+"leader-elect", true, "elect a leader on the Lease kube-system/skiff-scheduler so that only one replica schedules")
	fs.DurationVar(&o.leaseDuration, prefix+"leader-elect-lease-duration", scheduler.DefaultLeaseDuration, "how long a leader's lease lasts without renewal")
	fs.DurationVar(&o.renewDeadline, prefix+"leader-elect-renew-deadline", scheduler.DefaultRenewDeadline, "how long the leader tries to renew before giving up")
	fs.DurationVar(&o.retryPeriod, prefix+"leader-elect-retry-period", scheduler.DefaultRetryPeriod, "how often replicas try to acquire or renew the lease")
	fs.StringVar(&o.healthzAddr, prefix+"healthz-bind-address", "127.0.0.1:10259", "host:port serving /healthz and /metrics over HTTP (\"\" for none)")
	fs.Float32Var(&o.qps, prefix+"kube-api-qps", 500, "requests per second to the API server (binding is one per pod)")
	fs.IntVar(&o.burst, prefix+"kube-api-burst", 1000, "burst of requests to the API server")
}

// schedulerConfig checks the flags and reads the config file; errors name
// the flag. The client is left to the caller.
func (o schedulerOptions) schedulerConfig(logger *slog.Logger) (scheduler.Config, error) {
	flag := func(name string) string { return "--" + o.prefix + name }
	if o.healthzAddr != "" {
		if _, _, err := net.SplitHostPort(o.healthzAddr); err != nil {
			return scheduler.Config{}, fmt.Errorf("%s: %w", flag("healthz-bind-address"), err)
		}
	}
	if o.qps <= 0 {
		return scheduler.Config{}, fmt.Errorf("%s: %v must be positive", flag("kube-api-qps"), o.qps)
	}
	if o.burst <= 0 {
		return scheduler.Config{}, fmt.Errorf("%s: %d must be positive", flag("kube-api-burst"), o.burst)
	}
	if o.leaseDuration <= o.renewDeadline || o.renewDeadline <= o.retryPeriod || o.retryPeriod <= 0 {
		return scheduler.Config{}, fmt.Errorf("%s (%v) must exceed %s (%v), which must exceed %s (%v) > 0",
			flag("leader-elect-lease-duration"), o.leaseDuration, flag("leader-elect-renew-deadline"), o.renewDeadline,
			flag("leader-elect-retry-period"), o.retryPeriod)
	}
	cfg := scheduler.Config{
		Registry:    plugins.NewInTreeRegistry(),
		Logger:      logger,
		HealthzAddr: o.healthzAddr,
		LeaderElection: scheduler.LeaderElection{Enabled: o.leaderElect,
			LeaseDuration: o.leaseDuration, RenewDeadline: o.renewDeadline, RetryPeriod: o.retryPeriod},
	}
	if o.configFile != "" {
		sc, err := scheduler.LoadConfigFile(o.configFile)
		if err != nil {
			return scheduler.Config{}, fmt.Errorf("%s %s: %w", o.configFlag, o.configFile, err)
		}
		// Profiles are checked now, so a bad file fails before anything
		// starts.
		if _, err := scheduler.Profiles(sc, cfg.Registry); err != nil {
			return scheduler.Config{}, fmt.Errorf("%s %s: %w", o.configFlag, o.configFile, err)
		}
		cfg.SchedulerConfig = sc
	}
	return cfg, nil
}

// schedulerClient is the scheduler's API client from a kubeconfig with
// the given rate limits (client-go's default 5 qps would throttle
// binding).
func schedulerClient(kubeconfig string, qps float32, burst int) (kubernetes.Interface, error) {
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	rc.QPS, rc.Burst = qps, burst
	rc.UserAgent = "skiff-scheduler"
	return kubernetes.NewForConfig(rc)
}

// runUpScheduler runs the scheduler against the API server of `skiff up`.
func runUpScheduler(ctx context.Context, kubeconfig string, o schedulerOptions, cfg scheduler.Config) error {
	client, err := schedulerClient(kubeconfig, o.qps, o.burst)
	if err != nil {
		return fmt.Errorf("scheduler: %w", err)
	}
	cfg.Client = client
	if err := scheduler.Run(ctx, cfg); err != nil && ctx.Err() == nil {
		return fmt.Errorf("scheduler: %w", err)
	}
	return nil
}
