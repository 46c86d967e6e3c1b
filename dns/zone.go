package dns

import (
	"net/netip"
	"strconv"
	"strings"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/tools/cache"
)

// zone answers names in the cluster domain from the informers' caches. It
// only reads the caches, so it is safe for concurrent use.
type zone struct {
	origin   string // "cluster.local.", lower case, fully qualified
	ttl      uint32 // of positive answers
	negTTL   uint32 // SOA minimum and TTL
	services cache.Indexer
	slices   cache.Indexer
}

// result is the zone's answer to one question.
type result struct {
	rcode  int // mdns.RcodeSuccess or mdns.RcodeNameError
	answer []mdns.RR
	extra  []mdns.RR
	// follow is an ExternalName target whose A/AAAA records the server
	// should append (from the upstreams); "" for none.
	follow string
}

// inZone reports whether name (lower case, fully qualified) is in the zone.
func (z *zone) inZone(name string) bool {
	return name == z.origin || strings.HasSuffix(name, "."+z.origin)
}

// soa is the zone's SOA record; its minimum is the negative TTL.
func (z *zone) soa() mdns.RR {
	return &mdns.SOA{
		Hdr:     mdns.RR_Header{Name: z.origin, Rrtype: mdns.TypeSOA, Class: mdns.ClassINET, Ttl: z.negTTL},
		Ns:      "ns.dns." + z.origin,
		Mbox:    "hostmaster." + z.origin,
		Serial:  1,
		Refresh: 7200, Retry: 1800, Expire: 86400,
		Minttl: z.negTTL,
	}
}

// lookup answers q, whose name is in the zone and lower case.
func (z *zone) lookup(q mdns.Question) result {
	rel := strings.TrimSuffix(strings.TrimSuffix(q.Name, z.origin), ".")
	var labels []string
	if rel != "" {
		labels = strings.Split(rel, ".")
	}
	n := len(labels)
	switch {
	case n == 0:
		if q.Qtype == mdns.TypeSOA {
			return result{answer: []mdns.RR{z.soa()}}
		}
		return result{}
	case n == 1 && labels[0] == "dns-version":
		if q.Qtype == mdns.TypeTXT {
			return result{answer: []mdns.RR{&mdns.TXT{Hdr: z.hdr(q.Name, mdns.TypeTXT), Txt: []string{"1.1.0"}}}}
		}
		return result{}
	case labels[n-1] == "svc" && n <= 2:
		// svc.<zone> and <ns>.svc.<zone> exist as parents of service names.
		return result{}
	case labels[n-1] == "svc" && n == 3:
		return z.service(q, labels[1], labels[0])
	case labels[n-1] == "svc" && n == 4:
		return z.endpoint(q, labels[2], labels[1], labels[0])
	case labels[n-1] == "svc" && n == 5 && strings.HasPrefix(labels[0], "_") && strings.HasPrefix(labels[1], "_"):
		return z.srv(q, labels[3], labels[2], labels[0][1:], labels[1][1:])
	case labels[n-1] == "pod" && n == 3:
		return z.pod(q, labels[0])
	case labels[n-1] == "pod" && n < 3:
		return result{}
	}
	return result{rcode: mdns.RcodeNameError}
}

// hdr is a positive answer's header.
func (z *zone) hdr(name string, t uint16) mdns.RR_Header {
	return mdns.RR_Header{Name: name, Rrtype: t, Class: mdns.ClassINET, Ttl: z.ttl}
}

// addr returns an A or AAAA record for ip named name, or nil when ip's
// family is not the one asked for (qtype A, AAAA or ANY).
func (z *zone) addr(name string, qtype uint16, ip netip.Addr) mdns.RR {
	switch {
	case ip.Is4() && (qtype == mdns.TypeA || qtype == mdns.TypeANY):
		return &mdns.A{Hdr: z.hdr(name, mdns.TypeA), A: ip.AsSlice()}
	case ip.Is6() && (qtype == mdns.TypeAAAA || qtype == mdns.TypeANY):
		return &mdns.AAAA{Hdr: z.hdr(name, mdns.TypeAAAA), AAAA: ip.AsSlice()}
	}
	return nil
}

// getService returns the service ns/name from the cache, or nil.
func (z *zone) getService(ns, name string) *corev1.Service {
	obj, ok, err := z.services.GetByKey(ns + "/" + name)
	if err != nil || !ok {
		return nil
	}
	svc, _ := obj.(*corev1.Service)
	return svc
}

// readyEndpoints calls f for each ready endpoint of the service ns/name
// with its slice (for the ports), addresses deduplicated.
func (z *zone) readyEndpoints(ns, name string, f func(es *discoveryv1.EndpointSlice, ep discoveryv1.Endpoint, ip netip.Addr)) {
	objs, err := z.slices.ByIndex(byService, ns+"/"+name)
	if err != nil {
		return
	}
	seen := map[netip.Addr]bool{}
	for _, obj := range objs {
		es, ok := obj.(*discoveryv1.EndpointSlice)
		if !ok {
			continue
		}
		for _, ep := range es.Endpoints {
			if !ready(ep) {
				continue
			}
			for _, a := range ep.Addresses {
				ip, err := netip.ParseAddr(a)
				if err != nil || seen[ip.Unmap()] {
					continue
				}
				seen[ip.Unmap()] = true
				f(es, ep, ip.Unmap())
			}
		}
	}
}

// service answers <name>.<ns>.svc.<zone>.
func (z *zone) service(q mdns.Question, ns, name string) result {
	svc := z.getService(ns, name)
	if svc == nil {
		return result{rcode: mdns.RcodeNameError}
	}
	var r result
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		target := mdns.Fqdn(strings.ToLower(svc.Spec.ExternalName))
		r.answer = append(r.answer, &mdns.CNAME{Hdr: z.hdr(q.Name, mdns.TypeCNAME), Target: target})
		if q.Qtype != mdns.TypeCNAME {
			r.follow = target
		}
		return r
	}
	if headless(svc) {
		z.readyEndpoints(ns, name, func(_ *discoveryv1.EndpointSlice, _ discoveryv1.Endpoint, ip netip.Addr) {
			if rr := z.addr(q.Name, q.Qtype, ip); rr != nil {
				r.answer = append(r.answer, rr)
			}
		})
		return r
	}
	for _, ip := range clusterIPs(svc) {
		if rr := z.addr(q.Name, q.Qtype, ip); rr != nil {
			r.answer = append(r.answer, rr)
		}
	}
	return r
}

// endpointLabel is the first label of an endpoint's name: its hostname or,
// without one, its dashed address.
func endpointLabel(ep discoveryv1.Endpoint, ip netip.Addr) string {
	if ep.Hostname != nil && *ep.Hostname != "" {
		return strings.ToLower(*ep.Hostname)
	}
	return dashed(ip)
}

// dashed writes ip with dashes for dots and colons (10-0-0-1).
func dashed(ip netip.Addr) string {
	return strings.NewReplacer(".", "-", ":", "-").Replace(ip.StringExpanded())
}

// endpoint answers <host>.<name>.<ns>.svc.<zone> for ready endpoints of a
// headless service.
func (z *zone) endpoint(q mdns.Question, ns, name, host string) result {
	svc := z.getService(ns, name)
	if svc == nil || !headless(svc) {
		return result{rcode: mdns.RcodeNameError}
	}
	r := result{rcode: mdns.RcodeNameError}
	z.readyEndpoints(ns, name, func(_ *discoveryv1.EndpointSlice, ep discoveryv1.Endpoint, ip netip.Addr) {
		if endpointLabel(ep, ip) != host {
			return
		}
		r.rcode = mdns.RcodeSuccess
		if rr := z.addr(q.Name, q.Qtype, ip); rr != nil {
			r.answer = append(r.answer, rr)
		}
	})
	return r
}

// srv answers _<port>._<proto>.<name>.<ns>.svc.<zone>: one record for a
// ClusterIP service, one per ready endpoint of a headless one, with the
// targets' addresses in the additional section.
func (z *zone) srv(q mdns.Question, ns, name, port, proto string) result {
	svc := z.getService(ns, name)
	if svc == nil || svc.Spec.Type == corev1.ServiceTypeExternalName {
		return result{rcode: mdns.RcodeNameError}
	}
	svcName := name + "." + ns + ".svc." + z.origin
	r := result{rcode: mdns.RcodeNameError}
	if !headless(svc) {
		for _, p := range svc.Spec.Ports {
			if strings.ToLower(p.Name) != port || strings.ToLower(string(p.Protocol)) != proto {
				continue
			}
			r.rcode = mdns.RcodeSuccess
			if q.Qtype == mdns.TypeSRV || q.Qtype == mdns.TypeANY {
				r.answer = append(r.answer, &mdns.SRV{Hdr: z.hdr(q.Name, mdns.TypeSRV), Priority: 0, Weight: 100, Port: uint16(p.Port), Target: svcName})
				for _, ip := range clusterIPs(svc) {
					r.extra = append(r.extra, z.addr(svcName, mdns.TypeANY, ip))
				}
			}
		}
		return r
	}
	z.readyEndpoints(ns, name, func(es *discoveryv1.EndpointSlice, ep discoveryv1.Endpoint, ip netip.Addr) {
		for _, p := range es.Ports {
			if p.Name == nil || p.Port == nil || strings.ToLower(*p.Name) != port ||
				(p.Protocol != nil && strings.ToLower(string(*p.Protocol)) != proto) || (p.Protocol == nil && proto != "tcp") {
				continue
			}
			r.rcode = mdns.RcodeSuccess
			if q.Qtype == mdns.TypeSRV || q.Qtype == mdns.TypeANY {
				target := endpointLabel(ep, ip) + "." + svcName
				r.answer = append(r.answer, &mdns.SRV{Hdr: z.hdr(q.Name, mdns.TypeSRV), Priority: 0, Weight: 100, Port: uint16(*p.Port), Target: target})
				r.extra = append(r.extra, z.addr(target, mdns.TypeANY, ip))
			}
		}
	})
	return r
}

// pod answers <a-b-c-d>.<ns>.pod.<zone> with the address it spells.
func (z *zone) pod(q mdns.Question, label string) result {
	var ip netip.Addr
	var err error
	if strings.Count(label, "-") == 3 {
		ip, err = netip.ParseAddr(strings.ReplaceAll(label, "-", "."))
	} else {
		ip, err = netip.ParseAddr(strings.ReplaceAll(label, "-", ":"))
	}
	if err != nil {
		return result{rcode: mdns.RcodeNameError}
	}
	var r result
	if rr := z.addr(q.Name, q.Qtype, ip); rr != nil {
		r.answer = append(r.answer, rr)
	}
	return r
}

// ptr answers a reverse name for a ClusterIP or a ready endpoint of a
// headless service; ok is false when the address is not the cluster's.
func (z *zone) ptr(q mdns.Question) (r result, ok bool) {
	ip, ok := reverseAddr(q.Name)
	if !ok {
		return result{}, false
	}
	var targets []string
	objs, _ := z.services.ByIndex(byClusterIP, ip.String())
	for _, obj := range objs {
		if svc, ok := obj.(*corev1.Service); ok {
			targets = append(targets, svc.Name+"."+svc.Namespace+".svc."+z.origin)
		}
	}
	objs, _ = z.slices.ByIndex(byAddress, ip.String())
	for _, obj := range objs {
		es, ok := obj.(*discoveryv1.EndpointSlice)
		if !ok {
			continue
		}
		name := es.Labels[discoveryv1.LabelServiceName]
		if svc := z.getService(es.Namespace, name); svc == nil || !headless(svc) {
			continue
		}
		for _, ep := range es.Endpoints {
			for _, a := range ep.Addresses {
				if epIP, err := netip.ParseAddr(a); err == nil && epIP.Unmap() == ip && ready(ep) {
					targets = append(targets, endpointLabel(ep, ip)+"."+name+"."+es.Namespace+".svc."+z.origin)
				}
			}
		}
	}
	if len(targets) == 0 {
		return result{}, false
	}
	if q.Qtype == mdns.TypePTR || q.Qtype == mdns.TypeANY {
		for _, t := range targets {
			r.answer = append(r.answer, &mdns.PTR{Hdr: z.hdr(q.Name, mdns.TypePTR), Ptr: t})
		}
	}
	return r, true
}

// reverseAddr parses an in-addr.arpa or ip6.arpa name into an address.
func reverseAddr(name string) (netip.Addr, bool) {
	if s, ok := strings.CutSuffix(name, ".in-addr.arpa."); ok {
		p := strings.Split(s, ".")
		if len(p) != 4 {
			return netip.Addr{}, false
		}
		ip, err := netip.ParseAddr(p[3] + "." + p[2] + "." + p[1] + "." + p[0])
		return ip, err == nil
	}
	if s, ok := strings.CutSuffix(name, ".ip6.arpa."); ok {
		p := strings.Split(s, ".")
		if len(p) != 32 {
			return netip.Addr{}, false
		}
		var b [16]byte
		for i := range 16 {
			hi, err1 := strconv.ParseUint(p[31-2*i], 16, 8)
			lo, err2 := strconv.ParseUint(p[30-2*i], 16, 8)
			if err1 != nil || err2 != nil || len(p[31-2*i]) != 1 || len(p[30-2*i]) != 1 {
				return netip.Addr{}, false
			}
			b[i] = byte(hi<<4 | lo)
		}
		return netip.AddrFrom16(b), true
	}
	return netip.Addr{}, false
}
