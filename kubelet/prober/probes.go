package prober

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// userAgent is what upstream's kubelet sends ("kube-probe/<major.minor>").
const userAgent = "kube-probe/1.37"

// maxRespBody is how much of an HTTP probe's body is read.
const maxRespBody = 10 * 1024

// runProbe runs one attempt of p against the container and returns its
// raw outcome and, for a failure, the message upstream would report.
func (m *Manager) runProbe(ctx context.Context, p *corev1.Probe, c *corev1.Container, podIP, containerID string) (Result, string) {
	timeout := time.Duration(p.TimeoutSeconds) * time.Second
	switch {
	case p.Exec != nil:
		return m.execProbe(ctx, containerID, p.Exec.Command, timeout)
	case p.HTTPGet != nil:
		return m.http.probe(ctx, p.HTTPGet, c, podIP, timeout)
	case p.TCPSocket != nil:
		host := p.TCPSocket.Host
		if host == "" {
			host = podIP
		}
		port, err := ResolvePort(p.TCPSocket.Port, c)
		if err != nil {
			return Failure, err.Error()
		}
		return tcpProbe(ctx, m.dial, host, port, timeout)
	}
	return Unknown, "missing probe handler"
}

func (m *Manager) execProbe(ctx context.Context, id string, cmd []string, timeout time.Duration) (Result, string) {
	if m.exec == nil {
		return Failure, "exec probes are not available"
	}
	code, out, err := m.exec(ctx, id, cmd, timeout)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return Failure, fmt.Sprintf("command %q timed out", strings.Join(cmd, " "))
		}
		return Failure, err.Error()
	}
	if code != 0 {
		return Failure, string(out)
	}
	return Success, ""
}

// ResolvePort turns a probe's or hook's port (a number or the name of a
// container port) into a number.
func ResolvePort(p intstr.IntOrString, c *corev1.Container) (int, error) {
	if p.Type == intstr.Int {
		if p.IntVal <= 0 || p.IntVal > 65535 {
			return 0, fmt.Errorf("invalid port number: %d", p.IntVal)
		}
		return int(p.IntVal), nil
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil {
		return n, nil
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("port %s not found", p.StrVal)
}

func tcpProbe(ctx context.Context, dial DialFunc, host string, port int, timeout time.Duration) (Result, string) {
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := dial(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return Failure, err.Error()
	}
	_ = conn.Close()
	return Success, ""
}

// HTTPGetRequest builds the GET of an httpGet probe or hook: to podIP
// unless the action names a host, the port resolved against c's ports, and
// the action's headers (a Host header sets the request's host).
func HTTPGetRequest(ctx context.Context, g *corev1.HTTPGetAction, c *corev1.Container, podIP string) (*http.Request, error) {
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	host := g.Host
	if host == "" {
		host = podIP
	}
	port, err := ResolvePort(g.Port, c)
	if err != nil {
		return nil, err
	}
	path := g.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u, err := url.Parse(path)
	if err != nil {
		return nil, fmt.Errorf("http path %q: %w", g.Path, err)
	}
	u.Scheme = scheme
	u.Host = net.JoinHostPort(host, strconv.Itoa(port))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	for _, hd := range g.HTTPHeaders {
		if strings.EqualFold(hd.Name, "Host") {
			req.Host = hd.Value
			continue
		}
		req.Header.Set(hd.Name, hd.Value)
	}
	return req, nil
}

// httpProber sends probe requests without keep-alives or proxies, and
// follows redirects only on the same host, as upstream.
type httpProber struct {
	transport *http.Transport
}

func newHTTPProber(dial DialFunc) *httpProber {
	t := &http.Transport{
		TLSClientConfig:    &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // upstream probes do not verify
		DisableKeepAlives:  true,
		DisableCompression: true,
		Proxy:              nil,
	}
	if dial != nil {
		t.DialContext = dial
	}
	return &httpProber{transport: t}
}

func (h *httpProber) probe(ctx context.Context, g *corev1.HTTPGetAction, c *corev1.Container, podIP string, timeout time.Duration) (Result, string) {
	req, err := HTTPGetRequest(ctx, g, c, podIP)
	if err != nil {
		return Failure, err.Error()
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", userAgent)
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "*/*")
	}
	client := &http.Client{
		Timeout:   timeout,
		Transport: h.transport,
		CheckRedirect: func(r *http.Request, via []*http.Request) error {
			if r.URL.Hostname() != via[0].URL.Hostname() {
				return http.ErrUseLastResponse
			}
			if len(via) >= 10 {
				return errors.New("stopped after 10 redirects")
			}
			return nil
		},
	}
	resp, err := client.Do(req)
	if err != nil {
		return Failure, err.Error()
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxRespBody))
	if resp.StatusCode >= http.StatusOK && resp.StatusCode < http.StatusBadRequest {
		return Success, ""
	}
	return Failure, fmt.Sprintf("HTTP probe failed with statuscode: %d", resp.StatusCode)
}
