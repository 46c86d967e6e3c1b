package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiffk8s/skiff/kubelet"
	"github.com/skiffk8s/skiff/kubelet/agent"
	"github.com/skiffk8s/skiff/kubelet/tlsbootstrap"
)

// parseTaint parses "key=value:Effect" or "key:Effect", as kubectl taint
// and --register-with-taints write taints.
func parseTaint(spec string) (corev1.Taint, error) {
	kv, effect, ok := strings.Cut(spec, ":")
	if !ok {
		return corev1.Taint{}, fmt.Errorf("taint %q: want key=value:Effect", spec)
	}
	t := corev1.Taint{Effect: corev1.TaintEffect(effect)}
	t.Key, t.Value, _ = strings.Cut(kv, "=")
	switch t.Effect {
	case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
	default:
		return corev1.Taint{}, fmt.Errorf("taint %q: effect %q is not NoSchedule, PreferNoSchedule or NoExecute", spec, effect)
	}
	if errs := validation.IsQualifiedName(t.Key); len(errs) > 0 {
		return corev1.Taint{}, fmt.Errorf("taint %q: key %q: %s", spec, t.Key, strings.Join(errs, "; "))
	}
	if t.Value != "" {
		if errs := validation.IsValidLabelValue(t.Value); len(errs) > 0 {
			return corev1.Taint{}, fmt.Errorf("taint %q: value %q: %s", spec, t.Value, strings.Join(errs, "; "))
		}
	}
	return t, nil
}

// kubeletOptions are the `skiff kubelet` flags.
type kubeletOptions struct {
	kubeconfig          string
	bootstrapKubeconfig string
	certDir             string
	rotateServerCerts   bool
	containerdAddress   string
	registriesConfig    string
	nodeName            string
	nodeIP              net.IP
	podCIDR             string
	rootDir             string
	clusterCIDR         string
	maxPods             int
	reservedCPU         string
	reservedMemory      string
	labels              map[string]string
	taints              []string
	containerdNS        string
	podLogsDir          string
	netnsDir            string
	hostNetNS           string
	port                int
	address             string
	tlsCertFile         string
	tlsKeyFile          string
	clientCAFile        string
	caKeyFile           string
	evictionHard        string
	pressurePeriod      time.Duration
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
	fs.StringVar(&o.kubeconfig, "kubeconfig", "/etc/skiff/admin.kubeconfig", "kubeconfig to reach the API server (written by TLS bootstrapping when --bootstrap-kubeconfig is given)")
	fs.StringVar(&o.bootstrapKubeconfig, "bootstrap-kubeconfig", "", "kubeconfig with a bootstrap token (written by skiff join): the kubelet requests its client certificate for system:node:<name> with it, writes --kubeconfig, and renews the certificate before it expires")
	fs.StringVar(&o.certDir, "cert-dir", "/var/lib/skiff/kubelet/pki", "where certificates from TLS bootstrapping are kept")
	fs.BoolVar(&o.rotateServerCerts, "rotate-server-certificates", false, "request the kubelet server's certificate from the cluster (signer kubernetes.io/kubelet-serving) and renew it, instead of --tls-cert-file or --ca-key-file")
	o.addFlags(fs)
	return c
}

// addFlags binds the node flags shared by `skiff kubelet` and `skiff up`.
func (o *kubeletOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.containerdAddress, "containerd-address", "/run/containerd/containerd.sock", "containerd's gRPC socket")
	fs.StringVar(&o.registriesConfig, "registries-config", "/etc/skiff/registries.yaml", "registry mirrors and insecure registries (k3s format)")
	fs.StringVar(&o.nodeName, "node-name", "", "the Node's name (default: the host name)")
	fs.IPVar(&o.nodeIP, "node-ip", nil, "the node's InternalIP (default: the host's first IPv4 address)")
	fs.StringVar(&o.podCIDR, "pod-cidr", "", "pod CIDR to use until the Node has spec.podCIDR")
	fs.StringVar(&o.rootDir, "root-dir", "/var/lib/skiff/kubelet", "the kubelet's state directory")
	fs.StringVar(&o.containerdNS, "containerd-namespace", "skiff", "containerd namespace holding this node's images and containers")
	fs.StringVar(&o.podLogsDir, "pod-logs-dir", "/var/log/pods", "where container logs are written")
	fs.StringVar(&o.netnsDir, "netns-dir", "/run/skiff/netns", "where pod network namespaces are pinned")
	fs.StringVar(&o.hostNetNS, "host-netns", "", "pinned network namespace that holds the node's network (bridge, routes, hostNetwork pods); default this process's (for labs running several nodes on one host)")
	fs.StringVar(&o.clusterCIDR, "cluster-cidr", "10.244.0.0/16", "the whole pod network (traffic leaving it is masqueraded)")
	fs.IntVar(&o.maxPods, "max-pods", 110, "pods this node runs at most")
	fs.StringVar(&o.reservedCPU, "system-reserved-cpu", "0", "cpu kept from pods (allocatable = capacity - this)")
	fs.StringVar(&o.reservedMemory, "system-reserved-memory", "0", "memory kept from pods")
	fs.StringToStringVar(&o.labels, "node-labels", nil, "labels to add to the Node (key=value,...)")
	fs.IntVar(&o.port, "kubelet-port", 10250, "HTTPS port of the kubelet server (logs, exec, port-forward, stats); -1 for none")
	fs.StringVar(&o.address, "address", "", "IP address the kubelet server listens on (default: all)")
	fs.StringVar(&o.tlsCertFile, "tls-cert-file", "", "the kubelet server's certificate (default: issue one from --ca-key-file)")
	fs.StringVar(&o.tlsKeyFile, "tls-private-key-file", "", "the kubelet server's private key")
	fs.StringVar(&o.clientCAFile, "client-ca-file", "/var/lib/skiff/pki/ca.crt", "CA certificate that signs the API server's client certificate (the cluster CA)")
	fs.StringVar(&o.caKeyFile, "ca-key-file", "/var/lib/skiff/pki/ca.key", "the cluster CA's key, to issue the server certificate when --tls-cert-file is not given")
	fs.StringSliceVar(&o.taints, "register-with-taints", nil, "taints to add to the Node (key=value:Effect,...)")
	fs.StringVar(&o.evictionHard, "eviction-hard", "memory.available<100Mi,nodefs.available<10%,nodefs.inodesFree<5%,imagefs.available<15%,imagefs.inodesFree<5%,pid.available<5%",
		"thresholds that turn the node's MemoryPressure, DiskPressure and PIDPressure conditions True (\"\" for none)")
	fs.DurationVar(&o.pressurePeriod, "eviction-pressure-transition-period", 5*time.Minute, "how long a pressure condition stays True after its signal recovered")
}

func runKubelet(ctx context.Context, o kubeletOptions) error {
	// Flags are checked before the kubeconfig is read.
	cfg, err := o.agentConfig(nil, newLogger())
	if err != nil {
		return err
	}
	var rc *rest.Config
	if o.bootstrapKubeconfig != "" {
		tb := tlsbootstrap.Config{Kubeconfig: o.kubeconfig, BootstrapKubeconfig: o.bootstrapKubeconfig, CertDir: o.certDir,
			NodeName: nodeNameOrHost(o.nodeName), Logger: cfg.Logger}
		if rc, err = tlsbootstrap.Client(ctx, tb); err != nil {
			return fmt.Errorf("--bootstrap-kubeconfig: %w", err)
		}
		if o.rotateServerCerts {
			cfg.ServingCertificate = func(ctx context.Context, hosts []string) (func() *tls.Certificate, error) {
				return tlsbootstrap.Serving(ctx, tb, rc, hosts)
			}
		}
	} else {
		if o.rotateServerCerts {
			return fmt.Errorf("--rotate-server-certificates needs --bootstrap-kubeconfig")
		}
		if rc, err = clientcmd.BuildConfigFromFlags("", o.kubeconfig); err != nil {
			return fmt.Errorf("--kubeconfig: %w", err)
		}
	}
	if cfg.Client, err = kubeletClientFor(rc); err != nil {
		return fmt.Errorf("--kubeconfig: %w", err)
	}
	tuneGC()
	go trimStartupPages(ctx, cfg.Logger)
	return agent.Run(ctx, cfg)
}

// kubeletClient is the kubelet's API client, with upstream's kubelet rate
// limits (kubeAPIQPS 50, kubeAPIBurst 100): client-go's default of 5
// requests/s made 30 pods starting at once wait seconds for their status
// writes and events.
func kubeletClient(kubeconfig string) (kubernetes.Interface, error) {
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	return kubeletClientFor(rc)
}

// kubeletClientFor is kubeletClient for a REST config.
func kubeletClientFor(rc *rest.Config) (kubernetes.Interface, error) {
	rc = rest.CopyConfig(rc)
	rc.QPS, rc.Burst = 50, 100
	rc.UserAgent = "skiff-kubelet"
	return kubernetes.NewForConfig(rc)
}

// nodeNameOrHost is the node's name: the flag, else the host name (as the
// agent defaults it).
func nodeNameOrHost(name string) string {
	if name == "" {
		name, _ = os.Hostname()
	}
	return name
}

// agentConfig turns the flags into the node agent's config; errors name
// the flag.
func (o kubeletOptions) agentConfig(client kubernetes.Interface, logger *slog.Logger) (agent.Config, error) {
	cpu, err := resource.ParseQuantity(o.reservedCPU)
	if err != nil {
		return agent.Config{}, fmt.Errorf("--system-reserved-cpu: %w", err)
	}
	mem, err := resource.ParseQuantity(o.reservedMemory)
	if err != nil {
		return agent.Config{}, fmt.Errorf("--system-reserved-memory: %w", err)
	}
	if _, _, err := net.ParseCIDR(o.clusterCIDR); err != nil {
		return agent.Config{}, fmt.Errorf("--cluster-cidr: %w", err)
	}
	if o.podCIDR != "" {
		if _, _, err := net.ParseCIDR(o.podCIDR); err != nil {
			return agent.Config{}, fmt.Errorf("--pod-cidr: %w", err)
		}
	}
	if (o.tlsCertFile == "") != (o.tlsKeyFile == "") {
		return agent.Config{}, fmt.Errorf("--tls-cert-file and --tls-private-key-file go together")
	}
	if o.address != "" && net.ParseIP(o.address) == nil {
		return agent.Config{}, fmt.Errorf("--address: %q is not an IP address", o.address)
	}
	if o.port == 0 || o.port > 65535 {
		return agent.Config{}, fmt.Errorf("--kubelet-port: %d is not a port (-1 for no server)", o.port)
	}
	thresholds, err := kubelet.ParseThresholds(o.evictionHard)
	if err != nil {
		return agent.Config{}, fmt.Errorf("--eviction-hard: %w", err)
	}
	if o.pressurePeriod <= 0 {
		return agent.Config{}, fmt.Errorf("--eviction-pressure-transition-period: %v must be positive", o.pressurePeriod)
	}
	var taints []corev1.Taint
	for _, spec := range o.taints {
		t, err := parseTaint(spec)
		if err != nil {
			return agent.Config{}, fmt.Errorf("--register-with-taints: %w", err)
		}
		taints = append(taints, t)
	}
	return agent.Config{
		ServerPort: o.port, ServerBindAddress: o.address, ServerCertFile: o.tlsCertFile, ServerKeyFile: o.tlsKeyFile,
		ClientCAFile: o.clientCAFile, CACertFile: o.clientCAFile, CAKeyFile: o.caKeyFile,
		ContainerdNamespace: o.containerdNS, PodLogsDir: o.podLogsDir, NetNSDir: o.netnsDir, HostNetNS: o.hostNetNS,
		Taints: taints, EvictionHard: thresholds, PressureTransitionPeriod: o.pressurePeriod,
		Client: client, ContainerdAddress: o.containerdAddress, RegistriesConfig: o.registriesConfig,
		NodeName: o.nodeName, NodeIP: o.nodeIP, PodCIDR: o.podCIDR, ClusterCIDR: o.clusterCIDR, RootDir: o.rootDir,
		Labels: o.labels, SystemReservedCPU: cpu, SystemReservedMemory: mem, MaxPods: o.maxPods, Logger: logger,
	}, nil
}
