package endpointslice

import (
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// reconciler decides the slice changes of one address type.
type reconciler struct {
	meta   metav1.ObjectMeta
	at     discoveryv1.AddressType
	maxPer int
	svc    *corev1.Service

	create, update, del []*discoveryv1.EndpointSlice
}

// run reconciles existing (slices of r.at, sorted by name) with desired
// (endpoints by port set).
func (r *reconciler) run(existing []*discoveryv1.EndpointSlice, desired map[string]*portSet) {
	byPorts := map[string][]*discoveryv1.EndpointSlice{}
	for _, s := range existing {
		k := portsKey(s.Ports)
		byPorts[k] = append(byPorts[k], s)
	}
	keys := slices.Collect(maps.Keys(desired))
	for k := range byPorts {
		if desired[k] == nil {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		ps := desired[k]
		if ps == nil {
			ps = &portSet{ports: byPorts[k][0].Ports}
		}
		r.byPorts(byPorts[k], ps)
	}
	// A Service without endpoints keeps one placeholder slice.
	if len(existing) == len(r.del) && len(r.create) == 0 {
		r.create = append(r.create, r.newSlice([]discoveryv1.EndpointPort{}, nil))
	}
	// New slices take the names of slices about to be deleted.
	for len(r.create) > 0 && len(r.del) > 0 {
		old, c := r.del[0], r.create[0]
		r.del, r.create = r.del[1:], r.create[1:]
		u := r.updated(old, c.Endpoints, c.Ports)
		if !sameContent(old, u) {
			r.update = append(r.update, u)
		}
	}
}

// byPorts reconciles the existing slices of one port set with ps.
func (r *reconciler) byPorts(existing []*discoveryv1.EndpointSlice, ps *portSet) {
	remaining := maps.Clone(ps.endpoints)
	var unchanged, toUpdate []*discoveryv1.EndpointSlice
	for _, s := range existing {
		var eps []discoveryv1.Endpoint
		changed := false
		for _, ep := range s.Endpoints {
			k := endpointKey(ep)
			d, ok := remaining[k]
			if !ok {
				changed = true
				continue
			}
			if !apiequality.Semantic.DeepEqual(d, ep) {
				changed = true
			}
			eps = append(eps, d)
			delete(remaining, k)
		}
		if len(eps) == 0 {
			r.del = append(r.del, s)
			continue
		}
		u := r.updated(s, eps, ps.ports)
		if changed || !sameContent(s, u) {
			toUpdate = append(toUpdate, u)
		} else {
			unchanged = append(unchanged, s)
		}
	}
	var rest []discoveryv1.Endpoint
	for _, k := range slices.Sorted(maps.Keys(remaining)) {
		rest = append(rest, remaining[k])
	}
	// 1. Fill the slices that are being updated anyway.
	for _, u := range toUpdate {
		n := min(max(r.maxPer-len(u.Endpoints), 0), len(rest))
		u.Endpoints = append(u.Endpoints, rest[:n]...)
		rest = rest[n:]
	}
	// 2. Then one unchanged slice with room for all that is left, the
	// fullest first.
	if len(rest) > 0 {
		slices.SortStableFunc(unchanged, func(a, b *discoveryv1.EndpointSlice) int { return len(b.Endpoints) - len(a.Endpoints) })
		for _, s := range unchanged {
			if len(s.Endpoints)+len(rest) <= r.maxPer {
				toUpdate = append(toUpdate, r.updated(s, append(slices.Clone(s.Endpoints), rest...), ps.ports))
				rest = nil
				break
			}
		}
	}
	// 3. Then new slices.
	for len(rest) > 0 {
		n := min(r.maxPer, len(rest))
		r.create = append(r.create, r.newSlice(ps.ports, rest[:n]))
		rest = rest[n:]
	}
	r.update = append(r.update, toUpdate...)
}

// newSlice is a slice to create with generateName.
func (r *reconciler) newSlice(ports []discoveryv1.EndpointPort, eps []discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	m := *r.meta.DeepCopy()
	return &discoveryv1.EndpointSlice{ObjectMeta: m, AddressType: r.at, Endpoints: slices.Clone(eps), Ports: ports}
}

// updated is a copy of s with the service's metadata, eps and ports.
func (r *reconciler) updated(s *discoveryv1.EndpointSlice, eps []discoveryv1.Endpoint, ports []discoveryv1.EndpointPort) *discoveryv1.EndpointSlice {
	u := s.DeepCopy()
	m := r.meta.DeepCopy()
	u.Labels = m.Labels
	u.OwnerReferences = m.OwnerReferences
	if t, ok := m.Annotations[corev1.EndpointsLastChangeTriggerTime]; ok {
		if u.Annotations == nil {
			u.Annotations = map[string]string{}
		}
		u.Annotations[corev1.EndpointsLastChangeTriggerTime] = t
	}
	u.Endpoints = slices.Clone(eps)
	u.Ports = ports
	return u
}

// sameContent reports whether a and b list the same endpoints and ports
// with the same labels and owners (annotations aside).
func sameContent(a, b *discoveryv1.EndpointSlice) bool {
	return mapsEqual(a.Labels, b.Labels) &&
		apiequality.Semantic.DeepEqual(a.OwnerReferences, b.OwnerReferences) &&
		apiequality.Semantic.DeepEqual(a.Endpoints, b.Endpoints) &&
		apiequality.Semantic.DeepEqual(a.Ports, b.Ports)
}
