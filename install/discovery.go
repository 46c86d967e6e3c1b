package install

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	"k8s.io/cluster-bootstrap/token/jws"
)

// CAHash is kubeadm's CA pin (--discovery-token-ca-cert-hash): "sha256:"
// and the hex SHA-256 of the CA certificate's SubjectPublicKeyInfo.
func CAHash(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ParseCAHash checks a pin's form: "sha256:" and 64 hex digits.
func ParseCAHash(s string) (string, error) {
	h, ok := strings.CutPrefix(strings.ToLower(s), "sha256:")
	if b, err := hex.DecodeString(h); !ok || err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("CA certificate hash %q is not of the form sha256:<64 hex digits>", s)
	}
	return "sha256:" + h, nil
}

// PublishClusterInfo creates or updates the ConfigMap kube-public/
// cluster-info: a kubeconfig (key "kubeconfig") naming server and the CA,
// which joining nodes read anonymously. The controller manager's
// bootstrapsigner signs it with each bootstrap token.
func PublishClusterInfo(ctx context.Context, cs kubernetes.Interface, server string, caPEM []byte) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters[""] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	data, err := clientcmd.Write(*kc)
	if err != nil {
		return fmt.Errorf("cluster-info kubeconfig: %w", err)
	}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: metav1.NamespacePublic}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("namespace kube-public: %w", err)
	}
	cms := cs.CoreV1().ConfigMaps(metav1.NamespacePublic)
	cm, err := cms.Get(ctx, bootstrapapi.ConfigMapClusterInfo, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: bootstrapapi.ConfigMapClusterInfo, Namespace: metav1.NamespacePublic},
			Data: map[string]string{bootstrapapi.KubeConfigKey: string(data)}}
		_, err = cms.Create(ctx, cm, metav1.CreateOptions{})
	case err == nil:
		if cm.Data == nil {
			cm.Data = map[string]string{}
		}
		if cm.Data[bootstrapapi.KubeConfigKey] == string(data) {
			return nil
		}
		cm.Data[bootstrapapi.KubeConfigKey] = string(data)
		_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("cluster-info: %w", err)
	}
	return nil
}

// ErrNoSignature is Discover's error when cluster-info holds no signature
// for the token: an unknown token, or one the controller manager has not
// signed for yet. Retrying may help; other errors it returns are final,
// except for failing to reach the server (ErrUnreachable).
var ErrNoSignature = errors.New("there is no JWS signed token in the cluster-info ConfigMap")

// ErrUnreachable is Discover's error when the API server does not answer.
var ErrUnreachable = errors.New("cannot reach the API server")

// Discovered is what a joining node learned about the cluster.
type Discovered struct {
	// Server is the API server URL the node was given.
	Server string
	// CAPEM is the cluster CA, verified against a pin.
	CAPEM []byte
}

// Discover finds the cluster CA the way kubeadm's token discovery does. It
// reads kube-public/cluster-info from server without trusting the server
// yet, checks the ConfigMap's JWS signature for the token (which proves
// the server knows the token), checks that the CA in it matches one of
// the pins, then reads the ConfigMap again over TLS verified by that CA
// and checks that it is the same. Errors say what to fix.
func Discover(ctx context.Context, server string, token Token, pins []string) (*Discovered, error) {
	u, err := url.Parse(server)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("server %q is not an https:// URL", server)
	}
	if len(pins) == 0 {
		return nil, errors.New("no CA certificate hash: give the sha256:... that `skiff token create` printed (or `skiff token ca-hash` on a master)")
	}
	insecure := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	cm, err := fetchClusterInfo(ctx, insecure, u)
	if err != nil {
		return nil, err
	}
	kubeconfig := cm.Data[bootstrapapi.KubeConfigKey]
	sig, ok := cm.Data[bootstrapapi.JWSSignatureKeyPrefix+token.ID]
	if !ok {
		return nil, fmt.Errorf("%w: token ID %q is invalid for this cluster, or its signature is not written yet (the controller manager signs it)", ErrNoSignature, token.ID)
	}
	if !jws.DetachedTokenIsValid(sig, kubeconfig, token.ID, token.Secret) {
		return nil, fmt.Errorf("failed to verify the JWS signature of the cluster-info ConfigMap for token ID %q: the token's secret is wrong", token.ID)
	}
	kc, err := clientcmd.Load([]byte(kubeconfig))
	if err != nil {
		return nil, fmt.Errorf("cluster-info kubeconfig: %w", err)
	}
	var caPEM []byte
	for _, c := range kc.Clusters {
		caPEM = c.CertificateAuthorityData
	}
	if len(kc.Clusters) != 1 || len(caPEM) == 0 {
		return nil, errors.New("cluster-info kubeconfig: want one cluster with certificate-authority-data")
	}
	ca, err := parseCert(caPEM)
	if err != nil {
		return nil, fmt.Errorf("cluster-info CA: %w", err)
	}
	if got := CAHash(ca); !slices.Contains(pins, got) {
		return nil, fmt.Errorf("cluster CA found in cluster-info ConfigMap is invalid: none of the public keys %q are pinned", got)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	secure := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	again, err := fetchClusterInfo(ctx, secure, u)
	if err != nil {
		return nil, fmt.Errorf("reading cluster-info again with the pinned CA: %w", err)
	}
	if again.Data[bootstrapapi.KubeConfigKey] != kubeconfig {
		return nil, errors.New("cluster-info changed between the insecure and the verified read; try again")
	}
	return &Discovered{Server: server, CAPEM: caPEM}, nil
}

// fetchClusterInfo GETs kube-public/cluster-info anonymously.
func fetchClusterInfo(ctx context.Context, hc *http.Client, server *url.URL) (*corev1.ConfigMap, error) {
	u := server.JoinPath("/api/v1/namespaces", metav1.NamespacePublic, "configmaps", bootstrapapi.ConfigMapClusterInfo)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read cluster-info: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var st metav1.Status
		if json.Unmarshal(body, &st) == nil && st.Message != "" {
			return nil, fmt.Errorf("get cluster-info: %s (%d)", st.Message, resp.StatusCode)
		}
		return nil, fmt.Errorf("get cluster-info: HTTP %d", resp.StatusCode)
	}
	var cm corev1.ConfigMap
	if err := json.Unmarshal(body, &cm); err != nil {
		return nil, fmt.Errorf("cluster-info: %w", err)
	}
	return &cm, nil
}

// parseCert parses the first PEM certificate of data.
func parseCert(data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}

// CAHashPEM is CAHash of the first certificate in a PEM file's data.
func CAHashPEM(data []byte) (string, error) {
	cert, err := parseCert(data)
	if err != nil {
		return "", err
	}
	return CAHash(cert), nil
}
