package main

import (
	"context"
	"fmt"
	"net"
	"path/filepath"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiffk8s/skiff/kubelet"
	"github.com/skiffk8s/skiff/kubelet/container"
	"github.com/skiffk8s/skiff/kubelet/network"
	"github.com/skiffk8s/skiff/runtime"
)

// kubeletOptions are the `skiff kubelet` flags.
type kubeletOptions struct {
	kubeconfig        string
	containerdAddress string
	registriesConfig  string
	nodeName          string
	nodeIP            net.IP
	podCIDR           string
	rootDir           string
	clusterCIDR       string
	maxPods           int
	reservedCPU       string
	reservedMemory    string
	labels            map[string]string
}

func newKubeletCommand() *cobra.Command {
	var o kubeletOptions
	c := &cobra.Command{
		Use:   "kubelet",
		Short: "Run the node agent: registers the node and runs its pods through containerd",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signalContext()
			defer stop()
			return runKubelet(ctx, o)
		},
	}
	fs := c.Flags()
	fs.StringVar(&o.kubeconfig, "kubeconfig", "/etc/skiff/admin.kubeconfig", "kubeconfig to reach the API server")
	fs.StringVar(&o.containerdAddress, "containerd-address", "/run/containerd/containerd.sock", "containerd's gRPC socket")
	fs.StringVar(&o.registriesConfig, "registries-config", "/etc/skiff/registries.yaml", "registry mirrors and insecure registries (k3s format)")
	fs.StringVar(&o.nodeName, "node-name", "", "the Node's name (default: the host name)")
	fs.IPVar(&o.nodeIP, "node-ip", nil, "the node's InternalIP (default: the host's first IPv4 address)")
	fs.StringVar(&o.podCIDR, "pod-cidr", "", "pod CIDR to use until the Node has spec.podCIDR")
	fs.StringVar(&o.rootDir, "root-dir", "/var/lib/skiff/kubelet", "the kubelet's state directory")
	fs.StringVar(&o.clusterCIDR, "cluster-cidr", "10.244.0.0/16", "the whole pod network (traffic leaving it is masqueraded)")
	fs.IntVar(&o.maxPods, "max-pods", 110, "pods this node runs at most")
	fs.StringVar(&o.reservedCPU, "system-reserved-cpu", "0", "cpu kept from pods (allocatable = capacity - this)")
	fs.StringVar(&o.reservedMemory, "system-reserved-memory", "0", "memory kept from pods")
	fs.StringToStringVar(&o.labels, "node-labels", nil, "labels to add to the Node (key=value,...)")
	return c
}

func runKubelet(ctx context.Context, o kubeletOptions) error {
	logger := newLogger()
	rc, err := clientcmd.BuildConfigFromFlags("", o.kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	cpu, err := resource.ParseQuantity(o.reservedCPU)
	if err != nil {
		return fmt.Errorf("--system-reserved-cpu: %w", err)
	}
	mem, err := resource.ParseQuantity(o.reservedMemory)
	if err != nil {
		return fmt.Errorf("--system-reserved-memory: %w", err)
	}
	_, clusterCIDR, err := net.ParseCIDR(o.clusterCIDR)
	if err != nil {
		return fmt.Errorf("--cluster-cidr: %w", err)
	}
	rt, err := runtime.New(ctx, runtime.Config{Address: o.containerdAddress, RegistriesConfig: o.registriesConfig, Logger: logger})
	if err != nil {
		return fmt.Errorf("containerd: %w", err)
	}
	defer rt.Close()
	nw, err := network.New(network.Config{StateDir: filepath.Join(o.rootDir, "network"), ClusterCIDR: clusterCIDR})
	if err != nil {
		return fmt.Errorf("pod network: %w", err)
	}
	builder := &container.Builder{RootDir: o.rootDir, Client: client, ClusterDNS: net.IPv4(10, 96, 0, 10), ClusterDomain: "cluster.local"}
	build := func(ctx context.Context, pod *corev1.Pod, c *corev1.Container, info kubelet.PodInfo) (runtime.ContainerConfig, error) {
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
		return builder.Build(ctx, pod, c, ci)
	}
	return kubelet.Run(ctx, kubelet.Config{
		NodeName:             o.nodeName,
		NodeIP:               o.nodeIP,
		PodCIDR:              o.podCIDR,
		RootDir:              o.rootDir,
		Labels:               o.labels,
		SystemReservedCPU:    cpu,
		SystemReservedMemory: mem,
		MaxPods:              o.maxPods,
		Logger:               logger,
		Client:               client,
		Runtime:              rt,
		Network:              nw,
		ContainerConfig:      build,
	})
}
