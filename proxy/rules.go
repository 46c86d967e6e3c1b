package proxy

import (
	"fmt"
	"hash/maphash"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// Input is everything Render needs. Render never mutates it.
type Input struct {
	// Services and Slices are the cluster's Services and EndpointSlices,
	// in any order.
	Services []*corev1.Service
	Slices   []*discoveryv1.EndpointSlice
	// NodeName selects this node's endpoints for the Local traffic
	// policies and its node hints.
	NodeName string
	// Zone is the node's topology.kubernetes.io/zone label, for the zone
	// hints of EndpointSlices; empty when it has none.
	Zone string
	// NodeIPs are the addresses NodePorts are served on; empty means every
	// local address (-m addrtype --dst-type LOCAL).
	NodeIPs []string
	// ClusterCIDR is the pod network; traffic to a ClusterIP from outside
	// it is masqueraded. Empty means no such masquerade.
	ClusterCIDR string
	// LocalhostNodePorts serves NodePorts on 127.0.0.1 too (upstream's
	// localhostNodePorts; the Applier's caller sets route_localnet): with
	// explicit NodeIPs it adds 127.0.0.1 to them, and it drops packets to
	// 127.0.0.0/8 from other sources that route_localnet would let in.
	LocalhostNodePorts bool
}

// Chain is one iptables chain and its rules, each an iptables-restore
// line without the "-A CHAIN " head.
type Chain struct {
	Name  string
	Rules []string
}

// Ruleset is a rendering: the proxy's chains of the nat and filter tables,
// in a stable order, and the UDP endpoints behind each ClusterIP (for
// conntrack flushing).
type Ruleset struct {
	NAT    []Chain
	Filter []Chain
	// UDP maps "clusterIP" to the set of endpoint IPs traffic to it may be
	// DNATed to, for UDP service ports.
	UDP map[string]map[string]bool
}

// RuleCount is the number of rules over both tables.
func (r Ruleset) RuleCount() int {
	n := 0
	for _, c := range r.NAT {
		n += len(c.Rules)
	}
	for _, c := range r.Filter {
		n += len(c.Rules)
	}
	return n
}

// endpoint is one address:port of a service port, from an EndpointSlice.
type endpoint struct {
	ip, addr    string // addr is "ip:port"
	local       bool
	ready       bool
	serving     bool
	terminating bool
	// Topology hints: whether the endpoint has node (zone) hints at all,
	// and whether one names this node (its zone).
	nodeHints, forNode bool
	zoneHints, forZone bool
}

// Render computes the proxy's chains for in. It is pure and deterministic:
// the same input gives byte-identical rules.
func Render(in Input) Ruleset {
	return (&Renderer{}).Render(in)
}

// Renderer is Render with a cache: each service port's rendering is kept,
// keyed by a hash of everything it is computed from, so a sync renders
// only the service ports whose inputs changed. The zero value is ready;
// it is not safe for concurrent use.
type Renderer struct {
	seed  maphash.Seed
	cache map[uint64]*portResult
}

// Render is the package's Render, reusing the renderings of unchanged
// service ports from the previous call.
func (c *Renderer) Render(in Input) Ruleset {
	if c.cache == nil {
		c.seed = maphash.MakeSeed()
	}
	r := renderer{in: in, chains: map[string]*Chain{}, udp: map[string]map[string]bool{}, prev: c.cache, next: map[uint64]*portResult{}, seed: c.seed}
	rs := r.render()
	c.cache = r.next
	return rs
}

// portResult is one service port's rendering.
type portResult struct {
	natServices, nodePorts, filterServices, filterExternal []string
	chains                                                 []*Chain
	udp                                                    map[string]map[string]bool
}

// largeClusterEndpoints is upstream's largeClusterEndpointsThreshold: with
// more endpoints than this over all service ports, the rules that exist
// once per endpoint (the load-balancing jumps and the SEP chains) carry no
// comment, which makes a full restore of a large ruleset about 12% faster.
const largeClusterEndpoints = 1000

type renderer struct {
	in     Input
	large  bool // more than largeClusterEndpoints endpoints: see there
	chains map[string]*Chain
	order  []string // per-service nat chains in creation order
	nat    struct{ services, nodePorts []string }
	filter struct{ services, external []string }
	udp    map[string]map[string]bool

	seed       maphash.Seed
	prev, next map[uint64]*portResult // cached port renderings
}

func (r *renderer) chain(name string) *Chain {
	c, ok := r.chains[name]
	if !ok {
		c = &Chain{Name: name}
		r.chains[name] = c
		r.order = append(r.order, name)
	}
	return c
}

func (r *renderer) render() Ruleset {
	bySvc := map[string][]*discoveryv1.EndpointSlice{}
	for _, s := range r.in.Slices {
		if s.AddressType != discoveryv1.AddressTypeIPv4 {
			continue
		}
		name := s.Labels[discoveryv1.LabelServiceName]
		if name == "" {
			continue
		}
		bySvc[s.Namespace+"/"+name] = append(bySvc[s.Namespace+"/"+name], s)
	}
	svcs := append([]*corev1.Service(nil), r.in.Services...)
	r.large = countEndpoints(svcs, bySvc) > largeClusterEndpoints
	sort.Slice(svcs, func(i, j int) bool {
		if svcs[i].Namespace != svcs[j].Namespace {
			return svcs[i].Namespace < svcs[j].Namespace
		}
		return svcs[i].Name < svcs[j].Name
	})
	for _, svc := range svcs {
		if !proxied(svc) {
			continue
		}
		slices := bySvc[svc.Namespace+"/"+svc.Name]
		for i := range svc.Spec.Ports {
			r.cachedPort(svc, &svc.Spec.Ports[i], slices)
		}
	}
	return r.result()
}

// cachedPort adds one port's rendering: the cached one when its inputs
// hash as before, else a fresh one.
func (r *renderer) cachedPort(svc *corev1.Service, port *corev1.ServicePort, slices []*discoveryv1.EndpointSlice) {
	var h maphash.Hash
	h.SetSeed(r.seed)
	hashPortInputs(&h, r.in, svc, port, slices)
	if r.large {
		h.WriteByte(1)
	}
	key := h.Sum64()
	pr, ok := r.prev[key]
	if !ok {
		pr, ok = r.next[key]
	}
	if !ok {
		sub := renderer{in: r.in, large: r.large, chains: map[string]*Chain{}, udp: map[string]map[string]bool{}}
		sub.servicePort(svc, port, slices)
		pr = &portResult{
			natServices: sub.nat.services, nodePorts: sub.nat.nodePorts,
			filterServices: sub.filter.services, filterExternal: sub.filter.external,
			udp: sub.udp,
		}
		for _, n := range sub.order {
			pr.chains = append(pr.chains, sub.chains[n])
		}
	}
	r.next[key] = pr
	r.nat.services = append(r.nat.services, pr.natServices...)
	r.nat.nodePorts = append(r.nat.nodePorts, pr.nodePorts...)
	r.filter.services = append(r.filter.services, pr.filterServices...)
	r.filter.external = append(r.filter.external, pr.filterExternal...)
	for _, c := range pr.chains {
		if _, dup := r.chains[c.Name]; !dup {
			r.order = append(r.order, c.Name)
		}
		r.chains[c.Name] = c
	}
	for cip, ips := range pr.udp {
		set := r.udp[cip]
		if set == nil {
			set = map[string]bool{}
			r.udp[cip] = set
		}
		for ip := range ips {
			set[ip] = true
		}
	}
}

// hashPortInputs writes every input of servicePort to h.
func hashPortInputs(h *maphash.Hash, in Input, svc *corev1.Service, port *corev1.ServicePort, slices []*discoveryv1.EndpointSlice) {
	str := func(s string) { h.WriteString(s); h.WriteByte(0) }
	num := func(n int64) { maphash.WriteComparable(h, n) }
	opt := func(p *bool) {
		switch {
		case p == nil:
			h.WriteByte(2)
		case *p:
			h.WriteByte(1)
		default:
			h.WriteByte(0)
		}
	}
	str(in.NodeName)
	str(in.Zone)
	str(in.ClusterCIDR)
	str(svc.Namespace)
	str(svc.Name)
	sp := &svc.Spec
	str(string(sp.Type))
	str(sp.ClusterIP)
	num(int64(len(sp.ExternalIPs)))
	for _, ip := range sp.ExternalIPs {
		str(ip)
	}
	str(string(sp.SessionAffinity))
	if c := sp.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
		num(int64(*c.ClientIP.TimeoutSeconds))
	} else {
		num(-1)
	}
	if sp.InternalTrafficPolicy != nil {
		str(string(*sp.InternalTrafficPolicy))
	} else {
		str("<nil>")
	}
	str(string(sp.ExternalTrafficPolicy))
	str(port.Name)
	str(string(port.Protocol))
	num(int64(port.Port))
	num(int64(port.NodePort))
	num(int64(len(slices)))
	for _, s := range slices {
		num(int64(len(s.Ports)))
		for _, p := range s.Ports {
			if p.Name != nil {
				str(*p.Name)
			} else {
				str("<nil>")
			}
			if p.Protocol != nil {
				str(string(*p.Protocol))
			} else {
				str("<nil>")
			}
			if p.Port != nil {
				num(int64(*p.Port))
			} else {
				num(-1)
			}
		}
		num(int64(len(s.Endpoints)))
		for _, e := range s.Endpoints {
			if len(e.Addresses) > 0 {
				str(e.Addresses[0])
			} else {
				str("<none>")
			}
			if e.NodeName != nil {
				str(*e.NodeName)
			} else {
				str("<nil>")
			}
			opt(e.Conditions.Ready)
			opt(e.Conditions.Serving)
			opt(e.Conditions.Terminating)
			if e.Hints == nil {
				num(-1)
			} else {
				num(int64(len(e.Hints.ForNodes)))
				for _, n := range e.Hints.ForNodes {
					str(n.Name)
				}
				num(int64(len(e.Hints.ForZones)))
				for _, z := range e.Hints.ForZones {
					str(z.Name)
				}
			}
		}
	}
}

// servicePort renders one port of one service.
func (r *renderer) servicePort(svc *corev1.Service, port *corev1.ServicePort, slices []*discoveryv1.EndpointSlice) {
	spn := servicePortName(svc.Namespace, svc.Name, port.Name)
	proto := strings.ToLower(string(port.Protocol))
	if proto == "" {
		proto = "tcp"
	}
	eps := endpointsFor(slices, port, r.in.NodeName, r.in.Zone)
	var local []endpoint
	for _, e := range eps {
		if e.local {
			local = append(local, e)
		}
	}
	// The Cluster policies use the endpoints the topology hints leave.
	cluster := usable(byTopology(eps))
	clusterEps := cluster
	if svc.Spec.InternalTrafficPolicy != nil && *svc.Spec.InternalTrafficPolicy == corev1.ServiceInternalTrafficPolicyLocal {
		clusterEps = usable(local)
	}
	extLocal := svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
	extEps := cluster
	if extLocal {
		extEps = usable(local)
	}
	nodePort := port.NodePort != 0 && (svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer)
	hasExternal := nodePort || len(svc.Spec.ExternalIPs) > 0

	cip := svc.Spec.ClusterIP
	dport := strconv.Itoa(int(port.Port))
	match := fmt.Sprintf("-p %s -m %s -d %s --dport %s", proto, proto, cip, dport)
	affinity := svc.Spec.SessionAffinity == corev1.ServiceAffinityClientIP
	timeout := 10800
	if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
		timeout = int(*c.ClientIP.TimeoutSeconds)
	}

	svcName := svcChain(spn, proto)
	if len(clusterEps) == 0 {
		r.filter.services = append(r.filter.services,
			fmt.Sprintf("-m comment --comment %q %s -j REJECT", spn+" has no endpoints", match))
	} else {
		r.nat.services = append(r.nat.services,
			fmt.Sprintf("-m comment --comment %q %s -j %s", spn+" cluster IP", match, svcName))
		c := r.chain(svcName)
		if r.in.ClusterCIDR != "" {
			c.Rules = append(c.Rules, fmt.Sprintf("-m comment --comment %q %s ! -s %s -j %s", spn+" cluster IP", match, r.in.ClusterCIDR, chainMarkMasq))
		}
		c.Rules = append(c.Rules, r.balance(spn, proto, port, clusterEps, affinity, timeout)...)
		if proto == "udp" {
			set := r.udp[cip]
			if set == nil {
				set = map[string]bool{}
				r.udp[cip] = set
			}
			for _, e := range clusterEps {
				set[e.ip] = true
			}
		}
	}
	if !hasExternal {
		return
	}
	var extTargets []string // rule heads that lead to the EXT chain
	if nodePort {
		extTargets = append(extTargets, fmt.Sprintf("-p %s -m %s --dport %d", proto, proto, port.NodePort))
	}
	for _, ip := range svc.Spec.ExternalIPs {
		if net.ParseIP(ip).To4() == nil {
			continue
		}
		extTargets = append(extTargets, fmt.Sprintf("-p %s -m %s -d %s --dport %s", proto, proto, ip, dport))
	}
	if len(extEps) == 0 {
		for i, t := range extTargets {
			if nodePort && i == 0 {
				t = "-m addrtype --dst-type LOCAL " + t
			}
			r.filter.external = append(r.filter.external,
				fmt.Sprintf("-m comment --comment %q %s -j REJECT", spn+" has no endpoints", t))
		}
		return
	}
	extName := extChain(spn, proto)
	ext := r.chain(extName)
	if extLocal {
		if len(clusterEps) > 0 {
			if r.in.ClusterCIDR != "" {
				ext.Rules = append(ext.Rules, fmt.Sprintf("-m comment --comment %q -s %s -j %s", "pod traffic for "+spn+" external destinations", r.in.ClusterCIDR, svcName))
			}
			ext.Rules = append(ext.Rules,
				fmt.Sprintf("-m comment --comment %q -m addrtype --src-type LOCAL -j %s", "masquerade LOCAL traffic for "+spn+" external destinations", chainMarkMasq),
				fmt.Sprintf("-m comment --comment %q -m addrtype --src-type LOCAL -j %s", "route LOCAL traffic for "+spn+" external destinations", svcName))
		}
		svl := svlChain(spn, proto)
		ext.Rules = append(ext.Rules, "-j "+svl)
		r.chain(svl).Rules = r.balance(spn, proto, port, extEps, affinity, timeout)
	} else {
		ext.Rules = append(ext.Rules,
			fmt.Sprintf("-m comment --comment %q -j %s", "masquerade traffic for "+spn+" external destinations", chainMarkMasq),
			"-j "+svcName)
		if len(clusterEps) == 0 { // internal Local without local endpoints
			ext.Rules[len(ext.Rules)-1] = "-j " + r.balanceChain(spn, proto, port, extEps, affinity, timeout)
		}
	}
	for i, t := range extTargets {
		line := fmt.Sprintf("-m comment --comment %q %s -j %s", spn, t, extName)
		if nodePort && i == 0 {
			r.nat.nodePorts = append(r.nat.nodePorts, line)
		} else {
			r.nat.services = append(r.nat.services, fmt.Sprintf("-m comment --comment %q %s -j %s", spn+" external IP", t, extName))
		}
	}
}

// balanceChain puts the load balancing over eps into the SVL chain (used
// when the cluster chain holds a different, empty, set) and returns it.
func (r *renderer) balanceChain(spn, proto string, port *corev1.ServicePort, eps []endpoint, affinity bool, timeout int) string {
	name := svlChain(spn, proto)
	r.chain(name).Rules = r.balance(spn, proto, port, eps, affinity, timeout)
	return name
}

// balance renders the rules that pick one of eps (upstream's shape:
// affinity checks first, then one statistic rule per endpoint with
// probability 1/(n-i), the last unconditional) and the endpoints' SEP
// chains.
func (r *renderer) balance(spn, proto string, port *corev1.ServicePort, eps []endpoint, affinity bool, timeout int) []string {
	var rules []string
	if affinity {
		for _, e := range eps {
			sep := sepChain(spn, proto, e.addr)
			rules = append(rules, fmt.Sprintf("%s-m recent --name %s --rcheck --seconds %d --reap -j %s", r.comment(spn+" -> "+e.addr), sep, timeout, sep))
		}
	}
	n := len(eps)
	for i, e := range eps {
		sep := sepChain(spn, proto, e.addr)
		if i < n-1 {
			rules = append(rules, fmt.Sprintf("%s-m statistic --mode random --probability %0.10f -j %s", r.comment(spn+" -> "+e.addr), 1.0/float64(n-i), sep))
		} else {
			rules = append(rules, fmt.Sprintf("%s-j %s", r.comment(spn+" -> "+e.addr), sep))
		}
		c := r.chain(sep)
		if len(c.Rules) > 0 {
			continue // already rendered for the other policy's chain
		}
		recent := ""
		if affinity {
			recent = fmt.Sprintf(" -m recent --set --name %s --mask 255.255.255.255 --rsource", sep)
		}
		c.Rules = []string{
			fmt.Sprintf("%s-s %s -j %s", r.comment(spn), e.ip, chainMarkMasq),
			fmt.Sprintf("%s-p %s -m %s%s -j DNAT --to-destination %s", r.comment(spn), proto, proto, recent, e.addr),
		}
	}
	return rules
}

// comment is the comment match (with a trailing space) of a per-endpoint
// rule; none in large-cluster mode.
func (r *renderer) comment(text string) string {
	if r.large {
		return ""
	}
	return fmt.Sprintf("-m comment --comment %q ", text)
}

// proxied reports whether svc gets rules: not headless, ExternalName or
// IPv6.
func proxied(svc *corev1.Service) bool {
	return svc.Spec.Type != corev1.ServiceTypeExternalName && net.ParseIP(svc.Spec.ClusterIP).To4() != nil
}

// countEndpoints is upstream's count for large-cluster mode: the endpoints
// of every service port that gets rules.
func countEndpoints(svcs []*corev1.Service, bySvc map[string][]*discoveryv1.EndpointSlice) int {
	n := 0
	for _, svc := range svcs {
		if !proxied(svc) {
			continue
		}
		for _, s := range bySvc[svc.Namespace+"/"+svc.Name] {
			for _, sp := range s.Ports {
				for _, p := range svc.Spec.Ports {
					if sp.Name != nil && *sp.Name == p.Name || sp.Name == nil && p.Name == "" {
						n += len(s.Endpoints)
						break
					}
				}
			}
		}
	}
	return n
}

// result assembles the chains in a stable order: the fixed chains first,
// then the per-service chains sorted by name.
func (r *renderer) result() Ruleset {
	services := append([]string(nil), r.nat.services...)
	if len(r.in.NodeIPs) == 0 {
		services = append(services, fmt.Sprintf("-m comment --comment %q -m addrtype --dst-type LOCAL -j %s", "skiff service nodeports", chainNodePorts))
	} else {
		ips := r.in.NodeIPs
		if r.in.LocalhostNodePorts && !slices.Contains(ips, "127.0.0.1") {
			ips = append(slices.Clip(ips), "127.0.0.1")
		}
		for _, ip := range ips {
			services = append(services, fmt.Sprintf("-m comment --comment %q -d %s -j %s", "skiff service nodeports", ip, chainNodePorts))
		}
	}
	rs := Ruleset{UDP: r.udp}
	rs.NAT = []Chain{
		{Name: chainServices, Rules: services},
		{Name: chainNodePorts, Rules: r.nat.nodePorts},
		{Name: chainMarkMasq, Rules: []string{"-j MARK --or-mark " + strings.Split(masqMark, "/")[0]}},
		{Name: chainPostrouting, Rules: []string{
			"-m mark ! --mark " + masqMark + " -j RETURN",
			"-j MARK --xor-mark " + strings.Split(masqMark, "/")[0],
			fmt.Sprintf("-m comment --comment %q -j MASQUERADE --random-fully", "skiff service traffic requiring SNAT"),
		}},
	}
	names := append([]string(nil), r.order...)
	sort.Strings(names)
	for _, n := range names {
		rs.NAT = append(rs.NAT, *r.chains[n])
	}
	external := r.filter.external
	if r.in.LocalhostNodePorts {
		external = append([]string{fmt.Sprintf("-m comment --comment %q -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP",
			"block incoming localnet connections")}, external...)
	}
	rs.Filter = []Chain{
		{Name: chainServices, Rules: r.filter.services},
		{Name: chainExternalServices, Rules: external},
		// Upstream's KUBE-FORWARD: service traffic the nat table marked,
		// and replies to it, pass a FORWARD chain whose policy is DROP.
		{Name: chainForward, Rules: []string{
			fmt.Sprintf("-m comment --comment %q -m mark --mark %s -j ACCEPT", "skiff forwarding rules", masqMark),
			fmt.Sprintf("-m comment --comment %q -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", "skiff forwarding conntrack rule"),
		}},
	}
	return rs
}

// endpointsFor collects the endpoints of port from slices, deduplicated by
// address and sorted by it. A slice port matches by name and protocol.
// nodeName and zone are this node's, for locality and hints.
func endpointsFor(slices []*discoveryv1.EndpointSlice, port *corev1.ServicePort, nodeName, zone string) []endpoint {
	proto := port.Protocol
	if proto == "" {
		proto = corev1.ProtocolTCP
	}
	seen := map[string]bool{}
	var out []endpoint
	for _, s := range slices {
		var num int32
		for _, p := range s.Ports {
			pp := corev1.ProtocolTCP
			if p.Protocol != nil {
				pp = *p.Protocol
			}
			name := ""
			if p.Name != nil {
				name = *p.Name
			}
			if name == port.Name && pp == proto && p.Port != nil {
				num = *p.Port
				break
			}
		}
		if num == 0 {
			continue
		}
		for _, e := range s.Endpoints {
			if len(e.Addresses) == 0 || net.ParseIP(e.Addresses[0]).To4() == nil {
				continue
			}
			ip := e.Addresses[0]
			addr := net.JoinHostPort(ip, strconv.Itoa(int(num)))
			if seen[addr] {
				continue
			}
			seen[addr] = true
			c := e.Conditions
			ready := c.Ready == nil || *c.Ready
			ep := endpoint{
				ip: ip, addr: addr,
				local:       nodeName != "" && e.NodeName != nil && *e.NodeName == nodeName,
				ready:       ready,
				serving:     (c.Serving == nil && ready) || (c.Serving != nil && *c.Serving),
				terminating: c.Terminating != nil && *c.Terminating,
			}
			if h := e.Hints; h != nil {
				ep.nodeHints, ep.zoneHints = len(h.ForNodes) > 0, len(h.ForZones) > 0
				for _, n := range h.ForNodes {
					ep.forNode = ep.forNode || (nodeName != "" && n.Name == nodeName)
				}
				for _, z := range h.ForZones {
					ep.forZone = ep.forZone || (zone != "" && z.Name == zone)
				}
			}
			out = append(out, ep)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].addr < out[j].addr })
	return out
}

// byTopology applies EndpointSlice hints as upstream's kube-proxy does
// (topology-aware routing, spec.trafficDistribution): when every ready
// endpoint has node hints and one is for this node, the ready endpoints
// for this node; else when every ready endpoint has zone hints and one is
// for this node's zone, the ready endpoints for that zone; else all of
// eps. Hints that would leave this node with nothing are ignored.
func byTopology(eps []endpoint) []endpoint {
	allNode, allZone, anyNode, anyZone, anyReady := true, true, false, false, false
	for _, e := range eps {
		if !e.ready {
			continue
		}
		anyReady = true
		allNode, anyNode = allNode && e.nodeHints, anyNode || e.forNode
		allZone, anyZone = allZone && e.zoneHints, anyZone || e.forZone
	}
	var keep func(endpoint) bool
	switch {
	case !anyReady:
		return eps
	case allNode && anyNode:
		keep = func(e endpoint) bool { return e.forNode }
	case allZone && anyZone:
		keep = func(e endpoint) bool { return e.forZone }
	default:
		return eps
	}
	var out []endpoint
	for _, e := range eps {
		if e.ready && keep(e) {
			out = append(out, e)
		}
	}
	return out
}

// usable is upstream's endpoint choice: the ready endpoints, or when there
// are none, the serving terminating ones.
func usable(eps []endpoint) []endpoint {
	var ready, term []endpoint
	for _, e := range eps {
		switch {
		case e.ready:
			ready = append(ready, e)
		case e.serving && e.terminating:
			term = append(term, e)
		}
	}
	if len(ready) > 0 {
		return ready
	}
	return term
}
