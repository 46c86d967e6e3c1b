package runtime

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/core/remotes/docker"
	"sigs.k8s.io/yaml"
)

// RegistriesFile is /etc/skiff/registries.yaml, in the format k3s uses:
//
//	mirrors:
//	  docker.io:
//	    endpoint: ["http://127.0.0.1:5000"]
//	configs:
//	  "127.0.0.1:5000":
//	    tls: {insecure_skip_verify: true}
//	    auth: {username: u, password: p}
type RegistriesFile struct {
	Mirrors map[string]RegistryMirror `json:"mirrors"`
	Configs map[string]RegistryConfig `json:"configs"`
}

// RegistryMirror lists the endpoints tried, in order, before the registry
// itself.
type RegistryMirror struct {
	Endpoints []string `json:"endpoint"`
}

// RegistryConfig is the TLS and auth configuration of one registry host.
type RegistryConfig struct {
	Auth *RegistryAuth `json:"auth,omitempty"`
	TLS  *RegistryTLS  `json:"tls,omitempty"`
}

// RegistryAuth is a credential in registries.yaml.
type RegistryAuth struct {
	Username      string `json:"username,omitempty"`
	Password      string `json:"password,omitempty"`
	Auth          string `json:"auth,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
}

// RegistryTLS is the TLS configuration of a registry host.
type RegistryTLS struct {
	CAFile             string `json:"ca_file,omitempty"`
	CertFile           string `json:"cert_file,omitempty"`
	KeyFile            string `json:"key_file,omitempty"`
	InsecureSkipVerify bool   `json:"insecure_skip_verify,omitempty"`
}

type registries struct {
	file RegistriesFile
}

// loadRegistries reads path; a missing file is an empty configuration.
func loadRegistries(path string) (*registries, error) {
	r := &registries{}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return nil, fmt.Errorf("registries config: %w", err)
	}
	if err := yaml.Unmarshal(b, &r.file); err != nil {
		return nil, fmt.Errorf("registries config %s: %w", path, err)
	}
	return r, nil
}

// pullSession carries the per-pull state: credentials and the last error
// message a registry sent (containerd's resolver drops the body of a 404).
type pullSession struct {
	regs    *registries
	auth    []AuthConfig
	mu      sync.Mutex
	msg     string                  // guarded by mu
	clients map[string]*http.Client // guarded by mu
}

func (r *registries) session(auth []AuthConfig) *pullSession {
	return &pullSession{regs: r, auth: auth, clients: map[string]*http.Client{}}
}

// registryMessage returns the last error message a registry sent.
func (s *pullSession) registryMessage() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.msg
}

func (s *pullSession) record(msg string) {
	s.mu.Lock()
	s.msg = msg
	s.mu.Unlock()
}

// isLoopback reports whether host (host[:port]) is a loopback name or
// address; such registries are spoken to over plain HTTP by default.
func isLoopback(host string) bool {
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(h, "[]"))
	return ip != nil && ip.IsLoopback()
}

// hosts is the docker.RegistryHosts function: mirrors first, then the
// registry itself.
func (s *pullSession) hosts(host string) ([]docker.RegistryHost, error) {
	var out []docker.RegistryHost
	endpoints := append([]string(nil), s.regs.file.Mirrors[host].Endpoints...)
	if host != "*" {
		endpoints = append(endpoints, s.regs.file.Mirrors["*"].Endpoints...)
	}
	def := host
	if host == "docker.io" {
		def = "registry-1.docker.io"
	}
	scheme := "https"
	if isLoopback(def) {
		scheme = "http"
	}
	endpoints = append(endpoints, scheme+"://"+def)
	seen := map[string]bool{}
	for _, ep := range endpoints {
		if !strings.Contains(ep, "://") {
			ep = "https://" + ep
		}
		u, err := url.Parse(ep)
		if err != nil {
			return nil, fmt.Errorf("registry endpoint %q: %w", ep, err)
		}
		if seen[u.Scheme+u.Host] {
			continue
		}
		seen[u.Scheme+u.Host] = true
		client, err := s.client(u.Host, u.Scheme)
		if err != nil {
			return nil, err
		}
		path := strings.TrimSuffix(u.Path, "/")
		if path == "" {
			path = "/v2"
		}
		out = append(out, docker.RegistryHost{
			Client: client,
			Authorizer: docker.NewDockerAuthorizer(
				docker.WithAuthClient(client),
				docker.WithAuthCreds(s.creds),
			),
			Host:         u.Host,
			Scheme:       u.Scheme,
			Path:         path,
			Capabilities: docker.HostCapabilityPull | docker.HostCapabilityResolve,
		})
	}
	return out, nil
}

// client returns the HTTP client for one registry host.
func (s *pullSession) client(host, scheme string) (*http.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.clients[scheme+host]; ok {
		return c, nil
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	insecure := false
	if cfg, ok := s.regs.file.Configs[host]; ok && cfg.TLS != nil {
		t := cfg.TLS
		tlsConfig.InsecureSkipVerify = t.InsecureSkipVerify
		insecure = t.InsecureSkipVerify
		if t.CAFile != "" {
			pem, err := os.ReadFile(t.CAFile)
			if err != nil {
				return nil, fmt.Errorf("registry %s ca_file: %w", host, err)
			}
			pool, err := x509.SystemCertPool()
			if err != nil || pool == nil {
				pool = x509.NewCertPool()
			}
			pool.AppendCertsFromPEM(pem)
			tlsConfig.RootCAs = pool
		}
		if t.CertFile != "" && t.KeyFile != "" {
			cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("registry %s client certificate: %w", host, err)
			}
			tlsConfig.Certificates = []tls.Certificate{cert}
		}
	}
	var rt http.RoundTripper = docker.DefaultHTTPTransport(tlsConfig)
	if insecure && scheme == "https" {
		// insecure_skip_verify also allows a registry that only speaks HTTP.
		rt = docker.NewHTTPFallback(rt)
	}
	c := &http.Client{Transport: &recordingTransport{next: rt, s: s}, Timeout: 10 * time.Minute}
	s.clients[scheme+host] = c
	return c, nil
}

// creds returns the credential for host: the pod's pull secrets first,
// then registries.yaml.
func (s *pullSession) creds(host string) (string, string, error) {
	for _, a := range s.auth {
		if a.Registry != "" && a.Registry != host && !(a.Registry == "docker.io" && host == "registry-1.docker.io") &&
			strings.TrimPrefix(strings.TrimPrefix(a.Registry, "https://"), "http://") != host {
			continue
		}
		return credential(a.Username, a.Password, a.Auth, a.IdentityToken)
	}
	if cfg, ok := s.regs.file.Configs[host]; ok && cfg.Auth != nil {
		a := cfg.Auth
		return credential(a.Username, a.Password, a.Auth, a.IdentityToken)
	}
	return "", "", nil
}

func credential(user, pass, auth, token string) (string, string, error) {
	if token != "" {
		return "", token, nil
	}
	if user == "" && auth != "" {
		b, err := base64.StdEncoding.DecodeString(auth)
		if err != nil {
			return "", "", fmt.Errorf("registry auth: %w", err)
		}
		u, p, ok := strings.Cut(string(b), ":")
		if !ok {
			return "", "", errors.New("registry auth: not user:password")
		}
		return u, p, nil
	}
	return user, pass, nil
}

// recordingTransport remembers the message of error responses so pull
// errors can name what the registry said ("manifest unknown").
type recordingTransport struct {
	next http.RoundTripper
	s    *pullSession
}

func (t *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.StatusCode < 400 || resp.StatusCode == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") != "" && req.Header.Get("Authorization") == "" {
		return resp, err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	resp.Body = io.NopCloser(strings.NewReader(string(body)))
	if req.Method == http.MethodHead && len(body) == 0 {
		// A HEAD answer has no body: ask again with GET for the message.
		get := req.Clone(req.Context())
		get.Method = http.MethodGet
		if r2, err := t.next.RoundTrip(get); err == nil {
			body, _ = io.ReadAll(io.LimitReader(r2.Body, 64<<10))
			r2.Body.Close()
		}
	}
	var e struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	msg := ""
	if json.Unmarshal(body, &e) == nil && len(e.Errors) > 0 {
		var parts []string
		for _, x := range e.Errors {
			parts = append(parts, x.Message)
		}
		msg = strings.Join(parts, "; ")
	}
	if msg == "" {
		msg = resp.Status
	}
	t.s.record(fmt.Sprintf("%s %s: %s", req.Method, req.URL.Redacted(), msg))
	return resp, nil
}
