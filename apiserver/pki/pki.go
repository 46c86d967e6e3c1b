// Package pki creates and loads the cluster's certificates and writes
// kubeconfigs.
//
// On first start LoadOrCreate makes the cluster identity in one directory,
// with kubeadm's file names: a CA (ca.crt, ca.key), the API server's serving
// certificate (apiserver.crt, apiserver.key), an admin client certificate
// (admin.crt, admin.key), the client certificate the API server presents to
// kubelets (apiserver-kubelet-client.crt, apiserver-kubelet-client.key) and
// the service-account signing key (sa.key, sa.pub). Later starts load the
// same files. Keys are ECDSA P-256.
package pki

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// File names inside Config.Dir, as kubeadm names them.
const (
	CACertFile      = "ca.crt"
	CAKeyFile       = "ca.key"
	ServingCertFile = "apiserver.crt"
	ServingKeyFile  = "apiserver.key"
	AdminCertFile   = "admin.crt"
	AdminKeyFile    = "admin.key"
	// KubeletClientCertFile and KubeletClientKeyFile are the API server's
	// client credentials towards kubelets (logs, exec, port-forward, node
	// proxy, metrics).
	KubeletClientCertFile = "apiserver-kubelet-client.crt"
	KubeletClientKeyFile  = "apiserver-kubelet-client.key"
	SAKeyFile             = "sa.key"
	SAPublicKeyFile       = "sa.pub"
)

// Subjects and lifetimes.
const (
	CACommonName    = "skiff-ca"
	AdminCommonName = "kubernetes-admin"
	AdminGroup      = "system:masters"
	// KubeletClientCommonName is the user the API server is to kubelets
	// (in group AdminGroup), as kubeadm names it.
	KubeletClientCommonName = "kube-apiserver-kubelet-client"

	CAValidity      = 10 * 365 * 24 * time.Hour
	ServingValidity = 365 * 24 * time.Hour
	AdminValidity   = 365 * 24 * time.Hour

	// ServingRenewBefore is how long before it expires the serving
	// certificate is reissued by LoadOrCreate.
	ServingRenewBefore = 30 * 24 * time.Hour

	// clockSkew backdates NotBefore so that hosts whose clocks are a little
	// behind accept a certificate issued a moment ago.
	clockSkew = 5 * time.Minute
)

// Config says where the cluster's certificates live and what the serving
// certificate must cover.
type Config struct {
	// Dir holds the files; it is created with mode 0700. Required.
	Dir string
	// ServiceIP is the first address of the service CIDR (the "kubernetes"
	// Service, e.g. 10.96.0.1); it goes into the serving certificate's SANs.
	ServiceIP net.IP
	// ExtraSANs are more DNS names or IP addresses for the serving
	// certificate (the bind address, node addresses).
	ExtraSANs []string
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time

	// hostAddrs lists the host's addresses; nil means net.InterfaceAddrs.
	// Tests set it.
	hostAddrs func() ([]net.Addr, error)
	// hostname returns the host name; nil means os.Hostname. Tests set it.
	hostname func() (string, error)
}

// Bundle is the cluster identity, loaded or created by LoadOrCreate.
type Bundle struct {
	// CA signs every certificate of the cluster; clients trust CAPEM.
	CA    *x509.Certificate
	CAKey crypto.Signer
	CAPEM []byte

	// ServingCert is the API server's TLS certificate (Leaf is set).
	ServingCert tls.Certificate
	// ServingCertPEM is ServingCert's certificate, PEM encoded.
	ServingCertPEM []byte

	// AdminCertPEM and AdminKeyPEM are the admin's client credentials
	// (CN kubernetes-admin, O system:masters), for the admin kubeconfig.
	AdminCertPEM, AdminKeyPEM []byte

	// KubeletClientCert is the API server's client certificate towards
	// kubelets (CN kube-apiserver-kubelet-client, O system:masters; Leaf
	// is set).
	KubeletClientCert tls.Certificate

	// ServiceAccountKey signs service-account tokens;
	// ServiceAccountPublicKeyPEM verifies them.
	ServiceAccountKey          crypto.Signer
	ServiceAccountPublicKeyPEM []byte

	// ServingCertIssued tells whether this LoadOrCreate (re)issued the
	// serving certificate: it was missing, expiring, or its SANs changed.
	ServingCertIssued bool

	clock func() time.Time
}

// LoadOrCreate loads the cluster identity from cfg.Dir, creating what is
// missing. It is idempotent: a second call loads what the first wrote.
// Existing keys and certificates are never replaced, with one exception: the
// serving certificate (not its CA) is reissued when the SANs wanted differ
// from the ones it has (a new bind or host address), when it expires within
// ServingRenewBefore, or when it was not signed by the CA. A file that
// cannot be parsed is an error naming the file: nothing is overwritten.
func LoadOrCreate(cfg Config) (*Bundle, error) {
	if cfg.Dir == "" {
		return nil, errors.New("pki: Dir is required")
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("pki: create %s: %w", cfg.Dir, err)
	}
	if err := os.Chmod(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	b := &Bundle{clock: cfg.Clock}
	if err := b.loadOrCreateCA(cfg); err != nil {
		return nil, err
	}
	if err := b.loadOrCreateServing(cfg); err != nil {
		return nil, err
	}
	if err := b.loadOrCreateAdmin(cfg); err != nil {
		return nil, err
	}
	if err := b.loadOrCreateKubeletClient(cfg); err != nil {
		return nil, err
	}
	if err := b.loadOrCreateServiceAccountKey(cfg); err != nil {
		return nil, err
	}
	return b, nil
}

// LoadCA loads only the cluster CA (certificate and key) from dir, for
// tools and tests that issue certificates from it (IssueClientCert,
// IssueServingCert) next to a running API server. Nothing is written;
// clock nil means time.Now.
func LoadCA(dir string, clock func() time.Time) (*Bundle, error) {
	return LoadCAFiles(filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile), clock)
}

// LoadCAFiles is LoadCA from a CA certificate and key at any paths.
func LoadCAFiles(certPath, keyPath string, clock func() time.Time) (*Bundle, error) {
	if clock == nil {
		clock = time.Now
	}
	cert, certPEM, err := readCertIfExists(certPath)
	if err != nil {
		return nil, err
	}
	key, err := readKeyIfExists(keyPath)
	if err != nil {
		return nil, err
	}
	if cert == nil || key == nil {
		return nil, fmt.Errorf("pki: no CA at %s and %s", certPath, keyPath)
	}
	if !publicKeysEqual(cert.PublicKey, key.Public()) {
		return nil, fmt.Errorf("pki: %s does not match %s", keyPath, certPath)
	}
	return &Bundle{CA: cert, CAKey: key, CAPEM: certPEM, clock: clock}, nil
}

func (b *Bundle) loadOrCreateCA(cfg Config) error {
	certPath := filepath.Join(cfg.Dir, CACertFile)
	keyPath := filepath.Join(cfg.Dir, CAKeyFile)
	key, err := readKeyIfExists(keyPath)
	if err != nil {
		return err
	}
	cert, certPEM, err := readCertIfExists(certPath)
	if err != nil {
		return err
	}
	switch {
	case cert != nil && key == nil:
		return fmt.Errorf("pki: %s is missing but %s exists: refusing to replace the cluster CA", keyPath, certPath)
	case cert != nil:
		if !cert.IsCA {
			return fmt.Errorf("pki: %s: not a CA certificate", certPath)
		}
		if !publicKeysEqual(cert.PublicKey, key.Public()) {
			return fmt.Errorf("pki: %s does not match %s", keyPath, certPath)
		}
	default:
		// No CA yet, or only its key (an earlier start stopped between
		// writing the key and the certificate): self-sign the key.
		if key == nil {
			if key, err = newKey(); err != nil {
				return err
			}
			if err := writeKey(keyPath, key); err != nil {
				return err
			}
		}
		if cert, certPEM, err = newCACert(key, cfg.Clock()); err != nil {
			return err
		}
		if err := writeFileAtomic(certPath, certPEM, 0o644); err != nil {
			return err
		}
	}
	b.CA, b.CAKey, b.CAPEM = cert, key, certPEM
	return nil
}

func (b *Bundle) loadOrCreateServing(cfg Config) error {
	certPath := filepath.Join(cfg.Dir, ServingCertFile)
	keyPath := filepath.Join(cfg.Dir, ServingKeyFile)
	wantDNS, wantIPs, err := servingSANs(cfg)
	if err != nil {
		return err
	}
	key, cert, certPEM, err := b.loadLeaf(certPath, keyPath)
	if err != nil {
		return err
	}
	now := cfg.Clock()
	if cert == nil || !b.signedByCA(cert) || now.Add(ServingRenewBefore).After(cert.NotAfter) ||
		!sameSANs(cert, wantDNS, wantIPs) {
		if key == nil {
			if key, err = newKey(); err != nil {
				return err
			}
			if err := writeKey(keyPath, key); err != nil {
				return err
			}
		}
		tmpl := &x509.Certificate{
			Subject:     pkix.Name{CommonName: "kube-apiserver"},
			KeyUsage:    x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			DNSNames:    wantDNS,
			IPAddresses: wantIPs,
		}
		if cert, certPEM, err = b.sign(tmpl, key.Public(), ServingValidity); err != nil {
			return fmt.Errorf("pki: issue serving certificate: %w", err)
		}
		if err := writeFileAtomic(certPath, certPEM, 0o644); err != nil {
			return err
		}
		b.ServingCertIssued = true
	}
	b.ServingCert = tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}
	b.ServingCertPEM = certPEM
	return nil
}

func (b *Bundle) loadOrCreateAdmin(cfg Config) error {
	certPath := filepath.Join(cfg.Dir, AdminCertFile)
	keyPath := filepath.Join(cfg.Dir, AdminKeyFile)
	key, cert, certPEM, err := b.loadLeaf(certPath, keyPath)
	if err != nil {
		return err
	}
	if cert == nil {
		if key == nil {
			if key, err = newKey(); err != nil {
				return err
			}
			if err := writeKey(keyPath, key); err != nil {
				return err
			}
		}
		if _, certPEM, err = b.sign(clientTemplate(AdminCommonName, []string{AdminGroup}), key.Public(), AdminValidity); err != nil {
			return fmt.Errorf("pki: issue admin certificate: %w", err)
		}
		if err := writeFileAtomic(certPath, certPEM, 0o644); err != nil {
			return err
		}
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return err
	}
	b.AdminCertPEM, b.AdminKeyPEM = certPEM, keyPEM
	return nil
}

// loadOrCreateKubeletClient loads the kubelet client certificate, issuing it
// when it is missing, not signed by the CA, or expires within
// ServingRenewBefore (the key is kept).
func (b *Bundle) loadOrCreateKubeletClient(cfg Config) error {
	certPath := filepath.Join(cfg.Dir, KubeletClientCertFile)
	keyPath := filepath.Join(cfg.Dir, KubeletClientKeyFile)
	key, cert, _, err := b.loadLeaf(certPath, keyPath)
	if err != nil {
		return err
	}
	if cert == nil || !b.signedByCA(cert) || cfg.Clock().Add(ServingRenewBefore).After(cert.NotAfter) {
		if key == nil {
			if key, err = newKey(); err != nil {
				return err
			}
			if err := writeKey(keyPath, key); err != nil {
				return err
			}
		}
		var certPEM []byte
		if cert, certPEM, err = b.sign(clientTemplate(KubeletClientCommonName, []string{AdminGroup}), key.Public(), AdminValidity); err != nil {
			return fmt.Errorf("pki: issue kubelet client certificate: %w", err)
		}
		if err := writeFileAtomic(certPath, certPEM, 0o644); err != nil {
			return err
		}
	}
	b.KubeletClientCert = tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}
	return nil
}

func (b *Bundle) loadOrCreateServiceAccountKey(cfg Config) error {
	keyPath := filepath.Join(cfg.Dir, SAKeyFile)
	pubPath := filepath.Join(cfg.Dir, SAPublicKeyFile)
	key, err := readKeyIfExists(keyPath)
	if err != nil {
		return err
	}
	pubPEM, err := readFileIfExists(pubPath)
	if err != nil {
		return err
	}
	if key == nil {
		if pubPEM != nil {
			return fmt.Errorf("pki: %s is missing but %s exists: refusing to replace the service-account key", keyPath, pubPath)
		}
		if key, err = newKey(); err != nil {
			return err
		}
		if err := writeKey(keyPath, key); err != nil {
			return err
		}
	}
	wantPub, err := encodePublicKey(key.Public())
	if err != nil {
		return err
	}
	if pubPEM == nil {
		if err := writeFileAtomic(pubPath, wantPub, 0o644); err != nil {
			return err
		}
		pubPEM = wantPub
	} else if !bytes.Equal(bytes.TrimSpace(pubPEM), bytes.TrimSpace(wantPub)) {
		pub, err := parsePublicKeyPEM(pubPEM)
		if err != nil {
			return fmt.Errorf("pki: %s: %w", pubPath, err)
		}
		if !publicKeysEqual(pub, key.Public()) {
			return fmt.Errorf("pki: %s does not match %s", pubPath, keyPath)
		}
	}
	b.ServiceAccountKey, b.ServiceAccountPublicKeyPEM = key, pubPEM
	return nil
}

// loadLeaf loads a certificate and its key, either of which may be missing.
// A certificate without its key is treated as missing (it is unusable and is
// reissued); a key with a certificate for another key is an error.
func (b *Bundle) loadLeaf(certPath, keyPath string) (key crypto.Signer, cert *x509.Certificate, certPEM []byte, err error) {
	if key, err = readKeyIfExists(keyPath); err != nil {
		return nil, nil, nil, err
	}
	if cert, certPEM, err = readCertIfExists(certPath); err != nil {
		return nil, nil, nil, err
	}
	if cert == nil || key == nil {
		return key, nil, nil, nil
	}
	if !publicKeysEqual(cert.PublicKey, key.Public()) {
		return nil, nil, nil, fmt.Errorf("pki: %s does not match %s", keyPath, certPath)
	}
	return key, cert, certPEM, nil
}

func (b *Bundle) signedByCA(cert *x509.Certificate) bool {
	return cert.CheckSignatureFrom(b.CA) == nil
}

// servingSANs returns the DNS names and IP addresses the serving certificate
// must carry, sorted and without duplicates.
func servingSANs(cfg Config) ([]string, []net.IP, error) {
	dns := []string{
		"localhost",
		"kubernetes",
		"kubernetes.default",
		"kubernetes.default.svc",
		"kubernetes.default.svc.cluster.local",
	}
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}

	hostname := cfg.hostname
	if hostname == nil {
		hostname = os.Hostname
	}
	if h, err := hostname(); err == nil && h != "" {
		dns = append(dns, h)
	}
	if cfg.ServiceIP != nil {
		ips = append(ips, cfg.ServiceIP)
	}
	hostAddrs := cfg.hostAddrs
	if hostAddrs == nil {
		hostAddrs = net.InterfaceAddrs
	}
	addrs, err := hostAddrs()
	if err != nil {
		return nil, nil, fmt.Errorf("pki: list host addresses: %w", err)
	}
	for _, a := range addrs {
		var ip net.IP
		switch a := a.(type) {
		case *net.IPNet:
			ip = a.IP
		case *net.IPAddr:
			ip = a.IP
		}
		// Link-local addresses are per interface and come and go.
		if ip == nil || ip.IsLoopback() || ip.IsLinkLocalUnicast() {
			continue
		}
		ips = append(ips, ip)
	}
	for _, s := range cfg.ExtraSANs {
		if s == "" {
			continue
		}
		if ip := net.ParseIP(s); ip != nil {
			ips = append(ips, ip)
		} else {
			dns = append(dns, s)
		}
	}
	return canonicalDNS(dns), canonicalIPs(ips), nil
}

func canonicalDNS(names []string) []string {
	out := slices.Clone(names)
	slices.Sort(out)
	return slices.Compact(out)
}

func canonicalIPs(ips []net.IP) []net.IP {
	out := make([]net.IP, 0, len(ips))
	for _, ip := range ips {
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		}
		out = append(out, ip)
	}
	slices.SortFunc(out, func(a, b net.IP) int { return bytes.Compare(a.To16(), b.To16()) })
	return slices.CompactFunc(out, func(a, b net.IP) bool { return a.Equal(b) })
}

// sameSANs tells whether cert has exactly the wanted SANs.
func sameSANs(cert *x509.Certificate, dns []string, ips []net.IP) bool {
	return slices.Equal(canonicalDNS(cert.DNSNames), dns) &&
		slices.EqualFunc(canonicalIPs(cert.IPAddresses), ips, func(a, b net.IP) bool { return a.Equal(b) })
}
