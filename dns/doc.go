// Package dns is the cluster DNS: a DNS server that answers names in the
// cluster domain (default cluster.local) from Service and EndpointSlice
// informers, following upstream's DNS-based service discovery
// specification (https://github.com/kubernetes/dns/blob/master/docs/specification.md),
// and forwards every other name to the host's upstream resolvers through a
// small cache.
//
// Records:
//   - <svc>.<ns>.svc.<zone>: A/AAAA of the ClusterIPs; for a headless
//     service one A/AAAA per ready endpoint address; for an ExternalName
//     service a CNAME (followed through the upstreams for A/AAAA queries).
//   - <host>.<svc>.<ns>.svc.<zone>: a ready endpoint of a headless service,
//     by its hostname or, without one, its dashed address (10-0-0-1).
//   - _<port>._<proto>.<svc>.<ns>.svc.<zone>: SRV for named ports.
//   - PTR for ClusterIPs and for ready endpoints of headless services.
//   - <a-b-c-d>.<ns>.pod.<zone>: A for the dashed address (as CoreDNS's
//     "pods insecure", which kubeadm configures).
//   - dns-version.<zone>: TXT "1.1.0".
//
// Names in the zone that do not exist get NXDOMAIN, existing names without
// the asked type an empty NOERROR; both carry the zone's SOA in the
// authority section, whose minimum (the negative TTL) is Config.NegativeTTL.
//
// Deployment: the server is node-local and runs as its own process,
// `skiff dns`, one per node (its own systemd unit), rather than inside the
// kubelet's node agent: DNS is on every pod's critical path, so it must not
// restart or stall with the kubelet (pod churn, image pulls, GC pauses of a
// large heap), it needs only read access to Services and EndpointSlices
// (not the node's credentials), and it can be restarted, upgraded or
// replaced (by CoreDNS) on its own. The process is small: two informers and
// a cache.
package dns
