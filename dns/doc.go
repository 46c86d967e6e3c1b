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
// Health and metrics: with Config.MetricsBindAddress (`skiff dns
// --metrics-bind-address`, default 127.0.0.1:9153, CoreDNS's metrics
// port) a plain HTTP server, started before the caches sync and stopped
// with the DNS server, serves
//   - /healthz: 200 "ok" while both the UDP and the TCP serve loops run,
//     503 otherwise (CoreDNS's health plugin);
//   - /readyz: 200 "ok" once the Service and EndpointSlice caches have
//     synced and the server answers, 503 before and while it stops
//     (CoreDNS's ready plugin, there on :8181/ready);
//   - /metrics: Prometheus text format, in the shape of CoreDNS's metrics
//     with a skiff_dns_ prefix, plus the Go and process collectors:
//     skiff_dns_requests_total{proto="udp|tcp",type="A|AAAA|SRV|PTR|CNAME|TXT|other"},
//     skiff_dns_responses_total{rcode="NOERROR|NXDOMAIN|SERVFAIL|..."},
//     skiff_dns_request_duration_seconds{zone="cluster|forward"} (a
//     histogram; cluster: answered from the informers, including reverse
//     names and ExternalName CNAMEs; forward: asked of the upstreams or
//     their cache), skiff_dns_cache_hits_total and
//     skiff_dns_cache_misses_total (the upstream answer cache).
//
// Large answers: a UDP reply is truncated (TC bit) to 512 bytes, or to the
// client's EDNS0 buffer size (at most 4096); over TCP it is whole, up to
// 64 KiB.
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
