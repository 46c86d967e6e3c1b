package tlsbootstrap_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/skiffk8s/skiff/apiserver/apitest"
	"github.com/skiffk8s/skiff/controllers/manager"
	"github.com/skiffk8s/skiff/install"
	"github.com/skiffk8s/skiff/kubelet/tlsbootstrap"
)

// TestBootstrapWithAToken runs the kubelet's TLS bootstrapping against a
// real API server and controller manager: with only a bootstrap token the
// node gets a client certificate for system:node:n1 and a kubeconfig
// using it, a restart reuses it without a new request, and the serving
// certificate comes for the node's name and address once its Node has
// them, and verifies against the cluster CA.
func TestBootstrapWithAToken(t *testing.T) {
	srv := apitest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pkiDir := filepath.Join(srv.DataDir, "pki")
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() {
		err := manager.Run(ctx, manager.Config{RESTConfig: srv.Config, HealthzAddr: "-", Logger: slog.New(slog.DiscardHandler),
			LeaderElection: manager.LeaderElection{Disabled: true}, Controllers: []string{"csrapproving", "csrsigning"},
			Options: map[string]string{"cluster-signing-cert-file": filepath.Join(pkiDir, "ca.crt"), "cluster-signing-key-file": filepath.Join(pkiDir, "ca.key")}})
		if err != nil && ctx.Err() == nil {
			t.Errorf("controller manager: %v", err)
		}
	})

	token := install.Token{ID: "abcdef", Secret: "0123456789abcdef"}
	if err := install.CreateToken(ctx, srv.Client, token, time.Hour, "", time.Now()); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["c"] = &clientcmdapi.Cluster{Server: srv.Config.Host, CertificateAuthorityData: srv.Config.CAData}
	kc.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: token.String()}
	kc.Contexts["x"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	kc.CurrentContext = "x"
	boot := filepath.Join(dir, "bootstrap-kubeconfig")
	if err := clientcmd.WriteToFile(*kc, boot); err != nil {
		t.Fatal(err)
	}
	cfg := tlsbootstrap.Config{Kubeconfig: filepath.Join(dir, "kubelet.kubeconfig"), BootstrapKubeconfig: boot,
		CertDir: filepath.Join(dir, "pki"), NodeName: "n1", Timeout: time.Minute, Logger: slog.New(slog.DiscardHandler)}
	rc, err := tlsbootstrap.Client(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	// Who the kubeconfig authenticates as: the server records a CSR's
	// requester.
	probe, err := cs.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{})
	if err != nil || len(probe.Items) != 1 || probe.Items[0].Spec.Username != "system:bootstrap:abcdef" {
		t.Fatalf("CSRs after bootstrapping: %v %+v, want the one made with the token", err, probe)
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(cfg.CertDir, "kubelet-client-current.pem"), filepath.Join(cfg.CertDir, "kubelet-client-current.pem"))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil || leaf.Subject.CommonName != "system:node:n1" || len(leaf.Subject.Organization) != 1 || leaf.Subject.Organization[0] != "system:nodes" {
		t.Errorf("client certificate subject %v (%v), want CN system:node:n1 O system:nodes", leaf.Subject, err)
	}
	if st, err := os.Stat(cfg.Kubeconfig); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("kubeconfig: %v mode %v, want 0600", err, st)
	}

	// The node creates its Node (as the kubelet does) with its address.
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}
	if node, err = cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}
	if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	current, err := tlsbootstrap.Serving(ctx, cfg, rc, []string{"n1", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	// A TLS server with that certificate verifies as n1 and 127.0.0.1.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }),
		TLSConfig: &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return current(), nil }}}
	go func() { _ = hs.ServeTLS(ln, "", "") }()
	defer hs.Close()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(srv.Config.CAData)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "n1"}}}
	if resp, err := hc.Get("https://" + ln.Addr().String()); err != nil {
		t.Errorf("TLS to the serving certificate as n1: %v", err)
	} else {
		resp.Body.Close()
	}

	// A restart finds the stored certificate: no new request.
	before := len(probe.Items)
	if _, err := tlsbootstrap.Client(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	all, err := srv.Client.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(all.Items); n != before+1 { // + the serving request
		t.Errorf("%d CSRs after a restart, want %d (no new client request)", n, before+1)
	}
}

// TestBadConfig names the missing field.
func TestBadConfig(t *testing.T) {
	_, err := tlsbootstrap.Client(context.Background(), tlsbootstrap.Config{Kubeconfig: "k", BootstrapKubeconfig: "b", CertDir: "d"})
	if err == nil || err.Error() != "tlsbootstrap: Config.NodeName is required" {
		t.Errorf("err = %v", err)
	}
}
