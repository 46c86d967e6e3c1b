package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// httpShutdownTimeout bounds how long stopping waits for in-flight
// /metrics scrapes before closing their connections.
const httpShutdownTimeout = 5 * time.Second

// listenHTTP binds cfg.MetricsBindAddress and serves /healthz, /readyz
// and /metrics on it in the background (counted in s.done) until
// stopHTTP.
func (s *Server) listenHTTP(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("dns: Config.MetricsBindAddress: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		status(w, s.udpUp.Load() && s.tcpUp.Load(), "serve loops not running")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		status(w, s.ready.Load(), "not ready")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{}))
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	s.httpLn = ln
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		if err := s.http.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("dns: metrics server", "err", err)
		}
	}()
	s.logger.Info("serving /healthz, /readyz and /metrics", "addr", ln.Addr().String())
	return nil
}

// status writes 200 "ok" when ok, else 503 with why.
func status(w http.ResponseWriter, ok bool, why string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, why)
		return
	}
	fmt.Fprint(w, "ok")
}

// stopHTTP stops the HTTP server, if any: it closes the listener, lets
// requests in flight finish for a while, then closes their connections.
// Later calls do nothing.
func (s *Server) stopHTTP() {
	if s.http == nil {
		return
	}
	s.httpStop.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), httpShutdownTimeout)
		defer cancel()
		if err := s.http.Shutdown(ctx); err != nil {
			s.logger.Warn("dns: metrics server: requests still running, closing them", "err", err)
			_ = s.http.Close()
		}
	})
}
