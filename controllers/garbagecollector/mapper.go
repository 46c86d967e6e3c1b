package garbagecollector

import (
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// resourceInfo is what an owner reference's kind maps to.
type resourceInfo struct {
	gvr        schema.GroupVersionResource
	namespaced bool
}

// mapper maps kinds to resources from discovery.
type mapper struct {
	mu     sync.RWMutex
	byKind map[schema.GroupKind]resourceInfo // guarded by mu
}

// update replaces the mapping with discovery's preferred resources.
func (m *mapper) update(lists []*metav1.APIResourceList) {
	byKind := map[schema.GroupKind]resourceInfo{}
	for _, rl := range lists {
		gv, err := schema.ParseGroupVersion(rl.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range rl.APIResources {
			if containsSlash(r.Name) {
				continue
			}
			byKind[schema.GroupKind{Group: gv.Group, Kind: r.Kind}] = resourceInfo{gvr: gv.WithResource(r.Name), namespaced: r.Namespaced}
		}
	}
	m.mu.Lock()
	m.byKind = byKind
	m.mu.Unlock()
}

// lookup maps an apiVersion and kind to a resource (by group and kind:
// the preferred version serves every version's objects).
func (m *mapper) lookup(apiVersion, kind string) (resourceInfo, bool) {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return resourceInfo{}, false
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	ri, ok := m.byKind[schema.GroupKind{Group: gv.Group, Kind: kind}]
	return ri, ok
}

// ownerNamespace is the namespace of ref's object as referenced from a
// dependent in ns: ns for a namespaced owner, "" for a cluster-scoped one.
func (m *mapper) ownerNamespace(ref metav1.OwnerReference, ns string) string {
	if ri, ok := m.lookup(ref.APIVersion, ref.Kind); ok && !ri.namespaced {
		return ""
	}
	return ns
}
