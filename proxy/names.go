package proxy

import (
	"crypto/sha256"
	"encoding/base32"
	"strings"
)

// Chain names and prefixes owned by the proxy.
const (
	chainServices         = "SKIFF-SERVICES"
	chainExternalServices = "SKIFF-EXTERNAL-SERVICES"
	chainNodePorts        = "SKIFF-NODEPORTS"
	chainMarkMasq         = "SKIFF-MARK-MASQ"
	chainPostrouting      = "SKIFF-PROXY-POSTROUTING"
	// chainForward is upstream's KUBE-FORWARD (SKIFF-FORWARD is the
	// kubelet's pod network chain).
	chainForward = "SKIFF-PROXY-FORWARD"

	prefixSVC = "SKIFF-SVC-"
	prefixSVL = "SKIFF-SVL-"
	prefixEXT = "SKIFF-EXT-"
	prefixSEP = "SKIFF-SEP-"

	// masqMark is the fwmark bit that asks SKIFF-PROXY-POSTROUTING to
	// masquerade a packet (upstream's 0x4000).
	masqMark = "0x4000/0x4000"
)

// ownedChain reports whether chain is one the proxy creates.
func ownedChain(chain string) bool {
	switch chain {
	case chainServices, chainExternalServices, chainNodePorts, chainMarkMasq, chainPostrouting, chainForward:
		return true
	}
	for _, p := range []string{prefixSVC, prefixSVL, prefixEXT, prefixSEP} {
		if strings.HasPrefix(chain, p) {
			return true
		}
	}
	return false
}

// hashName is upstream's portProtoHash: the first 16 characters of the
// base32 of sha256(s).
func hashName(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base32.StdEncoding.EncodeToString(sum[:])[:16]
}

// servicePortName is upstream's ServicePortName.String():
// "namespace/name" and ":port" when the port has a name.
func servicePortName(namespace, name, port string) string {
	s := namespace + "/" + name
	if port != "" {
		s += ":" + port
	}
	return s
}

// svcChain, svlChain and extChain name a service port's chains as
// upstream does: a hash of the port name and the protocol (lower case).
func svcChain(spn, proto string) string { return prefixSVC + hashName(spn+proto) }
func svlChain(spn, proto string) string { return prefixSVL + hashName(spn+proto) }
func extChain(spn, proto string) string { return prefixEXT + hashName(spn+proto) }

// sepChain names an endpoint's chain: a hash of the port name, the
// protocol and "ip:port".
func sepChain(spn, proto, endpoint string) string {
	return prefixSEP + hashName(spn+proto+endpoint)
}
