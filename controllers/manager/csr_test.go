package manager_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	"k8s.io/cluster-bootstrap/token/jws"

	"github.com/skiffk8s/skiff/apiserver/apitest"
	"github.com/skiffk8s/skiff/controllers/csrapproving"
	"github.com/skiffk8s/skiff/controllers/manager"
)

// runBootstrapControllers runs the manager with the four controllers of
// `skiff join` against srv, signing with its CA, until the test ends.
func runBootstrapControllers(t *testing.T, srv *apitest.Server) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	t.Cleanup(cancel)
	wg.Go(func() {
		err := manager.Run(ctx, manager.Config{
			RESTConfig: srv.Config, HealthzAddr: "-", Logger: slog.New(slog.DiscardHandler),
			LeaderElection: manager.LeaderElection{Disabled: true},
			Controllers:    []string{"bootstrapsigner", "tokencleaner", "csrapproving", "csrsigning"},
			Options: map[string]string{
				"cluster-signing-cert-file": filepath.Join(srv.DataDir, "pki", "ca.crt"),
				"cluster-signing-key-file":  filepath.Join(srv.DataDir, "pki", "ca.key"),
			},
		})
		if err != nil && ctx.Err() == nil {
			t.Errorf("controller manager: %v", err)
		}
	})
}

// nodeCSR is a kubelet client CSR named name for node, with its key.
func nodeCSR(t *testing.T, name, node string) (*certificatesv1.CertificateSigningRequest, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "system:node:" + node, Organization: []string{"system:nodes"}}}, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
			SignerName: certificatesv1.KubeAPIServerClientKubeletSignerName,
			Usages:     []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth},
		},
	}, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

// waitSigned waits until the CSR name has a certificate and returns it.
func waitSigned(t *testing.T, cs kubernetes.Interface, name string) *certificatesv1.CertificateSigningRequest {
	t.Helper()
	var csr *certificatesv1.CertificateSigningRequest
	eventually(t, 20*time.Second, "CSR "+name+" approved and signed", func() bool {
		var err error
		csr, err = cs.CertificatesV1().CertificateSigningRequests().Get(context.Background(), name, metav1.GetOptions{})
		return err == nil && len(csr.Status.Certificate) > 0
	})
	return csr
}

func approval(csr *certificatesv1.CertificateSigningRequest) *certificatesv1.CertificateSigningRequestCondition {
	for i, c := range csr.Status.Conditions {
		if c.Type == certificatesv1.CertificateApproved {
			return &csr.Status.Conditions[i]
		}
	}
	return nil
}

// TestKubeletClientCSRIsApprovedSignedAndAuthenticates creates a kubelet
// client CSR as the admin; the controllers approve and sign it, and the
// certificate authenticates to the API server as system:node:node-1: a
// CSR made with it (a renewal) records that user and group, and is
// approved as the node's own.
func TestKubeletClientCSRIsApprovedSignedAndAuthenticates(t *testing.T) {
	srv := apitest.Start(t)
	runBootstrapControllers(t, srv)
	ctx := context.Background()

	csr, keyPEM := nodeCSR(t, "node-csr-1", "node-1")
	if _, err := srv.Client.CertificatesV1().CertificateSigningRequests().Create(ctx, csr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got := waitSigned(t, srv.Client, "node-csr-1")
	if a := approval(got); a == nil || a.Status != corev1.ConditionTrue || a.Reason != "AutoApproved" || a.Message != csrapproving.NodeClientMessage {
		t.Errorf("approval %+v, want Approved/True AutoApproved %q", a, csrapproving.NodeClientMessage)
	}

	nodeCfg := rest.AnonymousClientConfig(srv.Config)
	nodeCfg.CertData, nodeCfg.KeyData = got.Status.Certificate, keyPEM
	node, err := kubernetes.NewForConfig(nodeCfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatalf("GET /api/v1/nodes with the signed certificate: %v", err)
	}
	renewal, _ := nodeCSR(t, "node-csr-2", "node-1")
	created, err := node.CertificatesV1().CertificateSigningRequests().Create(ctx, renewal, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create a renewal CSR as the node: %v", err)
	}
	if created.Spec.Username != "system:node:node-1" || !slices.Contains(created.Spec.Groups, "system:nodes") {
		t.Errorf("the API server saw the node's certificate as user %q groups %v, want system:node:node-1 in system:nodes", created.Spec.Username, created.Spec.Groups)
	}
	renewed := waitSigned(t, srv.Client, "node-csr-2")
	if a := approval(renewed); a == nil || a.Message != csrapproving.SelfNodeClientMessage {
		t.Errorf("renewal approval %+v, want %q", a, csrapproving.SelfNodeClientMessage)
	}

	// Another user's kubelet client request stays pending.
	other, _ := nodeCSR(t, "node-csr-3", "node-2")
	if _, err := node.CertificatesV1().CertificateSigningRequests().Create(ctx, other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if pending, err := srv.Client.CertificatesV1().CertificateSigningRequests().Get(ctx, "node-csr-3", metav1.GetOptions{}); err != nil ||
		len(pending.Status.Conditions) != 0 || len(pending.Status.Certificate) != 0 {
		t.Errorf("node-1's request for node-2's certificate: %v, status %+v; want it left pending", err, pending.Status)
	}
}

// TestClusterInfoIsSignedAndExpiredTokensGo runs the bootstrap signer
// and token cleaner on a real API server.
func TestClusterInfoIsSignedAndExpiredTokensGo(t *testing.T) {
	srv := apitest.Start(t)
	runBootstrapControllers(t, srv)
	ctx := context.Background()
	const kubeconfig = "apiVersion: v1\nkind: Config\n"
	token := func(id, expiration string) *corev1.Secret {
		return &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "bootstrap-token-" + id},
			Type:       bootstrapapi.SecretTypeBootstrapToken,
			StringData: map[string]string{"token-id": id, "token-secret": "0123456789abcdef", "expiration": expiration,
				"usage-bootstrap-signing": "true", "usage-bootstrap-authentication": "true"},
		}
	}
	if _, err := srv.Client.CoreV1().ConfigMaps("kube-public").Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "kube-public", Name: "cluster-info"},
		Data:       map[string]string{"kubeconfig": kubeconfig}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	for _, s := range []*corev1.Secret{
		token("abcdef", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)),
		token("zzzzzz", time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)),
	} {
		if _, err := srv.Client.CoreV1().Secrets("kube-system").Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 20*time.Second, "cluster-info signed by token abcdef only", func() bool {
		cm, err := srv.Client.CoreV1().ConfigMaps("kube-public").Get(ctx, "cluster-info", metav1.GetOptions{})
		return err == nil && jws.DetachedTokenIsValid(cm.Data["jws-kubeconfig-abcdef"], cm.Data["kubeconfig"], "abcdef", "0123456789abcdef") &&
			cm.Data["jws-kubeconfig-zzzzzz"] == ""
	})
	eventually(t, 20*time.Second, "the expired token deleted", func() bool {
		_, err := srv.Client.CoreV1().Secrets("kube-system").Get(ctx, "bootstrap-token-zzzzzz", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	if err := srv.Client.CoreV1().Secrets("kube-system").Delete(ctx, "bootstrap-token-abcdef", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the deleted token's signature removed", func() bool {
		cm, err := srv.Client.CoreV1().ConfigMaps("kube-public").Get(ctx, "cluster-info", metav1.GetOptions{})
		return err == nil && cm.Data["jws-kubeconfig-abcdef"] == "" && cm.Data["kubeconfig"] != ""
	})
}
