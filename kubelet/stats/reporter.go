package stats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/cadvisor/lib/cache/memory"
	"github.com/google/cadvisor/lib/container"
	"github.com/google/cadvisor/lib/manager"
	info "github.com/google/cadvisor/lib/model"
	"github.com/google/cadvisor/lib/utils/sysfs"
)

// statsCacheDuration is how long cadvisor keeps samples, as upstream's
// kubelet: enough for the one-minute CPU average of NodeUsage.
const statsCacheDuration = 2 * time.Minute

// metrics are the cadvisor metric sets the reporter collects. File
// system usage is measured by the reporter itself (statfs), so cadvisor's
// disk metrics are left out.
var metrics = container.MetricSet{
	container.CpuUsageMetrics:     struct{}{},
	container.MemoryUsageMetrics:  struct{}{},
	container.NetworkUsageMetrics: struct{}{},
	container.ProcessMetrics:      struct{}{},
}

// ErrNotStarted is returned by queries before Start or after Stop.
var ErrNotStarted = errors.New("stats: reporter not started")

// ErrNoData is returned when cadvisor has not yet sampled what a query
// needs (e.g. a rate needs two samples, one housekeeping interval apart).
var ErrNoData = errors.New("stats: no samples yet")

// Reporter measures the node and its pods with cadvisor.
type Reporter struct {
	cfg     Config
	log     *slog.Logger
	manager manager.Manager

	mu      sync.Mutex
	started bool // guarded by mu
}

// New makes a Reporter watching the cgroup hierarchy; Start starts the
// sampling.
func New(cfg Config) (*Reporter, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	// cadvisor reads its per-cgroup sampling interval from this package
	// variable (its --housekeeping_interval flag) when a cgroup is first
	// seen; upstream's kubelet sets the flag the same way.
	*manager.HousekeepingInterval = cfg.HousekeepingInterval
	allowDynamic := false // sample every interval: rates stay fresh
	m, err := manager.New(memory.New(statsCacheDuration, nil), sysfs.NewRealSysFs(),
		manager.HousekeepingConfig{Interval: &cfg.HousekeepingInterval, AllowDynamic: &allowDynamic},
		metrics, []string{kubepods}, nil, "", 0)
	if err != nil {
		return nil, fmt.Errorf("stats: cadvisor manager: %w", err)
	}
	return &Reporter{cfg: cfg, log: cfg.Logger, manager: m}, nil
}

// Start starts sampling the root cgroup and the pod cgroups.
func (r *Reporter) Start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return nil
	}
	if err := r.manager.Start(); err != nil {
		return fmt.Errorf("stats: start cadvisor: %w", err)
	}
	r.started = true
	r.log.Info("resource reporter started", "housekeeping", r.cfg.HousekeepingInterval)
	return nil
}

// Stop stops cadvisor's watchers and queries then return ErrNotStarted.
// cadvisor's manager does not end its per-cgroup housekeeping goroutines
// on Stop (upstream's kubelet never stops it), so a stopped Reporter's
// samplers run until the process exits: stop a Reporter at shutdown, not
// to restart it.
func (r *Reporter) Stop() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.started {
		return nil
	}
	r.started = false
	if err := r.manager.Stop(); err != nil {
		return fmt.Errorf("stats: stop cadvisor: %w", err)
	}
	return nil
}

// Run starts the reporter and stops it when ctx ends.
func (r *Reporter) Run(ctx context.Context) error {
	if err := r.Start(); err != nil {
		return err
	}
	<-ctx.Done()
	return r.Stop()
}

func (r *Reporter) running() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.started
}

// MachineInfo is cadvisor's view of the machine: NumCores (logical CPUs)
// and MemoryCapacity (bytes, /proc/meminfo MemTotal) are the node's
// capacity. It is known from New on.
func (r *Reporter) MachineInfo() (*info.MachineInfo, error) {
	mi, err := r.manager.GetMachineInfo()
	if err != nil {
		return nil, fmt.Errorf("stats: machine info: %w", err)
	}
	return mi, nil
}

// recent returns up to count latest samples (count -1: all cached) of
// cgroup name and, when recursive, of all tracked cgroups under it, keyed
// by cgroup name. A partial failure is logged and the rest returned.
func (r *Reporter) recent(name string, count int, recursive bool) (map[string]info.ContainerInfo, error) {
	if !r.running() {
		return nil, ErrNotStarted
	}
	infos, err := r.manager.GetContainerInfoV2(name, info.RequestOptions{IdType: info.TypeName, Count: count, Recursive: recursive})
	if err != nil {
		if len(infos) == 0 {
			return nil, fmt.Errorf("stats: cgroup %s: %w", name, err)
		}
		r.log.Debug("some cgroups not measured", "err", err)
	}
	return infos, nil
}
