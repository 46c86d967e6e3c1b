// Package manager runs the controllers: the shared informer factory, a
// metadata client, one event broadcaster, workqueue metrics in a
// per-manager Prometheus registry, leader election on a Lease so that
// exactly one replica acts, a supervisor that restarts a controller
// whose Run panics or returns early, and /healthz and /metrics.
package manager

import (
	"fmt"
	"log/slog"
	"net"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"

	"github.com/skiffk8s/skiff/controllers"
)

// Defaults, as upstream kube-controller-manager's.
const (
	DefaultHealthzAddr   = "127.0.0.1:10257"
	DefaultLeaseName     = "kube-controller-manager"
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
	// DefaultResyncPeriod is the shared informers' resync period
	// (upstream's --min-resync-period).
	DefaultResyncPeriod = 12 * time.Hour
	// DefaultWorkerCount is the worker count of a controller that
	// neither Config.Workers nor DefaultWorkers names.
	DefaultWorkerCount = 5
)

// Config is the controller manager's configuration.
type Config struct {
	// RESTConfig reaches the API server (required). Each controller gets
	// its own clients whose user agent ends in "<name>-controller"; QPS
	// and Burst are used as given (the command sets 100/200).
	RESTConfig *rest.Config
	// Registry maps controller names to constructors; nil means
	// DefaultControllers().
	Registry map[string]controllers.InitFunc
	// Controllers selects the controllers to run, as upstream's
	// --controllers: a name enables it, "-name" disables it, "*" enables
	// all (the default when empty). The last mention of a name wins over
	// "*"; unknown names are an error.
	Controllers []string
	// Workers overrides the worker count per controller name (defaults
	// from DefaultWorkers, else DefaultWorkerCount). Counts must be > 0.
	Workers map[string]int
	// Options are controller-specific settings by flag name, handed to
	// every controller as Context.Options.
	Options map[string]string
	// LeaderElection configures the Lease; zero values take the defaults.
	LeaderElection LeaderElection
	// HealthzAddr is where /healthz and /metrics are served over plain
	// HTTP ("" means DefaultHealthzAddr, "-" no server). HealthzListener,
	// when set, is used instead.
	HealthzAddr     string
	HealthzListener net.Listener
	// ResyncPeriod of the shared informers (0 means DefaultResyncPeriod).
	ResyncPeriod time.Duration
	// RestartBackoff is the wait before the first restart of a failed
	// controller (0 means 1 s); it doubles up to MaxRestartBackoff (0
	// means 1 min) and starts over after a controller ran that long.
	RestartBackoff    time.Duration
	MaxRestartBackoff time.Duration
	Logger            *slog.Logger
	// Clock is handed to the controllers and times restarts (nil means
	// the real clock).
	Clock clock.WithTicker
}

// LeaderElection configures the leader Lease.
type LeaderElection struct {
	// Disabled runs the controllers without a Lease (one replica only).
	Disabled bool
	// Namespace and Name of the Lease (kube-system/kube-controller-manager).
	Namespace, Name string
	// Identity of this replica (default: host name + random suffix).
	Identity string
	// LeaseDuration, RenewDeadline and RetryPeriod as client-go's
	// leaderelection (15 s, 10 s, 2 s by default).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
}

// withDefaults returns cfg with defaults filled in, or an error naming
// the bad field.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.RESTConfig == nil {
		return cfg, fmt.Errorf("RESTConfig is required")
	}
	if cfg.Registry == nil {
		cfg.Registry = DefaultControllers()
	}
	if len(cfg.Controllers) == 0 {
		cfg.Controllers = []string{"*"}
	}
	for name, n := range cfg.Workers {
		if n <= 0 {
			return cfg, fmt.Errorf("workers for %q: %d must be positive", name, n)
		}
	}
	le := &cfg.LeaderElection
	if le.Namespace == "" {
		le.Namespace = metav1.NamespaceSystem
	}
	if le.Name == "" {
		le.Name = DefaultLeaseName
	}
	if le.Identity == "" {
		le.Identity = identity()
	}
	if le.LeaseDuration == 0 {
		le.LeaseDuration = DefaultLeaseDuration
	}
	if le.RenewDeadline == 0 {
		le.RenewDeadline = DefaultRenewDeadline
	}
	if le.RetryPeriod == 0 {
		le.RetryPeriod = DefaultRetryPeriod
	}
	if !le.Disabled && (le.LeaseDuration <= le.RenewDeadline || le.RenewDeadline <= le.RetryPeriod) {
		return cfg, fmt.Errorf("leader election: want lease duration %v > renew deadline %v > retry period %v", le.LeaseDuration, le.RenewDeadline, le.RetryPeriod)
	}
	if cfg.HealthzAddr == "" {
		cfg.HealthzAddr = DefaultHealthzAddr
	}
	if cfg.ResyncPeriod == 0 {
		cfg.ResyncPeriod = DefaultResyncPeriod
	}
	if cfg.RestartBackoff == 0 {
		cfg.RestartBackoff = time.Second
	}
	if cfg.MaxRestartBackoff == 0 {
		cfg.MaxRestartBackoff = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	return cfg, nil
}

// workers is the worker count of the named controller.
func (cfg Config) workers(name string) int {
	if n, ok := cfg.Workers[name]; ok {
		return n
	}
	if n, ok := DefaultWorkers()[name]; ok {
		return n
	}
	return DefaultWorkerCount
}
