package apiserver

import (
	"mime"
	"net/http"
	"strings"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"

	"github.com/skiffk8s/skiff/apiserver/registry"
)

var (
	apiVersionsGVK    = schema.GroupVersionKind{Version: "v1", Kind: "APIVersions"}
	apiGroupListGVK   = schema.GroupVersionKind{Version: "v1", Kind: "APIGroupList"}
	apiGroupGVK       = schema.GroupVersionKind{Version: "v1", Kind: "APIGroup"}
	apiResourceGVK    = schema.GroupVersionKind{Version: "v1", Kind: "APIResourceList"}
	aggregatedGVK     = schema.GroupVersionKind{Group: "apidiscovery.k8s.io", Version: "v2", Kind: "APIGroupDiscoveryList"}
	aggregatedMediaV2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
)

var objectVerbs = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}

// streamOptionsKind is the kind discovery names for the pods subresources
// that stream through the kubelet, as upstream.
var streamOptionsKind = map[string]string{"exec": "PodExecOptions", "attach": "PodAttachOptions", "portforward": "PodPortForwardOptions"}

// discoverableResource is a resource as discovery shows it.
type discoverableResource struct {
	*resourceDef
	verbs []string
	subs  map[string][]string // subresource → verbs
}

// discoverable lists the served resources in discovery order: the stored
// ones, then the metrics API's.
func (s *server) discoverable() []discoverableResource {
	out := make([]discoverableResource, 0, len(s.ordered)+len(metricsResources))
	for _, r := range s.ordered {
		out = append(out, discoverableResource{r.resourceDef, objectVerbs, subresourceVerbs(r.resourceDef)})
	}
	for _, r := range metricsResources {
		out = append(out, discoverableResource{r, metricsVerbs, nil})
	}
	return out
}

// subresourceVerbs lists the subresources of res with their verbs.
func subresourceVerbs(res *registry.Resource) map[string][]string {
	out := map[string][]string{}
	if res.Status {
		out["status"] = []string{"get", "patch", "update"}
	}
	if res.Scale {
		out["scale"] = []string{"get", "patch", "update"}
	}
	switch res.Resource {
	case "pods":
		out["binding"] = []string{"create"}
		out["eviction"] = []string{"create"}
		out["log"] = []string{"get"}
		out["exec"] = []string{"create", "get"}
		out["attach"] = []string{"create", "get"}
		out["portforward"] = []string{"create", "get"}
	case "nodes":
		out["proxy"] = []string{"create", "delete", "get", "patch", "update"}
	case "namespaces":
		out["finalize"] = []string{"update"}
	case "certificatesigningrequests":
		out["approval"] = []string{"get", "patch", "update"}
	case "serviceaccounts":
		out["token"] = []string{"create"}
	}
	return out
}

// groupVersions returns the served group versions in discovery order:
// legacy core first, then groups as first registered.
func (s *server) groupVersions() []schema.GroupVersion {
	var out []schema.GroupVersion
	seen := map[schema.GroupVersion]bool{}
	for _, r := range s.discoverable() {
		gv := schema.GroupVersion{Group: r.Group, Version: r.Version}
		if !seen[gv] {
			seen[gv] = true
			out = append(out, gv)
		}
	}
	return out
}

func (s *server) resourceList(gv schema.GroupVersion) *metav1.APIResourceList {
	l := &metav1.APIResourceList{GroupVersion: gv.String()}
	for _, r := range s.discoverable() {
		if r.Group != gv.Group || r.Version != gv.Version {
			continue
		}
		l.APIResources = append(l.APIResources, metav1.APIResource{
			Name: r.Resource, SingularName: r.SingularName, Namespaced: r.Namespaced, Kind: r.Kind,
			Verbs: r.verbs, ShortNames: r.ShortNames, Categories: r.Categories,
		})
		for sub, verbs := range sortedSubs(r.subs) {
			kind := r.Kind
			group, version := "", ""
			switch sub {
			case "scale":
				kind, group, version = "Scale", "autoscaling", "v1"
			case "binding":
				kind = "Binding"
			case "eviction":
				kind, group, version = "Eviction", "policy", "v1"
			case "token":
				kind, group, version = "TokenRequest", "authentication.k8s.io", "v1"
			case "exec", "attach", "portforward":
				kind = streamOptionsKind[sub]
			case "proxy":
				kind = r.Kind + "ProxyOptions"
			}
			l.APIResources = append(l.APIResources, metav1.APIResource{
				Name: r.Resource + "/" + sub, Namespaced: r.Namespaced, Kind: kind, Group: group, Version: version, Verbs: verbs,
			})
		}
	}
	return l
}

// sortedSubs iterates subresources in name order.
func sortedSubs(m map[string][]string) func(func(string, []string) bool) {
	return func(yield func(string, []string) bool) {
		names := make([]string, 0, len(m))
		for k := range m {
			names = append(names, k)
		}
		for i := range names {
			for j := i + 1; j < len(names); j++ {
				if names[j] < names[i] {
					names[i], names[j] = names[j], names[i]
				}
			}
		}
		for _, n := range names {
			if !yield(n, m[n]) {
				return
			}
		}
	}
}

// wantsAggregated reports whether the client accepts aggregated discovery
// (apidiscovery.k8s.io/v2) and prefers it.
func wantsAggregated(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		if mt == mediaJSON && params["g"] == "apidiscovery.k8s.io" && params["v"] == "v2" && params["as"] == "APIGroupDiscoveryList" {
			return true
		}
		if mt == mediaJSON && params["as"] == "" {
			return false // plain JSON preferred
		}
	}
	return false
}

func (s *server) aggregated(core bool) *apidiscoveryv2.APIGroupDiscoveryList {
	l := &apidiscoveryv2.APIGroupDiscoveryList{}
	byGroup := map[string]*apidiscoveryv2.APIGroupDiscovery{}
	for _, gv := range s.groupVersions() {
		if (gv.Group == "") != core {
			continue
		}
		g := byGroup[gv.Group]
		if g == nil {
			l.Items = append(l.Items, apidiscoveryv2.APIGroupDiscovery{ObjectMeta: metav1.ObjectMeta{Name: gv.Group}})
			g = &l.Items[len(l.Items)-1]
			byGroup[gv.Group] = g
		}
		v := apidiscoveryv2.APIVersionDiscovery{Version: gv.Version, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent}
		for _, r := range s.discoverable() {
			if r.Group != gv.Group || r.Version != gv.Version {
				continue
			}
			scope := apidiscoveryv2.ScopeCluster
			if r.Namespaced {
				scope = apidiscoveryv2.ScopeNamespace
			}
			rd := apidiscoveryv2.APIResourceDiscovery{
				Resource: r.Resource, SingularResource: r.SingularName, Scope: scope, Verbs: r.verbs,
				ShortNames: r.ShortNames, Categories: r.Categories,
				ResponseKind: &metav1.GroupVersionKind{Group: r.Group, Version: r.Version, Kind: r.Kind},
			}
			for sub, verbs := range sortedSubs(r.subs) {
				kind := metav1.GroupVersionKind{Group: r.Group, Version: r.Version, Kind: r.Kind}
				switch sub {
				case "scale":
					kind = metav1.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"}
				case "binding":
					kind = metav1.GroupVersionKind{Version: "v1", Kind: "Binding"}
				case "eviction":
					kind = metav1.GroupVersionKind{Group: "policy", Version: "v1", Kind: "Eviction"}
				case "token":
					kind = metav1.GroupVersionKind{Group: "authentication.k8s.io", Version: "v1", Kind: "TokenRequest"}
				case "exec", "attach", "portforward":
					kind = metav1.GroupVersionKind{Version: "v1", Kind: streamOptionsKind[sub]}
				case "proxy":
					kind = metav1.GroupVersionKind{Version: "v1", Kind: r.Kind + "ProxyOptions"}
				}
				rd.Subresources = append(rd.Subresources, apidiscoveryv2.APISubresourceDiscovery{Subresource: sub, Verbs: verbs, ResponseKind: &kind})
			}
			v.Resources = append(v.Resources, rd)
		}
		g.Versions = append(g.Versions, v)
	}
	return l
}

func (s *server) writeAggregated(w http.ResponseWriter, r *http.Request, l *apidiscoveryv2.APIGroupDiscoveryList) {
	b, err := encodeJSON(l, aggregatedGVK)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", aggregatedMediaV2)
	w.Header().Set("Vary", "Accept")
	_, _ = w.Write(b)
}

// serveDiscovery handles /api, /apis, /api/v1, /apis/<group>[/<version>].
// It returns false for paths it does not own.
func (s *server) serveDiscovery(w http.ResponseWriter, r *http.Request) bool {
	p := strings.Trim(r.URL.Path, "/")
	parts := strings.Split(p, "/")
	switch {
	case p == "api":
		if wantsAggregated(r) {
			s.writeAggregated(w, r, s.aggregated(true))
			return true
		}
		s.writeObject(w, r, http.StatusOK, &metav1.APIVersions{
			Versions:                   []string{"v1"},
			ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: s.cfg.advertiseHostPort()}},
		}, apiVersionsGVK)
	case p == "apis":
		if wantsAggregated(r) {
			s.writeAggregated(w, r, s.aggregated(false))
			return true
		}
		l := &metav1.APIGroupList{}
		for _, g := range s.apiGroups() {
			l.Groups = append(l.Groups, g)
		}
		s.writeObject(w, r, http.StatusOK, l, apiGroupListGVK)
	case len(parts) == 2 && parts[0] == "api":
		if parts[1] != "v1" {
			return false
		}
		s.writeObject(w, r, http.StatusOK, s.resourceList(schema.GroupVersion{Version: "v1"}), apiResourceGVK)
	case len(parts) == 2 && parts[0] == "apis":
		for _, g := range s.apiGroups() {
			if g.Name == parts[1] {
				s.writeObject(w, r, http.StatusOK, &g, apiGroupGVK)
				return true
			}
		}
		return false
	case len(parts) == 3 && parts[0] == "apis":
		gv := schema.GroupVersion{Group: parts[1], Version: parts[2]}
		l := s.resourceList(gv)
		if len(l.APIResources) == 0 {
			return false
		}
		s.writeObject(w, r, http.StatusOK, l, apiResourceGVK)
	default:
		return false
	}
	return true
}

func (s *server) apiGroups() []metav1.APIGroup {
	var out []metav1.APIGroup
	idx := map[string]int{}
	for _, gv := range s.groupVersions() {
		if gv.Group == "" {
			continue
		}
		v := metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: gv.Version}
		if i, ok := idx[gv.Group]; ok {
			out[i].Versions = append(out[i].Versions, v)
			continue
		}
		idx[gv.Group] = len(out)
		out = append(out, metav1.APIGroup{Name: gv.Group, Versions: []metav1.GroupVersionForDiscovery{v}, PreferredVersion: v})
	}
	return out
}

// versionInfo is what /version returns.
func versionInfo(gitVersion string) *version.Info {
	major, minor := "1", "37"
	v := strings.TrimPrefix(gitVersion, "v")
	if parts := strings.SplitN(v, ".", 3); len(parts) >= 2 {
		major, minor = parts[0], parts[1]
	}
	return &version.Info{Major: major, Minor: minor, GitVersion: gitVersion, Platform: "linux/amd64", GoVersion: goVersion()}
}
