package dns

import (
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/tools/cache"
)

// Index names of the informers' extra indexes.
const (
	byClusterIP = "clusterIP"    // Service → each ClusterIP
	byService   = "service"      // EndpointSlice → "<ns>/<service>"
	byAddress   = "readyAddress" // EndpointSlice → each ready address
)

// serviceIndexers index Services by ClusterIP, for PTR.
func serviceIndexers() cache.Indexers {
	return cache.Indexers{byClusterIP: func(obj any) ([]string, error) {
		svc, ok := obj.(*corev1.Service)
		if !ok {
			return nil, fmt.Errorf("dns: indexing %T, want *Service", obj)
		}
		var ips []string
		for _, ip := range clusterIPs(svc) {
			ips = append(ips, ip.String())
		}
		return ips, nil
	}}
}

// sliceIndexers index EndpointSlices by owning service and by ready
// address, for headless answers and PTR.
func sliceIndexers() cache.Indexers {
	return cache.Indexers{
		byService: func(obj any) ([]string, error) {
			es, ok := obj.(*discoveryv1.EndpointSlice)
			if !ok {
				return nil, fmt.Errorf("dns: indexing %T, want *EndpointSlice", obj)
			}
			name := es.Labels[discoveryv1.LabelServiceName]
			if name == "" {
				return nil, nil
			}
			return []string{es.Namespace + "/" + name}, nil
		},
		byAddress: func(obj any) ([]string, error) {
			es, ok := obj.(*discoveryv1.EndpointSlice)
			if !ok {
				return nil, fmt.Errorf("dns: indexing %T, want *EndpointSlice", obj)
			}
			var addrs []string
			for _, ep := range es.Endpoints {
				if !ready(ep) {
					continue
				}
				for _, a := range ep.Addresses {
					if ip, err := netip.ParseAddr(a); err == nil {
						addrs = append(addrs, ip.Unmap().String())
					}
				}
			}
			return addrs, nil
		},
	}
}

// ready reports whether an endpoint is ready; nil means ready (as the
// EndpointSlice API defines it).
func ready(ep discoveryv1.Endpoint) bool {
	return ep.Conditions.Ready == nil || *ep.Conditions.Ready
}

// headless reports whether svc has no cluster IP (clusterIP: None).
func headless(svc *corev1.Service) bool {
	return svc.Spec.ClusterIP == corev1.ClusterIPNone
}

// clusterIPs returns the service's valid cluster IPs (none for headless
// and ExternalName services).
func clusterIPs(svc *corev1.Service) []netip.Addr {
	if svc.Spec.Type == corev1.ServiceTypeExternalName || headless(svc) {
		return nil
	}
	ips := svc.Spec.ClusterIPs
	if len(ips) == 0 && svc.Spec.ClusterIP != "" {
		ips = []string{svc.Spec.ClusterIP}
	}
	var out []netip.Addr
	for _, s := range ips {
		if ip, err := netip.ParseAddr(s); err == nil {
			out = append(out, ip.Unmap())
		}
	}
	return out
}
