package apiserver_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/skiffk8s/skiff/apiserver/apitest"
)

// kcShopManifest is the multi-document manifest a user would `create -f`.
const kcShopManifest = `apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
  namespace: shop
data:
  greeting: hello
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels:
    app: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: busybox:1.36
        command: ["httpd", "-f", "-p", "8080"]
        ports:
        - containerPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 8080
`

// kcWriteFile writes a file in a directory of its own whose path has no
// comma (kubectl -f splits on commas; t.TempDir is named after the test).
func kcWriteFile(t *testing.T, name, content string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "kubectl-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func kcLines(s string) []string {
	return strings.Split(strings.TrimRight(s, "\n"), "\n")
}

// TestKubectlManifests drives one namespace of objects through the verbs
// users run on manifests: create -f, get in every output, label, annotate,
// patch, scale, edit, delete.
func TestKubectlManifests(t *testing.T) {
	t.Parallel()
	srv := apitest.Start(t)
	k := kcNew(t, srv)
	ctx := context.Background()
	manifest := kcWriteFile(t, "shop.yaml", kcShopManifest)

	t.Run("create -f a multi-document manifest", func(t *testing.T) {
		out := k.ok(t, "create", "-f", manifest)
		want := []string{"namespace/shop created", "configmap/web-config created", "deployment.apps/web created", "service/web created"}
		if got := kcLines(out); !slices.Equal(got, want) {
			t.Fatalf("create -f printed %q, want %q", got, want)
		}
		d, err := srv.Client.AppsV1().Deployments("shop").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if *d.Spec.Replicas != 2 || d.Spec.Template.Spec.Containers[0].Image != "busybox:1.36" {
			t.Errorf("stored deployment: replicas %d image %s", *d.Spec.Replicas, d.Spec.Template.Spec.Containers[0].Image)
		}
		svc, err := srv.Client.CoreV1().Services("shop").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if net.ParseIP(svc.Spec.ClusterIP) == nil {
			t.Errorf("service has no cluster IP: %q", svc.Spec.ClusterIP)
		}
	})

	t.Run("create -f again says AlreadyExists", func(t *testing.T) {
		r := k.fails(t, "create", "-f", manifest)
		kcContains(t, r.stderr, `Error from server (AlreadyExists)`, `namespaces "shop" already exists`, `deployments.apps "web" already exists`)
	})

	t.Run("get deployments as a table with upstream columns", func(t *testing.T) {
		out := k.ok(t, "get", "deployments", "-n", "shop")
		if h := kcHeader(out); h != "NAME   READY   UP-TO-DATE   AVAILABLE   AGE" {
			t.Errorf("header %q", h)
		}
		row := kcRow(t, out, "web")
		if !slices.Equal(row[:4], []string{"web", "0/2", "0", "0"}) {
			t.Errorf("row %q", row)
		}
	})

	t.Run("get -o wide adds containers, images and selector", func(t *testing.T) {
		out := k.ok(t, "get", "deploy", "web", "-n", "shop", "-o", "wide")
		if h := kcHeader(out); h != "NAME   READY   UP-TO-DATE   AVAILABLE   AGE   CONTAINERS   IMAGES   SELECTOR" {
			t.Errorf("header %q", h)
		}
		row := kcRow(t, out, "web")
		if n := len(row); n != 8 || row[5] != "web" || row[6] != "busybox:1.36" || row[7] != "app=web" {
			t.Errorf("row %q", row)
		}
		out = k.ok(t, "get", "services", "-n", "shop", "-o", "wide")
		if h := kcHeader(out); h != "NAME   TYPE   CLUSTER-IP   EXTERNAL-IP   PORT(S)   AGE   SELECTOR" {
			t.Errorf("services header %q", h)
		}
		if row := kcRow(t, out, "web"); row[1] != "ClusterIP" || row[4] != "80/TCP" || row[6] != "app=web" {
			t.Errorf("services row %q", row)
		}
	})

	t.Run("get -o yaml", func(t *testing.T) {
		out := k.ok(t, "get", "deployment", "web", "-n", "shop", "-o", "yaml")
		var d appsv1.Deployment
		if err := yaml.UnmarshalStrict([]byte(out), &d); err != nil {
			t.Fatalf("not a Deployment in YAML: %v\n%s", err, out)
		}
		if d.APIVersion != "apps/v1" || d.Kind != "Deployment" || d.Name != "web" || d.Namespace != "shop" || d.UID == "" || d.ResourceVersion == "" {
			t.Errorf("metadata: %s %s %s/%s uid=%q rv=%q", d.APIVersion, d.Kind, d.Namespace, d.Name, d.UID, d.ResourceVersion)
		}
		if d.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyAlways || d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType {
			t.Errorf("defaults missing: restartPolicy %q strategy %q", d.Spec.Template.Spec.RestartPolicy, d.Spec.Strategy.Type)
		}
	})

	t.Run("get -o json of a list", func(t *testing.T) {
		out := k.ok(t, "get", "configmaps,services", "-n", "shop", "-o", "json")
		var l struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Items      []struct {
				Kind     string            `json:"kind"`
				Metadata metav1.ObjectMeta `json:"metadata"`
			} `json:"items"`
		}
		if err := json.Unmarshal([]byte(out), &l); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, out)
		}
		var got []string
		for _, it := range l.Items {
			got = append(got, it.Kind+"/"+it.Metadata.Name)
		}
		if l.Kind != "List" || l.APIVersion != "v1" || !slices.Contains(got, "ConfigMap/web-config") || !slices.Contains(got, "Service/web") {
			t.Errorf("list %s %s items %q", l.APIVersion, l.Kind, got)
		}
	})

	t.Run("get -o jsonpath", func(t *testing.T) {
		if _, err := srv.Client.CoreV1().ConfigMaps("shop").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "extra"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		out := k.ok(t, "get", "configmaps", "-n", "shop", "-o", "jsonpath={.items[*].metadata.name}")
		if got := strings.Fields(out); !slices.Contains(got, "extra") || !slices.Contains(got, "web-config") {
			t.Errorf("jsonpath printed %q", out)
		}
		out = k.ok(t, "get", "deployment", "web", "-n", "shop", "-o", "jsonpath={.spec.template.spec.containers[0].image}")
		if out != "busybox:1.36" {
			t.Errorf("jsonpath image %q", out)
		}
	})

	t.Run("get a missing object says NotFound", func(t *testing.T) {
		r := k.fails(t, "get", "deployment", "nope", "-n", "shop")
		kcContains(t, r.stderr, `Error from server (NotFound): deployments.apps "nope" not found`)
	})

	t.Run("label", func(t *testing.T) {
		if out := k.ok(t, "label", "deployment", "web", "-n", "shop", "tier=frontend"); strings.TrimSpace(out) != "deployment.apps/web labeled" {
			t.Errorf("label printed %q", out)
		}
		r := k.fails(t, "label", "deployment", "web", "-n", "shop", "tier=backend")
		kcContains(t, r.stderr, "'tier' already has a value (frontend), and --overwrite is false")
		k.ok(t, "label", "deployment", "web", "-n", "shop", "tier=backend", "--overwrite")
		out := k.ok(t, "get", "deployments", "-n", "shop", "-l", "tier=backend", "-L", "tier")
		if row := kcRow(t, out, "web"); row[len(row)-1] != "backend" {
			t.Errorf("-L tier row %q", row)
		}
		if out := k.ok(t, "label", "deployment", "web", "-n", "shop", "tier-"); strings.TrimSpace(out) != "deployment.apps/web unlabeled" {
			t.Errorf("unlabel printed %q", out)
		}
		d, _ := srv.Client.AppsV1().Deployments("shop").Get(ctx, "web", metav1.GetOptions{})
		if _, ok := d.Labels["tier"]; ok || d.Labels["app"] != "web" {
			t.Errorf("labels after unlabel: %v", d.Labels)
		}
	})

	t.Run("annotate", func(t *testing.T) {
		if out := k.ok(t, "annotate", "configmap", "web-config", "-n", "shop", "owner=team-a"); strings.TrimSpace(out) != "configmap/web-config annotated" {
			t.Errorf("annotate printed %q", out)
		}
		cm, _ := srv.Client.CoreV1().ConfigMaps("shop").Get(ctx, "web-config", metav1.GetOptions{})
		if cm.Annotations["owner"] != "team-a" {
			t.Errorf("annotations %v", cm.Annotations)
		}
	})

	t.Run("patch --type=json", func(t *testing.T) {
		out := k.ok(t, "patch", "deployment", "web", "-n", "shop", "--type=json", "-p", `[{"op":"replace","path":"/spec/replicas","value":4}]`)
		if strings.TrimSpace(out) != "deployment.apps/web patched" {
			t.Errorf("patch printed %q", out)
		}
		if d, _ := srv.Client.AppsV1().Deployments("shop").Get(ctx, "web", metav1.GetOptions{}); *d.Spec.Replicas != 4 {
			t.Errorf("replicas %d after json patch", *d.Spec.Replicas)
		}
		// As upstream, a JSON patch that cannot apply is 422 Invalid.
		r := k.fails(t, "patch", "deployment", "web", "-n", "shop", "--type=json", "-p", `[{"op":"remove","path":"/spec/nothere"}]`)
		kcContains(t, r.stderr, "is invalid")
	})

	t.Run("patch --type=merge", func(t *testing.T) {
		k.ok(t, "patch", "configmap", "web-config", "-n", "shop", "--type=merge", "-p", `{"data":{"color":"blue"}}`)
		cm, _ := srv.Client.CoreV1().ConfigMaps("shop").Get(ctx, "web-config", metav1.GetOptions{})
		if cm.Data["color"] != "blue" || cm.Data["greeting"] != "hello" {
			t.Errorf("data after merge patch: %v", cm.Data)
		}
		out := k.ok(t, "patch", "configmap", "web-config", "-n", "shop", "--type=merge", "-p", `{"data":{"color":"blue"}}`)
		if strings.TrimSpace(out) != "configmap/web-config patched (no change)" {
			t.Errorf("no-op patch printed %q", out)
		}
	})

	t.Run("patch --type=strategic merges containers by name", func(t *testing.T) {
		k.ok(t, "patch", "deployment", "web", "-n", "shop", "--type=strategic", "-p",
			`{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"busybox:1.37"}]}}}}`)
		d, _ := srv.Client.AppsV1().Deployments("shop").Get(ctx, "web", metav1.GetOptions{})
		c := d.Spec.Template.Spec.Containers
		if len(c) != 1 || c[0].Image != "busybox:1.37" || len(c[0].Command) != 4 || len(c[0].Ports) != 1 {
			t.Errorf("containers after strategic patch: %+v", c)
		}
		if d.Generation < 2 {
			t.Errorf("generation %d after a spec change", d.Generation)
		}
	})

	t.Run("scale", func(t *testing.T) {
		if out := k.ok(t, "scale", "deployment/web", "-n", "shop", "--replicas=3"); strings.TrimSpace(out) != "deployment.apps/web scaled" {
			t.Errorf("scale printed %q", out)
		}
		if row := kcRow(t, k.ok(t, "get", "deployments", "-n", "shop"), "web"); row[1] != "0/3" {
			t.Errorf("after scale: %q", row)
		}
		r := k.fails(t, "scale", "deployment/web", "-n", "shop", "--replicas=5", "--current-replicas=2")
		kcContains(t, r.stderr, "Expected replicas to be 2, was 3")
	})

	t.Run("edit with EDITOR", func(t *testing.T) {
		editor := kcWriteFile(t, "editor.sh", "#!/bin/sh\nsed -i 's/greeting: hello/greeting: edited/' \"$1\"\n")
		if err := os.Chmod(editor, 0o755); err != nil {
			t.Fatal(err)
		}
		r := k.runWith(t, []string{"EDITOR=" + editor}, "", "edit", "configmap", "web-config", "-n", "shop")
		if r.code != 0 || strings.TrimSpace(r.stdout) != "configmap/web-config edited" {
			t.Fatalf("edit: %s", r)
		}
		cm, _ := srv.Client.CoreV1().ConfigMaps("shop").Get(ctx, "web-config", metav1.GetOptions{})
		if cm.Data["greeting"] != "edited" || cm.Annotations["owner"] != "team-a" {
			t.Errorf("after edit: data %v annotations %v", cm.Data, cm.Annotations)
		}
		// An edit that changes nothing is cancelled.
		noop := kcWriteFile(t, "noop.sh", "#!/bin/sh\ntrue\n")
		os.Chmod(noop, 0o755)
		r = k.runWith(t, []string{"EDITOR=" + noop}, "", "edit", "configmap", "web-config", "-n", "shop")
		if r.code != 0 || !strings.Contains(r.stdout+r.stderr, "Edit cancelled, no changes made.") {
			t.Errorf("no-op edit: %s", r)
		}
	})

	t.Run("delete and delete -l", func(t *testing.T) {
		for _, n := range []string{"a", "b", "c"} {
			batch := "one"
			if n == "c" {
				batch = "two"
			}
			k.ok(t, "create", "configmap", "batch-"+n, "-n", "shop", "--from-literal=k=v")
			k.ok(t, "label", "configmap", "batch-"+n, "-n", "shop", "batch="+batch)
		}
		out := k.ok(t, "delete", "configmap", "-n", "shop", "-l", "batch=one")
		kcContains(t, out, `configmap "batch-a" deleted`, `configmap "batch-b" deleted`)
		if strings.Contains(out, "batch-c") {
			t.Errorf("delete -l batch=one deleted batch-c: %s", out)
		}
		names := strings.Fields(k.ok(t, "get", "cm", "-n", "shop", "-l", "batch", "-o", "jsonpath={.items[*].metadata.name}"))
		if !slices.Equal(names, []string{"batch-c"}) {
			t.Errorf("left after delete -l: %q", names)
		}
		kcContains(t, k.ok(t, "delete", "configmap", "web-config", "-n", "shop"), `configmap "web-config" deleted`)
		r := k.fails(t, "get", "configmap", "web-config", "-n", "shop")
		kcContains(t, r.stderr, `Error from server (NotFound): configmaps "web-config" not found`)
		if _, err := srv.Client.CoreV1().ConfigMaps("shop").Get(ctx, "web-config", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("get after delete: %v", err)
		}
		r = k.fails(t, "delete", "configmap", "web-config", "-n", "shop")
		kcContains(t, r.stderr, `Error from server (NotFound): configmaps "web-config" not found`)
		kcContains(t, k.ok(t, "delete", "-f", manifest, "--ignore-not-found", "--wait=false"), `namespace "shop" deleted`, `deployment.apps "web" deleted`)
		if ns, err := srv.Client.CoreV1().Namespaces().Get(ctx, "shop", metav1.GetOptions{}); err == nil && ns.Status.Phase != corev1.NamespaceTerminating {
			t.Errorf("namespace after delete: phase %q", ns.Status.Phase)
		}
	})
}

// TestKubectlApply covers client-side apply (created, configured,
// unchanged) and server-side apply with a conflict.
func TestKubectlApply(t *testing.T) {
	t.Parallel()
	srv := apitest.Start(t)
	k := kcNew(t, srv)
	ctx := context.Background()
	dir := t.TempDir()
	manifest := filepath.Join(dir, "app.yaml")
	write := func(mode string, replicas string) {
		t.Helper()
		doc := `apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config
data:
  mode: ` + mode + `
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  replicas: ` + replicas + `
  selector:
    matchLabels: {app: app}
  template:
    metadata:
      labels: {app: app}
    spec:
      containers:
      - name: app
        image: busybox
`
		if err := os.WriteFile(manifest, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("first apply creates", func(t *testing.T) {
		write("blue", "1")
		out := k.ok(t, "apply", "-f", manifest)
		if want := []string{"configmap/app-config created", "deployment.apps/app created"}; !slices.Equal(kcLines(out), want) {
			t.Errorf("apply printed %q, want %q", kcLines(out), want)
		}
		cm, err := srv.Client.CoreV1().ConfigMaps("default").Get(ctx, "app-config", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := cm.Annotations[corev1.LastAppliedConfigAnnotation]; !ok {
			t.Errorf("no last-applied annotation: %v", cm.Annotations)
		}
	})

	t.Run("second apply with a change configures", func(t *testing.T) {
		write("green", "1")
		out := k.ok(t, "apply", "-f", manifest)
		if want := []string{"configmap/app-config configured", "deployment.apps/app unchanged"}; !slices.Equal(kcLines(out), want) {
			t.Errorf("apply printed %q, want %q", kcLines(out), want)
		}
		if got := k.ok(t, "get", "configmap", "app-config", "-o", "jsonpath={.data.mode}"); got != "green" {
			t.Errorf("mode after apply %q", got)
		}
	})

	t.Run("third apply is unchanged", func(t *testing.T) {
		before, _ := srv.Client.CoreV1().ConfigMaps("default").Get(ctx, "app-config", metav1.GetOptions{})
		out := k.ok(t, "apply", "-f", manifest)
		if want := []string{"configmap/app-config unchanged", "deployment.apps/app unchanged"}; !slices.Equal(kcLines(out), want) {
			t.Errorf("apply printed %q, want %q", kcLines(out), want)
		}
		after, _ := srv.Client.CoreV1().ConfigMaps("default").Get(ctx, "app-config", metav1.GetOptions{})
		if before.ResourceVersion != after.ResourceVersion {
			t.Errorf("unchanged apply wrote: rv %s -> %s", before.ResourceVersion, after.ResourceVersion)
		}
	})

	t.Run("apply removes a field dropped from the manifest", func(t *testing.T) {
		write("green", "3")
		k.ok(t, "apply", "-f", manifest)
		if d, _ := srv.Client.AppsV1().Deployments("default").Get(ctx, "app", metav1.GetOptions{}); *d.Spec.Replicas != 3 {
			t.Errorf("replicas %d", *d.Spec.Replicas)
		}
	})

	ssa := filepath.Join(dir, "ssa.yaml")
	writeSSA := func(value string) {
		t.Helper()
		doc := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa-config\ndata:\n  owner: " + value + "\n"
		if err := os.WriteFile(ssa, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("apply --server-side", func(t *testing.T) {
		writeSSA("me")
		if out := k.ok(t, "apply", "--server-side", "-f", ssa); strings.TrimSpace(out) != "configmap/ssa-config serverside-applied" {
			t.Errorf("apply --server-side printed %q", out)
		}
		cm, err := srv.Client.CoreV1().ConfigMaps("default").Get(ctx, "ssa-config", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var managers []string
		for _, mf := range cm.ManagedFields {
			managers = append(managers, mf.Manager+"/"+string(mf.Operation))
		}
		if cm.Data["owner"] != "me" || !slices.Contains(managers, "kubectl/Apply") {
			t.Errorf("data %v managers %q", cm.Data, managers)
		}
	})

	t.Run("apply --server-side conflicts with another manager", func(t *testing.T) {
		k.ok(t, "patch", "configmap", "ssa-config", "--type=merge", "-p", `{"data":{"owner":"someone-else"}}`)
		writeSSA("me-again")
		r := k.fails(t, "apply", "--server-side", "-f", ssa)
		kcContains(t, r.stderr, "Apply failed with 1 conflict", `conflict with "kubectl-patch"`, ".data.owner")
		if got := k.ok(t, "get", "cm", "ssa-config", "-o", "jsonpath={.data.owner}"); got != "someone-else" {
			t.Errorf("a conflicting apply wrote: owner %q", got)
		}
		k.ok(t, "apply", "--server-side", "--force-conflicts", "-f", ssa)
		if got := k.ok(t, "get", "cm", "ssa-config", "-o", "jsonpath={.data.owner}"); got != "me-again" {
			t.Errorf("after --force-conflicts owner %q", got)
		}
	})

	t.Run("apply --dry-run=server writes nothing", func(t *testing.T) {
		writeSSA("dry")
		out := k.ok(t, "apply", "--server-side", "--force-conflicts", "--dry-run=server", "-f", ssa)
		kcContains(t, out, "configmap/ssa-config serverside-applied (server dry run)")
		if got := k.ok(t, "get", "cm", "ssa-config", "-o", "jsonpath={.data.owner}"); got != "me-again" {
			t.Errorf("dry run wrote: owner %q", got)
		}
	})

	t.Run("unknown fields: refused by default, warned with --validate=warn", func(t *testing.T) {
		typo := kcWriteFile(t, "typo.yaml", `apiVersion: apps/v1
kind: Deployment
metadata:
  name: typo
spec:
  replicaz: 2
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      containers: [{name: c, image: busybox, imagePullPolicyy: Always}]
`)
		r := k.fails(t, "apply", "-f", typo)
		kcContains(t, r.stderr, `Error from server (BadRequest)`, `strict decoding error: unknown field "spec.replicaz", unknown field "spec.template.spec.containers[0].imagePullPolicyy"`)
		if _, err := srv.Client.AppsV1().Deployments("default").Get(ctx, "typo", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("a refused apply wrote: %v", err)
		}
		r = k.fails(t, "apply", "--server-side", "-f", typo)
		kcContains(t, r.stderr, ".spec.replicaz: field not declared in schema")
		r = k.run(t, "create", "-f", typo, "--validate=warn")
		if r.code != 0 || strings.TrimSpace(r.stdout) != "deployment.apps/typo created" {
			t.Fatalf("create --validate=warn: %s", r)
		}
		kcContains(t, r.stderr, `Warning: unknown field "spec.replicaz"`, `Warning: unknown field "spec.template.spec.containers[0].imagePullPolicyy"`)
	})

	t.Run("apply -f - from stdin, as create --dry-run=client pipes", func(t *testing.T) {
		gen := k.ok(t, "create", "deployment", "piped", "--image=busybox", "--dry-run=client", "-o", "yaml")
		if out := k.okStdin(t, gen, "apply", "-f", "-"); strings.TrimSpace(out) != "deployment.apps/piped created" {
			t.Errorf("apply -f - printed %q", out)
		}
	})
}

// TestKubectlWatch runs `get -w` in the background and sees an update.
func TestKubectlWatch(t *testing.T) {
	t.Parallel()
	srv := apitest.Start(t)
	k := kcNew(t, srv)
	k.ok(t, "create", "configmap", "watched", "--from-literal=a=1")

	t.Run("get -w prints the object, then its update", func(t *testing.T) {
		w := k.start(t, time.Minute, "get", "configmap", "watched", "-w")
		w.waitFor(t, regexp.MustCompile(`^NAME\s+DATA\s+AGE$`), 30*time.Second)
		w.waitFor(t, regexp.MustCompile(`^watched\s+1\s+\S+$`), 30*time.Second)
		k.ok(t, "patch", "configmap", "watched", "--type=merge", "-p", `{"data":{"b":"2"}}`)
		w.waitFor(t, regexp.MustCompile(`^watched\s+2\s+\S+$`), 30*time.Second)
	})

	t.Run("get -w on a list sees a new object and the deletion", func(t *testing.T) {
		w := k.start(t, time.Minute, "get", "configmaps", "-w", "--output-watch-events")
		w.waitFor(t, regexp.MustCompile(`^ADDED\s+watched\s+2\s+`), 30*time.Second)
		k.ok(t, "create", "configmap", "newcomer", "--from-literal=x=y")
		w.waitFor(t, regexp.MustCompile(`^ADDED\s+newcomer\s+1\s+`), 30*time.Second)
		k.ok(t, "delete", "configmap", "newcomer")
		w.waitFor(t, regexp.MustCompile(`^DELETED\s+newcomer\s+1\s+`), 30*time.Second)
	})

	t.Run("get -w -o name", func(t *testing.T) {
		w := k.start(t, time.Minute, "get", "configmaps", "-w", "-o", "name")
		w.waitFor(t, regexp.MustCompile(`^configmap/watched$`), 30*time.Second)
		k.ok(t, "label", "configmap", "watched", "seen=yes")
		w.waitFor(t, regexp.MustCompile(`^configmap/watched$`), 30*time.Second)
	})
}

// TestKubectlDescribe describes a pod, a service, a deployment and a node.
func TestKubectlDescribe(t *testing.T) {
	t.Parallel()
	srv := apitest.Start(t)
	k := kcNew(t, srv)
	objects := kcWriteFile(t, "objects.yaml", `apiVersion: v1
kind: Node
metadata:
  name: node-1
  labels:
    kubernetes.io/hostname: node-1
spec:
  podCIDR: 10.244.1.0/24
status:
  capacity: {cpu: "4", memory: 8Gi, pods: "110"}
  allocatable: {cpu: "4", memory: 8Gi, pods: "110"}
  addresses:
  - {type: InternalIP, address: 10.0.0.11}
  - {type: Hostname, address: node-1}
  conditions:
  - type: Ready
    status: "True"
    reason: KubeletReady
    message: kubelet is posting ready status
    lastHeartbeatTime: "2030-01-01T00:00:00Z"
    lastTransitionTime: "2030-01-01T00:00:00Z"
  nodeInfo:
    kubeletVersion: v1.37.2
    osImage: Debian GNU/Linux 12 (bookworm)
    containerRuntimeVersion: containerd://1.6.20
    kernelVersion: 6.1.0
    operatingSystem: linux
    architecture: amd64
    machineID: m
    systemUUID: s
    bootID: b
    kubeProxyVersion: ""
---
apiVersion: v1
kind: Pod
metadata:
  name: web-0
  labels: {app: web}
spec:
  nodeName: node-1
  containers:
  - name: web
    image: busybox:1.36
    command: ["sleep", "3600"]
    resources:
      requests: {cpu: 100m, memory: 64Mi}
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - name: http
    port: 80
    targetPort: 8080
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: busybox:1.36
`)
	k.ok(t, "create", "-f", objects)

	t.Run("pod", func(t *testing.T) {
		out := k.ok(t, "describe", "pod", "web-0")
		for _, re := range []string{`(?m)^Name:\s+web-0$`, `(?m)^Namespace:\s+default$`, `(?m)^Node:\s+node-1`, `(?m)^Status:\s+Pending$`,
			`(?m)^Labels:\s+app=web$`, `(?m)^\s+Image:\s+busybox:1.36$`, `(?m)^QoS Class:\s+Burstable$`, `(?m)^Containers:$`, `(?m)^Events:\s+<none>$`} {
			if !regexp.MustCompile(re).MatchString(out) {
				t.Errorf("describe pod lacks %s:\n%s", re, out)
			}
		}
	})

	t.Run("service", func(t *testing.T) {
		out := k.ok(t, "describe", "service", "web")
		for _, re := range []string{`(?m)^Name:\s+web$`, `(?m)^Type:\s+ClusterIP$`, `(?m)^IP:\s+10\.\d+\.\d+\.\d+$`, `(?m)^Selector:\s+app=web$`,
			`(?m)^Port:\s+http\s+80/TCP$`, `(?m)^TargetPort:\s+8080/TCP$`} {
			if !regexp.MustCompile(re).MatchString(out) {
				t.Errorf("describe service lacks %s:\n%s", re, out)
			}
		}
	})

	t.Run("deployment", func(t *testing.T) {
		out := k.ok(t, "describe", "deployment", "web")
		for _, re := range []string{`(?m)^Name:\s+web$`, `(?m)^Replicas:\s+2 desired \| 0 updated \| 0 total \| 0 available \| 0 unavailable$`,
			`(?m)^StrategyType:\s+RollingUpdate$`, `(?m)^RollingUpdateStrategy:\s+25% max unavailable, 25% max surge$`, `(?m)^Pod Template:$`, `(?m)^\s+Image:\s+busybox:1.36$`} {
			if !regexp.MustCompile(re).MatchString(out) {
				t.Errorf("describe deployment lacks %s:\n%s", re, out)
			}
		}
	})

	t.Run("node", func(t *testing.T) {
		out := k.ok(t, "describe", "node", "node-1")
		for _, re := range []string{`(?m)^Name:\s+node-1$`, `(?m)^\s+InternalIP:\s+10\.0\.0\.11$`, `(?m)^Capacity:$`, `(?m)^\s+cpu:\s+4$`,
			`(?m)^\s+Ready\s+True\s+`, `(?m)^PodCIDR:\s+10\.244\.1\.0/24$`, `(?m)^Non-terminated Pods:\s+\(1 in total\)$`,
			`(?m)^\s+default\s+web-0\s+100m \(2%\)`, `(?m)^\s+Container Runtime Version:\s+containerd://1\.6\.20$`} {
			if !regexp.MustCompile(re).MatchString(out) {
				t.Errorf("describe node lacks %s:\n%s", re, out)
			}
		}
	})

	t.Run("describe of a missing object", func(t *testing.T) {
		r := k.fails(t, "describe", "pod", "nope")
		kcContains(t, r.stderr, `pods "nope" not found`)
	})
}

// TestKubectlImperative covers the imperative commands: create deployment,
// run, expose, create configmap/secret/namespace, get all.
func TestKubectlImperative(t *testing.T) {
	t.Parallel()
	srv := apitest.Start(t)
	k := kcNew(t, srv)
	ctx := context.Background()

	t.Run("create deployment", func(t *testing.T) {
		if out := k.ok(t, "create", "deployment", "web", "--image=busybox", "--replicas=2", "--port=8080"); strings.TrimSpace(out) != "deployment.apps/web created" {
			t.Errorf("printed %q", out)
		}
		if row := kcRow(t, k.ok(t, "get", "deploy", "web"), "web"); row[1] != "0/2" {
			t.Errorf("row %q", row)
		}
	})

	t.Run("run a pod", func(t *testing.T) {
		if out := k.ok(t, "run", "p1", "--image=busybox", "--restart=Never", "--labels=run=p1", "--", "sleep", "3600"); strings.TrimSpace(out) != "pod/p1 created" {
			t.Errorf("printed %q", out)
		}
		out := k.ok(t, "get", "pods")
		if h := kcHeader(out); h != "NAME   READY   STATUS   RESTARTS   AGE" {
			t.Errorf("pods header %q", h)
		}
		if row := kcRow(t, out, "p1"); !slices.Equal(row[:4], []string{"p1", "0/1", "Pending", "0"}) {
			t.Errorf("pod row %q", row)
		}
		p, err := srv.Client.CoreV1().Pods("default").Get(ctx, "p1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Spec.RestartPolicy != corev1.RestartPolicyNever || !slices.Equal(p.Spec.Containers[0].Args, []string{"sleep", "3600"}) {
			t.Errorf("pod spec restartPolicy %q args %q", p.Spec.RestartPolicy, p.Spec.Containers[0].Args)
		}
		out = k.ok(t, "run", "p2", "--image=busybox", "--dry-run=server", "-o", "yaml")
		kcContains(t, out, "name: p2", "image: busybox")
		if _, err := srv.Client.CoreV1().Pods("default").Get(ctx, "p2", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("a server dry run created the pod: %v", err)
		}
	})

	t.Run("expose gives a service a cluster IP", func(t *testing.T) {
		if out := k.ok(t, "expose", "deployment", "web", "--port=80", "--target-port=8080"); strings.TrimSpace(out) != "service/web exposed" {
			t.Errorf("printed %q", out)
		}
		ipStr := k.ok(t, "get", "service", "web", "-o", "jsonpath={.spec.clusterIP}")
		_, svcNet, _ := net.ParseCIDR("10.96.0.0/12")
		if ip := net.ParseIP(ipStr); ip == nil || !svcNet.Contains(ip) || ipStr == "10.96.0.1" {
			t.Errorf("cluster IP %q", ipStr)
		}
		row := kcRow(t, k.ok(t, "get", "svc"), "web")
		if !slices.Equal(row[:5], []string{"web", "ClusterIP", ipStr, "<none>", "80/TCP"}) {
			t.Errorf("service row %q", row)
		}
		sel := k.ok(t, "get", "service", "web", "-o", "jsonpath={.spec.selector}")
		if sel != `{"app":"web"}` {
			t.Errorf("selector %s", sel)
		}
		k.ok(t, "expose", "pod", "p1", "--port=81", "--name=p1-svc", "--type=NodePort")
		np := k.ok(t, "get", "service", "p1-svc", "-o", "jsonpath={.spec.ports[0].nodePort}")
		if np < "30000" || len(np) != 5 {
			t.Errorf("nodePort %q", np)
		}
	})

	t.Run("create configmap, secret and namespace", func(t *testing.T) {
		kcContains(t, k.ok(t, "create", "namespace", "team"), "namespace/team created")
		kcContains(t, k.ok(t, "create", "configmap", "cfg", "-n", "team", "--from-literal=a=b"), "configmap/cfg created")
		kcContains(t, k.ok(t, "create", "secret", "generic", "pw", "-n", "team", "--from-literal=password=s3cret"), "secret/pw created")
		if got := k.ok(t, "get", "secret", "pw", "-n", "team", "-o", "jsonpath={.data.password}"); got != "czNjcmV0" {
			t.Errorf("secret data %q", got)
		}
		row := kcRow(t, k.ok(t, "get", "secrets", "-n", "team"), "pw")
		if !slices.Equal(row[:3], []string{"pw", "Opaque", "1"}) {
			t.Errorf("secret row %q", row)
		}
		r := k.fails(t, "create", "configmap", "cfg2", "-n", "nowhere", "--from-literal=a=b")
		kcContains(t, r.stderr, `namespaces "nowhere" not found`)
	})

	t.Run("get all", func(t *testing.T) {
		out := k.ok(t, "get", "all")
		kcContains(t, out, "pod/p1", "service/kubernetes", "service/web", "deployment.apps/web")
		for _, h := range []string{"NAME   READY   STATUS   RESTARTS   AGE", "NAME   TYPE   CLUSTER-IP   EXTERNAL-IP   PORT(S)   AGE", "NAME   READY   UP-TO-DATE   AVAILABLE   AGE"} {
			found := false
			for _, l := range kcLines(out) {
				if strings.Join(kcCells(l), "   ") == h {
					found = true
				}
			}
			if !found {
				t.Errorf("get all lacks header %q:\n%s", h, out)
			}
		}
		if out := k.ok(t, "get", "all", "-A"); !strings.Contains(out, "NAMESPACE") {
			t.Errorf("get all -A has no NAMESPACE column:\n%s", out)
		}
	})

	t.Run("get namespaces and nodes", func(t *testing.T) {
		out := k.ok(t, "get", "namespaces")
		for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease", "team"} {
			if row := kcRow(t, out, ns); row[1] != "Active" {
				t.Errorf("namespace row %q", row)
			}
		}
		r := k.run(t, "get", "nodes")
		if r.code != 0 || !strings.Contains(r.stderr, "No resources found") {
			t.Errorf("get nodes on an empty cluster: %s", r)
		}
	})

	t.Run("certificate approve; the requestor is the authenticated user", func(t *testing.T) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "bob"}}, key)
		if err != nil {
			t.Fatal(err)
		}
		req := base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
		// The body claims to come from someone else: the server ignores it.
		csr := kcWriteFile(t, "csr.yaml", `apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: bob
spec:
  request: `+req+`
  signerName: kubernetes.io/kube-apiserver-client
  usages: [client auth]
  username: mallory
  groups: [system:masters]
`)
		kcContains(t, k.ok(t, "create", "-f", csr), "certificatesigningrequest.certificates.k8s.io/bob created")
		out := k.ok(t, "get", "csr", "bob")
		if row := kcRow(t, out, "bob"); !slices.Equal(row[2:], []string{"kubernetes.io/kube-apiserver-client", "kubernetes-admin", "<none>", "Pending"}) {
			t.Errorf("csr row %q", row)
		}
		if got := k.ok(t, "get", "csr", "bob", "-o", "jsonpath={.spec.groups}"); got != `["system:masters","system:authenticated"]` {
			t.Errorf("groups %s", got)
		}
		kcContains(t, k.ok(t, "certificate", "approve", "bob"), "certificatesigningrequest.certificates.k8s.io/bob approved")
		if row := kcRow(t, k.ok(t, "get", "csr", "bob"), "bob"); row[len(row)-1] != "Approved" {
			t.Errorf("after approve: %q", row)
		}
		r := k.fails(t, "patch", "csr", "bob", "--type=merge", "-p", `{"spec":{"username":"eve"}}`)
		kcContains(t, r.stderr, "field is immutable")
	})

	t.Run("system namespaces may not be deleted", func(t *testing.T) {
		for _, ns := range []string{"default", "kube-system", "kube-public"} {
			r := k.fails(t, "delete", "namespace", ns)
			kcContains(t, r.stderr, `Error from server (Forbidden): namespaces "`+ns+`" is forbidden: this namespace may not be deleted`)
		}
		if row := kcRow(t, k.ok(t, "get", "namespaces"), "default"); row[1] != "Active" {
			t.Errorf("default after delete: %q", row)
		}
		kcContains(t, k.ok(t, "create", "configmap", "still-works", "-n", "default"), "configmap/still-works created")
	})

	t.Run("a deleted kubernetes service comes back", func(t *testing.T) {
		kcContains(t, k.ok(t, "delete", "service", "kubernetes"), `service "kubernetes" deleted`)
		deadline := time.Now().Add(30 * time.Second)
		for {
			r := k.run(t, "get", "service", "kubernetes", "-o", "jsonpath={.spec.clusterIP}")
			if r.code == 0 {
				if r.stdout != "10.96.0.1" {
					t.Errorf("kubernetes service IP %q", r.stdout)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("kubernetes service not back: %s", r)
			}
			time.Sleep(200 * time.Millisecond)
		}
	})

	t.Run("delete a pod", func(t *testing.T) {
		kcContains(t, k.ok(t, "delete", "pod", "p1"), `pod "p1" deleted`)
		if _, err := srv.Client.CoreV1().Pods("default").Get(ctx, "p1", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("pod after delete: %v", err)
		}
	})
}

// TestKubectlDiscovery covers the commands that read discovery and OpenAPI:
// explain, api-resources, api-versions, version, get --raw.
func TestKubectlDiscovery(t *testing.T) {
	t.Parallel()
	srv := apitest.Start(t)
	k := kcNew(t, srv)

	t.Run("explain pod.spec.containers", func(t *testing.T) {
		out := k.ok(t, "explain", "pod.spec.containers")
		kcContains(t, out, "KIND:       Pod", "VERSION:    v1", "FIELD: containers <[]Container>", "image\t<string>", "name\t<string> -required-")
		out = k.ok(t, "explain", "deployments.spec.replicas", "--api-version=apps/v1")
		kcContains(t, out, "GROUP:      apps", "FIELD: replicas <integer>")
		r := k.fails(t, "explain", "pod.spec.nothere")
		kcContains(t, r.stderr, `field "nothere" does not exist`)
	})

	t.Run("api-resources", func(t *testing.T) {
		out := k.ok(t, "api-resources")
		if h := kcHeader(out); h != "NAME   SHORTNAMES   APIVERSION   NAMESPACED   KIND" {
			t.Errorf("header %q", h)
		}
		for name, want := range map[string][]string{
			"pods":        {"pods", "po", "v1", "true", "Pod"},
			"deployments": {"deployments", "deploy", "apps/v1", "true", "Deployment"},
			"namespaces":  {"namespaces", "ns", "v1", "false", "Namespace"},
			"services":    {"services", "svc", "v1", "true", "Service"},
			"cronjobs":    {"cronjobs", "cj", "batch/v1", "true", "CronJob"},
		} {
			if row := kcRow(t, out, name); !slices.Equal(row, want) {
				t.Errorf("api-resources row %q, want %q", row, want)
			}
		}
		apps := k.ok(t, "api-resources", "--api-group=apps", "-o", "name")
		for _, n := range []string{"deployments.apps", "replicasets.apps", "statefulsets.apps", "daemonsets.apps"} {
			if !slices.Contains(kcLines(apps), n) {
				t.Errorf("api-resources --api-group=apps lacks %s:\n%s", n, apps)
			}
		}
		if wide := k.ok(t, "api-resources", "-o", "wide"); !regexp.MustCompile(`(?m)^pods\s+po\s+v1\s+true\s+Pod\s+create,delete,deletecollection,get,list,patch,update,watch\s+all$`).MatchString(wide) {
			t.Errorf("api-resources -o wide pods row:\n%s", wide)
		}
	})

	t.Run("api-versions", func(t *testing.T) {
		got := kcLines(k.ok(t, "api-versions"))
		for _, v := range []string{"v1", "apps/v1", "batch/v1", "coordination.k8s.io/v1", "rbac.authorization.k8s.io/v1"} {
			if !slices.Contains(got, v) {
				t.Errorf("api-versions lacks %s: %q", v, got)
			}
		}
		if !slices.IsSorted(got) {
			t.Errorf("api-versions not sorted: %q", got)
		}
	})

	t.Run("version", func(t *testing.T) {
		out := k.ok(t, "version")
		kv := kcKubeVersion()
		kcContains(t, out, "Client Version: "+kv, "Server Version: "+kv)
		if !regexp.MustCompile(`(?m)^Server Version: v1\.37\.\d+$`).MatchString(out) {
			t.Errorf("version:\n%s", out)
		}
		var v struct {
			Client, Server struct {
				GitVersion, Major, Minor string
			}
		}
		js := k.ok(t, "version", "-o", "json")
		if err := json.Unmarshal([]byte(strings.ReplaceAll(strings.ReplaceAll(js, "clientVersion", "client"), "serverVersion", "server")), &v); err != nil {
			t.Fatalf("version -o json: %v\n%s", err, js)
		}
		if v.Server.Major != "1" || v.Server.Minor != "37" || v.Server.GitVersion != kv {
			t.Errorf("server version %+v", v.Server)
		}
	})

	t.Run("get --raw", func(t *testing.T) {
		if out := k.ok(t, "get", "--raw", "/healthz"); out != "ok" {
			t.Errorf("/healthz %q", out)
		}
		kcContains(t, k.ok(t, "get", "--raw", "/readyz?verbose"), "readyz check passed")
		var pods corev1.PodList
		if err := json.Unmarshal([]byte(k.ok(t, "get", "--raw", "/api/v1/namespaces/default/pods")), &pods); err != nil || pods.Kind != "PodList" {
			t.Errorf("raw pod list: kind %q err %v", pods.Kind, err)
		}
		r := k.fails(t, "get", "--raw", "/api/v1/nothing")
		kcContains(t, r.stderr, "NotFound")
	})
}

// TestKubectlCommandLine checks that `skiff kubectl` behaves as upstream's
// kubectl binary around the commands: klog flags, flag errors, plugins on
// PATH, kuberc aliases; and that other skiff commands never run plugins.
func TestKubectlCommandLine(t *testing.T) {
	t.Parallel()
	srv := apitest.Start(t)
	k := kcNew(t, srv)
	plugins := t.TempDir()
	for name, script := range map[string]string{
		"kubectl-hello":     "#!/bin/sh\necho hello from a plugin: \"$@\"\n",
		"kubectl-apiserver": "#!/bin/sh\necho the apiserver plugin ran\n",
	} {
		if err := os.WriteFile(filepath.Join(plugins, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	path := "PATH=" + plugins + string(os.PathListSeparator) + os.Getenv("PATH")

	t.Run("-v=6 logs the requests", func(t *testing.T) {
		r := k.run(t, "get", "namespaces", "-v=6")
		if r.code != 0 || !regexp.MustCompile(`"Response" verb="GET" url="https://127\.0\.0\.1:\d+/api/v1/namespaces\?limit=500" status="200 OK"`).MatchString(r.stderr) {
			t.Errorf("-v=6: %s", r)
		}
	})

	t.Run("an unknown flag is an error as kubectl words it", func(t *testing.T) {
		r := k.fails(t, "get", "pods", "--bogus")
		if r.code != 1 || !strings.HasPrefix(r.stderr, "error: unknown flag: --bogus") {
			t.Errorf("unknown flag: %s", r)
		}
	})

	t.Run("a plugin on PATH runs", func(t *testing.T) {
		cmd := exec.Command(k.bin, "kubectl", "hello", "world")
		cmd.Env = append(append([]string{}, k.env...), path)
		out, err := cmd.CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "hello from a plugin: world" {
			t.Errorf("plugin: %v %s", err, out)
		}
	})

	t.Run("other skiff commands never run a kubectl plugin", func(t *testing.T) {
		cmd := exec.Command(k.bin, "apiserver", "--help")
		cmd.Env = append(append([]string{}, k.env...), path)
		out, err := cmd.CombinedOutput()
		if err != nil || strings.Contains(string(out), "plugin ran") || !strings.Contains(string(out), "--data-dir") {
			t.Errorf("skiff apiserver --help: %v\n%s", err, out)
		}
	})

	t.Run("kuberc aliases", func(t *testing.T) {
		kuberc := kcWriteFile(t, "kuberc", `apiVersion: kubectl.config.k8s.io/v1beta1
kind: Preference
aliases:
- name: getns
  command: get
  appendArgs: [namespaces]
`)
		// As with upstream kubectl, an alias comes before any flag.
		cmd := exec.Command(k.bin, "kubectl", "getns", "--kubeconfig", k.kubeconfig)
		cmd.Env = append(append([]string{}, k.env...), "KUBERC="+kuberc)
		out, err := cmd.CombinedOutput()
		if err != nil || kcRow(t, string(out), "kube-system")[1] != "Active" {
			t.Errorf("kuberc alias: %v\n%s", err, out)
		}
	})
}
