package dns

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// forwarder sends questions outside the cluster domain to the upstreams,
// in order, and caches answers for their smallest TTL (capped by maxTTL;
// negative answers for their SOA minimum). It is safe for concurrent use.
type forwarder struct {
	upstreams []string
	timeout   time.Duration
	maxTTL    time.Duration
	size      int // cache entries at most; <0 disables the cache
	now       func() time.Time
	hits      prometheus.Counter // answers from the cache
	misses    prometheus.Counter // questions not in the cache (when it is on)

	mu    sync.Mutex
	cache map[cacheKey]cacheEntry // guarded by mu
}

type cacheKey struct {
	name   string
	qtype  uint16
	qclass uint16
	do     bool // DNSSEC OK bit, which changes the answer
}

type cacheEntry struct {
	msg     *mdns.Msg // never modified once stored
	stored  time.Time
	expires time.Time
}

// errNoUpstream means no upstream is configured.
var errNoUpstream = errors.New("dns: no upstream resolvers")

// exchange answers q for a client asking req (whose ID and flags the
// caller sets on the reply). The returned message may be shared: the
// caller copies it before changing it.
func (f *forwarder) exchange(ctx context.Context, req *mdns.Msg) (*mdns.Msg, error) {
	q := req.Question[0]
	opt := req.IsEdns0()
	key := cacheKey{name: q.Name, qtype: q.Qtype, qclass: q.Qclass, do: opt != nil && opt.Do()}
	if m, ok := f.cached(key); ok {
		f.hits.Inc()
		return m, nil
	} else if f.size >= 0 {
		f.misses.Inc()
	}
	if len(f.upstreams) == 0 {
		return nil, errNoUpstream
	}
	out := new(mdns.Msg)
	out.SetQuestion(q.Name, q.Qtype)
	out.Question[0].Qclass = q.Qclass
	out.RecursionDesired = true
	out.SetEdns0(4096, key.do)
	var errs []error
	for _, up := range f.upstreams {
		m, err := f.exchangeOne(ctx, out, up)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if m.Rcode == mdns.RcodeSuccess || m.Rcode == mdns.RcodeNameError {
			f.store(key, m)
		}
		return m, nil
	}
	return nil, fmt.Errorf("dns: forwarding %s: %w", q.Name, errors.Join(errs...))
}

// exchangeOne asks one upstream over UDP, then TCP when the answer was
// truncated.
func (f *forwarder) exchangeOne(ctx context.Context, m *mdns.Msg, up string) (*mdns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	c := &mdns.Client{Net: "udp", Timeout: f.timeout}
	r, _, err := c.ExchangeContext(ctx, m, up)
	if err == nil && r.Truncated {
		c.Net = "tcp"
		r, _, err = c.ExchangeContext(ctx, m, up)
	}
	if err != nil {
		return nil, fmt.Errorf("upstream %s: %w", up, err)
	}
	return r, nil
}

// cached returns a live cache entry with its TTLs lowered by its age.
func (f *forwarder) cached(key cacheKey) (*mdns.Msg, bool) {
	if f.size < 0 {
		return nil, false
	}
	now := f.now()
	f.mu.Lock()
	e, ok := f.cache[key]
	if ok && !now.Before(e.expires) {
		delete(f.cache, key)
		ok = false
	}
	f.mu.Unlock()
	if !ok {
		return nil, false
	}
	m := e.msg.Copy()
	age := uint32(now.Sub(e.stored) / time.Second)
	for _, sec := range [][]mdns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			h := rr.Header()
			if h.Rrtype == mdns.TypeOPT {
				continue
			}
			if h.Ttl > age {
				h.Ttl -= age
			} else {
				h.Ttl = 0
			}
		}
	}
	return m, true
}

// store caches m under key for its TTL.
func (f *forwarder) store(key cacheKey, m *mdns.Msg) {
	if f.size < 0 {
		return
	}
	ttl := f.maxTTL
	lower := func(t uint32) {
		if d := time.Duration(t) * time.Second; d < ttl {
			ttl = d
		}
	}
	if len(m.Answer) > 0 {
		for _, rr := range m.Answer {
			lower(rr.Header().Ttl)
		}
	} else {
		soa := false
		for _, rr := range m.Ns {
			if s, ok := rr.(*mdns.SOA); ok {
				soa = true
				lower(min(s.Minttl, s.Hdr.Ttl))
			}
		}
		if !soa {
			return // no negative TTL to honour (RFC 2308 §5)
		}
	}
	if ttl <= 0 {
		return
	}
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cache == nil {
		f.cache = map[cacheKey]cacheEntry{}
	}
	if len(f.cache) >= f.size {
		// Evict an arbitrary entry (map order), expired ones first.
		evicted := false
		for k, e := range f.cache {
			if !now.Before(e.expires) {
				delete(f.cache, k)
				evicted = true
			}
		}
		if !evicted {
			for k := range f.cache {
				delete(f.cache, k)
				break
			}
		}
	}
	f.cache[key] = cacheEntry{msg: m.Copy(), stored: now, expires: now.Add(ttl)}
}
