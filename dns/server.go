package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	mdns "github.com/miekg/dns"
	"k8s.io/client-go/informers"
)

// Server is a running cluster DNS server.
type Server struct {
	zone    *zone
	forward *forwarder
	logger  *slog.Logger
	ctx     context.Context // ends when the server closes
	cancel  context.CancelFunc
	udp     *mdns.Server
	tcp     *mdns.Server
	done    sync.WaitGroup // the serve goroutines

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
// until ctx ends or Close is called.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &Server{logger: cfg.Logger, ctx: ctx, cancel: cancel}
	ok := false
	defer func() {
		if !ok {
			cancel()
		}
	}()

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
	s.forward = &forwarder{upstreams: cfg.Upstreams, timeout: cfg.UpstreamTimeout, maxTTL: cfg.MaxCacheTTL, size: cfg.CacheSize, now: cfg.Now}

	pc, l := cfg.PacketConn, cfg.Listener
	if pc == nil || l == nil {
		if pc, err = net.ListenPacket("udp", cfg.Listen); err != nil {
			return nil, fmt.Errorf("dns: listen udp: %w", err)
		}
		// TCP on the port UDP got (which matters for port 0).
		if l, err = net.Listen("tcp", pc.LocalAddr().String()); err != nil {
			pc.Close()
			return nil, fmt.Errorf("dns: listen tcp: %w", err)
		}
	}
	s.udp = &mdns.Server{PacketConn: pc, Handler: s}
	s.tcp = &mdns.Server{Listener: l, Handler: s}
	for _, srv := range []*mdns.Server{s.udp, s.tcp} {
		s.done.Add(1)
		go func() {
			defer s.done.Done()
			if err := srv.ActivateAndServe(); err != nil && ctx.Err() == nil {
				s.logger.Error("dns: serve", "err", err)
			}
		}()
	}
	go func() {
		<-ctx.Done()
		_ = s.shutdown()
	}()
	s.logger.Info("cluster DNS serving", "addr", pc.LocalAddr().String(), "domain", cfg.ClusterDomain, "upstreams", cfg.Upstreams)
	ok = true
	return s, nil
}

// Addr is the bound address ("127.0.0.1:40123"), the same for UDP and TCP.
func (s *Server) Addr() string { return s.udp.PacketConn.LocalAddr().String() }

// Close stops serving and the informers and waits for the serve loops.
func (s *Server) Close() error {
	s.cancel()
	err := s.shutdown()
	s.done.Wait()
	return err
}

// shutdown stops both listeners once; later calls return the first
// result.
func (s *Server) shutdown() error {
	s.stopOnce.Do(func() {
		var errs []error
		for _, srv := range []*mdns.Server{s.udp, s.tcp} {
			if err := srv.Shutdown(); err != nil {
				errs = append(errs, err)
			}
		}
		s.stopErr = errors.Join(errs...)
	})
	return s.stopErr
}
