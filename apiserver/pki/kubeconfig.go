package pki

import (
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Default kubeconfig names.
const (
	KubeconfigCluster = "skiff"
	KubeconfigContext = "skiff"
	KubeconfigUser    = "admin"
)

// WriteKubeconfig writes a kubeconfig to path (mode 0600, atomically) that
// reaches server (e.g. "https://127.0.0.1:6443") trusting caPEM and
// authenticates with the client certificate certPEM/keyPEM, all embedded.
// The cluster is named "skiff". contextName names the context and its user;
// "" means context "skiff" with user "admin". The parent directory is
// created (0700) if missing.
func WriteKubeconfig(path, server string, caPEM, certPEM, keyPEM []byte, contextName string) error {
	user := contextName
	if contextName == "" {
		contextName, user = KubeconfigContext, KubeconfigUser
	}
	cfg := clientcmdapi.NewConfig()
	cluster := clientcmdapi.NewCluster()
	cluster.Server = server
	cluster.CertificateAuthorityData = caPEM
	cfg.Clusters[KubeconfigCluster] = cluster

	auth := clientcmdapi.NewAuthInfo()
	auth.ClientCertificateData = certPEM
	auth.ClientKeyData = keyPEM
	cfg.AuthInfos[user] = auth

	ctx := clientcmdapi.NewContext()
	ctx.Cluster = KubeconfigCluster
	ctx.AuthInfo = user
	cfg.Contexts[contextName] = ctx
	cfg.CurrentContext = contextName

	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return fmt.Errorf("pki: encode kubeconfig %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("pki: write kubeconfig: %w", err)
	}
	return writeFileAtomic(path, data, 0o600)
}
