package dns

import (
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
	"k8s.io/client-go/kubernetes"
)

// Config configures the cluster DNS server.
type Config struct {
	// Client reads Services and EndpointSlices. Required.
	Client kubernetes.Interface
	// Listen is the UDP and TCP address to serve on, e.g. "10.96.0.10:53"
	// or "127.0.0.1:0" (a free port; Server.Addr reports it). Default
	// "0.0.0.0:53".
	Listen string
	// PacketConn and Listener, when both set, are served instead of
	// listening on Listen (sockets opened elsewhere, e.g. inside another
	// network namespace); the server closes them when it stops.
	PacketConn net.PacketConn
	Listener   net.Listener
	// ClusterDomain is the cluster's DNS zone, without a trailing dot.
	// Default "cluster.local".
	ClusterDomain string
	// TTL is the time to live of positive answers in the cluster domain.
	// Default 5 s; rounded down to whole seconds.
	TTL time.Duration
	// NegativeTTL is the SOA minimum, the time resolvers cache NXDOMAIN
	// and empty answers in the cluster domain. Default 5 s.
	NegativeTTL time.Duration
	// Upstreams are the resolvers ("host:port" or "host", port 53) for
	// names outside the cluster domain. Default: the nameservers of
	// ResolvConf. None at all means such names get SERVFAIL.
	Upstreams []string
	// ResolvConf is read for Upstreams when they are not given. Default
	// "/etc/resolv.conf".
	ResolvConf string
	// UpstreamTimeout bounds one exchange with one upstream. Default 2 s.
	UpstreamTimeout time.Duration
	// CacheSize is how many upstream answers are cached at most; default
	// 10,000; negative for no cache.
	CacheSize int
	// MaxCacheTTL caps how long an upstream answer is cached. Default 30 s.
	MaxCacheTTL time.Duration
	// Now is the clock of the upstream cache. Default time.Now.
	Now func() time.Time
	// MetricsBindAddress is the "host:port" of a plain HTTP server with
	// /healthz, /readyz and /metrics (see the package documentation),
	// e.g. "127.0.0.1:9153" or "127.0.0.1:0" (a free port;
	// Server.MetricsAddr reports it). Empty means no HTTP server.
	MetricsBindAddress string
	// Logger receives errors and start-up messages. Default discards.
	Logger *slog.Logger
}

// withDefaults returns c with defaults filled in, or an error naming the
// bad field.
func (c Config) withDefaults() (Config, error) {
	if c.Client == nil {
		return c, fmt.Errorf("dns: Config.Client is required")
	}
	if c.Listen == "" {
		c.Listen = "0.0.0.0:53"
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return c, fmt.Errorf("dns: Config.Listen: %w", err)
	}
	if c.MetricsBindAddress != "" {
		if _, _, err := net.SplitHostPort(c.MetricsBindAddress); err != nil {
			return c, fmt.Errorf("dns: Config.MetricsBindAddress: %w", err)
		}
	}
	c.ClusterDomain = strings.ToLower(strings.Trim(c.ClusterDomain, "."))
	if c.ClusterDomain == "" {
		c.ClusterDomain = "cluster.local"
	}
	if _, ok := mdns.IsDomainName(c.ClusterDomain); !ok {
		return c, fmt.Errorf("dns: Config.ClusterDomain %q is not a domain name", c.ClusterDomain)
	}
	if c.TTL <= 0 {
		c.TTL = 5 * time.Second
	}
	if c.NegativeTTL <= 0 {
		c.NegativeTTL = 5 * time.Second
	}
	if c.ResolvConf == "" {
		c.ResolvConf = "/etc/resolv.conf"
	}
	if c.Upstreams == nil {
		cc, err := mdns.ClientConfigFromFile(c.ResolvConf)
		if err != nil {
			return c, fmt.Errorf("dns: upstreams from %s: %w", c.ResolvConf, err)
		}
		for _, s := range cc.Servers {
			c.Upstreams = append(c.Upstreams, net.JoinHostPort(s, cc.Port))
		}
	}
	ups := make([]string, 0, len(c.Upstreams))
	for _, u := range c.Upstreams {
		if _, _, err := net.SplitHostPort(u); err != nil {
			u = net.JoinHostPort(u, "53")
		}
		ups = append(ups, u)
	}
	c.Upstreams = ups
	if c.UpstreamTimeout <= 0 {
		c.UpstreamTimeout = 2 * time.Second
	}
	if c.CacheSize == 0 {
		c.CacheSize = 10000
	}
	if c.MaxCacheTTL <= 0 {
		c.MaxCacheTTL = 30 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}
