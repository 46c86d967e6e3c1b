package dns

import (
	"strconv"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Label values of skiff_dns_requests_total and
// skiff_dns_request_duration_seconds, as array indexes so that the hot
// path picks a resolved series instead of hashing label values.
type (
	protoLabel int // proto
	typeLabel  int // type
	zoneLabel  int // zone
)

const (
	protoUDP protoLabel = iota
	protoTCP
	numProtos
)

var protoNames = [numProtos]string{"udp", "tcp"}

const (
	typeA typeLabel = iota
	typeAAAA
	typeSRV
	typePTR
	typeCNAME
	typeTXT
	typeOther
	numTypes
)

var typeNames = [numTypes]string{"A", "AAAA", "SRV", "PTR", "CNAME", "TXT", "other"}

const (
	// zoneCluster: answered by the server itself, from the informers
	// (names in the cluster domain, including an ExternalName whose
	// target is then looked up upstream, and reverse names of cluster
	// addresses), or refused as malformed.
	zoneCluster zoneLabel = iota
	// zoneForward: the question went to the upstreams (or their cache).
	zoneForward
	numZones
)

var zoneNames = [numZones]string{"cluster", "forward"}

// qtypeLabel maps a query type to its type label.
func qtypeLabel(t uint16) typeLabel {
	switch t {
	case mdns.TypeA:
		return typeA
	case mdns.TypeAAAA:
		return typeAAAA
	case mdns.TypeSRV:
		return typeSRV
	case mdns.TypePTR:
		return typePTR
	case mdns.TypeCNAME:
		return typeCNAME
	case mdns.TypeTXT:
		return typeTXT
	}
	return typeOther
}

// metrics are one server's Prometheus metrics, in its own registry, in
// CoreDNS's shape (coredns_dns_requests_total and so on) with a skiff_dns_
// prefix. They are counted whether or not they are served. Safe for
// concurrent use.
type metrics struct {
	registry *prometheus.Registry

	requests    [numProtos][numTypes]prometheus.Counter
	duration    [numZones]prometheus.Observer
	responses   *prometheus.CounterVec
	rcodes      [numRcodeSlots]atomic.Pointer[prometheus.Counter] // resolved children of responses, by rcode
	cacheHits   prometheus.Counter
	cacheMisses prometheus.Counter
}

// numRcodeSlots covers the rcodes miekg/dns names (up to BADCOOKIE, 23);
// larger extended rcodes take the slow path.
const numRcodeSlots = 24

func newMetrics() *metrics {
	m := &metrics{registry: prometheus.NewRegistry()}
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "skiff_dns_requests_total",
		Help: "Counter of DNS requests made per protocol and query type.",
	}, []string{"proto", "type"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "skiff_dns_request_duration_seconds",
		Help: "Histogram of the time (in seconds) each request took until its reply was ready to send, by where it was answered: " +
			"cluster (from the informers) or forward (the upstreams and their cache).",
		// CoreDNS's buckets: 0.25 ms to 8 s.
		Buckets: prometheus.ExponentialBuckets(0.00025, 2, 16),
	}, []string{"zone"})
	m.responses = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "skiff_dns_responses_total",
		Help: "Counter of DNS responses per response code.",
	}, []string{"rcode"})
	m.cacheHits = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "skiff_dns_cache_hits_total",
		Help: "Counter of forwarded questions answered from the upstream answer cache.",
	})
	m.cacheMisses = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "skiff_dns_cache_misses_total",
		Help: "Counter of forwarded questions not in the upstream answer cache.",
	})
	m.registry.MustRegister(requests, duration, m.responses, m.cacheHits, m.cacheMisses,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// The request series are a small fixed set: resolve (and so export,
	// at zero) them all up front.
	for p := range numProtos {
		for t := range numTypes {
			m.requests[p][t] = requests.WithLabelValues(protoNames[p], typeNames[t])
		}
	}
	for z := range numZones {
		m.duration[z] = duration.WithLabelValues(zoneNames[z])
	}
	return m
}

// observe counts one answered request.
func (m *metrics) observe(proto protoLabel, qtype typeLabel, zone zoneLabel, rcode int, d time.Duration) {
	m.requests[proto][qtype].Inc()
	m.response(rcode).Inc()
	m.duration[zone].Observe(d.Seconds())
}

// response returns the responses_total series of rcode, resolving it on
// first use so that only rcodes actually sent are exported.
func (m *metrics) response(rcode int) prometheus.Counter {
	if rcode < 0 || rcode >= numRcodeSlots {
		return m.responses.WithLabelValues(rcodeName(rcode))
	}
	if c := m.rcodes[rcode].Load(); c != nil {
		return *c
	}
	c := m.responses.WithLabelValues(rcodeName(rcode))
	m.rcodes[rcode].Store(&c) // a racing store holds the same child
	return c
}

// rcodeName is rcode's mnemonic (NOERROR, NXDOMAIN, ...), or its number.
func rcodeName(rcode int) string {
	if s, ok := mdns.RcodeToString[rcode]; ok {
		return s
	}
	return strconv.Itoa(rcode)
}
