package apiserver_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/skiffk8s/skiff/apiserver"
	"github.com/skiffk8s/skiff/apiserver/apitest"
)

// TLS bootstrap as `skiff join` does it (kubeadm's flow): an anonymous
// client reads kube-public/cluster-info, then a bootstrap token
// (kube-system/bootstrap-token-<id>) lets it create and watch its
// CertificateSigningRequest, and nothing else.

const (
	bsTokenID     = "abcdef"
	bsTokenSecret = "0123456789abcdef"
	bsToken       = bsTokenID + "." + bsTokenSecret
)

// bsServer is a test server with anonymous authentication on, whose clock
// the test can move forward.
type bsServer struct {
	*apitest.Server
	skew atomic.Int64 // nanoseconds added to time.Now
}

func bsStart(t *testing.T) *bsServer {
	t.Helper()
	s := &bsServer{}
	s.Server = apitest.Start(t, apitest.WithConfig(func(c *apiserver.Config) {
		c.AnonymousAuth = true
		c.Clock = func() time.Time { return time.Now().Add(time.Duration(s.skew.Load())) }
	}))
	return s
}

func bsCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// client is a clientset that trusts the cluster CA and presents token
// (none when empty).
func (s *bsServer) client(t *testing.T, token string) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: s.URL, TLSClientConfig: rest.TLSClientConfig{CAData: s.CAPEM}, BearerToken: token, QPS: -1})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// bsTokenSecretObj is the Secret `kubeadm token create` writes.
func bsTokenSecretObj(id, secret string, edit func(*corev1.Secret)) *corev1.Secret {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "bootstrap-token-" + id, Namespace: "kube-system"},
		Type:       "bootstrap.kubernetes.io/token",
		StringData: map[string]string{
			"token-id":                       id,
			"token-secret":                   secret,
			"expiration":                     time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339),
			"usage-bootstrap-authentication": "true",
			"usage-bootstrap-signing":        "true",
			"auth-extra-groups":              "system:bootstrappers:kubeadm:default-node-token",
		},
	}
	if edit != nil {
		edit(s)
	}
	return s
}

// createToken creates the token Secret as the admin and returns once the
// server's secrets cache, where the authenticator looks, holds it.
func (s *bsServer) createToken(t *testing.T, secret *corev1.Secret) {
	t.Helper()
	created, err := s.Client.CoreV1().Secrets("kube-system").Create(bsCtx(t), secret, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create token secret: %v", err)
	}
	s.cacheSynced(t, created.ResourceVersion)
}

// cacheSynced returns once the server's secrets watch cache has seen
// resourceVersion rv ("": etcd's current revision): a watch from there is
// served only then.
func (s *bsServer) cacheSynced(t *testing.T, rv string) {
	t.Helper()
	w, err := s.Client.CoreV1().Secrets("kube-system").Watch(bsCtx(t), metav1.ListOptions{
		FieldSelector: "metadata.name=no-such-secret", ResourceVersion: rv})
	if err != nil {
		t.Fatalf("watch secrets from %q: %v", rv, err)
	}
	w.Stop()
}

func bsCSR(t *testing.T, name string) *certificatesv1.CertificateSigningRequest {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "system:node:" + name, Organization: []string{"system:nodes"}}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "node-csr-"},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
			SignerName: certificatesv1.KubeAPIServerClientKubeletSignerName,
			Usages:     []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth},
		},
	}
}

// bsForbidden fails unless err is 403 Forbidden with exactly msg.
func bsForbidden(t *testing.T, err error, msg string) {
	t.Helper()
	var st apierrors.APIStatus
	if !errors.As(err, &st) || st.Status().Code != http.StatusForbidden || st.Status().Reason != metav1.StatusReasonForbidden {
		t.Errorf("got %v, want 403 Forbidden %q", err, msg)
		return
	}
	if got := st.Status().Message; got != msg {
		t.Errorf("403 message\n got  %s\n want %s", got, msg)
	}
}

// bsForbiddenRaw is bsForbidden for DoRaw, whose error does not carry the
// Status of the body.
func bsForbiddenRaw(t *testing.T, body []byte, err error, msg string) {
	t.Helper()
	var st metav1.Status
	if !apierrors.IsForbidden(err) || json.Unmarshal(body, &st) != nil {
		t.Errorf("got %v %s, want 403 Forbidden %q", err, body, msg)
		return
	}
	if st.Kind != "Status" || st.Code != http.StatusForbidden || st.Reason != metav1.StatusReasonForbidden || st.Message != msg {
		t.Errorf("403 Status %+v, want message %q", st, msg)
	}
}

// bsUnauthorized fails unless err is 401 Unauthorized.
func bsUnauthorized(t *testing.T, err error, what string) {
	t.Helper()
	if !apierrors.IsUnauthorized(err) {
		t.Errorf("%s: got %v, want 401 Unauthorized", what, err)
	}
}

func (s *bsServer) createClusterInfo(t *testing.T) {
	t.Helper()
	ctx := bsCtx(t)
	for _, cm := range []*corev1.ConfigMap{
		{ObjectMeta: metav1.ObjectMeta{Name: "cluster-info", Namespace: "kube-public"}, Data: map[string]string{"kubeconfig": "apiVersion: v1\nkind: Config\n"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "kube-public"}, Data: map[string]string{"k": "v"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "default"}, Data: map[string]string{"k": "v"}},
	} {
		if _, err := s.Client.CoreV1().ConfigMaps(cm.Namespace).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create configmap %s/%s: %v", cm.Namespace, cm.Name, err)
		}
	}
}

func TestBootstrapTokenMayOnlyAskForACertificate(t *testing.T) {
	srv := bsStart(t)
	ctx := bsCtx(t)
	srv.createClusterInfo(t)
	srv.createToken(t, bsTokenSecretObj(bsTokenID, bsTokenSecret, nil))
	node := srv.client(t, bsToken)
	const user = `User "system:bootstrap:abcdef"`

	// The flow of a joining node: cluster-info, discovery, CSR, watch it.
	cm, err := node.CoreV1().ConfigMaps("kube-public").Get(ctx, "cluster-info", metav1.GetOptions{})
	if err != nil || cm.Data["kubeconfig"] == "" {
		t.Fatalf("get cluster-info with the token: %v %v", cm, err)
	}
	if _, err := node.Discovery().ServerGroups(); err != nil {
		t.Errorf("discovery with the token: %v", err)
	}
	if v, err := node.Discovery().ServerVersion(); err != nil || v.GitVersion == "" {
		t.Errorf("version with the token: %v %v", v, err)
	}
	csrs := node.CertificatesV1().CertificateSigningRequests()
	csr, err := csrs.Create(ctx, bsCSR(t, "worker-1"), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create CSR with the token: %v", err)
	}
	wantGroups := []string{"system:bootstrappers", "system:bootstrappers:kubeadm:default-node-token", "system:authenticated"}
	if csr.Spec.Username != "system:bootstrap:abcdef" || !slices.Equal(csr.Spec.Groups, wantGroups) {
		t.Errorf("CSR requester %q groups %v, want system:bootstrap:abcdef with %v", csr.Spec.Username, csr.Spec.Groups, wantGroups)
	}
	got, err := csrs.Get(ctx, csr.Name, metav1.GetOptions{})
	if err != nil || got.Spec.Username != "system:bootstrap:abcdef" {
		t.Errorf("get own CSR: %v %v", got, err)
	}
	l, err := csrs.List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + csr.Name})
	if err != nil || len(l.Items) != 1 {
		t.Errorf("list CSRs by name: %v %v", l, err)
	}
	w, err := csrs.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + csr.Name})
	if err != nil {
		t.Fatalf("watch own CSR: %v", err)
	}
	select {
	case ev := <-w.ResultChan():
		if c, ok := ev.Object.(*certificatesv1.CertificateSigningRequest); ev.Type != watch.Added || !ok || c.Name != csr.Name {
			t.Errorf("watch event %s %T, want ADDED %s", ev.Type, ev.Object, csr.Name)
		}
	case <-time.After(10 * time.Second):
		t.Error("no event on the CSR watch")
	}
	w.Stop()

	// Nothing else.
	_, err = node.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	bsForbidden(t, err, `pods is forbidden: `+user+` cannot list resource "pods" in API group "" in the namespace "default"`)
	_, err = node.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}}, metav1.CreateOptions{})
	bsForbidden(t, err, `secrets is forbidden: `+user+` cannot create resource "secrets" in API group "" in the namespace "default"`)
	_, err = node.CoreV1().ConfigMaps("kube-public").Get(ctx, "other", metav1.GetOptions{})
	bsForbidden(t, err, `configmaps "other" is forbidden: `+user+` cannot get resource "configmaps" in API group "" in the namespace "kube-public"`)
	_, err = node.CoreV1().Nodes().Get(ctx, "worker-1", metav1.GetOptions{})
	bsForbidden(t, err, `nodes "worker-1" is forbidden: `+user+` cannot get resource "nodes" in API group "" at the cluster scope`)
	_, err = node.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{})
	bsForbidden(t, err, `namespaces "default" is forbidden: `+user+` cannot get resource "namespaces" in API group "" in the namespace "default"`)
	err = csrs.Delete(ctx, csr.Name, metav1.DeleteOptions{})
	bsForbidden(t, err, `certificatesigningrequests.certificates.k8s.io "`+csr.Name+`" is forbidden: `+user+` cannot delete resource "certificatesigningrequests" in API group "certificates.k8s.io" at the cluster scope`)
	approved := got.DeepCopy()
	approved.Status.Conditions = append(approved.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "SelfApproved"})
	_, err = csrs.UpdateApproval(ctx, csr.Name, approved, metav1.UpdateOptions{})
	bsForbidden(t, err, `certificatesigningrequests.certificates.k8s.io "`+csr.Name+`" is forbidden: `+user+` cannot update resource "certificatesigningrequests/approval" in API group "certificates.k8s.io" at the cluster scope`)
	body, err := node.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	bsForbiddenRaw(t, body, err, `forbidden: `+user+` cannot get path "/metrics"`)

	// The admin is unaffected and sees who asked.
	if _, err := srv.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("admin list pods: %v", err)
	}
	if c, err := srv.Client.CertificatesV1().CertificateSigningRequests().Get(ctx, csr.Name, metav1.GetOptions{}); err != nil || c.Spec.Username != "system:bootstrap:abcdef" {
		t.Errorf("admin get CSR: %v %v", c, err)
	}
	if err := srv.Client.CertificatesV1().CertificateSigningRequests().Delete(ctx, csr.Name, metav1.DeleteOptions{}); err != nil {
		t.Errorf("admin delete CSR: %v", err)
	}
}

func TestBootstrapTokenThatDoesNotMatchIsUnauthorized(t *testing.T) {
	srv := bsStart(t)
	ctx := bsCtx(t)
	srv.createClusterInfo(t)
	srv.createToken(t, bsTokenSecretObj(bsTokenID, bsTokenSecret, nil))
	srv.createToken(t, bsTokenSecretObj("expird", bsTokenSecret, func(s *corev1.Secret) {
		s.StringData["expiration"] = time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	}))
	srv.createToken(t, bsTokenSecretObj("nousge", bsTokenSecret, func(s *corev1.Secret) {
		delete(s.StringData, "usage-bootstrap-authentication")
	}))
	srv.createToken(t, bsTokenSecretObj("opaque", bsTokenSecret, func(s *corev1.Secret) { s.Type = corev1.SecretTypeOpaque }))
	for _, tc := range []struct{ name, token string }{
		{"a wrong secret", bsTokenID + ".ffffffffffffffff"},
		{"an unknown id", "zzzzzz." + bsTokenSecret},
		{"an expired token", "expird." + bsTokenSecret},
		{"a token without usage-bootstrap-authentication", "nousge." + bsTokenSecret},
		{"a token whose secret has another type", "opaque." + bsTokenSecret},
		{"a malformed token", "abcdef.0123"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Even where the anonymous user may go, wrong credentials are 401.
			_, err := srv.client(t, tc.token).CoreV1().ConfigMaps("kube-public").Get(ctx, "cluster-info", metav1.GetOptions{})
			bsUnauthorized(t, err, "get cluster-info")
			_, err = srv.client(t, tc.token).CertificatesV1().CertificateSigningRequests().Create(ctx, bsCSR(t, "w"), metav1.CreateOptions{})
			bsUnauthorized(t, err, "create CSR")
		})
	}
	// The good token next to them works.
	if _, err := srv.client(t, bsToken).CoreV1().ConfigMaps("kube-public").Get(ctx, "cluster-info", metav1.GetOptions{}); err != nil {
		t.Errorf("the valid token: %v", err)
	}
}

func TestBootstrapTokenStopsWorkingWhenDeletedOrExpired(t *testing.T) {
	srv := bsStart(t)
	ctx := bsCtx(t)
	srv.createClusterInfo(t)
	get := func(token string) error {
		_, err := srv.client(t, token).CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{})
		return err
	}

	// Deleted: refused from the first request after the server has seen
	// the deletion (nothing remembers the token past its Secret).
	srv.createToken(t, bsTokenSecretObj(bsTokenID, bsTokenSecret, nil))
	if err := get(bsToken); err != nil {
		t.Fatalf("before deletion: %v", err)
	}
	if err := srv.Client.CoreV1().Secrets("kube-system").Delete(ctx, "bootstrap-token-"+bsTokenID, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	srv.cacheSynced(t, "")
	bsUnauthorized(t, get(bsToken), "after the secret is deleted")

	// Expired: refused as soon as the server's clock passes expiration.
	srv.createToken(t, bsTokenSecretObj("expire", bsTokenSecret, func(s *corev1.Secret) {
		s.StringData["expiration"] = time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	}))
	if err := get("expire." + bsTokenSecret); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	srv.skew.Store(int64(time.Hour + time.Second))
	bsUnauthorized(t, get("expire."+bsTokenSecret), "past expiration")
	srv.skew.Store(0)

	// Made unusable for authentication by an update: refused too.
	srv.createToken(t, bsTokenSecretObj("update", bsTokenSecret, nil))
	if err := get("update." + bsTokenSecret); err != nil {
		t.Fatalf("before update: %v", err)
	}
	sec, err := srv.Client.CoreV1().Secrets("kube-system").Get(ctx, "bootstrap-token-update", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sec.Data["usage-bootstrap-authentication"] = []byte("false")
	sec, err = srv.Client.CoreV1().Secrets("kube-system").Update(ctx, sec, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	srv.cacheSynced(t, sec.ResourceVersion)
	bsUnauthorized(t, get("update."+bsTokenSecret), "after usage-bootstrap-authentication is false")
}

func TestAnonymousMayOnlyReadClusterInfo(t *testing.T) {
	srv := bsStart(t)
	ctx := bsCtx(t)
	srv.createClusterInfo(t)
	anon := srv.client(t, "")
	const user = `User "system:anonymous"`

	cm, err := anon.CoreV1().ConfigMaps("kube-public").Get(ctx, "cluster-info", metav1.GetOptions{})
	if err != nil || cm.Data["kubeconfig"] == "" {
		t.Fatalf("anonymous get cluster-info: %v %v", cm, err)
	}
	if v, err := anon.Discovery().ServerVersion(); err != nil || v.GitVersion == "" {
		t.Errorf("anonymous /version: %v %v", v, err)
	}
	if body, err := anon.Discovery().RESTClient().Get().AbsPath("/healthz").DoRaw(ctx); err != nil || string(body) != "ok" {
		t.Errorf("anonymous /healthz: %q %v", body, err)
	}

	_, err = anon.CoreV1().ConfigMaps("default").Get(ctx, "x", metav1.GetOptions{})
	bsForbidden(t, err, `configmaps "x" is forbidden: `+user+` cannot get resource "configmaps" in API group "" in the namespace "default"`)
	_, err = anon.CoreV1().ConfigMaps("kube-public").Get(ctx, "other", metav1.GetOptions{})
	bsForbidden(t, err, `configmaps "other" is forbidden: `+user+` cannot get resource "configmaps" in API group "" in the namespace "kube-public"`)
	_, err = anon.CoreV1().ConfigMaps("kube-public").List(ctx, metav1.ListOptions{})
	bsForbidden(t, err, `configmaps is forbidden: `+user+` cannot list resource "configmaps" in API group "" in the namespace "kube-public"`)
	_, err = anon.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	bsForbidden(t, err, `pods is forbidden: `+user+` cannot list resource "pods" in API group "" in the namespace "default"`)
	_, err = anon.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	bsForbidden(t, err, `nodes is forbidden: `+user+` cannot list resource "nodes" in API group "" at the cluster scope`)
	_, err = anon.CertificatesV1().CertificateSigningRequests().Create(ctx, bsCSR(t, "w"), metav1.CreateOptions{})
	bsForbidden(t, err, `certificatesigningrequests.certificates.k8s.io is forbidden: `+user+` cannot create resource "certificatesigningrequests" in API group "certificates.k8s.io" at the cluster scope`)
	body, err := anon.Discovery().RESTClient().Get().AbsPath("/api").DoRaw(ctx)
	bsForbiddenRaw(t, body, err, `forbidden: `+user+` cannot get path "/api"`)
	body, err = anon.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	bsForbiddenRaw(t, body, err, `forbidden: `+user+` cannot get path "/metrics"`)

	// Credentials that are wrong are 401, even for what anonymous may read.
	_, err = srv.client(t, "not-a-token").CoreV1().ConfigMaps("kube-public").Get(ctx, "cluster-info", metav1.GetOptions{})
	bsUnauthorized(t, err, "a wrong bearer token on cluster-info")
	_, err = srv.client(t, "not-a-token").Discovery().RESTClient().Get().AbsPath("/healthz").DoRaw(ctx)
	bsUnauthorized(t, err, "a wrong bearer token on /healthz")

	// The admin is unaffected.
	if _, err := srv.Client.CoreV1().ConfigMaps("default").Get(ctx, "x", metav1.GetOptions{}); err != nil {
		t.Errorf("admin get configmap: %v", err)
	}
	if _, err := srv.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("admin list pods: %v", err)
	}
}
