package openapi

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	openapiv2 "github.com/google/gnostic-models/openapiv2"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/proto"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/applyconfigurations"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/openapi3"
	"k8s.io/client-go/rest"
	"k8s.io/kube-openapi/pkg/spec3"
	kubeproto "k8s.io/kube-openapi/pkg/util/proto"
	"k8s.io/kube-openapi/pkg/util/proto/validation"
	"k8s.io/kube-openapi/pkg/validation/spec"
	explainv2 "k8s.io/kubectl/pkg/explain/v2"

	"github.com/skiffk8s/skiff/apiserver/registry"
)

// testServer is the service behind an httptest server, and the clients
// upstream tools use against it.
type testServer struct {
	svc       *Service
	srv       *httptest.Server
	discovery *discovery.DiscoveryClient
	dynamic   dynamic.Interface
}

func newTestServer(t *testing.T) *testServer {
	t.Helper()
	svc, err := New(Config{Resources: registry.All(), Scheme: registry.NewScheme(), Version: "v1.37.2"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(svc)
	t.Cleanup(srv.Close)
	cfg := &rest.Config{Host: srv.URL}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &testServer{svc: svc, srv: srv, discovery: dc, dynamic: dyn}
}

// v3Doc fetches a group version's document the way kubectl does: the
// list from /openapi/v3, then the document at its serverRelativeURL.
func (ts *testServer) v3Doc(t *testing.T, key string) *spec3.OpenAPI {
	t.Helper()
	paths, err := ts.discovery.OpenAPIV3().Paths()
	if err != nil {
		t.Fatalf("Paths: %v", err)
	}
	gv, ok := paths[key]
	if !ok {
		t.Fatalf("/openapi/v3 lists no %q", key)
	}
	b, err := gv.Schema(runtime.ContentTypeJSON)
	if err != nil {
		t.Fatalf("Schema(%s): %v", key, err)
	}
	doc := &spec3.OpenAPI{}
	if err := json.Unmarshal(b, doc); err != nil {
		t.Fatalf("decoding %s: %v", key, err)
	}
	return doc
}

// refOf returns the definition a property or item refers to, directly or
// through a one-element allOf.
func refOf(s *spec.Schema) string {
	if s == nil {
		return ""
	}
	if r := s.Ref.String(); r != "" {
		return r
	}
	if len(s.AllOf) == 1 {
		return s.AllOf[0].Ref.String()
	}
	return ""
}

func TestV3PodContainersReferToContainerWithMergeKey(t *testing.T) {
	ts := newTestServer(t)
	doc := ts.v3Doc(t, "api/v1")
	schemas := doc.Components.Schemas

	podSpec := schemas["io.k8s.api.core.v1.PodSpec"]
	if podSpec == nil {
		t.Fatal("no io.k8s.api.core.v1.PodSpec in api/v1")
	}
	containers, ok := podSpec.Properties["containers"]
	if !ok {
		t.Fatal("PodSpec has no containers property")
	}
	if containers.Description == "" {
		t.Error("spec.containers has no description")
	}
	if got, want := refOf(containers.Items.Schema), "#/components/schemas/io.k8s.api.core.v1.Container"; got != want {
		t.Errorf("spec.containers items refer to %q, want %q", got, want)
	}
	for key, want := range map[string]any{
		"x-kubernetes-patch-merge-key": "name",
		"x-kubernetes-patch-strategy":  "merge",
		"x-kubernetes-list-type":       "map",
		"x-kubernetes-list-map-keys":   []any{"name"},
	} {
		if got := containers.Extensions[key]; !equalJSON(got, want) {
			t.Errorf("spec.containers %s = %v, want %v", key, got, want)
		}
	}
	if !slices.Contains(podSpec.Required, "containers") {
		t.Errorf("PodSpec required = %v, want containers in it", podSpec.Required)
	}

	container := schemas["io.k8s.api.core.v1.Container"]
	if container == nil {
		t.Fatal("no io.k8s.api.core.v1.Container in api/v1")
	}
	if !strings.Contains(container.Description, "single application container") {
		t.Errorf("Container description = %q", container.Description)
	}
	if !slices.Contains(container.Required, "name") || slices.Contains(container.Required, "image") {
		t.Errorf("Container required = %v, want name and not image", container.Required)
	}
	if d := container.Properties["image"].Description; !strings.Contains(d, "Container image name") {
		t.Errorf("Container.image description = %q", d)
	}

	pod := schemas["io.k8s.api.core.v1.Pod"]
	if got, want := pod.Extensions[extGVK], []any{map[string]any{"group": "", "version": "v1", "kind": "Pod"}}; !equalJSON(got, want) {
		t.Errorf("Pod %s = %v, want %v", extGVK, got, want)
	}
	for _, p := range []string{"apiVersion", "kind", "metadata", "spec", "status"} {
		if _, ok := pod.Properties[p]; !ok {
			t.Errorf("Pod has no property %s", p)
		}
	}
	if got := refOf(ptr(pod.Properties["metadata"])); got != "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" {
		t.Errorf("Pod.metadata refers to %q", got)
	}
	// Only api/v1 and what it refers to.
	if _, ok := schemas["io.k8s.api.apps.v1.Deployment"]; ok {
		t.Error("api/v1 document holds io.k8s.api.apps.v1.Deployment")
	}
}

func ptr[T any](v T) *T { return &v }

func equalJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

func TestV2ProtobufDeploymentHasGroupVersionKind(t *testing.T) {
	ts := newTestServer(t)
	doc, err := ts.discovery.OpenAPISchema() // asks for protobuf
	if err != nil {
		t.Fatalf("OpenAPISchema: %v", err)
	}
	if doc.GetSwagger() != "2.0" {
		t.Errorf("swagger = %q, want 2.0", doc.GetSwagger())
	}
	var deployment *openapiv2.Schema
	for _, d := range doc.GetDefinitions().GetAdditionalProperties() {
		if d.GetName() == "io.k8s.api.apps.v1.Deployment" {
			deployment = d.GetValue()
		}
	}
	if deployment == nil {
		t.Fatal("no definition io.k8s.api.apps.v1.Deployment")
	}
	var gvks []map[string]string
	for _, ext := range deployment.GetVendorExtension() {
		if ext.GetName() == extGVK {
			if err := yaml.Unmarshal([]byte(ext.GetValue().GetYaml()), &gvks); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := []map[string]string{{"group": "apps", "version": "v1", "kind": "Deployment"}}
	if !equalJSON(gvks, want) {
		t.Errorf("Deployment %s = %v, want %v", extGVK, gvks, want)
	}

	// kubectl's v2 model parser (used by client-side apply and validation
	// fallbacks) must accept the document, and validate with it.
	models, err := kubeproto.NewOpenAPIData(doc)
	if err != nil {
		t.Fatalf("NewOpenAPIData: %v", err)
	}
	podModel := models.LookupModel("io.k8s.api.core.v1.Pod")
	if podModel == nil {
		t.Fatal("no model io.k8s.api.core.v1.Pod")
	}
	bad := map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": "p"},
		"spec": map[string]any{"containers": []any{map[string]any{"image": "busybox", "bogus": 1}}}}
	errs := validation.ValidateModel(bad, podModel, "Pod")
	if !strings.Contains(joinErrors(errs), "bogus") || !strings.Contains(joinErrors(errs), "name") {
		t.Errorf("validating a pod with an unknown field and no container name: %v", errs)
	}

	// kubectl's v2 check for server-side field validation.
	v := resource.NewQueryParamVerifier(ts.dynamic, ts.discovery, resource.QueryParamFieldValidation)
	if err := v.HasSupport(appsv1.SchemeGroupVersion.WithKind("Deployment")); err != nil {
		t.Errorf("v2 fieldValidation support for Deployment: %v", err)
	}
}

func joinErrors(errs []error) string {
	var s []string
	for _, e := range errs {
		s = append(s, e.Error())
	}
	return strings.Join(s, "; ")
}

func TestExplainPodSpecContainers(t *testing.T) {
	ts := newTestServer(t)
	var out bytes.Buffer
	gvr := schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	err := explainv2.PrintModelDescription([]string{"spec", "containers"}, &out, ts.discovery.OpenAPIV3(), gvr, false, 0, "plaintext")
	if err != nil {
		t.Fatalf("explain pod.spec.containers: %v", err)
	}
	text := out.String()
	for _, want := range []string{
		"KIND:       Pod",
		"VERSION:    v1",
		"FIELD: containers <[]Container>",
		"List of containers belonging to the pod.",
		"  image\t<string>",
		"  name\t<string> -required-",
		"  ports\t<[]ContainerPort>",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("explain pod.spec.containers lacks %q:\n%s", want, text)
		}
	}

	out.Reset()
	gvr = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	if err := explainv2.PrintModelDescription([]string{"spec", "strategy", "rollingUpdate", "maxSurge"}, &out, ts.discovery.OpenAPIV3(), gvr, false, 0, "plaintext"); err != nil {
		t.Fatalf("explain deployment.spec.strategy.rollingUpdate.maxSurge: %v", err)
	}
	for _, want := range []string{"GROUP:      apps", "KIND:       Deployment", "FIELD: maxSurge <IntOrString>", "IntOrString is a type"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("explain deployment...maxSurge lacks %q:\n%s", want, out.String())
		}
	}
}

func TestFieldValidationParameterOnCreateUpdatePatch(t *testing.T) {
	ts := newTestServer(t)
	doc := ts.v3Doc(t, "api/v1")
	hasParam := func(op *spec3.Operation, name string) bool {
		for _, p := range op.Parameters {
			if p.Name == name && p.In == "query" {
				return true
			}
		}
		return false
	}
	pods := doc.Paths.Paths["/api/v1/namespaces/{namespace}/pods"]
	if pods == nil || pods.Post == nil {
		t.Fatal("no POST /api/v1/namespaces/{namespace}/pods")
	}
	for _, p := range []string{"fieldValidation", "dryRun", "fieldManager"} {
		if !hasParam(pods.Post, p) {
			t.Errorf("POST /api/v1/namespaces/{namespace}/pods has no %s query parameter", p)
		}
	}
	if got := pods.Post.Extensions[extAction]; got != "post" {
		t.Errorf("POST pods %s = %v", extAction, got)
	}
	pod := doc.Paths.Paths["/api/v1/namespaces/{namespace}/pods/{name}"]
	for _, op := range []*spec3.Operation{pod.Put, pod.Patch} {
		if !hasParam(op, "fieldValidation") {
			t.Errorf("%s has no fieldValidation query parameter", op.OperationId)
		}
	}
	for _, p := range []string{"labelSelector", "fieldSelector", "limit", "continue", "resourceVersion", "watch"} {
		if !hasParam(pods.Get, p) {
			t.Errorf("GET pods has no %s query parameter", p)
		}
	}

	// kubectl's v3 check, for every served kind (it stops at the first
	// PATCH of the kind it meets, status and scale included).
	v := resource.NewQueryParamVerifierV3(ts.dynamic, ts.discovery.OpenAPIV3(), resource.QueryParamFieldValidation)
	for _, r := range registry.All() {
		if err := v.HasSupport(r.GVK()); err != nil {
			t.Errorf("v3 fieldValidation support for %v: %v", r.GVK(), err)
		}
	}
}

func TestEveryResourceHasItsOperations(t *testing.T) {
	ts := newTestServer(t)
	for _, r := range registry.All() {
		gv := schema.GroupVersion{Group: r.Group, Version: r.Version}
		doc := ts.v3Doc(t, v3Key(gv))
		collection := gvPrefix(gv) + "/" + r.Resource
		if r.Namespaced {
			collection = gvPrefix(gv) + "/namespaces/{namespace}/" + r.Resource
		}
		want := map[string][]string{
			collection:             {"get:list", "post:post", "delete:deletecollection"},
			collection + "/{name}": {"get:get", "put:put", "patch:patch", "delete:delete"},
			gvPrefix(gv) + "/watch" + strings.TrimPrefix(collection, gvPrefix(gv)): {"get:watchlist"},
		}
		if r.Status {
			want[collection+"/{name}/status"] = []string{"get:get", "put:put", "patch:patch"}
		}
		if r.Scale {
			want[collection+"/{name}/scale"] = []string{"get:get", "put:put", "patch:patch"}
		}
		for path, ops := range want {
			item := doc.Paths.Paths[path]
			if item == nil {
				t.Errorf("%s: no path %s", r.GVR(), path)
				continue
			}
			for _, mo := range ops {
				method, action, _ := strings.Cut(mo, ":")
				op := map[string]*spec3.Operation{"get": item.Get, "put": item.Put, "post": item.Post, "delete": item.Delete, "patch": item.Patch}[method]
				if op == nil {
					t.Errorf("%s: no %s %s", r.GVR(), method, path)
					continue
				}
				if got := op.Extensions[extAction]; got != action {
					t.Errorf("%s %s: action %v, want %s", method, path, got, action)
				}
				wantGVK := r.GVK()
				if strings.HasSuffix(path, "/scale") {
					wantGVK = schema.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"}
				}
				if got := op.Extensions[extGVK]; !equalJSON(got, map[string]string{"group": wantGVK.Group, "version": wantGVK.Version, "kind": wantGVK.Kind}) {
					t.Errorf("%s %s: gvk %v, want %v", method, path, got, wantGVK)
				}
			}
		}
	}
}

// TestClientSideApplyMergesContainersByName computes a three-way patch
// the way `kubectl apply` does with the v3 document: containers merge by
// name, so dropping one container deletes it by name.
func TestClientSideApplyMergesContainersByName(t *testing.T) {
	ts := newTestServer(t)
	root := openapi3.NewRoot(ts.discovery.OpenAPIV3())
	doc, err := root.GVSpec(corev1.SchemeGroupVersion)
	if err != nil {
		t.Fatal(err)
	}
	pod := doc.Components.Schemas["io.k8s.api.core.v1.Pod"]
	meta := strategicpatch.PatchMetaFromOpenAPIV3{Schema: pod, SchemaList: doc.Components.Schemas}
	original := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"a:1"},{"name":"b","image":"b:1"}]}}`
	modified := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"a:2"}]}}`
	current := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"a:1"},{"name":"b","image":"b:1"}],"nodeName":"n"}}`
	patch, err := strategicpatch.CreateThreeWayMergePatch([]byte(original), []byte(modified), []byte(current), meta, false)
	if err != nil {
		t.Fatalf("CreateThreeWayMergePatch: %v", err)
	}
	for _, want := range []string{`"$setElementOrder/containers":[{"name":"a"}]`, `{"$patch":"delete","name":"b"}`, `{"image":"a:2","name":"a"}`} {
		if !strings.Contains(string(patch), want) {
			t.Errorf("patch %s lacks %s", patch, want)
		}
	}
}

// TestDefinitionsServeServerSideApply builds a server-side apply type
// converter from Definitions and checks it sees objects as client-go's
// own apply schema (generated from upstream's OpenAPI) does.
func TestDefinitionsServeServerSideApply(t *testing.T) {
	svc, err := New(Config{Resources: registry.All(), Scheme: registry.NewScheme(), Version: "v1.37.2"})
	if err != nil {
		t.Fatal(err)
	}
	ours, err := managedfields.NewTypeConverter(svc.Definitions(), false)
	if err != nil {
		t.Fatalf("NewTypeConverter(Definitions()): %v", err)
	}
	upstream := applyconfigurations.NewTypeConverter(registry.NewScheme())
	replicas := int32(2)
	objects := []runtime.Object{
		&corev1.Pod{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{"app": "x"}, Finalizers: []string{"f"}},
			Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "a", Image: "a", Ports: []corev1.ContainerPort{{ContainerPort: 80, Protocol: "TCP"}},
					Env: []corev1.EnvVar{{Name: "E", Value: "v"}}}},
				Tolerations:  []corev1.Toleration{{Key: "k", Operator: "Exists"}},
				NodeSelector: map[string]string{"disk": "ssd"},
			},
		},
		&appsv1.Deployment{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
			ObjectMeta: metav1.ObjectMeta{Name: "d"},
			Spec: appsv1.DeploymentSpec{
				Replicas: &replicas,
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}},
				Strategy: appsv1.DeploymentStrategy{RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: ptr(intstr.FromString("25%"))}},
			},
		},
		&corev1.Service{
			TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80, Protocol: "TCP", TargetPort: intstr.FromInt32(8080)}},
				ClusterIPs: []string{"10.96.0.1"}},
		},
	}
	for _, obj := range objects {
		kind := obj.GetObjectKind().GroupVersionKind().Kind
		a, err := ours.ObjectToTyped(obj)
		if err != nil {
			t.Fatalf("%s: ObjectToTyped with Definitions: %v", kind, err)
		}
		b, err := upstream.ObjectToTyped(obj)
		if err != nil {
			t.Fatalf("%s: ObjectToTyped with client-go's schema: %v", kind, err)
		}
		fa, err := a.ToFieldSet()
		if err != nil {
			t.Fatal(err)
		}
		fb, err := b.ToFieldSet()
		if err != nil {
			t.Fatal(err)
		}
		if !fa.Equals(fb) {
			t.Errorf("%s: field sets differ\nours:     %s\nclient-go: %s", kind, fa, fb)
		}
		if kind == "Pod" && !strings.Contains(fa.String(), `.spec.containers[name="a"].image`) {
			t.Errorf("Pod field set does not key containers by name: %s", fa)
		}
	}
}

func TestSpecialTypes(t *testing.T) {
	svc, err := New(Config{Resources: registry.All(), Scheme: registry.NewScheme(), Version: "v1.37.2"})
	if err != nil {
		t.Fatal(err)
	}
	var v2 spec.Swagger
	if err := json.Unmarshal(svc.v2.json, &v2); err != nil {
		t.Fatal(err)
	}
	v3 := svc.Definitions()
	for _, tc := range []struct {
		name, typ, format string
		v3OneOf           []string
	}{
		{"io.k8s.apimachinery.pkg.api.resource.Quantity", "string", "", []string{"string", "number"}},
		{"io.k8s.apimachinery.pkg.util.intstr.IntOrString", "string", "int-or-string", []string{"integer", "string"}},
		{"io.k8s.apimachinery.pkg.apis.meta.v1.Time", "string", "date-time", nil},
		{"io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime", "string", "date-time", nil},
		{"io.k8s.apimachinery.pkg.runtime.RawExtension", "object", "", nil},
		{"io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1", "object", "", nil},
	} {
		d2, ok := v2.Definitions[tc.name]
		if !ok {
			t.Errorf("v2 has no %s", tc.name)
			continue
		}
		if !slices.Equal(d2.Type, []string{tc.typ}) || d2.Format != tc.format || d2.Description == "" {
			t.Errorf("v2 %s: type %v format %q description %q", tc.name, d2.Type, d2.Format, d2.Description)
		}
		d3 := v3[tc.name]
		var oneOf []string
		for _, s := range d3.OneOf {
			oneOf = append(oneOf, s.Type...)
		}
		if !slices.Equal(oneOf, tc.v3OneOf) || d3.Format != tc.format {
			t.Errorf("v3 %s: oneOf %v format %q", tc.name, oneOf, d3.Format)
		}
	}
	data := v2.Definitions["io.k8s.api.core.v1.Secret"].Properties["data"]
	if data.AdditionalProperties == nil || data.AdditionalProperties.Schema.Format != "byte" || !slices.Equal(data.Type, []string{"object"}) {
		t.Errorf("Secret.data = %+v, want an object of byte strings", data)
	}
	cm := v2.Definitions["io.k8s.api.core.v1.ConfigMap"].Properties["data"]
	if cm.AdditionalProperties == nil || !slices.Equal(cm.AdditionalProperties.Schema.Type, []string{"string"}) {
		t.Errorf("ConfigMap.data = %+v, want an object of strings", cm)
	}
	if got := v2.Definitions["io.k8s.api.core.v1.PodSpec"].Properties["containers"].Items.Schema.Ref.String(); got != "#/definitions/io.k8s.api.core.v1.Container" {
		t.Errorf("v2 PodSpec.containers items ref %q", got)
	}
	if req := v2.Definitions["io.k8s.api.apps.v1.DeploymentSpec"].Required; !slices.Contains(req, "selector") || !slices.Contains(req, "template") {
		t.Errorf("DeploymentSpec required = %v, want selector and template", req)
	}
	if req := v2.Definitions["io.k8s.api.core.v1.Event"].Required; slices.Contains(req, "reportingComponent") {
		t.Errorf("Event required = %v: reportingComponent is +optional", req)
	}
	if got := v2.Definitions["io.k8s.api.apps.v1.DeploymentSpec"].Properties["strategy"].Extensions[extPatchStrategy]; got != "retainKeys" {
		t.Errorf("DeploymentSpec.strategy patch strategy = %v", got)
	}
	if got := v2.Definitions["io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector"].Extensions[extMapType]; got != "atomic" {
		t.Errorf("LabelSelector map type = %v, want atomic", got)
	}
}

func TestHTTP(t *testing.T) {
	ts := newTestServer(t)
	get := func(path string, header ...string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, ts.srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		client := &http.Client{
			Transport:     &http.Transport{DisableCompression: true},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	body := func(resp *http.Response) []byte {
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	resp := get("/openapi/v2")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /openapi/v2: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var sw map[string]any
	if err := json.Unmarshal(body(resp), &sw); err != nil || sw["swagger"] != "2.0" {
		t.Errorf("GET /openapi/v2 is not swagger 2.0 JSON: %v", err)
	}
	etag := resp.Header.Get("ETag")
	if resp := get("/openapi/v2", "If-None-Match", etag); resp.StatusCode != http.StatusNotModified {
		t.Errorf("GET /openapi/v2 with If-None-Match %s: %d, want 304", etag, resp.StatusCode)
	}

	resp = get("/openapi/v2", "Accept", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf, application/json;q=0.5")
	if ct := resp.Header.Get("Content-Type"); ct != mimeV2Proto {
		t.Errorf("protobuf Content-Type = %q", ct)
	}
	doc := &openapiv2.Document{}
	if err := proto.Unmarshal(body(resp), doc); err != nil || len(doc.GetPaths().GetPath()) == 0 {
		t.Errorf("protobuf body does not decode to a document with paths: %v", err)
	}

	resp = get("/openapi/v2", "Accept-Encoding", "gzip")
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Errorf("no gzip with Accept-Encoding: gzip")
	}
	zr, err := gzip.NewReader(bytes.NewReader(body(resp)))
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := io.ReadAll(zr); err != nil || !bytes.Equal(plain, ts.svc.v2.json) {
		t.Errorf("gunzipped body differs from the document: %v", err)
	}

	if resp := get("/openapi/v2", "Accept", "text/html"); resp.StatusCode != http.StatusNotAcceptable {
		t.Errorf("Accept: text/html: %d, want 406", resp.StatusCode)
	}

	var disc struct {
		Paths map[string]struct {
			ServerRelativeURL string `json:"serverRelativeURL"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(body(get("/openapi/v3")), &disc); err != nil {
		t.Fatal(err)
	}
	gvs := map[string]bool{}
	for _, r := range registry.All() {
		gvs[r.Group+"/"+r.Version] = true
	}
	if len(disc.Paths) != len(gvs) {
		t.Errorf("/openapi/v3 lists %d group versions, want %d (one per served group version)", len(disc.Paths), len(gvs))
	}
	u := disc.Paths["apis/apps/v1"].ServerRelativeURL
	if !strings.HasPrefix(u, "/openapi/v3/apis/apps/v1?hash=") {
		t.Fatalf("apps/v1 URL = %q", u)
	}
	resp = get(u)
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != immutableCaching {
		t.Errorf("GET %s: %d, Cache-Control %q", u, resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
	var v3 map[string]any
	if err := json.Unmarshal(body(resp), &v3); err != nil || v3["openapi"] != "3.0.0" {
		t.Errorf("apps/v1 is not an OpenAPI 3.0.0 document: %v", err)
	}
	resp = get("/openapi/v3/apis/apps/v1?hash=STALE")
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != u {
		t.Errorf("stale hash: %d to %q, want 301 to %q", resp.StatusCode, resp.Header.Get("Location"), u)
	}
	if resp := get("/openapi/v3/apis/nope/v1"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown group version: %d, want 404", resp.StatusCode)
	}
	resp, err = http.Post(ts.srv.URL+"/openapi/v2", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /openapi/v2: %d, want 405", resp.StatusCode)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	if _, err := New(Config{Resources: registry.All()}); err == nil {
		t.Error("New without a scheme succeeded")
	}
	if _, err := New(Config{Scheme: registry.NewScheme()}); err == nil {
		t.Error("New without resources succeeded")
	}
}

func BenchmarkNew(b *testing.B) {
	scheme := registry.NewScheme()
	resources := registry.All()
	var svc *Service
	for b.Loop() {
		var err error
		if svc, err = New(Config{Resources: resources, Scheme: scheme, Version: "v1.37.2"}); err != nil {
			b.Fatal(err)
		}
	}
	pb, _ := svc.v2.protobuf()
	gz, _ := svc.v2.jsonGz.get(func() ([]byte, error) { return gzipped(svc.v2.json) })
	v3 := 0
	for _, d := range svc.v3 {
		v3 += len(d.json)
	}
	b.ReportMetric(float64(len(svc.v2.json)), "v2-json-bytes")
	b.ReportMetric(float64(len(pb)), "v2-proto-bytes")
	b.ReportMetric(float64(len(gz)), "v2-json-gzip-bytes")
	b.ReportMetric(float64(len(svc.v3["api/v1"].json)), "v3-core-bytes")
	b.ReportMetric(float64(v3), "v3-all-bytes")
}
