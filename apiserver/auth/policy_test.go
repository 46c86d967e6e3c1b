package auth

import (
	"context"
	"testing"
)

var (
	anonymous    = AnonymousUser()
	bootstrapper = &User{Name: "system:bootstrap:abcdef", Groups: []string{GroupBootstrappers, "system:bootstrappers:kubeadm:default-node-token", GroupAuthenticated}}
	developer    = &User{Name: "jane", Groups: []string{"developers", GroupAuthenticated}}
)

func resourceReq(u *User, verb, group, resource, ns, name string) Attributes {
	return Attributes{User: u, Verb: verb, Group: group, Version: "v1", Resource: resource, Namespace: ns, Name: name, ResourceRequest: true}
}

func pathReq(u *User, verb, path string) Attributes {
	return Attributes{User: u, Verb: verb, Path: path}
}

func csrReq(u *User, verb, name string) Attributes {
	return resourceReq(u, verb, "certificates.k8s.io", "certificatesigningrequests", "", name)
}

func TestBuiltinPolicy(t *testing.T) {
	clusterInfo := func(u *User, verb string) Attributes {
		return resourceReq(u, verb, "", "configmaps", "kube-public", "cluster-info")
	}
	for _, tc := range []struct {
		name  string
		attrs Attributes
		allow bool
	}{
		{"anonymous may get /healthz", pathReq(anonymous, "get", "/healthz"), true},
		{"anonymous may get /readyz checks", pathReq(anonymous, "get", "/readyz/etcd"), true},
		{"anonymous may get /version", pathReq(anonymous, "get", "/version"), true},
		{"anonymous may get cluster-info", clusterInfo(anonymous, "get"), true},
		{"anonymous may not post to /healthz", pathReq(anonymous, "post", "/healthz"), false},
		{"anonymous may not get /metrics", pathReq(anonymous, "get", "/metrics"), false},
		{"anonymous may not get discovery", pathReq(anonymous, "get", "/api"), false},
		{"anonymous may not get /openapi/v2", pathReq(anonymous, "get", "/openapi/v2"), false},
		{"anonymous may not list configmaps in kube-public", resourceReq(anonymous, "list", "", "configmaps", "kube-public", ""), false},
		{"anonymous may not update cluster-info", clusterInfo(anonymous, "update"), false},
		{"anonymous may not get another configmap", resourceReq(anonymous, "get", "", "configmaps", "kube-public", "other"), false},
		{"anonymous may not get cluster-info elsewhere", resourceReq(anonymous, "get", "", "configmaps", "default", "cluster-info"), false},
		{"anonymous may not create CSRs", csrReq(anonymous, "create", ""), false},
		{"a user in system:unauthenticated is anonymous", resourceReq(&User{Name: "x", Groups: []string{GroupUnauthenticated}}, "list", "", "pods", "default", ""), false},

		{"a bootstrapper may create CSRs", csrReq(bootstrapper, "create", ""), true},
		{"a bootstrapper may get a CSR", csrReq(bootstrapper, "get", "node-csr-1"), true},
		{"a bootstrapper may list CSRs", csrReq(bootstrapper, "list", ""), true},
		{"a bootstrapper may watch CSRs", csrReq(bootstrapper, "watch", ""), true},
		{"a bootstrapper may not delete a CSR", csrReq(bootstrapper, "delete", "node-csr-1"), false},
		{"a bootstrapper may not update a CSR", csrReq(bootstrapper, "update", "node-csr-1"), false},
		{"a bootstrapper may not approve a CSR", func() Attributes {
			a := csrReq(bootstrapper, "update", "node-csr-1")
			a.Subresource = "approval"
			return a
		}(), false},
		{"a bootstrapper may not read CSR status alone", func() Attributes {
			a := csrReq(bootstrapper, "get", "node-csr-1")
			a.Subresource = "status"
			return a
		}(), false},
		{"a bootstrapper may get cluster-info", clusterInfo(bootstrapper, "get"), true},
		{"a bootstrapper may get /healthz", pathReq(bootstrapper, "get", "/healthz"), true},
		{"a bootstrapper may get /api", pathReq(bootstrapper, "get", "/api"), true},
		{"a bootstrapper may get /api/v1", pathReq(bootstrapper, "get", "/api/v1"), true},
		{"a bootstrapper may get /apis", pathReq(bootstrapper, "get", "/apis"), true},
		{"a bootstrapper may get /apis/certificates.k8s.io/v1", pathReq(bootstrapper, "get", "/apis/certificates.k8s.io/v1"), true},
		{"a bootstrapper may get /openapi/v3", pathReq(bootstrapper, "get", "/openapi/v3"), true},
		{"a bootstrapper may not get /apisx", pathReq(bootstrapper, "get", "/apisx"), false},
		{"a bootstrapper may not get /metrics", pathReq(bootstrapper, "get", "/metrics"), false},
		{"a bootstrapper may not list pods", resourceReq(bootstrapper, "list", "", "pods", "default", ""), false},
		{"a bootstrapper may get the uploaded control-plane keys", resourceReq(bootstrapper, "get", "", "secrets", "kube-system", "skiff-certs"), true},
		{"a bootstrapper may not list secrets", resourceReq(bootstrapper, "list", "", "secrets", "kube-system", ""), false},
		{"a bootstrapper may not get another secret", resourceReq(bootstrapper, "get", "", "secrets", "kube-system", "bootstrap-token-abcdef"), false},
		{"a bootstrapper may not update the uploaded keys", resourceReq(bootstrapper, "update", "", "secrets", "kube-system", "skiff-certs"), false},
		{"anonymous may not get the uploaded keys", resourceReq(anonymous, "get", "", "secrets", "kube-system", "skiff-certs"), false},
		{"a bootstrapper may not create secrets", resourceReq(bootstrapper, "create", "", "secrets", "default", ""), false},
		{"a bootstrapper may not get another configmap", resourceReq(bootstrapper, "get", "", "configmaps", "kube-public", "other"), false},
		{"a bootstrapper may not get nodes", resourceReq(bootstrapper, "get", "", "nodes", "", "n1"), false},
		{"CSRs of another group are not CSRs", resourceReq(bootstrapper, "create", "example.com", "certificatesigningrequests", "", ""), false},

		{"any other user may do anything", resourceReq(developer, "delete", "", "secrets", "kube-system", "x"), true},
		{"any other user may get /metrics", pathReq(developer, "get", "/metrics"), true},
		{"no user may do nothing", Attributes{Verb: "get", Path: "/healthz"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			allow, reason, err := BuiltinPolicy{}.Authorize(context.Background(), tc.attrs)
			if err != nil || allow != tc.allow || reason != "" {
				t.Errorf("allow=%v reason=%q err=%v, want allow=%v and no reason", allow, reason, err, tc.allow)
			}
		})
	}
}

func TestForbiddenMessageIsUpstreams(t *testing.T) {
	sub := resourceReq(bootstrapper, "update", "certificates.k8s.io", "certificatesigningrequests", "", "c")
	sub.Subresource = "approval"
	for _, tc := range []struct {
		attrs Attributes
		want  string
	}{
		{resourceReq(anonymous, "get", "", "configmaps", "default", "x"),
			`User "system:anonymous" cannot get resource "configmaps" in API group "" in the namespace "default"`},
		{resourceReq(bootstrapper, "get", "", "nodes", "", "n1"),
			`User "system:bootstrap:abcdef" cannot get resource "nodes" in API group "" at the cluster scope`},
		{sub, `User "system:bootstrap:abcdef" cannot update resource "certificatesigningrequests/approval" in API group "certificates.k8s.io" at the cluster scope`},
		{pathReq(anonymous, "get", "/metrics"), `User "system:anonymous" cannot get path "/metrics"`},
	} {
		if got := ForbiddenMessage(tc.attrs); got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
}
