package dns

import (
	"strings"
	"time"

	mdns "github.com/miekg/dns"
)

// ServeDNS answers one query: names in the cluster domain and reverse
// names of cluster addresses from the informers, everything else through
// the upstreams.
func (s *Server) ServeDNS(w mdns.ResponseWriter, req *mdns.Msg) {
	// Wall time only measures the request; no decision depends on it.
	start := time.Now()
	m, zone := s.answer(req)
	size := mdns.MinMsgSize
	if opt := req.IsEdns0(); opt != nil {
		size = max(int(opt.UDPSize()), mdns.MinMsgSize)
		m.SetEdns0(uint16(min(size, 4096)), opt.Do())
	}
	proto := protoUDP
	if w.LocalAddr().Network() == "tcp" {
		proto = protoTCP
		size = mdns.MaxMsgSize
	}
	m.Truncate(size)
	qtype := typeOther
	if len(req.Question) == 1 {
		qtype = qtypeLabel(req.Question[0].Qtype)
	}
	// Counted before the reply leaves, so that a client that got it sees
	// it in /metrics.
	s.metrics.observe(proto, qtype, zone, m.Rcode, time.Since(start))
	if err := w.WriteMsg(m); err != nil {
		s.logger.Debug("dns: write reply", "err", err)
	}
}

// answer builds the reply to req (without the OPT record) and tells
// where it came from.
func (s *Server) answer(req *mdns.Msg) (*mdns.Msg, zoneLabel) {
	m := new(mdns.Msg)
	m.SetReply(req)
	m.RecursionAvailable = true
	m.Compress = true
	if req.Opcode != mdns.OpcodeQuery || len(req.Question) != 1 {
		m.Rcode = mdns.RcodeNotImplemented
		if len(req.Question) != 1 {
			m.Rcode = mdns.RcodeFormatError
		}
		return m, zoneCluster
	}
	q := req.Question[0]
	q.Name = strings.ToLower(q.Name)
	if s.zone.inZone(q.Name) {
		m.Authoritative = true
		res := s.zone.lookup(q)
		s.fill(m, req, res)
		return m, zoneCluster
	}
	if q.Qtype == mdns.TypePTR || q.Qtype == mdns.TypeANY {
		if res, ok := s.zone.ptr(q); ok {
			m.Authoritative = true
			s.fill(m, req, res)
			return m, zoneCluster
		}
	}
	up, err := s.forward.exchange(s.ctx, req)
	if err != nil {
		s.logger.Debug("dns: forward", "name", q.Name, "err", err)
		m.Rcode = mdns.RcodeServerFailure
		return m, zoneForward
	}
	m.Rcode = up.Rcode
	m.AuthenticatedData = up.AuthenticatedData
	m.Answer, m.Ns = up.Answer, up.Ns
	for _, rr := range up.Extra {
		if rr.Header().Rrtype != mdns.TypeOPT {
			m.Extra = append(m.Extra, rr)
		}
	}
	return m, zoneForward
}

// fill puts a zone result into m, with the SOA in the authority section
// when there is no answer, and follows an ExternalName's CNAME target for
// address queries through the upstreams.
func (s *Server) fill(m, req *mdns.Msg, res result) {
	m.Rcode = res.rcode
	m.Answer, m.Extra = res.answer, res.extra
	q := req.Question[0]
	if res.follow != "" && !s.zone.inZone(res.follow) {
		fq := req.Copy()
		fq.Question[0].Name = res.follow
		if up, err := s.forward.exchange(s.ctx, fq); err == nil {
			m.Answer = append(m.Answer, up.Answer...)
		} else {
			s.logger.Debug("dns: follow ExternalName", "name", q.Name, "target", res.follow, "err", err)
		}
	}
	if len(m.Answer) == 0 {
		m.Ns = []mdns.RR{s.zone.soa()}
	}
}
