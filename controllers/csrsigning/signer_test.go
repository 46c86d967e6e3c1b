package csrsigning

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/skiffk8s/skiff/apiserver/pki"
	"github.com/skiffk8s/skiff/controllers/internal/ctrltest"
)

// testCA writes a cluster CA made a day before the fake clocks' epoch
// and returns its directory.
func testCA(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := pki.LoadOrCreate(pki.Config{Dir: dir, Clock: func() time.Time { return ctrltest.Epoch.Add(-24 * time.Hour) }}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func request(t *testing.T, cn string, orgs, dns []string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn, Organization: orgs}, DNSNames: dns}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

var approvedCond = certificatesv1.CertificateSigningRequestCondition{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "AutoApproved"}

// kubeletClientCSR is an approved kubelet client CSR for node-1.
func kubeletClientCSR(t *testing.T) *certificatesv1.CertificateSigningRequest {
	return &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "node-csr-1"},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:    request(t, "system:node:node-1", []string{"system:nodes"}, nil),
			SignerName: certificatesv1.KubeAPIServerClientKubeletSignerName,
			Usages:     []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment, certificatesv1.UsageClientAuth},
			Username:   "system:bootstrap:abcdef",
			Groups:     []string{"system:bootstrappers"},
		},
		Status: certificatesv1.CertificateSigningRequestStatus{Conditions: []certificatesv1.CertificateSigningRequestCondition{approvedCond}},
	}
}

func newUnit(t *testing.T, dir string, options map[string]string, objs ...runtime.Object) (*Controller, *ctrltest.Unit) {
	t.Helper()
	u := ctrltest.NewUnit(t, objs...)
	u.Options = map[string]string{OptionCertFile: filepath.Join(dir, "ca.crt"), OptionKeyFile: filepath.Join(dir, "ca.key")}
	for k, v := range options {
		u.Options[k] = v
	}
	c, err := New(context.Background(), u.Context)
	if err != nil {
		t.Fatal(err)
	}
	u.Add(t, objs...)
	return c.(*Controller), u
}

// signed syncs csr and returns it as the controller left it.
func signed(t *testing.T, c *Controller, u *ctrltest.Unit, name string) *certificatesv1.CertificateSigningRequest {
	t.Helper()
	if err := c.sync(context.Background(), name); err != nil {
		t.Fatalf("sync: %v", err)
	}
	got, err := u.Fake.CertificatesV1().CertificateSigningRequests().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func parseCert(t *testing.T, b []byte) *x509.Certificate {
	t.Helper()
	block, rest := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" || len(strings.TrimSpace(string(rest))) != 0 {
		t.Fatalf("status.certificate is not one PEM certificate: %q", b)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestKubeletClientCertificateChainsToTheCA(t *testing.T) {
	dir := testCA(t)
	c, u := newUnit(t, dir, nil, kubeletClientCSR(t))
	got := signed(t, c, u, "node-csr-1")
	if w := u.Writes(); !slices.Equal(w, []string{"update certificatesigningrequests/status node-csr-1"}) {
		t.Errorf("writes %v, want one status update", w)
	}
	cert := parseCert(t, got.Status.Certificate)
	ca, err := pki.LoadCA(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.CA)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: ctrltest.Epoch, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("the certificate does not chain to the cluster CA for client auth: %v", err)
	}
	if cert.Subject.CommonName != "system:node:node-1" || !slices.Equal(cert.Subject.Organization, []string{"system:nodes"}) {
		t.Errorf("subject %v, want CN system:node:node-1 O system:nodes", cert.Subject)
	}
	if cert.IsCA || cert.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment ||
		!slices.Equal(cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) {
		t.Errorf("isCA %v key usage %v ext %v, want a leaf for digital signature, key encipherment and client auth", cert.IsCA, cert.KeyUsage, cert.ExtKeyUsage)
	}
	if want := ctrltest.Epoch.Add(-5 * time.Minute); !cert.NotBefore.Equal(want.Truncate(time.Second)) {
		t.Errorf("NotBefore %v, want %v (backdated 5 minutes)", cert.NotBefore, want)
	}
	if want := ctrltest.Epoch.Add(-5*time.Minute + 8760*time.Hour); !cert.NotAfter.Equal(want) {
		t.Errorf("NotAfter %v, want %v (the default one-year --cluster-signing-duration)", cert.NotAfter, want)
	}
	if len(got.Status.Conditions) != 1 {
		t.Errorf("conditions %v, want only the approval", got.Status.Conditions)
	}
}

func TestLifetimeHonoursExpirationSecondsAndTheDuration(t *testing.T) {
	dir := testCA(t)
	tests := []struct {
		name     string
		duration string
		seconds  *int32
		want     time.Time
	}{
		{"an hour asked for is an hour from now", "", ptr.To[int32](3600), ctrltest.Epoch.Add(time.Hour)},
		{"less than 10 minutes asked for is 10 minutes", "", ptr.To[int32](60), ctrltest.Epoch.Add(10 * time.Minute)},
		{"more than the duration asked for is the duration", "24h", ptr.To[int32](10 * 86400), ctrltest.Epoch.Add(-5*time.Minute + 24*time.Hour)},
		{"a short duration counts from now", "2h", nil, ctrltest.Epoch.Add(2 * time.Hour)},
		{"no certificate outlives the CA", "876000h", nil, ctrltest.Epoch.Add(-24*time.Hour).AddDate(10, 0, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			csr := kubeletClientCSR(t)
			csr.Spec.ExpirationSeconds = tt.seconds
			opts := map[string]string{}
			if tt.duration != "" {
				opts[OptionDuration] = tt.duration
			}
			c, u := newUnit(t, dir, opts, csr)
			cert := parseCert(t, signed(t, c, u, csr.Name).Status.Certificate)
			ca, _ := pki.LoadCA(dir, nil)
			want := tt.want
			if want.After(ca.CA.NotAfter) {
				want = ca.CA.NotAfter
			}
			if d := cert.NotAfter.Sub(want); d > time.Second || d < -time.Second {
				t.Errorf("NotAfter %v, want %v", cert.NotAfter, want)
			}
		})
	}
}

func TestServingAndClientSigners(t *testing.T) {
	dir := testCA(t)
	serving := kubeletClientCSR(t)
	serving.Spec.SignerName = certificatesv1.KubeletServingSignerName
	serving.Spec.Request = request(t, "system:node:node-1", []string{"system:nodes"}, []string{"node-1.example"})
	serving.Spec.Usages = []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth}
	c, u := newUnit(t, dir, nil, serving)
	cert := parseCert(t, signed(t, c, u, serving.Name).Status.Certificate)
	if !slices.Equal(cert.DNSNames, []string{"node-1.example"}) || !slices.Equal(cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		t.Errorf("serving certificate SANs %v ext usages %v, want node-1.example and server auth", cert.DNSNames, cert.ExtKeyUsage)
	}

	client := kubeletClientCSR(t)
	client.Spec.SignerName = certificatesv1.KubeAPIServerClientSignerName
	client.Spec.Request = request(t, "alice", []string{"devs", "ops"}, nil)
	client.Spec.Usages = []certificatesv1.KeyUsage{certificatesv1.UsageClientAuth}
	c, u = newUnit(t, dir, nil, client)
	cert = parseCert(t, signed(t, c, u, client.Name).Status.Certificate)
	if cert.Subject.CommonName != "alice" || !slices.Equal(slices.Sorted(slices.Values(cert.Subject.Organization)), []string{"devs", "ops"}) {
		t.Errorf("client certificate subject %v, want CN alice O devs, ops", cert.Subject)
	}
}

func TestRefusedRequestsGetAFailedCondition(t *testing.T) {
	dir := testCA(t)
	tests := []struct {
		name   string
		change func(*certificatesv1.CertificateSigningRequestSpec)
		msg    string
	}{
		{"a garbage request", func(s *certificatesv1.CertificateSigningRequestSpec) { s.Request = []byte("garbage") }, "unable to parse csr"},
		{"a kubelet client request for another organization", func(s *certificatesv1.CertificateSigningRequestSpec) {
			s.Request = request(t, "system:node:node-1", []string{"system:masters"}, nil)
		}, "subject organization is not system:nodes"},
		{"a kube-apiserver-client request for server auth", func(s *certificatesv1.CertificateSigningRequestSpec) {
			s.SignerName = certificatesv1.KubeAPIServerClientSignerName
			s.Usages = []certificatesv1.KeyUsage{certificatesv1.UsageClientAuth, certificatesv1.UsageServerAuth}
		}, "invalid usage for client certificate: server auth"},
		{"a kubelet serving request without SANs", func(s *certificatesv1.CertificateSigningRequestSpec) {
			s.SignerName = certificatesv1.KubeletServingSignerName
			s.Usages = []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth}
		}, "DNS or IP subjectAltName is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			csr := kubeletClientCSR(t)
			tt.change(&csr.Spec)
			c, u := newUnit(t, dir, nil, csr)
			got := signed(t, c, u, csr.Name)
			if len(got.Status.Certificate) != 0 {
				t.Fatal("a refused request was signed")
			}
			conds := got.Status.Conditions
			if len(conds) != 2 || conds[1].Type != certificatesv1.CertificateFailed || conds[1].Status != corev1.ConditionTrue ||
				conds[1].Reason != "SignerValidationFailure" || !strings.Contains(conds[1].Message, tt.msg) {
				t.Errorf("conditions %+v, want Failed/True SignerValidationFailure saying %q", conds, tt.msg)
			}
			u.Add(t, got)
			u.Fake.ClearActions()
			if err := c.sync(context.Background(), csr.Name); err != nil || len(u.Writes()) != 0 {
				t.Errorf("a failed CSR was looked at again: %v, writes %v", err, u.Writes())
			}
		})
	}
}

func TestOnlyApprovedUnsignedRequestsOfOurSignersAreSigned(t *testing.T) {
	dir := testCA(t)
	pending := kubeletClientCSR(t)
	pending.Status.Conditions = nil
	denied := kubeletClientCSR(t)
	denied.Status.Conditions = append(denied.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{Type: certificatesv1.CertificateDenied, Status: corev1.ConditionTrue})
	done := kubeletClientCSR(t)
	done.Status.Certificate = []byte("already")
	foreign := kubeletClientCSR(t)
	foreign.Spec.SignerName = "example.com/mine"
	for name, csr := range map[string]*certificatesv1.CertificateSigningRequest{"pending": pending, "denied": denied, "signed": done, "foreign-signer": foreign} {
		c, u := newUnit(t, dir, nil, csr)
		if err := c.sync(context.Background(), csr.Name); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if w := u.Writes(); len(w) != 0 {
			t.Errorf("a %s CSR was written: %v", name, w)
		}
		c.enqueue(csr)
		if c.queue.Len() != 0 {
			t.Errorf("a %s CSR was enqueued", name)
		}
	}
}

func TestNewNamesTheBadOption(t *testing.T) {
	dir := testCA(t)
	bad := filepath.Join(t.TempDir(), "bad.crt")
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		opts map[string]string
		want string
	}{
		{map[string]string{OptionDuration: "a year"}, "--cluster-signing-duration"},
		{map[string]string{OptionDuration: "-1h"}, "--cluster-signing-duration"},
		{map[string]string{OptionCertFile: filepath.Join(dir, "none.crt")}, "--cluster-signing-cert-file"},
		{map[string]string{OptionCertFile: bad}, "--cluster-signing-cert-file"},
		{map[string]string{OptionKeyFile: filepath.Join(dir, "admin.key")}, "does not match"},
	} {
		u := ctrltest.NewUnit(t)
		u.Options = map[string]string{OptionCertFile: filepath.Join(dir, "ca.crt"), OptionKeyFile: filepath.Join(dir, "ca.key")}
		for k, v := range tc.opts {
			u.Options[k] = v
		}
		if _, err := New(context.Background(), u.Context); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New with %v: error %v, want one containing %q", tc.opts, err, tc.want)
		}
	}
}

// TestWithoutTheDefaultCAFilesNothingIsSigned: without options the
// controller starts whether or not this host has the default CA files
// (a host that ran `skiff up` has them; then it loads them).
func TestWithoutTheDefaultCAFilesNothingIsSigned(t *testing.T) {
	u := ctrltest.NewUnit(t)
	c, err := New(context.Background(), u.Context)
	if err != nil {
		t.Fatalf("New with the default CA files (present: %v): %v, want a controller", !missing(DefaultCertFile), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx, 1) }()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}
