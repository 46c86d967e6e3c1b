package install

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiffk8s/skiff/apiserver/pki"
)

// InitConfig is what `skiff init` is given.
type InitConfig struct {
	// AdvertiseAddress is the address other hosts reach the API server
	// at. Required.
	AdvertiseAddress net.IP
	// Port is the API server's port; default 6443.
	Port int
	// NodeName is this master's node name; default the host name.
	NodeName string
	// EtcDir and DataDir default to DefaultEtcDir and DefaultDataDir.
	EtcDir, DataDir string
	// TokenTTL is the first bootstrap token's lifetime; default 24h.
	TokenTTL time.Duration
	// EtcdServers are the API server's etcd (--etcd-servers, comma
	// separated); empty for the embedded one. Masters that join share it.
	EtcdServers string
	// UploadCerts stores the control plane's keys in the cluster,
	// encrypted, so that masters can join (Finish prints their command).
	UploadCerts bool
	// Extra holds more settings per component config file name, as in
	// JoinConfig.
	Extra map[string]map[string]any
	// Now is the clock; default time.Now.
	Now func() time.Time
}

func (c *InitConfig) defaults() error {
	if c.AdvertiseAddress == nil {
		return errors.New("an advertise address is required (the address workers reach the API server at)")
	}
	if c.Port == 0 {
		c.Port = 6443
	}
	if c.EtcDir == "" {
		c.EtcDir = DefaultEtcDir
	}
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.NodeName == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("node name: %w", err)
		}
		c.NodeName = h
	}
	if c.TokenTTL == 0 {
		c.TokenTTL = 24 * time.Hour
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// Server is the API server URL init advertises.
func (c InitConfig) Server() string {
	return "https://" + net.JoinHostPort(c.AdvertiseAddress.String(), strconv.Itoa(c.Port))
}

// Prepared is what the first, offline step of Init wrote.
type Prepared struct {
	Files []string
	// Commands are the commands to run when systemd does not run;
	// empty when the units were started.
	Commands []string
	// AdminKubeconfig reaches the API server as the cluster admin.
	AdminKubeconfig string
}

// ControlPlaneLabel marks masters (label, and NoSchedule taint key), as
// kubeadm's node-role.kubernetes.io/control-plane.
const ControlPlaneLabel = "node-role.kubernetes.io/control-plane"

// clientValidity is the lifetime of the control plane's client
// certificates init issues.
const clientValidity = 365 * 24 * time.Hour

// Prepare is Init's offline step: it creates the cluster PKI in
// DataDir/pki (or loads it: running again keeps the identity), the
// kubeconfigs of the admin, controller manager, scheduler and this
// master's kubelet in EtcDir, and every master component's config, then
// starts the master units (or returns their commands).
func Prepare(ctx context.Context, cfg InitConfig) (*Prepared, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	pkiDir := filepath.Join(cfg.DataDir, "pki")
	bundle, err := pki.LoadOrCreate(pki.Config{Dir: pkiDir, ServiceIP: net.IPv4(10, 96, 0, 1),
		ExtraSANs: []string{cfg.AdvertiseAddress.String(), cfg.NodeName}})
	if err != nil {
		return nil, fmt.Errorf("PKI in %s: %w", pkiDir, err)
	}
	out := &Prepared{AdminKubeconfig: filepath.Join(cfg.EtcDir, "admin.kubeconfig")}
	server := cfg.Server()
	for _, kc := range []struct {
		file, user string
		groups     []string
	}{
		{"admin.kubeconfig", pki.AdminCommonName, []string{pki.AdminGroup}},
		{"controller-manager.kubeconfig", "system:kube-controller-manager", nil},
		{"scheduler.kubeconfig", "system:kube-scheduler", nil},
		{"kubelet.kubeconfig", "system:node:" + cfg.NodeName, []string{"system:nodes"}},
	} {
		certPEM, keyPEM, err := bundle.IssueClientCert(kc.user, kc.groups, clientValidity)
		if err != nil {
			return nil, err
		}
		path := filepath.Join(cfg.EtcDir, kc.file)
		if err := pki.WriteKubeconfig(path, server, bundle.CAPEM, certPEM, keyPEM, ""); err != nil {
			return nil, fmt.Errorf("write %s: %w", path, err)
		}
		out.Files = append(out.Files, path)
	}
	etc := func(f string) string { return filepath.Join(cfg.EtcDir, f) }
	configs := map[string]map[string]any{
		"apiserver": {"data-dir": cfg.DataDir, "secure-port": cfg.Port},
		"controller-manager": {"kubeconfig": etc("controller-manager.kubeconfig"), "root-ca-file": filepath.Join(pkiDir, pki.CACertFile),
			"cluster-signing-cert-file": filepath.Join(pkiDir, pki.CACertFile), "cluster-signing-key-file": filepath.Join(pkiDir, pki.CAKeyFile)},
		"scheduler": {"kubeconfig": etc("scheduler.kubeconfig")},
		"kubelet": {"kubeconfig": etc("kubelet.kubeconfig"), "node-name": cfg.NodeName, "node-ip": cfg.AdvertiseAddress.String(),
			"client-ca-file": filepath.Join(pkiDir, pki.CACertFile), "ca-key-file": filepath.Join(pkiDir, pki.CAKeyFile),
			"root-dir": filepath.Join(cfg.DataDir, "kubelet"),
			// As kubeadm: the master runs the control plane, not workloads,
			// unless a pod tolerates the taint (or the taint is removed).
			"register-with-taints": []string{ControlPlaneLabel + ":NoSchedule"},
			"node-labels":          map[string]string{ControlPlaneLabel: ""}},
		"proxy": {"kubeconfig": etc("kubelet.kubeconfig"), "node-name": cfg.NodeName},
		"dns":   {"kubeconfig": etc("kubelet.kubeconfig")},
	}
	if cfg.EtcdServers != "" {
		configs["apiserver"]["etcd-servers"] = cfg.EtcdServers
	}
	for _, name := range []string{"apiserver", "controller-manager", "scheduler", "kubelet", "proxy", "dns"} {
		for k, v := range cfg.Extra[name] {
			configs[name][k] = v
		}
		path, err := writeComponentConfig(cfg.EtcDir, name, "skiff init", configs[name])
		if err != nil {
			return nil, err
		}
		out.Files = append(out.Files, path)
	}
	if out.Commands, err = StartUnits(ctx, MasterUnits, cfg.EtcDir); err != nil {
		return nil, err
	}
	return out, nil
}

// Finish is Init's online step, once the API server answers: it publishes
// kube-public/cluster-info for joining nodes, creates a bootstrap token,
// and returns the join command for workers; with UploadCerts it also
// uploads the control plane's keys and returns the command for masters.
func Finish(ctx context.Context, cfg InitConfig, cs kubernetes.Interface) (worker, master string, err error) {
	if err := cfg.defaults(); err != nil {
		return "", "", err
	}
	caPEM, err := os.ReadFile(filepath.Join(cfg.DataDir, "pki", pki.CACertFile))
	if err != nil {
		return "", "", fmt.Errorf("cluster CA: %w", err)
	}
	if err := PublishClusterInfo(ctx, cs, cfg.Server(), caPEM); err != nil {
		return "", "", err
	}
	t, err := GenerateToken()
	if err != nil {
		return "", "", err
	}
	if err := CreateToken(ctx, cs, t, cfg.TokenTTL, "created by skiff init", cfg.Now()); err != nil {
		return "", "", err
	}
	if worker, err = JoinCommand(cfg.Server(), t, caPEM); err != nil {
		return "", "", err
	}
	if cfg.UploadCerts {
		if master, err = UploadForMasters(ctx, cs, filepath.Join(cfg.DataDir, "pki"), cfg.EtcdServers, worker, cfg.Now()); err != nil {
			return "", "", err
		}
	}
	return worker, master, nil
}

// UploadForMasters uploads the control plane's keys with a new
// certificate key and returns the master join command: the worker join
// command with --role master and that key.
func UploadForMasters(ctx context.Context, cs kubernetes.Interface, pkiDir, etcdServers, workerJoin string, now time.Time) (string, error) {
	key, err := GenerateCertificateKey()
	if err != nil {
		return "", err
	}
	if err := UploadCerts(ctx, cs, pkiDir, etcdServers, key, now); err != nil {
		return "", err
	}
	return workerJoin + " --role master --certificate-key " + key.String(), nil
}

// JoinCommand is the command a worker runs to join with token t.
func JoinCommand(server string, t Token, caPEM []byte) (string, error) {
	ca, err := parseCert(caPEM)
	if err != nil {
		return "", fmt.Errorf("cluster CA: %w", err)
	}
	return fmt.Sprintf("skiff join --server %s --token %s --ca-cert-hash %s", server, t, CAHash(ca)), nil
}

// WaitForAPIServer waits until the API server behind kubeconfig answers
// /readyz, or ctx ends.
func WaitForAPIServer(ctx context.Context, kubeconfig string) (kubernetes.Interface, error) {
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", kubeconfig, err)
	}
	rc.Timeout = 5 * time.Second
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err == nil && string(body) == "ok" {
			return cs, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("the API server at %s is not ready: %w (last: %v)", rc.Host, ctx.Err(), err)
		case <-tick.C:
		}
	}
}
