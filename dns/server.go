package dns

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"

	mdns "github.com/miekg/dns"
	"k8s.io/client-go/informers"
)

// Server is a running cluster DNS server.
type Server struct {
	zone     *zone
	forward  *forwarder
	metrics  *metrics
	logger   *slog.Logger
	ctx      context.Context // ends when the server closes
	cancel   context.CancelFunc
	udp      *mdns.Server
	tcp      *mdns.Server
	http     *http.Server   // nil without Config.MetricsBindAddress
	httpLn   net.Listener   // http's listener
	httpStop sync.Once      // stopHTTP
	done     sync.WaitGroup // the serve goroutines (DNS and HTTP)

	udpUp, tcpUp atomic.Bool // the UDP and TCP serve loops run (/healthz)
	ready        atomic.Bool // caches synced and not stopped (/readyz)

	stopOnce sync.Once
	stopErr  error // set by stopOnce
}

// Run serves cluster DNS until ctx ends, then stops and returns nil; it
// returns an error when the server cannot start.
func Run(ctx context.Context, cfg Config) error {
	s, err := Start(ctx, cfg)
	if err != nil {
		return err
	}
	<-ctx.Done()
	return s.Close()
}

// Start starts the informers, waits for their caches to sync, then listens
// on cfg.Listen (UDP and TCP, the same port) and serves in the background
// until ctx ends or Close is called. It returns once both serve loops run.
// With cfg.MetricsBindAddress the HTTP endpoints are served from the
// start, while the caches sync, until the server stops.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &Server{logger: cfg.Logger, ctx: ctx, cancel: cancel, metrics: newMetrics()}
	ok := false
	defer func() {
		if !ok {
			cancel()
			s.stopHTTP()
			s.done.Wait()
		}
	}()
	if cfg.MetricsBindAddress != "" {
		if err := s.listenHTTP(cfg.MetricsBindAddress); err != nil {
			return nil, err
		}
	}

	factory := informers.NewSharedInformerFactory(cfg.Client, 0)
	svcInf := factory.Core().V1().Services().Informer()
	esInf := factory.Discovery().V1().EndpointSlices().Informer()
	if err := svcInf.AddIndexers(serviceIndexers()); err != nil {
		return nil, fmt.Errorf("dns: service indexers: %w", err)
	}
	if err := esInf.AddIndexers(sliceIndexers()); err != nil {
		return nil, fmt.Errorf("dns: endpointslice indexers: %w", err)
	}
	factory.Start(ctx.Done())
	for typ, synced := range factory.WaitForCacheSync(ctx.Done()) {
		if !synced {
			return nil, fmt.Errorf("dns: %v cache did not sync: %w", typ, context.Cause(ctx))
		}
	}
	s.zone = &zone{
		origin:   mdns.Fqdn(cfg.ClusterDomain),
		ttl:      uint32(cfg.TTL.Seconds()),
		negTTL:   uint32(cfg.NegativeTTL.Seconds()),
		services: svcInf.GetIndexer(),
		slices:   esInf.GetIndexer(),
	}
	s.forward = &forwarder{upstreams: cfg.Upstreams, timeout: cfg.UpstreamTimeout, maxTTL: cfg.MaxCacheTTL, size: cfg.CacheSize, now: cfg.Now,
		hits: s.metrics.cacheHits, misses: s.metrics.cacheMisses}

	pc, l := cfg.PacketConn, cfg.Listener
	if pc == nil || l == nil {
		if pc, l, err = listen(cfg.Listen); err != nil {
			return nil, err
		}
	}
	s.udp = &mdns.Server{PacketConn: pc, Handler: s}
	s.tcp = &mdns.Server{Listener: l, Handler: s}
	// started gets one value per serve loop: nil once it runs, or the
	// error that ended it before it ran.
	started := make(chan error, 2)
	for _, loop := range []struct {
		srv *mdns.Server
		up  *atomic.Bool
	}{{s.udp, &s.udpUp}, {s.tcp, &s.tcpUp}} {
		var once sync.Once
		report := func(err error) { once.Do(func() { started <- err }) }
		loop.srv.NotifyStartedFunc = func() {
			loop.up.Store(true)
			report(nil)
		}
		s.done.Add(1)
		go func() {
			defer s.done.Done()
			err := loop.srv.ActivateAndServe()
			loop.up.Store(false)
			if err != nil && ctx.Err() == nil {
				s.logger.Error("dns: serve", "err", err)
			}
			report(fmt.Errorf("dns: serve: %w", cmp.Or(err, errors.New("stopped"))))
		}()
	}
	var startErrs []error
	for range 2 {
		if err := <-started; err != nil {
			startErrs = append(startErrs, err)
		}
	}
	if err := errors.Join(startErrs...); err != nil {
		_ = s.shutdown()
		pc.Close() // in case a loop never started and so never closed it
		l.Close()
		return nil, err
	}
	s.ready.Store(true)
	go func() {
		<-ctx.Done()
		_ = s.shutdown()
	}()
	s.logger.Info("cluster DNS serving", "addr", pc.LocalAddr().String(), "domain", cfg.ClusterDomain, "upstreams", cfg.Upstreams)
	ok = true
	return s, nil
}

// listen opens UDP and TCP sockets on the same addr. With port 0 the TCP
// socket takes the port the kernel gave UDP; when another TCP socket has
// it already, it tries another few ports.
func listen(addr string) (net.PacketConn, net.Listener, error) {
	_, port, _ := net.SplitHostPort(addr) // checked by withDefaults
	for try := 1; ; try++ {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("dns: listen udp: %w", err)
		}
		l, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, l, nil
		}
		pc.Close()
		if port != "0" || !errors.Is(err, syscall.EADDRINUSE) || try == 10 {
			return nil, nil, fmt.Errorf("dns: listen tcp: %w", err)
		}
	}
}

// Addr is the bound address ("127.0.0.1:40123"), the same for UDP and TCP.
func (s *Server) Addr() string { return s.udp.PacketConn.LocalAddr().String() }

// MetricsAddr is the bound address of /healthz, /readyz and /metrics
// ("127.0.0.1:40124"), or "" without Config.MetricsBindAddress.
func (s *Server) MetricsAddr() string {
	if s.httpLn == nil {
		return ""
	}
	return s.httpLn.Addr().String()
}

// Close stops serving, the HTTP endpoints and the informers, and waits
// for the serve loops and the HTTP server.
func (s *Server) Close() error {
	s.cancel()
	err := s.shutdown()
	s.done.Wait()
	return err
}

// shutdown stops both listeners, then the HTTP server, once; later calls
// return the first result.
func (s *Server) shutdown() error {
	s.stopOnce.Do(func() {
		s.ready.Store(false)
		var errs []error
		for _, srv := range []*mdns.Server{s.udp, s.tcp} {
			if err := srv.Shutdown(); err != nil {
				errs = append(errs, err)
			}
		}
		s.stopHTTP()
		s.stopErr = errors.Join(errs...)
	})
	return s.stopErr
}
