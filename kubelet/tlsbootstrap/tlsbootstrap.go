// Package tlsbootstrap gives a joining kubelet its identity from the
// cluster, as upstream's kubelet TLS bootstrapping does. With a bootstrap
// kubeconfig (a bootstrap token and the cluster CA, written by skiff join)
// it requests a client certificate for system:node:<name> (organization
// system:nodes) through a CertificateSigningRequest with signer
// kubernetes.io/kube-apiserver-client-kubelet, keeps it in CertDir as
// kubelet-client-current.pem and writes the kubeconfig that uses it. The
// controller manager approves and signs such requests.
//
// Certificates are renewed before they expire (client-go's certificate
// manager: at a random point between 70% and 90% of their lifetime),
// renewing with the current certificate, so a node keeps its identity
// without the token. The same is done for the kubelet server's serving
// certificate (signer kubernetes.io/kubelet-serving).
package tlsbootstrap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/certificate"
)

// Config says where the kubelet's credentials live.
type Config struct {
	// Kubeconfig is the kubeconfig this package writes (mode 0600): the
	// cluster from BootstrapKubeconfig and the client certificate in
	// CertDir. Required.
	Kubeconfig string
	// BootstrapKubeconfig holds the cluster (server, CA) and the bootstrap
	// token used while the node has no valid client certificate.
	// Required.
	BootstrapKubeconfig string
	// CertDir holds kubelet-client-*.pem and kubelet-server-*.pem
	// (certificate and key in one file; "-current" is a symlink to the
	// newest). Created with mode 0700. Required.
	CertDir string
	// NodeName is the node's name: the certificates are for
	// system:node:<NodeName>. Required.
	NodeName string
	// Timeout bounds the wait for the first certificate (approval and
	// signing by the controller manager). Default 5 minutes.
	Timeout time.Duration
	// Logger is required.
	Logger *slog.Logger
}

func (c Config) check() error {
	switch {
	case c.Kubeconfig == "":
		return errors.New("tlsbootstrap: Config.Kubeconfig is required")
	case c.BootstrapKubeconfig == "":
		return errors.New("tlsbootstrap: Config.BootstrapKubeconfig is required")
	case c.CertDir == "":
		return errors.New("tlsbootstrap: Config.CertDir is required")
	case c.NodeName == "":
		return errors.New("tlsbootstrap: Config.NodeName is required")
	case c.Logger == nil:
		return errors.New("tlsbootstrap: Config.Logger is required")
	}
	return nil
}

// Client makes sure the kubelet has a client certificate, requesting one
// with the bootstrap token when it has none (or only an expired one),
// writes cfg.Kubeconfig, and keeps renewing the certificate until ctx
// ends. It returns the REST config of the written kubeconfig; client-go
// reloads the certificate file when it is renewed.
func Client(ctx context.Context, cfg Config) (*rest.Config, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	boot, err := clientcmd.BuildConfigFromFlags("", cfg.BootstrapKubeconfig)
	if err != nil {
		return nil, fmt.Errorf("bootstrap kubeconfig: %w", err)
	}
	if err := os.MkdirAll(cfg.CertDir, 0o700); err != nil {
		return nil, fmt.Errorf("certificate directory: %w", err)
	}
	store, err := certificate.NewFileStore("kubelet-client", cfg.CertDir, cfg.CertDir, "", "")
	if err != nil {
		return nil, fmt.Errorf("client certificate store: %w", err)
	}
	currentPath := filepath.Join(cfg.CertDir, "kubelet-client-current.pem")
	mgr, err := certificate.NewManager(&certificate.Config{
		Name: "kubelet client",
		ClientsetFn: func(current *tls.Certificate) (kubernetes.Interface, error) {
			rc := rest.CopyConfig(boot)
			if valid(current) {
				// Renewal: the node authenticates as itself.
				rc = clusterOnly(boot)
				rc.TLSClientConfig.CertFile, rc.TLSClientConfig.KeyFile = currentPath, currentPath
			}
			rc.UserAgent = "skiff-kubelet-tls-bootstrap"
			return kubernetes.NewForConfig(rc)
		},
		Template: &x509.CertificateRequest{Subject: pkix.Name{
			CommonName: "system:node:" + cfg.NodeName, Organization: []string{"system:nodes"},
		}},
		SignerName:       certificatesv1.KubeAPIServerClientKubeletSignerName,
		Usages:           []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth},
		CertificateStore: store,
		Ctx:              &ctx,
	})
	if err != nil {
		return nil, fmt.Errorf("client certificate manager: %w", err)
	}
	if err := start(ctx, mgr, cfg, "client"); err != nil {
		return nil, err
	}
	if err := writeKubeconfig(cfg.Kubeconfig, boot, currentPath); err != nil {
		mgr.Stop()
		return nil, err
	}
	rc, err := clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	if err != nil {
		mgr.Stop()
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	return rc, nil
}

// Serving keeps the kubelet server's certificate: for system:node:<name>
// with the node's host names and addresses, signer
// kubernetes.io/kubelet-serving, requested with the node's own client
// credentials (client, from Client) and renewed until ctx ends. It waits
// for the first certificate and returns the function the TLS server asks
// for the current one.
func Serving(ctx context.Context, cfg Config, client *rest.Config, hosts []string) (func() *tls.Certificate, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.CertDir, 0o700); err != nil {
		return nil, fmt.Errorf("certificate directory: %w", err)
	}
	store, err := certificate.NewFileStore("kubelet-server", cfg.CertDir, cfg.CertDir, "", "")
	if err != nil {
		return nil, fmt.Errorf("serving certificate store: %w", err)
	}
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: "system:node:" + cfg.NodeName, Organization: []string{"system:nodes"}}}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	mgr, err := certificate.NewManager(&certificate.Config{
		Name: "kubelet serving",
		ClientsetFn: func(*tls.Certificate) (kubernetes.Interface, error) {
			rc := rest.CopyConfig(client)
			rc.UserAgent = "skiff-kubelet-tls-bootstrap"
			return kubernetes.NewForConfig(rc)
		},
		Template:         tmpl,
		SignerName:       certificatesv1.KubeletServingSignerName,
		Usages:           []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth},
		CertificateStore: store,
		Ctx:              &ctx,
	})
	if err != nil {
		return nil, fmt.Errorf("serving certificate manager: %w", err)
	}
	if err := start(ctx, mgr, cfg, "serving"); err != nil {
		return nil, err
	}
	return mgr.Current, nil
}

// start starts mgr and waits for its first valid certificate; the manager
// stops when ctx ends.
func start(ctx context.Context, mgr certificate.Manager, cfg Config, what string) error {
	mgr.Start()
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	logged := false
	for !valid(mgr.Current()) {
		if !logged {
			cfg.Logger.Info("kubelet: waiting for a "+what+" certificate (CertificateSigningRequest for system:node:"+cfg.NodeName+")", "dir", cfg.CertDir)
			logged = true
		}
		select {
		case <-ctx.Done():
			mgr.Stop()
			return ctx.Err()
		case <-deadline.C:
			mgr.Stop()
			return fmt.Errorf("no %s certificate for system:node:%s after %s: is the controller manager running, and the CSR approved (kubectl get csr)?", what, cfg.NodeName, timeout)
		case <-tick.C:
		}
	}
	go func() {
		<-ctx.Done()
		mgr.Stop()
	}()
	return nil
}

// valid reports whether c holds a certificate that has not expired.
func valid(c *tls.Certificate) bool {
	if c == nil || len(c.Certificate) == 0 {
		return false
	}
	leaf := c.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return false
		}
	}
	now := time.Now()
	return now.After(leaf.NotBefore) && now.Before(leaf.NotAfter)
}

// clusterOnly is boot's server and CA without its credentials.
func clusterOnly(boot *rest.Config) *rest.Config {
	return &rest.Config{
		Host: boot.Host, APIPath: boot.APIPath,
		TLSClientConfig: rest.TLSClientConfig{
			ServerName: boot.ServerName, CAFile: boot.CAFile, CAData: boot.CAData, Insecure: boot.Insecure,
		},
	}
}

// writeKubeconfig writes a kubeconfig for boot's cluster whose user is the
// certificate and key in pemPath.
func writeKubeconfig(path string, boot *rest.Config, pemPath string) error {
	caData := boot.CAData
	if len(caData) == 0 && boot.CAFile != "" {
		var err error
		if caData, err = os.ReadFile(boot.CAFile); err != nil {
			return fmt.Errorf("bootstrap kubeconfig CA: %w", err)
		}
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["default"] = &clientcmdapi.Cluster{Server: boot.Host, CertificateAuthorityData: caData, TLSServerName: boot.ServerName}
	kc.AuthInfos["default"] = &clientcmdapi.AuthInfo{ClientCertificate: pemPath, ClientKey: pemPath}
	kc.Contexts["default"] = &clientcmdapi.Context{Cluster: "default", AuthInfo: "default"}
	kc.CurrentContext = "default"
	data, err := clientcmd.Write(*kc)
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	return nil
}
