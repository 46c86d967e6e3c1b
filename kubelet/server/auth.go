package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
)

// User is an authenticated caller: the client certificate's CommonName
// and Organizations, as Kubernetes reads them.
type User struct {
	Name   string
	Groups []string
}

// Authorizer decides whether an authenticated user may make a request.
type Authorizer interface {
	// Authorize returns nil to allow u to call method on path, or an
	// error whose message is sent with the 403.
	Authorize(u User, method, path string) error
}

// AllowAuthenticated lets every authenticated user do everything (the
// default).
type AllowAuthenticated struct{}

// Authorize always allows.
func (AllowAuthenticated) Authorize(User, string, string) error { return nil }

// AllowUsers allows only the named users, or members of the named groups.
type AllowUsers struct {
	Users, Groups []string
}

// Authorize allows u if it is listed by name or by one of its groups.
func (a AllowUsers) Authorize(u User, method, path string) error {
	if slices.Contains(a.Users, u.Name) {
		return nil
	}
	for _, g := range u.Groups {
		if slices.Contains(a.Groups, g) {
			return nil
		}
	}
	return fmt.Errorf("user %q may not %s %s", u.Name, method, path)
}

// authenticator verifies client certificates against the client CA.
type authenticator struct {
	pool *x509.CertPool
}

// user returns the verified caller of r; ok is false for anonymous
// callers and certificates the client CA did not sign.
func (a *authenticator) user(r *http.Request) (User, bool) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return User{}, false
	}
	leaf := r.TLS.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, c := range r.TLS.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:         a.pool,
		Intermediates: inter,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil || leaf.Subject.CommonName == "" {
		return User{}, false
	}
	return User{Name: leaf.Subject.CommonName, Groups: leaf.Subject.Organization}, true
}

// wrap authenticates and authorizes every request before next.
func wrap(next http.Handler, authn *authenticator, authz Authorizer, log *slog.Logger) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		u, ok := authn.user(r)
		if !ok {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		if err := authz.Authorize(u, r.Method, r.URL.Path); err != nil {
			log.Debug("forbidden", "user", u.Name, "path", r.URL.Path, "err", err)
			http.Error(w, "Forbidden: "+err.Error(), http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
	return mux
}

// TLSConfig is the server's TLS configuration for cfg: its serving
// certificate, HTTP/1.1 only (streaming upgrades hijack the connection),
// and client certificates requested but verified per request, so a
// missing or foreign certificate is a 401 rather than a failed handshake.
func TLSConfig(cfg Config) (*tls.Config, error) {
	tc := &tls.Config{
		ClientAuth: tls.RequestClientCert,
		NextProtos: []string{"http/1.1"},
		MinVersion: tls.VersionTLS12,
	}
	if get := cfg.GetCertificate; get != nil {
		tc.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			if c := get(); c != nil {
				return c, nil
			}
			return nil, errors.New("kubelet server: no serving certificate yet")
		}
		return tc, nil
	}
	certPEM, keyPEM := cfg.CertPEM, cfg.KeyPEM
	if len(certPEM) == 0 {
		var err error
		if certPEM, err = os.ReadFile(cfg.CertFile); err != nil {
			return nil, fmt.Errorf("kubelet server: serving certificate: %w", err)
		}
		if keyPEM, err = os.ReadFile(cfg.KeyFile); err != nil {
			return nil, fmt.Errorf("kubelet server: serving key: %w", err)
		}
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("kubelet server: serving certificate: %w", err)
	}
	tc.Certificates = []tls.Certificate{cert}
	return tc, nil
}

func loadClientCA(cfg Config) (*x509.CertPool, error) {
	data := cfg.ClientCA
	if len(data) == 0 {
		if cfg.ClientCAFile == "" {
			return nil, errors.New("kubelet server: no client CA: every request would be refused")
		}
		var err error
		if data, err = os.ReadFile(cfg.ClientCAFile); err != nil {
			return nil, fmt.Errorf("kubelet server: client CA: %w", err)
		}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, errors.New("kubelet server: client CA holds no PEM certificate")
	}
	return pool, nil
}
