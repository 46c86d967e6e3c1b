package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var serviceIP = net.ParseIP("10.96.0.1")

// testConfig is a Config in a temp dir with a fixed host (name and
// addresses) and clock, so that tests do not depend on the machine.
func testConfig(t *testing.T) Config {
	t.Helper()
	return Config{
		Dir:       filepath.Join(t.TempDir(), "pki"),
		ServiceIP: serviceIP,
		Clock:     fixedClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)),
		hostname:  func() (string, error) { return "node-a", nil },
		hostAddrs: func() ([]net.Addr, error) {
			return []net.Addr{
				&net.IPNet{IP: net.ParseIP("127.0.0.1"), Mask: net.CIDRMask(8, 32)},
				&net.IPNet{IP: net.ParseIP("192.168.56.10"), Mask: net.CIDRMask(24, 32)},
				&net.IPNet{IP: net.ParseIP("fe80::1"), Mask: net.CIDRMask(64, 128)},
				&net.IPNet{IP: net.ParseIP("fd00::10"), Mask: net.CIDRMask(64, 128)},
			}, nil
		},
	}
}

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

func mustLoadOrCreate(t *testing.T, cfg Config) *Bundle {
	t.Helper()
	b, err := LoadOrCreate(cfg)
	if err != nil {
		t.Fatalf("LoadOrCreate: %v", err)
	}
	return b
}

func TestCreateThenLoadGivesTheSameIdentity(t *testing.T) {
	cfg := testConfig(t)
	first := mustLoadOrCreate(t, cfg)
	second := mustLoadOrCreate(t, cfg)

	if !first.CA.Equal(second.CA) || !bytes.Equal(first.CAPEM, second.CAPEM) {
		t.Error("the CA loaded differs from the CA created")
	}
	if !first.CAKey.Public().(*ecdsa.PublicKey).Equal(second.CAKey.Public()) {
		t.Error("the CA key loaded differs from the one created")
	}
	if !first.ServingCert.Leaf.Equal(second.ServingCert.Leaf) {
		t.Error("the serving certificate was reissued though nothing changed")
	}
	if !first.ServingCertIssued || second.ServingCertIssued {
		t.Errorf("ServingCertIssued = %v then %v, want true then false", first.ServingCertIssued, second.ServingCertIssued)
	}
	if !bytes.Equal(first.AdminCertPEM, second.AdminCertPEM) || !bytes.Equal(first.AdminKeyPEM, second.AdminKeyPEM) {
		t.Error("the admin credentials changed on the second call")
	}
	if !first.ServiceAccountKey.Public().(*ecdsa.PublicKey).Equal(second.ServiceAccountKey.Public()) {
		t.Error("the service-account key changed on the second call")
	}
}

func TestFilesAreKubeadmsWithPrivateKeys(t *testing.T) {
	cfg := testConfig(t)
	mustLoadOrCreate(t, cfg)

	info, err := os.Stat(cfg.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o700 {
		t.Errorf("%s has mode %o, want 0700", cfg.Dir, perm)
	}
	want := map[string]os.FileMode{
		CACertFile: 0o644, CAKeyFile: 0o600,
		ServingCertFile: 0o644, ServingKeyFile: 0o600,
		AdminCertFile: 0o644, AdminKeyFile: 0o600,
		KubeletClientCertFile: 0o644, KubeletClientKeyFile: 0o600,
		SAKeyFile: 0o600, SAPublicKeyFile: 0o644,
	}
	entries, err := os.ReadDir(cfg.Dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if perm, ok := want[e.Name()]; !ok {
			t.Errorf("unexpected file %s", e.Name())
		} else if info.Mode().Perm() != perm {
			t.Errorf("%s has mode %o, want %o", e.Name(), info.Mode().Perm(), perm)
		}
	}
	if len(names) != len(want) {
		t.Errorf("files = %v, want %d files", names, len(want))
	}
}

func TestCAIsAP256TenYearCA(t *testing.T) {
	cfg := testConfig(t)
	b := mustLoadOrCreate(t, cfg)
	now := cfg.Clock()

	if b.CA.Subject.CommonName != "skiff-ca" || !b.CA.IsCA {
		t.Errorf("CA subject %q IsCA %v, want skiff-ca, true", b.CA.Subject.CommonName, b.CA.IsCA)
	}
	pub, ok := b.CA.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("CA key is %T, want ECDSA P-256", b.CA.PublicKey)
	}
	if got := b.CA.NotAfter.Sub(now); got != CAValidity {
		t.Errorf("CA valid for %s from now, want %s", got, CAValidity)
	}
	if got := b.ServingCert.Leaf.NotAfter.Sub(now); got != ServingValidity {
		t.Errorf("serving certificate valid for %s from now, want %s", got, ServingValidity)
	}
	if b.CA.NotBefore.After(now) {
		t.Errorf("CA not valid before %s, after now %s", b.CA.NotBefore, now)
	}
}

func TestServingCertVerifiesForTheClusterNames(t *testing.T) {
	cfg := testConfig(t)
	cfg.ExtraSANs = []string{"skiff.example", "10.0.0.5"}
	b := mustLoadOrCreate(t, cfg)

	pool := x509.NewCertPool()
	pool.AddCert(b.CA)
	for _, name := range []string{
		"kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "kubernetes",
		"localhost", "node-a", "10.96.0.1", "127.0.0.1", "::1",
		"192.168.56.10", "fd00::10", "skiff.example", "10.0.0.5",
	} {
		_, err := b.ServingCert.Leaf.Verify(x509.VerifyOptions{
			DNSName:     name,
			Roots:       pool,
			CurrentTime: cfg.Clock(),
			KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		})
		if err != nil {
			t.Errorf("serving certificate does not verify for %s: %v", name, err)
		}
	}
	for _, name := range []string{"fe80::1", "example.com"} {
		if err := b.ServingCert.Leaf.VerifyHostname(name); err == nil {
			t.Errorf("serving certificate is valid for %s, want not", name)
		}
	}
}

func TestChangedSANsReissueOnlyTheServingCert(t *testing.T) {
	cfg := testConfig(t)
	first := mustLoadOrCreate(t, cfg)

	cfg.ExtraSANs = []string{"192.168.56.99"}
	second := mustLoadOrCreate(t, cfg)

	if !second.ServingCertIssued || second.ServingCert.Leaf.Equal(first.ServingCert.Leaf) {
		t.Fatal("serving certificate not reissued for a new SAN")
	}
	if second.ServingCert.Leaf.VerifyHostname("192.168.56.99") != nil {
		t.Error("reissued serving certificate lacks the new SAN")
	}
	if !second.CA.Equal(first.CA) {
		t.Error("the CA changed along with the serving certificate")
	}
	if !bytes.Equal(first.AdminCertPEM, second.AdminCertPEM) {
		t.Error("the admin certificate changed along with the serving certificate")
	}
	// The serving key is kept: only the certificate is new.
	if !first.ServingCert.Leaf.PublicKey.(*ecdsa.PublicKey).Equal(second.ServingCert.Leaf.PublicKey) {
		t.Error("the serving key changed")
	}
	// And a third start with the same SANs keeps it.
	if third := mustLoadOrCreate(t, cfg); third.ServingCertIssued {
		t.Error("serving certificate reissued again with unchanged SANs")
	}
}

func TestExpiringServingCertIsRenewed(t *testing.T) {
	cfg := testConfig(t)
	first := mustLoadOrCreate(t, cfg)

	cfg.Clock = fixedClock(first.ServingCert.Leaf.NotAfter.Add(-ServingRenewBefore / 2))
	second := mustLoadOrCreate(t, cfg)
	if !second.ServingCertIssued || !second.ServingCert.Leaf.NotAfter.After(first.ServingCert.Leaf.NotAfter) {
		t.Errorf("serving certificate expiring %s not renewed", first.ServingCert.Leaf.NotAfter)
	}
	if !second.CA.Equal(first.CA) {
		t.Error("the CA changed")
	}
}

func TestCorruptedFilesAreErrorsNamingTheFile(t *testing.T) {
	for _, name := range []string{CACertFile, CAKeyFile, ServingCertFile, ServingKeyFile, AdminCertFile, AdminKeyFile, SAKeyFile, SAPublicKeyFile} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(t)
			mustLoadOrCreate(t, cfg)
			path := filepath.Join(cfg.Dir, name)
			garbage := []byte("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n")
			if strings.HasSuffix(name, ".key") || strings.HasSuffix(name, ".pub") {
				garbage = []byte("not a key\n")
			}
			if err := os.WriteFile(path, garbage, 0o600); err != nil {
				t.Fatal(err)
			}

			_, err := LoadOrCreate(cfg)
			if err == nil {
				t.Fatalf("LoadOrCreate with a corrupted %s succeeded", name)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name %s", err, path)
			}
			if data, _ := os.ReadFile(path); !bytes.Equal(data, garbage) {
				t.Errorf("%s was overwritten", name)
			}
		})
	}
}

func TestMissingPiecesAreCreatedAndOthersKept(t *testing.T) {
	cfg := testConfig(t)
	first := mustLoadOrCreate(t, cfg)
	for _, name := range []string{AdminCertFile, AdminKeyFile, SAPublicKeyFile} {
		if err := os.Remove(filepath.Join(cfg.Dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	second := mustLoadOrCreate(t, cfg)

	if !second.CA.Equal(first.CA) || !second.ServingCert.Leaf.Equal(first.ServingCert.Leaf) {
		t.Error("the CA or serving certificate changed")
	}
	if bytes.Equal(first.AdminCertPEM, second.AdminCertPEM) {
		t.Error("the removed admin certificate was not recreated")
	}
	if !bytes.Equal(first.ServiceAccountPublicKeyPEM, second.ServiceAccountPublicKeyPEM) {
		t.Error("sa.pub was not recreated from sa.key")
	}
	for _, name := range []string{AdminCertFile, AdminKeyFile, SAPublicKeyFile} {
		if _, err := os.Stat(filepath.Join(cfg.Dir, name)); err != nil {
			t.Errorf("%s not written back: %v", name, err)
		}
	}
}

func TestCAKeyWithoutCertIsSelfSigned(t *testing.T) {
	cfg := testConfig(t)
	first := mustLoadOrCreate(t, cfg)
	if err := os.Remove(filepath.Join(cfg.Dir, CACertFile)); err != nil {
		t.Fatal(err)
	}
	second := mustLoadOrCreate(t, cfg)
	if !second.CAKey.Public().(*ecdsa.PublicKey).Equal(first.CAKey.Public()) {
		t.Error("the CA key was replaced")
	}
	// Certificates signed before still verify against the new CA cert.
	if err := first.ServingCert.Leaf.CheckSignatureFrom(second.CA); err != nil {
		t.Errorf("old serving certificate does not verify against the recreated CA: %v", err)
	}
}

func TestMissingSecretsNextToTheirPublicPartsAreErrors(t *testing.T) {
	for _, tc := range []struct{ remove, exists string }{
		{CAKeyFile, CACertFile},
		{SAKeyFile, SAPublicKeyFile},
	} {
		t.Run(tc.remove, func(t *testing.T) {
			cfg := testConfig(t)
			mustLoadOrCreate(t, cfg)
			path := filepath.Join(cfg.Dir, tc.remove)
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			_, err := LoadOrCreate(cfg)
			if err == nil || !strings.Contains(err.Error(), path) {
				t.Fatalf("err = %v, want an error naming %s", err, path)
			}
			if _, err := os.Stat(path); err == nil {
				t.Errorf("%s was recreated next to the existing %s", tc.remove, tc.exists)
			}
		})
	}
}

func TestAdminCertIsASystemMastersClientCert(t *testing.T) {
	cfg := testConfig(t)
	b := mustLoadOrCreate(t, cfg)
	cert := parseCertPEM(t, b.AdminCertPEM)
	if cert.Subject.CommonName != "kubernetes-admin" || !slices.Equal(cert.Subject.Organization, []string{"system:masters"}) {
		t.Errorf("admin subject = %v, want CN kubernetes-admin O system:masters", cert.Subject)
	}
	if !slices.Equal(cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) {
		t.Errorf("admin ext key usage = %v, want client auth", cert.ExtKeyUsage)
	}
	if got := cert.NotAfter.Sub(cfg.Clock()); got != AdminValidity {
		t.Errorf("admin certificate valid for %s, want %s", got, AdminValidity)
	}
	if _, err := tls.X509KeyPair(b.AdminCertPEM, b.AdminKeyPEM); err != nil {
		t.Errorf("admin certificate and key do not pair: %v", err)
	}
}

func TestKubeletClientCertIsTheAPIServersIdentityAndIsKept(t *testing.T) {
	cfg := testConfig(t)
	b := mustLoadOrCreate(t, cfg)
	cert := b.KubeletClientCert.Leaf
	if cert.Subject.CommonName != "kube-apiserver-kubelet-client" || !slices.Equal(cert.Subject.Organization, []string{"system:masters"}) {
		t.Errorf("kubelet client subject = %v, want CN kube-apiserver-kubelet-client O system:masters", cert.Subject)
	}
	pool := x509.NewCertPool()
	pool.AddCert(b.CA)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: cfg.Clock(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("kubelet client certificate does not verify as a client of the CA: %v", err)
	}
	again := mustLoadOrCreate(t, cfg)
	if !again.KubeletClientCert.Leaf.Equal(cert) {
		t.Error("the kubelet client certificate was reissued though nothing changed")
	}

	// Close to expiry it is renewed with the same key.
	later := cfg
	later.Clock = fixedClock(cert.NotAfter.Add(-24 * time.Hour))
	renewed := mustLoadOrCreate(t, later)
	if renewed.KubeletClientCert.Leaf.Equal(cert) {
		t.Error("an expiring kubelet client certificate was not renewed")
	}
	if !publicKeysEqual(renewed.KubeletClientCert.Leaf.PublicKey, cert.PublicKey) {
		t.Error("renewal replaced the kubelet client key")
	}
}

func TestLoadCAIssuesServingCertsForKubelets(t *testing.T) {
	cfg := testConfig(t)
	b := mustLoadOrCreate(t, cfg)
	ca, err := LoadCA(cfg.Dir, cfg.Clock)
	if err != nil {
		t.Fatal(err)
	}
	if !ca.CA.Equal(b.CA) {
		t.Fatal("LoadCA loaded another CA")
	}
	certPEM, keyPEM, err := ca.IssueServingCert("node-a", []string{"node-a", "10.0.0.5"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatalf("certificate and key do not pair: %v", err)
	}
	cert := parseCertPEM(t, certPEM)
	pool := x509.NewCertPool()
	pool.AddCert(b.CA)
	for _, name := range []string{"node-a", "10.0.0.5"} {
		if _, err := cert.Verify(x509.VerifyOptions{DNSName: name, Roots: pool, CurrentTime: cfg.Clock()}); err != nil {
			t.Errorf("serving certificate does not verify for %s: %v", name, err)
		}
	}
	if len(pair.Certificate) != 1 {
		t.Errorf("chain has %d certificates, want 1", len(pair.Certificate))
	}
	if _, err := LoadCA(t.TempDir(), nil); err == nil {
		t.Error("LoadCA of an empty directory succeeded")
	}
}

func TestIssueClientCert(t *testing.T) {
	cfg := testConfig(t)
	b := mustLoadOrCreate(t, cfg)

	certPEM, keyPEM, err := b.IssueClientCert("system:kube-scheduler", []string{"a", "b"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Fatalf("certificate and key do not pair: %v", err)
	}
	cert := parseCertPEM(t, certPEM)
	if cert.Subject.CommonName != "system:kube-scheduler" || !slices.Equal(cert.Subject.Organization, []string{"a", "b"}) {
		t.Errorf("subject = %v, want CN system:kube-scheduler O a,b", cert.Subject)
	}
	if got := cert.NotAfter.Sub(cfg.Clock()); got != time.Hour {
		t.Errorf("valid for %s, want 1h", got)
	}
	pool := x509.NewCertPool()
	pool.AddCert(b.CA)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: cfg.Clock(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate does not verify as a client of the CA: %v", err)
	}

	// Never valid past the CA.
	certPEM, _, err = b.IssueClientCert("long", nil, 2*CAValidity)
	if err != nil {
		t.Fatal(err)
	}
	if got := parseCertPEM(t, certPEM).NotAfter; !got.Equal(b.CA.NotAfter) {
		t.Errorf("long-lived certificate expires %s, want the CA's %s", got, b.CA.NotAfter)
	}

	if _, _, err := b.IssueClientCert("", nil, time.Hour); err == nil {
		t.Error("IssueClientCert with no user succeeded")
	}
}

func TestUsesAnExistingRSAServiceAccountKey(t *testing.T) {
	// kubeadm makes sa.key an RSA key in PKCS#1; a directory prepared by it
	// keeps its key and so its tokens.
	cfg := testConfig(t)
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})
	if err := os.WriteFile(filepath.Join(cfg.Dir, SAKeyFile), keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}

	b := mustLoadOrCreate(t, cfg)
	if !rsaKey.PublicKey.Equal(b.ServiceAccountKey.Public()) {
		t.Fatal("the existing RSA sa.key was not used")
	}
	pub, err := parsePublicKeyPEM(b.ServiceAccountPublicKeyPEM)
	if err != nil || !rsaKey.PublicKey.Equal(pub) {
		t.Errorf("sa.pub = %v (%v), want the RSA public key", pub, err)
	}
}

func parseCertPEM(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatal("no PEM block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestServingCertCoversThisHost(t *testing.T) {
	// No stand-ins: the host's own name and interface addresses.
	b := mustLoadOrCreate(t, Config{Dir: t.TempDir(), ServiceIP: serviceIP})
	want := []string{"127.0.0.1", "10.96.0.1"}
	if h, err := os.Hostname(); err == nil {
		want = append(want, h)
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && !ipn.IP.IsLinkLocalUnicast() {
			want = append(want, ipn.IP.String())
		}
	}
	for _, name := range want {
		if err := b.ServingCert.Leaf.VerifyHostname(name); err != nil {
			t.Errorf("serving certificate not valid for %s: %v", name, err)
		}
	}
}
