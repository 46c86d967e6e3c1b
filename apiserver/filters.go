package apiserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/skiffk8s/skiff/apiserver/auth"
)

// metrics are the server's request metrics, registered on its own registry.
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	inflight *prometheus.GaugeVec
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apiserver_request_total",
			Help: "Counter of apiserver requests broken out by verb, group, version, resource, subresource and HTTP code.",
		}, []string{"verb", "group", "version", "resource", "subresource", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "apiserver_request_duration_seconds",
			Help:    "Response latency distribution in seconds by verb, group, version, resource and subresource.",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"verb", "group", "version", "resource", "subresource"}),
		inflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "apiserver_current_inflight_requests",
			Help: "Requests being served, by kind (readOnly, mutating).",
		}, []string{"request_kind"}),
	}
	reg.MustRegister(m.requests, m.latency, m.inflight)
	return m
}

// statusRecorder remembers the response code.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack hands the connection over to an upgrade proxy (exec, attach,
// port-forward), recording 101 Switching Protocols.
func (r *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if r.code == 0 {
		r.code = http.StatusSwitchingProtocols
	}
	return http.NewResponseController(r.ResponseWriter).Hijack()
}

// Unwrap lets http.ResponseController reach the connection.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

type userKey struct{}

// withUser returns ctx carrying the authenticated user.
func withUser(ctx context.Context, u *auth.User) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

// longRunning tells whether a request may last as long as the client wants,
// outside the in-flight limits and the request timeout: watches and the
// subresources streamed from kubelets, as upstream's long-running check.
func (ri requestInfo) longRunning() bool {
	if ri.Verb == "watch" {
		return true
	}
	switch ri.Subresource {
	case "log", "exec", "attach", "portforward", "proxy":
		return true
	}
	return false
}

// ServeHTTP is the filter chain: recovery, metrics, authentication,
// authorization, max-in-flight, timeout, then routing.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w}
	ri, isResource := parseRequestInfo(r)
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("panic serving request", "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
			if rec.code == 0 {
				s.writeError(rec, r, apierrors.NewInternalError(fmt.Errorf("%v", p)))
			}
		}
		if isResource {
			verb := strings.ToUpper(ri.Verb)
			code := rec.code
			if code == 0 {
				code = http.StatusOK
			}
			s.metrics.requests.WithLabelValues(verb, ri.Group, ri.Version, ri.Resource, ri.Subresource, strconv.Itoa(code)).Inc()
			if ri.Verb != "watch" {
				s.metrics.latency.WithLabelValues(verb, ri.Group, ri.Version, ri.Resource, ri.Subresource).Observe(time.Since(start).Seconds())
			}
		}
	}()

	// Authentication. With Config.AnonymousAuth, s.authn is
	// auth.WithAnonymous: a request without credentials is
	// system:anonymous and only wrong credentials fail here. Without it,
	// requests without (valid) credentials are refused except on the
	// public paths.
	user, ok, err := s.authn.Authenticate(r)
	if err != nil || !ok {
		if s.cfg.AnonymousAuth || !auth.IsPublicPath(r.URL.Path) {
			s.writeError(rec, r, apierrors.NewUnauthorized("Unauthorized"))
			return
		}
		user = auth.AnonymousUser()
	}
	r = r.WithContext(withUser(r.Context(), user))

	// Authorization: the one place RBAC plugs in.
	attrs := auth.Attributes{User: user, Verb: ri.Verb, Group: ri.Group, Version: ri.Version, Resource: ri.Resource,
		Subresource: ri.Subresource, Namespace: ri.Namespace, Name: ri.Name, ResourceRequest: true}
	if ri.Resource == "namespaces" && ri.Namespace == "" {
		// Upstream's request info: a namespace is in itself.
		attrs.Namespace = ri.Name
	}
	if !isResource {
		attrs = auth.Attributes{User: user, Verb: strings.ToLower(r.Method), Path: r.URL.Path}
	}
	allowed, reason, err := s.authz.Authorize(r.Context(), attrs)
	if err != nil || !allowed {
		if reason == "" && err != nil {
			reason = err.Error()
		}
		// Upstream's wording (responsewriters.Forbidden).
		msg := auth.ForbiddenMessage(attrs)
		if reason != "" {
			msg += ": " + reason
		}
		var gr schema.GroupResource
		if isResource {
			gr = ri.groupResource()
		}
		s.writeError(rec, r, apierrors.NewForbidden(gr, attrs.Name, errors.New(msg)))
		return
	}

	// Max in flight and timeout, long-running requests exempt.
	if !(isResource && ri.longRunning()) {
		limit, kind := s.readOnlySlots, "readOnly"
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			limit, kind = s.mutatingSlots, "mutating"
		}
		select {
		case limit <- struct{}{}:
			s.metrics.inflight.WithLabelValues(kind).Inc()
			defer func() {
				<-limit
				s.metrics.inflight.WithLabelValues(kind).Dec()
			}()
		default:
			s.writeError(rec, r, apierrors.NewTooManyRequests("Too many requests, please try again later.", 1))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
		defer cancel()
		r = r.WithContext(ctx)
	}
	s.route(rec, r, ri, isResource)
}
