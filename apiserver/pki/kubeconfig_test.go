package pki

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

func TestAdminKubeconfigAuthenticatesAgainstTheServingCert(t *testing.T) {
	// A real clock: the TLS handshake checks validity against time.Now.
	cfg := testConfig(t)
	cfg.Clock = nil
	b := mustLoadOrCreate(t, cfg)

	type seen struct {
		cn     string
		groups []string
	}
	seenc := make(chan seen, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			http.Error(w, "no client certificate", http.StatusUnauthorized)
			return
		}
		c := r.TLS.PeerCertificates[0]
		seenc <- seen{c.Subject.CommonName, c.Subject.Organization}
		io.WriteString(w, `{"kind":"Status","apiVersion":"v1","status":"Success"}`)
	}))
	clientCAs := x509.NewCertPool()
	clientCAs.AddCert(b.CA)
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{b.ServingCert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    clientCAs,
	}
	srv.StartTLS()
	defer srv.Close()

	path := filepath.Join(t.TempDir(), "home", ".kube", "config")
	if err := WriteKubeconfig(path, srv.URL, b.CAPEM, b.AdminCertPEM, b.AdminKeyPEM, ""); err != nil {
		t.Fatalf("WriteKubeconfig: %v", err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("kubeconfig mode %o, want 0600", perm)
	}

	kc, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatalf("clientcmd cannot load the kubeconfig: %v", err)
	}
	if kc.CurrentContext != "skiff" || kc.Contexts["skiff"] == nil ||
		kc.Contexts["skiff"].Cluster != "skiff" || kc.Contexts["skiff"].AuthInfo != "admin" {
		t.Errorf("kubeconfig names: current %q contexts %v", kc.CurrentContext, kc.Contexts)
	}

	restCfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatalf("build rest config: %v", err)
	}
	client, err := rest.HTTPClientFor(restCfg)
	if err != nil {
		t.Fatal(err)
	}
	// srv.URL is https://127.0.0.1:PORT: the handshake checks the 127.0.0.1
	// SAN against the CA from the kubeconfig.
	resp, err := client.Get(srv.URL + "/api")
	if err != nil {
		t.Fatalf("request with the kubeconfig's credentials: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	got := <-seenc
	if got.cn != "kubernetes-admin" || !slices.Equal(got.groups, []string{"system:masters"}) {
		t.Errorf("server saw CN %q O %v, want kubernetes-admin / system:masters", got.cn, got.groups)
	}
}

func TestKubeconfigWithContextName(t *testing.T) {
	cfg := testConfig(t)
	b := mustLoadOrCreate(t, cfg)
	certPEM, keyPEM, err := b.IssueClientCert("system:kube-scheduler", nil, ServingValidity)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "scheduler.conf")
	if err := WriteKubeconfig(path, "https://127.0.0.1:6443", b.CAPEM, certPEM, keyPEM, "scheduler"); err != nil {
		t.Fatal(err)
	}
	kc, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := kc.Contexts["scheduler"]
	if kc.CurrentContext != "scheduler" || ctx == nil || ctx.Cluster != "skiff" || ctx.AuthInfo != "scheduler" {
		t.Fatalf("contexts %v current %q, want scheduler → cluster skiff, user scheduler", kc.Contexts, kc.CurrentContext)
	}
	if kc.Clusters["skiff"].Server != "https://127.0.0.1:6443" {
		t.Errorf("server = %q", kc.Clusters["skiff"].Server)
	}

	// Writing again replaces the file whole, leaving no temporary files.
	if err := WriteKubeconfig(path, "https://127.0.0.1:7443", b.CAPEM, certPEM, keyPEM, "scheduler"); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries after two writes, want 1", len(entries))
	}
	if kc, err = clientcmd.LoadFromFile(path); err != nil || kc.Clusters["skiff"].Server != "https://127.0.0.1:7443" {
		t.Errorf("rewritten kubeconfig: %v, %v", kc, err)
	}
}
