package auth

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// BuiltinPolicy is the authorizer until RBAC arrives, and the seam RBAC
// replaces. Its contract, in upstream's terms:
//
//   - The anonymous user (system:anonymous, or anyone in
//     system:unauthenticated) may "get" the public paths (IsPublicPath:
//     what upstream's system:public-info-viewer role grants) and "get" the
//     ConfigMap kube-public/cluster-info (what kubeadm grants it so that
//     joining nodes can find the cluster). Nothing else.
//   - Members of system:bootstrappers (bootstrap-token users) may do what
//     the anonymous user may, "get" discovery (/api, /apis, /openapi and
//     their subpaths: upstream's system:discovery), and create, get, list
//     and watch certificatesigningrequests in certificates.k8s.io
//     (upstream's system:node-bootstrapper, which kubeadm binds to them),
//     and "get" the Secret kube-system/skiff-certs (the control plane's
//     keys, encrypted with a key only joining masters are given, as
//     kubeadm's kubeadm-certs). Nothing else: no subresources, no other
//     verbs or resources.
//   - Every other authenticated user may do everything.
//
// A denial has no reason, as RBAC's: the server answers 403 Forbidden
// with ForbiddenMessage.
type BuiltinPolicy struct{}

// Names the policy refers to.
const (
	clusterInfoNamespace = "kube-public"
	clusterInfoName      = "cluster-info" // bootstrapapi.ConfigMapClusterInfo
	// UploadedCertsSecret is the Secret in kube-system that holds the
	// encrypted control-plane keys for joining masters.
	UploadedCertsSecret = "skiff-certs"
)

// Authorize implements Authorizer.
func (BuiltinPolicy) Authorize(_ context.Context, a Attributes) (bool, string, error) {
	u := a.User
	if u == nil {
		return false, "", nil
	}
	anonymous := u.Name == UserAnonymous || slices.Contains(u.Groups, GroupUnauthenticated)
	bootstrapper := slices.Contains(u.Groups, GroupBootstrappers)
	if !anonymous && !bootstrapper {
		return true, "", nil
	}
	if !a.ResourceRequest {
		return a.Verb == "get" && (IsPublicPath(a.Path) || bootstrapper && isDiscoveryPath(a.Path)), "", nil
	}
	if a.Verb == "get" && a.Group == "" && a.Resource == "configmaps" && a.Subresource == "" &&
		a.Namespace == clusterInfoNamespace && a.Name == clusterInfoName {
		return true, "", nil
	}
	if bootstrapper && a.Verb == "get" && a.Group == "" && a.Resource == "secrets" && a.Subresource == "" &&
		a.Namespace == "kube-system" && a.Name == UploadedCertsSecret {
		return true, "", nil
	}
	if bootstrapper && a.Group == "certificates.k8s.io" && a.Resource == "certificatesigningrequests" &&
		a.Subresource == "" && a.Namespace == "" {
		switch a.Verb {
		case "create", "get", "list", "watch":
			return true, "", nil
		}
	}
	return false, "", nil
}

// IsPublicPath tells whether anyone, authenticated or not, may GET the
// non-resource path p: /healthz, /livez, /readyz (and their checks below
// them) and /version.
func IsPublicPath(p string) bool {
	switch p {
	case "/healthz", "/livez", "/readyz", "/version", "/version/":
		return true
	}
	return strings.HasPrefix(p, "/healthz/") || strings.HasPrefix(p, "/livez/") || strings.HasPrefix(p, "/readyz/")
}

// isDiscoveryPath: /api, /apis, /openapi and below, as upstream's
// system:discovery role.
func isDiscoveryPath(p string) bool {
	for _, root := range []string{"/api", "/apis", "/openapi"} {
		if p == root || strings.HasPrefix(p, root+"/") {
			return true
		}
	}
	return false
}

// ForbiddenMessage is upstream's wording of a denial, the error of the
// 403 Forbidden Status (which prefixes it with `<resource> "<name>" is
// forbidden: `, or `forbidden: ` outside resources), e.g.
// User "system:anonymous" cannot get resource "configmaps" in API group "" in the namespace "default".
func ForbiddenMessage(a Attributes) string {
	name := ""
	if a.User != nil {
		name = a.User.Name
	}
	if !a.ResourceRequest {
		return fmt.Sprintf("User %q cannot %s path %q", name, a.Verb, a.Path)
	}
	resource := a.Resource
	if a.Subresource != "" {
		resource += "/" + a.Subresource
	}
	if a.Namespace != "" {
		return fmt.Sprintf("User %q cannot %s resource %q in API group %q in the namespace %q", name, a.Verb, resource, a.Group, a.Namespace)
	}
	return fmt.Sprintf("User %q cannot %s resource %q in API group %q at the cluster scope", name, a.Verb, resource, a.Group)
}
