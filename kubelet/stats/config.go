package stats

import (
	"context"
	"errors"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
)

// Config configures a Reporter.
type Config struct {
	// NodeName is the node's name, reported in the Summary.
	NodeName string
	// CgroupRoot is where cgroupfs is mounted (default /sys/fs/cgroup).
	// cadvisor finds the hierarchies itself from /proc/self/mountinfo;
	// the reporter reads a pod's cgroup.procs under CgroupRoot to find a
	// process whose network namespace gives the pod's network stats.
	CgroupRoot string
	// RootDir is the kubelet's root directory; its file system is nodefs.
	// Required.
	RootDir string
	// ImageFSDir is the container runtime's root (default
	// /var/lib/containerd); its file system is imagefs. A missing
	// directory leaves imagefs out.
	ImageFSDir string
	// PodLogsDir is where container logs are kept (default
	// /var/log/pods), laid out <ns>_<pod>_<uid>/<container>/<n>.log.
	PodLogsDir string
	// HousekeepingInterval is how often each cgroup is sampled (default
	// 10s). CPU rates are taken between the two latest samples.
	HousekeepingInterval time.Duration
	// Pods lists the pods the kubelet runs. Pod cgroups whose UID is not
	// in the list are not reported. Required.
	Pods func() []*corev1.Pod
	// Containers lists the kubelet's containers by runtime container ID
	// (the last element of a container's cgroup path), e.g. from the
	// runtime's container list and the kubelet's pod-UID and
	// container-name labels. It is called once per Summary. A container
	// cgroup missing from the map is not reported. Nil, or an error,
	// names containers by their ID.
	Containers func(ctx context.Context) (map[string]Container, error)
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Clock stamps the measurements the reporter makes itself (file
	// systems, process counts); default the real clock. cadvisor stamps
	// its samples with the real time.
	Clock clock.PassiveClock
}

// Container is what the kubelet knows of one of its containers.
type Container struct {
	// PodUID is the UID of the container's pod.
	PodUID types.UID
	// Name is the container's name in the pod spec.
	Name string
	// StartTime is when the container started; zero means the creation
	// time of its cgroup.
	StartTime time.Time
}

func (c *Config) setDefaults() error {
	if c.RootDir == "" {
		return errors.New("stats: RootDir is required")
	}
	if c.Pods == nil {
		return errors.New("stats: Pods is required")
	}
	if c.CgroupRoot == "" {
		c.CgroupRoot = "/sys/fs/cgroup"
	}
	if c.ImageFSDir == "" {
		c.ImageFSDir = "/var/lib/containerd"
	}
	if c.PodLogsDir == "" {
		c.PodLogsDir = "/var/log/pods"
	}
	if c.HousekeepingInterval <= 0 {
		c.HousekeepingInterval = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
	return nil
}
