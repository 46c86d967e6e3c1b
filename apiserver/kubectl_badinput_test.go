package apiserver_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/skiffk8s/skiff/apiserver/apitest"
)

// biClient sends hand-made requests to a test server over its TLS.
type biClient struct {
	base string
	http *http.Client
}

func biNewClient(t *testing.T, srv *apitest.Server, withCert bool) *biClient {
	t.Helper()
	var tlsCfg *tls.Config
	if withCert {
		var err error
		if tlsCfg, err = rest.TLSConfigFor(srv.Config); err != nil {
			t.Fatal(err)
		}
	} else {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(srv.CAPEM) {
			t.Fatal("bad CA PEM")
		}
		tlsCfg = &tls.Config{RootCAs: pool}
	}
	return &biClient{base: srv.URL, http: &http.Client{
		Transport: &http.Transport{TLSClientConfig: tlsCfg},
		Timeout:   30 * time.Second,
	}}
}

// biResponse is an answer to a raw request.
type biResponse struct {
	code   int
	header http.Header
	body   []byte
}

func (c *biClient) do(t *testing.T, method, path, contentType string, body io.Reader, header ...string) biResponse {
	t.Helper()
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return biResponse{code: resp.StatusCode, header: resp.Header, body: b}
}

func (c *biClient) send(t *testing.T, method, path, contentType, body string) biResponse {
	t.Helper()
	return c.do(t, method, path, contentType, strings.NewReader(body))
}

// biWantStatus checks that r is a metav1.Status failure with code and reason,
// and returns it.
func biWantStatus(t *testing.T, r biResponse, code int, reason metav1.StatusReason) metav1.Status {
	t.Helper()
	var st metav1.Status
	if err := json.Unmarshal(r.body, &st); err != nil {
		t.Fatalf("response %d is not JSON: %v\n%s", r.code, err, r.body)
	}
	if r.code != code || st.Kind != "Status" || st.APIVersion != "v1" || st.Status != metav1.StatusFailure ||
		st.Code != int32(code) || st.Reason != reason || st.Message == "" {
		t.Fatalf("want a v1 Status Failure %d %s with a message, got HTTP %d (Content-Type %q):\n%s",
			code, reason, r.code, r.header.Get("Content-Type"), r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	return st
}

// biWantCause fails unless st has a cause of type typ on field.
func biWantCause(t *testing.T, st metav1.Status, typ metav1.CauseType, field string) {
	t.Helper()
	if st.Details == nil {
		t.Fatalf("no details in %+v", st)
	}
	for _, c := range st.Details.Causes {
		if c.Field == field && c.Type == typ {
			if c.Message == "" {
				t.Errorf("cause on %s has no message", field)
			}
			return
		}
	}
	t.Errorf("no %s cause on %s in %+v", typ, field, st.Details.Causes)
}

// biNoConfigMap fails if configmap ns/name exists.
func biNoConfigMap(t *testing.T, srv *apitest.Server, ns, name string) {
	t.Helper()
	_, err := srv.Client.CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("configmap %s/%s: want NotFound, got %v", ns, name, err)
	}
}

func biConfigMapJSON(name string, extra string) string {
	return fmt.Sprintf(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":%q%s},"data":{"k":"v"}}`, name, extra)
}

const biCMPath = "/api/v1/namespaces/default/configmaps"

// TestBadInput sends requests a server must refuse and checks each answer
// is a Kubernetes Status with the right code and reason, and that nothing
// was written.
func TestBadInput(t *testing.T) {
	t.Parallel()
	srv := apitest.Start(t)
	c := biNewClient(t, srv, true)
	ctx := context.Background()
	cms := srv.Client.CoreV1().ConfigMaps("default")

	countConfigMaps := func() int {
		t.Helper()
		l, err := cms.List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return len(l.Items)
	}
	before := countConfigMaps()

	t.Run("malformed JSON is 400", func(t *testing.T) {
		r := c.send(t, "POST", biCMPath, "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"bad-json"`)
		biWantStatus(t, r, 400, metav1.StatusReasonBadRequest)
		biNoConfigMap(t, srv, "default", "bad-json")
		r = c.send(t, "POST", biCMPath, "application/json", `not json at all`)
		biWantStatus(t, r, 400, metav1.StatusReasonBadRequest)
	})

	t.Run("malformed YAML is 400", func(t *testing.T) {
		r := c.send(t, "POST", biCMPath, "application/yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad-yaml\n  labels: [unclosed\n")
		biWantStatus(t, r, 400, metav1.StatusReasonBadRequest)
		r = c.send(t, "POST", biCMPath, "application/yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: bad-yaml\n")
		biWantStatus(t, r, 400, metav1.StatusReasonBadRequest)
		biNoConfigMap(t, srv, "default", "bad-yaml")
	})

	t.Run("a wrong type in a field is 400", func(t *testing.T) {
		r := c.send(t, "POST", biCMPath, "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"bad-type"},"data":{"k":1}}`)
		st := biWantStatus(t, r, 400, metav1.StatusReasonBadRequest)
		if !strings.HasPrefix(st.Message, `ConfigMap in version "v1" cannot be handled as a ConfigMap: `) || strings.Contains(st.Message, "*v1.") {
			t.Errorf("message %q", st.Message)
		}
		biNoConfigMap(t, srv, "default", "bad-type")
	})

	t.Run("a kind that does not match the URL is 400", func(t *testing.T) {
		r := c.send(t, "POST", biCMPath, "application/json", `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"wrong-kind"}}`)
		st := biWantStatus(t, r, 400, metav1.StatusReasonBadRequest)
		if !strings.HasPrefix(st.Message, `Secret in version "v1" cannot be handled as a ConfigMap`) {
			t.Errorf("message %q", st.Message)
		}
		biNoConfigMap(t, srv, "default", "wrong-kind")
		if _, err := srv.Client.CoreV1().Secrets("default").Get(ctx, "wrong-kind", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("secret written: %v", err)
		}
	})

	t.Run("an apiVersion that does not match the URL is 400", func(t *testing.T) {
		r := c.send(t, "POST", "/apis/apps/v1/namespaces/default/deployments", "application/json",
			`{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"wrong-group"},"spec":{"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"busybox"}]}}}}`)
		st := biWantStatus(t, r, 400, metav1.StatusReasonBadRequest)
		if st.Message != "the API version in the data (batch/v1) does not match the expected API version (apps/v1)" {
			t.Errorf("message %q", st.Message)
		}
		if _, err := srv.Client.BatchV1().Jobs("default").Get(ctx, "wrong-group", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("job written: %v", err)
		}
		r = c.send(t, "POST", biCMPath, "application/json", `{"apiVersion":"v2","kind":"ConfigMap","metadata":{"name":"wrong-version"}}`)
		biWantStatus(t, r, 400, metav1.StatusReasonBadRequest)
		r = c.send(t, "POST", biCMPath, "application/json", `{"apiVersion":"apps/v1","kind":"ConfigMap","metadata":{"name":"wrong-version"}}`)
		biWantStatus(t, r, 400, metav1.StatusReasonBadRequest)
		biNoConfigMap(t, srv, "default", "wrong-version")
	})

	t.Run("a namespace in the body that differs from the URL is 400", func(t *testing.T) {
		r := c.send(t, "POST", biCMPath, "application/json", biConfigMapJSON("other-ns", `,"namespace":"kube-system"`))
		biWantStatus(t, r, 400, metav1.StatusReasonBadRequest)
		biNoConfigMap(t, srv, "default", "other-ns")
		biNoConfigMap(t, srv, "kube-system", "other-ns")
	})

	t.Run("invalid names are 422 on metadata.name", func(t *testing.T) {
		for _, name := range []string{"Bad_Name", "-leading-dash", strings.Repeat("a", 254), "has space", "a..b"} {
			r := c.send(t, "POST", biCMPath, "application/json", biConfigMapJSON(name, ""))
			st := biWantStatus(t, r, 422, metav1.StatusReasonInvalid)
			biWantCause(t, st, metav1.CauseTypeFieldValueInvalid, "metadata.name")
			if st.Details.Kind != "ConfigMap" || st.Details.Name != name {
				t.Errorf("details kind %q name %q", st.Details.Kind, st.Details.Name)
			}
			if !strings.HasPrefix(st.Message, fmt.Sprintf("ConfigMap %q is invalid: metadata.name: Invalid value:", name)) {
				t.Errorf("message %q", st.Message)
			}
		}
		r := c.send(t, "POST", biCMPath, "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{},"data":{"k":"v"}}`)
		st := biWantStatus(t, r, 422, metav1.StatusReasonInvalid)
		biWantCause(t, st, metav1.CauseTypeFieldValueRequired, "metadata.name")
		// A namespace name must be a DNS label: dots are not allowed.
		r = c.send(t, "POST", "/api/v1/namespaces", "application/json", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a.b"}}`)
		st = biWantStatus(t, r, 422, metav1.StatusReasonInvalid)
		biWantCause(t, st, metav1.CauseTypeFieldValueInvalid, "metadata.name")
		if _, err := srv.Client.CoreV1().Namespaces().Get(ctx, "a.b", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("namespace a.b: %v", err)
		}
		if n := countConfigMaps(); n != before {
			t.Errorf("%d configmaps, want %d", n, before)
		}
	})

	t.Run("invalid labels and annotations are 422 naming the field", func(t *testing.T) {
		for _, tc := range []struct{ extra, field string }{
			{`,"labels":{"bad key!":"v"}`, "metadata.labels"},
			{`,"labels":{"ok":"bad value!"}`, "metadata.labels"},
			{`,"labels":{"ok":"` + strings.Repeat("v", 64) + `"}`, "metadata.labels"},
			{`,"annotations":{"bad key!":"v"}`, "metadata.annotations"},
			{`,"annotations":{"a":"` + strings.Repeat("v", 256*1024+1) + `"}`, "metadata.annotations"},
		} {
			r := c.send(t, "POST", biCMPath, "application/json", biConfigMapJSON("bad-meta", tc.extra))
			st := biWantStatus(t, r, 422, metav1.StatusReasonInvalid)
			found := false
			for _, cause := range st.Details.Causes {
				if cause.Field == tc.field || strings.HasPrefix(cause.Field, tc.field+"[") || strings.HasPrefix(cause.Field, tc.field+".") {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: no cause on %s: %+v", tc.extra[:min(len(tc.extra), 40)], tc.field, st.Details.Causes)
			}
		}
		biNoConfigMap(t, srv, "default", "bad-meta")
	})

	t.Run("a pod without containers is 422 spec.containers Required", func(t *testing.T) {
		r := c.send(t, "POST", "/api/v1/namespaces/default/pods", "application/json", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"empty"},"spec":{}}`)
		st := biWantStatus(t, r, 422, metav1.StatusReasonInvalid)
		biWantCause(t, st, metav1.CauseTypeFieldValueRequired, "spec.containers")
		if st.Details.Kind != "Pod" || st.Details.Name != "empty" {
			t.Errorf("details %+v", st.Details)
		}
		r = c.send(t, "POST", "/api/v1/namespaces/default/pods", "application/json",
			`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"noimage"},"spec":{"containers":[{"name":"c"}]}}`)
		st = biWantStatus(t, r, 422, metav1.StatusReasonInvalid)
		biWantCause(t, st, metav1.CauseTypeFieldValueRequired, "spec.containers[0].image")
		l, _ := srv.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		if len(l.Items) != 0 {
			t.Errorf("%d pods written", len(l.Items))
		}
	})

	t.Run("a body over 3 MiB is 413", func(t *testing.T) {
		big := biConfigMapJSON("too-big", "")
		big = strings.Replace(big, `"k":"v"`, `"k":"`+strings.Repeat("x", 3<<20)+`"`, 1)
		r := c.send(t, "POST", biCMPath, "application/json", big)
		biWantStatus(t, r, 413, metav1.StatusReasonRequestEntityTooLarge)
		// Without a Content-Length (chunked), the limit still holds.
		r = c.do(t, "POST", biCMPath, "application/json", io.MultiReader(strings.NewReader(big)))
		biWantStatus(t, r, 413, metav1.StatusReasonRequestEntityTooLarge)
		biNoConfigMap(t, srv, "default", "too-big")
	})

	t.Run("an unknown resource is 404", func(t *testing.T) {
		for _, req := range []struct{ method, path, body string }{
			{"GET", "/api/v1/namespaces/default/widgets", ""},
			{"POST", "/api/v1/namespaces/default/widgets", `{"apiVersion":"v1","kind":"Widget","metadata":{"name":"w"}}`},
			{"GET", "/apis/nothing.example.com/v1/things", ""},
			{"GET", "/apis/apps/v1/widgets/w", ""},
			// A cluster-scoped resource under a namespace is no resource.
			{"GET", "/api/v1/namespaces/default/nodes", ""},
		} {
			r := c.send(t, req.method, req.path, "application/json", req.body)
			st := biWantStatus(t, r, 404, metav1.StatusReasonNotFound)
			if st.Message != "the server could not find the requested resource" {
				t.Errorf("%s %s: message %q", req.method, req.path, st.Message)
			}
		}
	})

	t.Run("a namespace that does not exist is 404", func(t *testing.T) {
		r := c.send(t, "POST", "/api/v1/namespaces/nowhere/configmaps", "application/json", biConfigMapJSON("lost", ""))
		st := biWantStatus(t, r, 404, metav1.StatusReasonNotFound)
		if st.Details == nil || st.Details.Kind != "namespaces" || st.Details.Name != "nowhere" || st.Message != `namespaces "nowhere" not found` {
			t.Errorf("status %+v", st)
		}
		biNoConfigMap(t, srv, "nowhere", "lost")
	})

	t.Run("a duplicate name is 409 AlreadyExists", func(t *testing.T) {
		r := c.send(t, "POST", biCMPath, "application/json", biConfigMapJSON("dup", ""))
		if r.code != 201 {
			t.Fatalf("first create: %d %s", r.code, r.body)
		}
		r = c.send(t, "POST", biCMPath, "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup"},"data":{"k":"second"}}`)
		st := biWantStatus(t, r, 409, metav1.StatusReasonAlreadyExists)
		if st.Message != `configmaps "dup" already exists` || st.Details == nil || st.Details.Kind != "configmaps" || st.Details.Name != "dup" {
			t.Errorf("status %+v", st)
		}
		cm, err := cms.Get(ctx, "dup", metav1.GetOptions{})
		if err != nil || cm.Data["k"] != "v" {
			t.Errorf("after duplicate create: %v %v", cm.Data, err)
		}
	})

	t.Run("a stale resourceVersion is 409 Conflict", func(t *testing.T) {
		cm, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "versioned"}, Data: map[string]string{"k": "1"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		stale := cm.ResourceVersion
		cm.Data["k"] = "2"
		cur, err := cms.Update(ctx, cm, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"versioned","resourceVersion":%q},"data":{"k":"3"}}`, stale)
		r := c.send(t, "PUT", biCMPath+"/versioned", "application/json", body)
		st := biWantStatus(t, r, 409, metav1.StatusReasonConflict)
		if !strings.Contains(st.Message, "the object has been modified") {
			t.Errorf("message %q", st.Message)
		}
		// A patch carrying the stale resourceVersion is a conflict too.
		r = c.send(t, "PATCH", biCMPath+"/versioned", "application/merge-patch+json", fmt.Sprintf(`{"metadata":{"resourceVersion":%q},"data":{"k":"4"}}`, stale))
		biWantStatus(t, r, 409, metav1.StatusReasonConflict)
		// So is a delete with a stale precondition.
		r = c.send(t, "DELETE", biCMPath+"/versioned", "application/json", fmt.Sprintf(`{"preconditions":{"resourceVersion":%q}}`, stale))
		biWantStatus(t, r, 409, metav1.StatusReasonConflict)
		after, err := cms.Get(ctx, "versioned", metav1.GetOptions{})
		if err != nil || after.Data["k"] != "2" || after.ResourceVersion != cur.ResourceVersion {
			t.Errorf("after conflicts: data %v rv %s (want %s) err %v", after.Data, after.ResourceVersion, cur.ResourceVersion, err)
		}
	})

	t.Run("an update of a missing object is 404", func(t *testing.T) {
		r := c.send(t, "PUT", biCMPath+"/ghost", "application/json", biConfigMapJSON("ghost", ""))
		biWantStatus(t, r, 404, metav1.StatusReasonNotFound)
		r = c.send(t, "PATCH", biCMPath+"/ghost", "application/merge-patch+json", `{"data":{"k":"v"}}`)
		biWantStatus(t, r, 404, metav1.StatusReasonNotFound)
		biNoConfigMap(t, srv, "default", "ghost")
	})

	t.Run("an update whose name differs from the URL is 400", func(t *testing.T) {
		r := c.send(t, "PUT", biCMPath+"/dup", "application/json", biConfigMapJSON("other", ""))
		biWantStatus(t, r, 400, metav1.StatusReasonBadRequest)
		biNoConfigMap(t, srv, "default", "other")
	})

	t.Run("an invalid update is 422 and leaves the object", func(t *testing.T) {
		r := c.send(t, "PATCH", biCMPath+"/dup", "application/merge-patch+json", `{"metadata":{"labels":{"bad key!":"v"}}}`)
		st := biWantStatus(t, r, 422, metav1.StatusReasonInvalid)
		biWantCause(t, st, metav1.CauseTypeFieldValueInvalid, "metadata.labels")
		cm, _ := cms.Get(ctx, "dup", metav1.GetOptions{})
		if len(cm.Labels) != 0 {
			t.Errorf("labels written: %v", cm.Labels)
		}
		r = c.send(t, "PATCH", biCMPath+"/dup", "application/merge-patch+json", `{"metadata":{"labels":`)
		biWantStatus(t, r, 400, metav1.StatusReasonBadRequest)
		r = c.send(t, "PATCH", biCMPath+"/dup", "application/json-patch+json", `[{"op":"explode","path":"/data"}]`)
		if r.code != 400 && r.code != 422 {
			t.Errorf("bad json patch op: %d %s", r.code, r.body)
		}
		r = c.send(t, "PATCH", biCMPath+"/dup", "text/plain", `{}`)
		biWantStatus(t, r, 415, metav1.StatusReasonUnsupportedMediaType)
	})

	t.Run("PUT or PATCH on a collection is 405", func(t *testing.T) {
		r := c.send(t, "PUT", biCMPath, "application/json", biConfigMapJSON("dup", ""))
		biWantStatus(t, r, 405, metav1.StatusReasonMethodNotAllowed)
		r = c.send(t, "PATCH", biCMPath, "application/merge-patch+json", `{"data":{"k":"patched"}}`)
		biWantStatus(t, r, 405, metav1.StatusReasonMethodNotAllowed)
		if cm, _ := cms.Get(ctx, "dup", metav1.GetOptions{}); cm.Data["k"] != "v" {
			t.Errorf("dup after collection writes: %v", cm.Data)
		}
	})

	t.Run("an Accept header the server cannot serve is 406", func(t *testing.T) {
		r := c.do(t, "GET", biCMPath+"/dup", "", nil, "Accept", "text/html")
		biWantStatus(t, r, 406, metav1.StatusReasonNotAcceptable)
		r = c.do(t, "GET", biCMPath+"/dup", "", nil, "Accept", "text/html, */*")
		if r.code != 200 {
			t.Errorf("Accept with */*: %d %s", r.code, r.body)
		}
	})

	t.Run("bad subresource writes are refused and leave the object", func(t *testing.T) {
		d := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"scaled"},"spec":{"replicas":2,"selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}}}`
		if r := c.send(t, "POST", "/apis/apps/v1/namespaces/default/deployments", "application/json", d); r.code != 201 {
			t.Fatalf("create deployment: %d %s", r.code, r.body)
		}
		scale := "/apis/apps/v1/namespaces/default/deployments/scaled/scale"
		r := c.send(t, "PUT", scale, "application/json", `{"apiVersion":"autoscaling/v1","kind":"Scale","metadata":{"name":"scaled"},"spec":{"replicas":-1}}`)
		st := biWantStatus(t, r, 422, metav1.StatusReasonInvalid)
		biWantCause(t, st, metav1.CauseTypeFieldValueInvalid, "spec.replicas")
		r = c.send(t, "PATCH", scale, "application/merge-patch+json", `{"spec":{"replicas":-5}}`)
		biWantStatus(t, r, 422, metav1.StatusReasonInvalid)
		r = c.send(t, "PUT", scale, "application/json", `{"apiVersion":"autoscaling/v1","kind":"Scale","spec":{"replicas":`)
		biWantStatus(t, r, 400, metav1.StatusReasonBadRequest)
		dep, err := srv.Client.AppsV1().Deployments("default").Get(ctx, "scaled", metav1.GetOptions{})
		if err != nil || *dep.Spec.Replicas != 2 || dep.Generation != 1 {
			t.Errorf("after refused scales: %v %v", dep, err)
		}
		r = c.send(t, "GET", "/apis/apps/v1/namespaces/default/deployments/nope/scale", "", "")
		biWantStatus(t, r, 404, metav1.StatusReasonNotFound)

		p := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"unbound"},"spec":{"containers":[{"name":"c","image":"busybox"}]}}`
		if r := c.send(t, "POST", "/api/v1/namespaces/default/pods", "application/json", p); r.code != 201 {
			t.Fatalf("create pod: %d %s", r.code, r.body)
		}
		r = c.send(t, "POST", "/api/v1/namespaces/default/pods/unbound/binding", "application/json",
			`{"apiVersion":"v1","kind":"Binding","metadata":{"name":"unbound"},"target":{}}`)
		biWantStatus(t, r, 422, metav1.StatusReasonInvalid)
		r = c.send(t, "POST", "/api/v1/namespaces/default/pods/unbound/binding", "application/json", `{"kind":"Binding",`)
		biWantStatus(t, r, 400, metav1.StatusReasonBadRequest)
		pod, err := srv.Client.CoreV1().Pods("default").Get(ctx, "unbound", metav1.GetOptions{})
		if err != nil || pod.Spec.NodeName != "" {
			t.Errorf("after refused bindings: node %q err %v", pod.Spec.NodeName, err)
		}
		r = c.send(t, "GET", "/api/v1/namespaces/default/pods/unbound/nosuchthing", "", "")
		biWantStatus(t, r, 404, metav1.StatusReasonNotFound)
	})

	t.Run("a bad label selector is 400", func(t *testing.T) {
		for _, sel := range []string{"a in (", "!!", "a=b=c", "bad key!=v"} {
			r := c.send(t, "GET", biCMPath+"?labelSelector="+url.QueryEscape(sel), "", "")
			biWantStatus(t, r, 400, metav1.StatusReasonBadRequest)
		}
		// The message is the parser's, as upstream's, said once.
		r0 := c.send(t, "GET", biCMPath+"?labelSelector="+url.QueryEscape("a in ("), "", "")
		if st := biWantStatus(t, r0, 400, metav1.StatusReasonBadRequest); st.Message != "unable to parse requirement: found '', expected: ',', ')' or identifier" {
			t.Errorf("message %q", st.Message)
		}
		r := c.send(t, "GET", biCMPath+"?fieldSelector="+url.QueryEscape("spec.nothing=x"), "", "")
		biWantStatus(t, r, 400, metav1.StatusReasonBadRequest)
		r = c.send(t, "DELETE", biCMPath+"?labelSelector="+url.QueryEscape("a in ("), "", "")
		biWantStatus(t, r, 400, metav1.StatusReasonBadRequest)
		if _, err := cms.Get(ctx, "dup", metav1.GetOptions{}); err != nil {
			t.Errorf("deletecollection with a bad selector deleted: %v", err)
		}
	})

	t.Run("an unknown field is 400 with fieldValidation=Strict", func(t *testing.T) {
		body := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"strict"},"data":{"k":"v"},"spec":{"x":1}}`
		r := c.send(t, "POST", biCMPath+"?fieldValidation=Strict", "application/json", body)
		st := biWantStatus(t, r, 400, metav1.StatusReasonBadRequest)
		if !strings.Contains(st.Message, `unknown field "spec"`) {
			t.Errorf("message %q", st.Message)
		}
		biNoConfigMap(t, srv, "default", "strict")
		r = c.send(t, "POST", biCMPath+"?fieldValidation=Strict", "application/json",
			`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"strict","name":"twice"}}`)
		st = biWantStatus(t, r, 400, metav1.StatusReasonBadRequest)
		if !strings.Contains(st.Message, `duplicate field "metadata.name"`) {
			t.Errorf("message %q", st.Message)
		}
		r = c.send(t, "POST", biCMPath+"?fieldValidation=Bogus", "application/json", biConfigMapJSON("strict", ""))
		biWantStatus(t, r, 400, metav1.StatusReasonBadRequest)
		biNoConfigMap(t, srv, "default", "strict")
		biNoConfigMap(t, srv, "default", "twice")
	})

	t.Run("an unknown field by default is 201 with a Warning", func(t *testing.T) {
		body := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"warned","bogus":1},"data":{"k":"v"},"spec":{"x":1}}`
		r := c.send(t, "POST", biCMPath, "application/json", body)
		if r.code != 201 {
			t.Fatalf("create: %d %s", r.code, r.body)
		}
		warnings := strings.Join(r.header.Values("Warning"), "\n")
		for _, want := range []string{`299 - "unknown field \"spec\""`, `299 - "unknown field \"metadata.bogus\""`} {
			if !strings.Contains(warnings, want) {
				t.Errorf("Warning headers %q lack %s", warnings, want)
			}
		}
		var cm corev1.ConfigMap
		if err := json.Unmarshal(r.body, &cm); err != nil || cm.Name != "warned" || cm.Kind != "ConfigMap" || cm.Data["k"] != "v" {
			t.Errorf("created object: %+v %v", cm, err)
		}
		r = c.send(t, "POST", biCMPath+"?fieldValidation=Ignore", "application/json", strings.Replace(body, "warned", "ignored", 1))
		if r.code != 201 || len(r.header.Values("Warning")) != 0 {
			t.Errorf("fieldValidation=Ignore: %d warnings %q", r.code, r.header.Values("Warning"))
		}
	})

	t.Run("an unauthenticated request is 401", func(t *testing.T) {
		anon := biNewClient(t, srv, false)
		r := anon.send(t, "GET", biCMPath, "", "")
		biWantStatus(t, r, 401, metav1.StatusReasonUnauthorized)
		r = anon.send(t, "POST", biCMPath, "application/json", biConfigMapJSON("anon", ""))
		biWantStatus(t, r, 401, metav1.StatusReasonUnauthorized)
		r = anon.do(t, "GET", biCMPath, "", nil, "Authorization", "Bearer not-a-token")
		biWantStatus(t, r, 401, metav1.StatusReasonUnauthorized)
		biNoConfigMap(t, srv, "default", "anon")
		if r := anon.send(t, "GET", "/healthz", "", ""); r.code != 200 || string(r.body) != "ok" {
			t.Errorf("anonymous /healthz: %d %s", r.code, r.body)
		}
	})

	t.Run("client-go sees the right error types", func(t *testing.T) {
		_, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "Bad_Name"}}, metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) {
			t.Errorf("invalid name: %v", err)
		}
		_, err = cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "dup"}}, metav1.CreateOptions{})
		if !apierrors.IsAlreadyExists(err) {
			t.Errorf("duplicate: %v", err)
		}
		_, err = srv.Client.CoreV1().ConfigMaps("nowhere").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("missing namespace: %v", err)
		}
		_, err = cms.List(ctx, metav1.ListOptions{LabelSelector: "a in ("})
		if !apierrors.IsBadRequest(err) {
			t.Errorf("bad selector: %v", err)
		}
		res := srv.Client.CoreV1().RESTClient().Post().Namespace("default").Resource("configmaps").
			SetHeader("Content-Type", "application/json").Body([]byte(`{"kind":"ConfigMap"`)).Do(ctx)
		if err := res.Error(); !apierrors.IsBadRequest(err) {
			t.Errorf("malformed body through the REST client: %v", err)
		}
	})

	t.Run("nothing was written by the refused requests", func(t *testing.T) {
		l, err := cms.List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, cm := range l.Items {
			names = append(names, cm.Name)
		}
		want := map[string]bool{"dup": true, "versioned": true, "warned": true, "ignored": true}
		for _, n := range names {
			if !want[n] {
				t.Errorf("unexpected configmap %q written (all: %q)", n, names)
			}
		}
		if len(names) != before+len(want) {
			t.Errorf("configmaps %q, want %d", names, before+len(want))
		}
	})
}
