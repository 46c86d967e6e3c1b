// Package agent assembles a real kubelet on a host: the containerd
// runtime, the bridge pod network, the container builder with its volumes
// and pod cgroups, and the kubelet's node and pod loops. `skiff kubelet`
// and `skiff up` run it; tests of the kubelet's logic use package kubelet
// with fakes instead.
package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/skiffk8s/skiff/kubelet"
	"github.com/skiffk8s/skiff/kubelet/container"
	"github.com/skiffk8s/skiff/kubelet/network"
	"github.com/skiffk8s/skiff/kubelet/prober"
	"github.com/skiffk8s/skiff/kubelet/server"
	"github.com/skiffk8s/skiff/kubelet/stats"
	"github.com/skiffk8s/skiff/runtime"
)

// Config configures a node agent.
type Config struct {
	Client kubernetes.Interface
	// ContainerdAddress is containerd's socket (default
	// /run/containerd/containerd.sock); ContainerdNamespace its namespace
	// (default "skiff").
	ContainerdAddress, ContainerdNamespace string
	// RegistriesConfig is the k3s-format registries.yaml (default
	// /etc/skiff/registries.yaml; a missing file means no mirrors).
	RegistriesConfig string
	NodeName         string
	NodeIP           net.IP
	// PodCIDR is used until the Node has spec.podCIDR.
	PodCIDR string
	// ClusterCIDR is the whole pod network (default 10.244.0.0/16).
	ClusterCIDR string
	// RootDir is the kubelet's state (default /var/lib/skiff/kubelet);
	// PodLogsDir where container logs go (default /var/log/pods).
	RootDir, PodLogsDir string
	// NetNSDir is where pod network namespaces are pinned (default
	// /run/skiff/netns); HostNetNS the namespace holding the node's
	// network ("" the agent's own).
	NetNSDir, HostNetNS string
	// ClusterDNS and ClusterDomain go into pods' resolv.conf (default
	// 10.96.0.10, cluster.local).
	ClusterDNS    net.IP
	ClusterDomain string
	// CgroupRoot is where cgroupfs is mounted (default /sys/fs/cgroup).
	CgroupRoot string
	Labels     map[string]string
	Taints     []corev1.Taint
	// SystemReservedCPU and SystemReservedMemory are kept from pods.
	SystemReservedCPU, SystemReservedMemory resource.Quantity
	MaxPods                                 int
	// EvictionHard and PressureTransitionPeriod: see kubelet.Config.
	EvictionHard             kubelet.Thresholds
	PressureTransitionPeriod time.Duration
	// ImageFSDir is containerd's root, measured for the imagefs signals
	// (default /var/lib/containerd).
	ImageFSDir string
	Logger     *slog.Logger
	// ServerPort is the kubelet server's HTTPS port (default 10250;
	// negative: no server) and ServerBindAddress its address ("" all).
	// The server's certificate is ServerCertFile and ServerKeyFile, or
	// one issued at start for the node's name and IP from CACertFile and
	// CAKeyFile (the cluster CA). ClientCAFile verifies callers' client
	// certificates (default CACertFile).
	ServerPort                    int
	ServerBindAddress             string
	ServerCertFile, ServerKeyFile string
	CACertFile, CAKeyFile         string
	ClientCAFile                  string
	// ServingCertificate, when set, provides the server's certificate
	// instead of the files or the CA (a joined node's kubelet-serving
	// certificate from the cluster): it is called once with the names and
	// addresses the certificate must cover and returns the function that
	// gives the current certificate, which its provider renews.
	ServingCertificate func(ctx context.Context, hosts []string) (func() *tls.Certificate, error)
	// DisableStats turns the resource reporter (cadvisor) off: no
	// /stats/summary, no node usage annotation, pressure from /proc.
	// StatsInterval is its housekeeping interval (default 10s).
	DisableStats  bool
	StatsInterval time.Duration
	// Tune, when set, adjusts the kubelet's config before it runs
	// (intervals in tests).
	Tune func(*kubelet.Config)
}

// Run runs the node agent until ctx is done.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Client == nil {
		return errors.New("agent: a client is required")
	}
	if cfg.RootDir == "" {
		cfg.RootDir = "/var/lib/skiff/kubelet"
	}
	if cfg.ImageFSDir == "" {
		cfg.ImageFSDir = "/var/lib/containerd"
	}
	if cfg.ServerPort == 0 {
		cfg.ServerPort = 10250
	}
	if cfg.NodeName == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("agent: node name: %w", err)
		}
		cfg.NodeName = h
	}
	if cfg.PodLogsDir == "" {
		cfg.PodLogsDir = "/var/log/pods"
	}
	if cfg.ClusterCIDR == "" {
		cfg.ClusterCIDR = "10.244.0.0/16"
	}
	if cfg.ClusterDNS == nil {
		cfg.ClusterDNS = net.IPv4(10, 96, 0, 10)
	}
	if cfg.ClusterDomain == "" {
		cfg.ClusterDomain = "cluster.local"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	_, clusterCIDR, err := net.ParseCIDR(cfg.ClusterCIDR)
	if err != nil {
		return fmt.Errorf("agent: cluster CIDR %q: %w", cfg.ClusterCIDR, err)
	}
	rt, err := runtime.New(ctx, runtime.Config{Address: cfg.ContainerdAddress, Namespace: cfg.ContainerdNamespace,
		RegistriesConfig: cfg.RegistriesConfig, Logger: cfg.Logger.With("component", "runtime")})
	if err != nil {
		return fmt.Errorf("agent: containerd: %w", err)
	}
	defer rt.Close()
	nw, err := network.New(network.Config{StateDir: filepath.Join(cfg.RootDir, "network"), NetNSDir: cfg.NetNSDir,
		HostNetNS: cfg.HostNetNS, ClusterCIDR: clusterCIDR})
	if err != nil {
		return fmt.Errorf("agent: pod network: %w", err)
	}
	defer nw.Close()
	builder := &container.Builder{RootDir: cfg.RootDir, Client: cfg.Client, ClusterDNS: cfg.ClusterDNS, ClusterDomain: cfg.ClusterDomain}
	res := &podResources{volumes: builder.Volumes(), cgroups: &container.Cgroups{Root: cfg.CgroupRoot}}
	kc := kubelet.Config{
		NodeName: cfg.NodeName, NodeIP: cfg.NodeIP, PodCIDR: cfg.PodCIDR, RootDir: cfg.RootDir, PodLogsDir: cfg.PodLogsDir,
		Labels: cfg.Labels, Taints: cfg.Taints, SystemReservedCPU: cfg.SystemReservedCPU, SystemReservedMemory: cfg.SystemReservedMemory,
		MaxPods: cfg.MaxPods, EvictionHard: cfg.EvictionHard, PressureTransitionPeriod: cfg.PressureTransitionPeriod, ImageFSDir: cfg.ImageFSDir,
		Logger: cfg.Logger, Client: cfg.Client, Runtime: rt, Network: nw,
		ContainerConfig: buildFunc(builder), PodResources: res,
		// Probes and hooks reach pods from the namespace that holds the
		// node's network.
		Dial:          network.DialerIn(cfg.HostNetNS),
		HostNetNSPath: cfg.HostNetNS,
		TerminationMessage: func(pod *corev1.Pod, c *corev1.Container, restart int, exitCode int32, logPath string) string {
			msg, err := builder.TerminationMessage(pod.UID, c, int32(restart), exitCode, logPath)
			if err != nil {
				cfg.Logger.Warn("termination message", "pod", pod.Namespace+"/"+pod.Name, "container", c.Name, "err", err)
			}
			return msg
		},
		NewProber: func(d kubelet.ProberDeps) kubelet.Prober {
			return prober.New(prober.Config{Exec: rt.Exec, Clock: d.Clock, Recorder: d.Recorder, OnUpdate: d.OnUpdate, Dial: d.Dial})
		},
	}
	// The kubelet server and the resource reporter read the kubelet's
	// pods; they run as long as the kubelet.
	pods := &podSource{}
	kc.OnPodLister = pods.set
	ctx, cancel := context.WithCancel(ctx)
	var side sync.WaitGroup
	var reporter *stats.Reporter
	defer func() {
		cancel()
		side.Wait()
		if reporter != nil {
			_ = reporter.Stop()
		}
	}()
	if !cfg.DisableStats {
		if reporter, err = newReporter(cfg, rt, pods); err != nil {
			return fmt.Errorf("agent: resource reporter: %w", err)
		}
		if err := reporter.Start(); err != nil {
			reporter = nil
			return fmt.Errorf("agent: resource reporter: %w", err)
		}
		side.Go(func() { publishUsage(ctx, cfg, cfg.NodeName, reporter) })
	}
	kc.Signals = signals(reporter, cfg.RootDir, cfg.ImageFSDir)
	serverFailed := make(chan error, 1)
	if cfg.ServerPort > 0 {
		kc.Port = int32(cfg.ServerPort)
		side.Go(func() {
			// The server starts once it has its certificate, which may
			// take a CSR's approval (ServingCertificate): the kubelet
			// registers its Node meanwhile, which the approver checks the
			// certificate's addresses against. A server that cannot
			// start or serve stops the agent.
			sc, err := serverConfig(ctx, cfg, rt, nw, pods, reporter)
			if err == nil {
				err = server.Run(ctx, sc)
			}
			if err != nil && ctx.Err() == nil {
				serverFailed <- err
				cancel()
			}
		})
	}
	if cfg.Tune != nil {
		cfg.Tune(&kc)
	}
	err = kubelet.Run(ctx, kc)
	select {
	case serr := <-serverFailed:
		return fmt.Errorf("agent: kubelet server: %w", serr)
	default:
		return err
	}
}

// buildFunc adapts the container builder to the kubelet's hook.
func buildFunc(b *container.Builder) kubelet.ContainerConfigFunc {
	return func(ctx context.Context, pod *corev1.Pod, c *corev1.Container, info kubelet.PodInfo) (runtime.ContainerConfig, error) {
		ci := container.PodInfo{
			NetNSPath: info.NetNSPath, NodeName: info.NodeName, RestartCount: int32(info.RestartCount),
			LogPath: info.LogPath, CgroupParent: info.CgroupParent, Image: info.Image,
		}
		if info.PodIP != nil {
			ci.PodIP = info.PodIP.String()
		}
		if info.HostIP != nil {
			ci.HostIP = info.HostIP.String()
		}
		return b.Build(ctx, pod, c, ci)
	}
}

// podResources is a pod's volumes and cgroup.
type podResources struct {
	volumes *container.Volumes
	cgroups *container.Cgroups
}

func (p *podResources) Setup(ctx context.Context, pod *corev1.Pod) error {
	if _, err := p.cgroups.EnsurePodCgroup(pod); err != nil {
		return fmt.Errorf("pod cgroup: %w", err)
	}
	return p.volumes.Setup(ctx, pod)
}

// Sync keeps configMap, secret, downwardAPI and projected volumes (and
// their service account tokens) current.
func (p *podResources) Sync(ctx context.Context, pod *corev1.Pod) error {
	_, err := p.volumes.Sync(ctx, pod)
	return err
}

var _ kubelet.PodResourcesSyncer = (*podResources)(nil)

func (p *podResources) Teardown(ctx context.Context, uid types.UID) error {
	return errors.Join(p.volumes.Teardown(uid), p.cgroups.RemovePodCgroup(uid))
}
