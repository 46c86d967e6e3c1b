// Package proxy is the node's service proxy: it turns Services and
// EndpointSlices into iptables nat and filter rules in upstream kube-proxy's
// iptables-mode shape, with a SKIFF- prefix.
//
// The work is split as elsewhere in skiff: Render (rules.go) is a pure
// function from API objects to chains; restoreDelta (restore.go) turns two
// renderings into one iptables-restore --noflush input holding only the
// chains that changed; the Applier (apply.go) runs it; Run (proxy.go) feeds
// the renderer from informers with a debounced loop and a periodic full
// resync.
//
// Chains the proxy owns (and Cleanup removes): SKIFF-SERVICES (nat and
// filter), SKIFF-EXTERNAL-SERVICES (filter), SKIFF-NODEPORTS,
// SKIFF-MARK-MASQ, SKIFF-PROXY-POSTROUTING, SKIFF-PROXY-FORWARD (filter:
// accepts forwarded service traffic under a DROP policy) and the per-service
// SKIFF-SVC-/SKIFF-SVL-/SKIFF-EXT-/SKIFF-SEP- chains. The kubelet's pod
// network chains (SKIFF-POSTROUTING, SKIFF-FORWARD) are not the proxy's and
// are left alone, which is why the masquerade chain is not named
// SKIFF-POSTROUTING as upstream's KUBE-POSTROUTING would suggest.
package proxy
