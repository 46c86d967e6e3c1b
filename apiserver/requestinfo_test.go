package apiserver

import (
	"net/http/httptest"
	"testing"
)

func TestParseRequestInfo(t *testing.T) {
	for _, tc := range []struct {
		name, method, url string
		want              requestInfo
		ok                bool
	}{
		{"a namespaced list", "GET", "/api/v1/namespaces/ns1/pods", requestInfo{Version: "v1", Namespace: "ns1", Resource: "pods", Verb: "list"}, true},
		{"a list across namespaces", "GET", "/api/v1/pods", requestInfo{Version: "v1", Resource: "pods", Verb: "list"}, true},
		{"a named get in a group", "GET", "/apis/apps/v1/namespaces/ns1/deployments/web", requestInfo{Group: "apps", Version: "v1", Namespace: "ns1", Resource: "deployments", Name: "web", Verb: "get"}, true},
		{"a subresource update", "PUT", "/apis/apps/v1/namespaces/ns1/deployments/web/scale", requestInfo{Group: "apps", Version: "v1", Namespace: "ns1", Resource: "deployments", Name: "web", Subresource: "scale", Verb: "update"}, true},
		{"a watch by parameter", "GET", "/api/v1/namespaces/ns1/pods?watch=true", requestInfo{Version: "v1", Namespace: "ns1", Resource: "pods", Verb: "watch"}, true},
		{"a watch by the deprecated path", "GET", "/api/v1/watch/namespaces/ns1/pods", requestInfo{Version: "v1", Namespace: "ns1", Resource: "pods", Verb: "watch"}, true},
		{"the namespace object itself", "GET", "/api/v1/namespaces/ns1", requestInfo{Version: "v1", Resource: "namespaces", Name: "ns1", Verb: "get"}, true},
		{"a namespace's status", "PUT", "/api/v1/namespaces/ns1/status", requestInfo{Version: "v1", Resource: "namespaces", Name: "ns1", Subresource: "status", Verb: "update"}, true},
		{"a namespace's finalize", "PUT", "/api/v1/namespaces/ns1/finalize", requestInfo{Version: "v1", Resource: "namespaces", Name: "ns1", Subresource: "finalize", Verb: "update"}, true},
		{"a collection delete", "DELETE", "/api/v1/namespaces/ns1/configmaps", requestInfo{Version: "v1", Namespace: "ns1", Resource: "configmaps", Verb: "deletecollection"}, true},
		{"a binding", "POST", "/api/v1/namespaces/ns1/pods/p/binding", requestInfo{Version: "v1", Namespace: "ns1", Resource: "pods", Name: "p", Subresource: "binding", Verb: "create"}, true},
		{"discovery is not a resource", "GET", "/apis/apps/v1", requestInfo{}, false},
		{"health is not a resource", "GET", "/healthz", requestInfo{}, false},
		{"too deep a path is not a resource", "GET", "/api/v1/namespaces/ns1/pods/p/status/extra", requestInfo{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseRequestInfo(httptest.NewRequest(tc.method, tc.url, nil))
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v (%+v)", ok, tc.ok, got)
			}
			if ok && got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestNegotiate(t *testing.T) {
	for _, tc := range []struct {
		name, accept string
		want         output
		ok           bool
	}{
		{"no Accept means JSON", "", output{mediaType: mediaJSON}, true},
		{"kubectl get asks for a v1 table", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json", output{mediaType: mediaJSON, as: "Table"}, true},
		{"protobuf first is protobuf", "application/vnd.kubernetes.protobuf,application/json", output{mediaType: mediaProtobuf}, true},
		{"YAML", "application/yaml", output{mediaType: mediaYAML}, true},
		{"metadata-only lists", "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io", output{mediaType: mediaJSON, as: "PartialObjectMetadataList"}, true},
		{"an unknown transform falls through to the next choice", "application/json;as=Foo;v=v1;g=meta.k8s.io,application/yaml", output{mediaType: mediaYAML}, true},
		{"wildcards are JSON", "*/*", output{mediaType: mediaJSON}, true},
		{"nothing acceptable", "text/html", output{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := negotiate(tc.accept, false)
			if ok != tc.ok || got != tc.want {
				t.Errorf("negotiate(%q) = %+v, %v; want %+v, %v", tc.accept, got, ok, tc.want, tc.ok)
			}
		})
	}
}
