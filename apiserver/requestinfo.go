package apiserver

import (
	"net/http"
	"strings"
)

// requestInfo is what a resource URL means.
type requestInfo struct {
	Group, Version string
	Namespace      string
	Resource       string
	Name           string
	Subresource    string
	// ProxyPath is what follows .../{name}/proxy/ in a proxy subresource
	// URL (nodes/proxy), without the leading slash.
	ProxyPath string
	// Verb is the Kubernetes verb: get, list, watch, create, update, patch,
	// delete, deletecollection.
	Verb string
}

// parseRequestInfo parses /api/v1/... and /apis/<group>/<version>/... paths.
// ok is false for paths that are not resource paths (discovery, health).
func parseRequestInfo(r *http.Request) (ri requestInfo, ok bool) {
	p := strings.Trim(r.URL.Path, "/")
	parts := strings.Split(p, "/")
	switch {
	case len(parts) >= 3 && parts[0] == "api":
		ri.Version, parts = parts[1], parts[2:]
	case len(parts) >= 4 && parts[0] == "apis":
		ri.Group, ri.Version, parts = parts[1], parts[2], parts[3:]
	default:
		return ri, false
	}
	watchPath := false
	if parts[0] == "watch" { // deprecated /watch/ paths
		watchPath = true
		parts = parts[1:]
	}
	if len(parts) == 0 {
		return ri, false
	}
	if parts[0] == "namespaces" && len(parts) >= 2 {
		if len(parts) >= 3 && parts[2] != "status" && parts[2] != "finalize" {
			ri.Namespace = parts[1]
			parts = parts[2:]
		}
	}
	ri.Resource = parts[0]
	if len(parts) > 1 {
		ri.Name = parts[1]
	}
	if len(parts) > 2 {
		ri.Subresource = parts[2]
	}
	if len(parts) > 3 {
		if parts[2] != "proxy" {
			return ri, false
		}
		ri.ProxyPath = strings.Join(parts[3:], "/")
	}
	isWatch := watchPath || r.URL.Query().Get("watch") == "true" || r.URL.Query().Get("watch") == "1"
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		switch {
		case isWatch:
			ri.Verb = "watch"
		case ri.Name == "":
			ri.Verb = "list"
		default:
			ri.Verb = "get"
		}
	case http.MethodPost:
		ri.Verb = "create"
	case http.MethodPut:
		ri.Verb = "update"
	case http.MethodPatch:
		ri.Verb = "patch"
	case http.MethodDelete:
		if ri.Name == "" {
			ri.Verb = "deletecollection"
		} else {
			ri.Verb = "delete"
		}
	default:
		ri.Verb = strings.ToLower(r.Method)
	}
	return ri, true
}
