package install

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Default directories.
const (
	DefaultEtcDir  = "/etc/skiff"
	DefaultDataDir = "/var/lib/skiff"
)

// JoinConfig is what `skiff join` is given.
type JoinConfig struct {
	// Server is the API server URL (https://HOST:6443). Required.
	Server string
	// Token authenticates the node until it has its own certificate.
	// Required.
	Token Token
	// CAHashes pin the cluster CA ("sha256:..."). At least one.
	CAHashes []string
	// NodeName is the node's name; default the host name.
	NodeName string
	// NodeIP is the node's InternalIP; nil lets the kubelet choose.
	NodeIP net.IP
	// DiscoveryTimeout bounds the retries of discovery while the server
	// is unreachable or has not signed cluster-info for the token yet
	// (as kubeadm's discovery timeout); default 5 minutes.
	DiscoveryTimeout time.Duration
	// EtcDir and DataDir default to DefaultEtcDir and DefaultDataDir.
	EtcDir, DataDir string
	// Master makes the host a master: with CertificateKey it fetches the
	// control plane's keys the first master uploaded (skiff init
	// --upload-certs) and runs the master units against the same etcd,
	// advertising AdvertiseAddress (default NodeIP, else the host's
	// first IPv4 address).
	Master           bool
	CertificateKey   CertificateKey
	AdvertiseAddress net.IP
	// Extra holds more settings per component config file name (e.g.
	// "kubelet" → {"host-netns": "/run/netns/w1"}), for labs that run
	// several nodes on one host; they override the generated ones.
	Extra map[string]map[string]any
}

// Joined is what Join did.
type Joined struct {
	// Files are the files written.
	Files []string
	// Commands are the commands to run when systemd does not run (the
	// units' command lines); empty when the units were started.
	Commands []string
}

// joinMaster is Join for a master: the uploaded keys, then what Init's
// Prepare does with them (this master's own certificates, kubeconfigs and
// configs, the master units).
func joinMaster(ctx context.Context, cfg JoinConfig, d *Discovered) (*Joined, error) {
	if len(cfg.CertificateKey) == 0 {
		return nil, errors.New("a master needs the certificate key that skiff init --upload-certs (or skiff token create --upload-certs) printed")
	}
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: d.Server, BearerToken: cfg.Token.String(),
		TLSClientConfig: rest.TLSClientConfig{CAData: d.CAPEM}, UserAgent: "skiff-join"})
	if err != nil {
		return nil, err
	}
	etcd, err := DownloadCerts(ctx, cs, filepath.Join(cfg.DataDir, "pki"), cfg.CertificateKey)
	if err != nil {
		return nil, err
	}
	if etcd == "" {
		return nil, errors.New("the first master runs an embedded etcd, which other hosts cannot reach: masters can join only a control plane on an external etcd (skiff init --etcd-servers)")
	}
	adv := cfg.AdvertiseAddress
	if adv == nil {
		adv = cfg.NodeIP
	}
	if adv == nil {
		return nil, errors.New("a master needs the address it serves the API at (--advertise-address or --node-ip)")
	}
	p, err := Prepare(ctx, InitConfig{AdvertiseAddress: adv, NodeName: cfg.NodeName, EtcDir: cfg.EtcDir, DataDir: cfg.DataDir,
		EtcdServers: etcd, Extra: cfg.Extra})
	if err != nil {
		return nil, err
	}
	return &Joined{Files: p.Files, Commands: p.Commands}, nil
}

// discoverWithRetries runs Discover until it succeeds, fails for good, or
// the discovery timeout passes.
func discoverWithRetries(ctx context.Context, cfg JoinConfig) (*Discovered, error) {
	timeout := cfg.DiscoveryTimeout
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		d, err := Discover(ctx, cfg.Server, cfg.Token, cfg.CAHashes)
		if err == nil || !(errors.Is(err, ErrNoSignature) || errors.Is(err, ErrUnreachable)) {
			return d, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (gave up after %s)", err, timeout)
		case <-time.After(time.Second):
		}
	}
}

// Join makes this host a worker: it discovers the cluster CA with the
// token (see Discover), writes the CA, a bootstrap kubeconfig holding the
// token, and the kubelet, proxy and DNS configs (the kubelet requests its
// client and serving certificates with the token and writes
// kubelet.kubeconfig, which the proxy and DNS use), then starts the
// worker units. Nothing is written when discovery fails.
func Join(ctx context.Context, cfg JoinConfig) (*Joined, error) {
	if cfg.EtcDir == "" {
		cfg.EtcDir = DefaultEtcDir
	}
	if cfg.DataDir == "" {
		cfg.DataDir = DefaultDataDir
	}
	if cfg.NodeName == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("node name: %w", err)
		}
		cfg.NodeName = h
	}
	if cfg.Token == (Token{}) {
		return nil, errors.New("a bootstrap token is required")
	}
	d, err := discoverWithRetries(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Master {
		return joinMaster(ctx, cfg, d)
	}
	caPath := filepath.Join(cfg.DataDir, "pki", "ca.crt")
	bootPath := filepath.Join(cfg.EtcDir, "bootstrap-kubeconfig")
	kubeconfig := filepath.Join(cfg.EtcDir, "kubelet.kubeconfig")
	out := &Joined{}
	if err := writeFile(caPath, d.CAPEM, 0o644); err != nil {
		return nil, fmt.Errorf("write %s: %w", caPath, err)
	}
	out.Files = append(out.Files, caPath)
	kc := clientcmdapi.NewConfig()
	kc.Clusters["default"] = &clientcmdapi.Cluster{Server: d.Server, CertificateAuthorityData: d.CAPEM}
	kc.AuthInfos["tls-bootstrap-token-user"] = &clientcmdapi.AuthInfo{Token: cfg.Token.String()}
	kc.Contexts["tls-bootstrap"] = &clientcmdapi.Context{Cluster: "default", AuthInfo: "tls-bootstrap-token-user"}
	kc.CurrentContext = "tls-bootstrap"
	data, err := clientcmd.Write(*kc)
	if err != nil {
		return nil, fmt.Errorf("bootstrap kubeconfig: %w", err)
	}
	if err := writeFile(bootPath, data, 0o600); err != nil {
		return nil, fmt.Errorf("write %s: %w", bootPath, err)
	}
	out.Files = append(out.Files, bootPath)

	configs := map[string]map[string]any{
		"kubelet": {
			"kubeconfig": kubeconfig, "bootstrap-kubeconfig": bootPath, "cert-dir": filepath.Join(cfg.DataDir, "kubelet", "pki"),
			"rotate-server-certificates": true, "client-ca-file": caPath, "node-name": cfg.NodeName,
			"root-dir": filepath.Join(cfg.DataDir, "kubelet"),
		},
		"proxy": {"kubeconfig": kubeconfig, "node-name": cfg.NodeName},
		"dns":   {"kubeconfig": kubeconfig},
	}
	if cfg.NodeIP != nil {
		configs["kubelet"]["node-ip"] = cfg.NodeIP.String()
	}
	for _, name := range []string{"kubelet", "proxy", "dns"} {
		for k, v := range cfg.Extra[name] {
			configs[name][k] = v
		}
		path, err := writeComponentConfig(cfg.EtcDir, name, "skiff join", configs[name])
		if err != nil {
			return nil, err
		}
		out.Files = append(out.Files, path)
	}
	cmds, err := StartUnits(ctx, WorkerUnits, cfg.EtcDir)
	if err != nil {
		return nil, err
	}
	out.Commands = cmds
	return out, nil
}
