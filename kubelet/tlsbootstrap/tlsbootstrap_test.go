package tlsbootstrap_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/skiffk8s/skiff/apiserver/apitest"
	"github.com/skiffk8s/skiff/apiserver/pki"
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
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	runControllers(ctx, t, &wg, srv, "csrapproving", "csrsigning")
	cfg, rc, cs := bootstrapNode(ctx, t, srv)
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

// TestClientCertificateIsRenewed: with certificates that live 10 s (a
// test signer; the cluster's signs for at least 10 minutes), the node asks
// for a new one with its current certificate before the old expires, and
// the kubeconfig keeps working across the renewal.
func TestClientCertificateIsRenewed(t *testing.T) {
	srv := apitest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pkiDir := filepath.Join(srv.DataDir, "pki")
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	runControllers(ctx, t, &wg, srv, "csrapproving")
	ca, err := pki.LoadCA(pkiDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	wg.Go(func() { shortLivedSigner(ctx, t, srv.Client, ca, 10*time.Second) })
	_, _, cs := bootstrapNode(ctx, t, srv)
	deadline := time.Now().Add(40 * time.Second)
	for {
		list, err := srv.Client.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		renewals := 0
		for _, c := range list.Items {
			if c.Spec.Username == "system:node:n1" && len(c.Status.Certificate) > 0 {
				renewals++
			}
		}
		if renewals >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d signed renewals by system:node:n1 after 40 s of 10 s certificates, want 2", renewals)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The client from the kubeconfig still works: its certificate file
	// was replaced by a valid one.
	if _, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("the kubeconfig after renewals: %v", err)
	}
}

// shortLivedSigner signs approved kubelet client CSRs with ca for ttl,
// as csrsigning would but shorter.
func shortLivedSigner(ctx context.Context, t *testing.T, cs kubernetes.Interface, ca *pki.Bundle, ttl time.Duration) {
	for ctx.Err() == nil {
		list, err := cs.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{})
		if err == nil {
			for i := range list.Items {
				c := &list.Items[i]
				approved := false
				for _, cond := range c.Status.Conditions {
					approved = approved || cond.Type == certificatesv1.CertificateApproved
				}
				if !approved || len(c.Status.Certificate) > 0 {
					continue
				}
				block, _ := pem.Decode(c.Spec.Request)
				req, err := x509.ParseCertificateRequest(block.Bytes)
				if err != nil {
					t.Errorf("csr %s: %v", c.Name, err)
					continue
				}
				now := time.Now()
				tmpl := &x509.Certificate{SerialNumber: big.NewInt(now.UnixNano()), Subject: req.Subject,
					NotBefore: now.Add(-time.Second), NotAfter: now.Add(ttl),
					KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
				der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.CA, req.PublicKey, ca.CAKey)
				if err != nil {
					t.Errorf("sign %s: %v", c.Name, err)
					continue
				}
				c.Status.Certificate = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
				_, _ = cs.CertificatesV1().CertificateSigningRequests().UpdateStatus(ctx, c, metav1.UpdateOptions{})
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// runControllers runs the named controllers (csrsigning with the test
// server's CA) until ctx ends.
func runControllers(ctx context.Context, t *testing.T, wg *sync.WaitGroup, srv *apitest.Server, controllers ...string) {
	pkiDir := filepath.Join(srv.DataDir, "pki")
	wg.Go(func() {
		err := manager.Run(ctx, manager.Config{RESTConfig: srv.Config, HealthzAddr: "-", Logger: slog.New(slog.DiscardHandler),
			LeaderElection: manager.LeaderElection{Disabled: true}, Controllers: controllers,
			Options: map[string]string{"cluster-signing-cert-file": filepath.Join(pkiDir, "ca.crt"), "cluster-signing-key-file": filepath.Join(pkiDir, "ca.key")}})
		if err != nil && ctx.Err() == nil {
			t.Errorf("controller manager: %v", err)
		}
	})
}

// bootstrapNode bootstraps node n1 with a new token: its config, the REST
// config of the kubeconfig it got, and a client with it.
func bootstrapNode(ctx context.Context, t *testing.T, srv *apitest.Server) (tlsbootstrap.Config, *rest.Config, kubernetes.Interface) {
	t.Helper()
	token := install.Token{ID: "abcdef", Secret: "0123456789abcdef"}
	if err := install.CreateToken(ctx, srv.Client, token, time.Hour, "", time.Now()); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	boot := writeBootstrapKubeconfig(t, dir, srv.Config.Host, srv.Config.CAData, token)
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
	return cfg, rc, cs
}

func writeBootstrapKubeconfig(t *testing.T, dir, server string, caData []byte, token install.Token) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["c"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caData}
	kc.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: token.String()}
	kc.Contexts["x"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	kc.CurrentContext = "x"
	path := filepath.Join(dir, "bootstrap-kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}
