package apiserver_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/skiffk8s/skiff/apiserver/apitest"
)

// cgContentTypes records the Content-Type of every response.
type cgContentTypes struct {
	mu   sync.Mutex
	seen map[string]int // guarded by mu
}

func (c *cgContentTypes) wrap(rt http.RoundTripper) http.RoundTripper {
	return cgRoundTrip(func(r *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(r)
		if err == nil {
			mt, _, _ := strings.Cut(resp.Header.Get("Content-Type"), ";")
			c.mu.Lock()
			c.seen[mt]++
			c.mu.Unlock()
		}
		return resp, err
	})
}

func (c *cgContentTypes) only(t *testing.T, want string) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for mt, n := range c.seen {
		if mt != want {
			t.Errorf("%d responses were %q, want all %s", n, mt, want)
		}
	}
	if c.seen[want] == 0 {
		t.Errorf("no %s responses", want)
	}
}

type cgRoundTrip func(*http.Request) (*http.Response, error)

func (f cgRoundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// cgClientFor returns a clientset speaking contentType and the recorder of
// the response types it gets.
func cgClientFor(t *testing.T, srv *apitest.Server, contentType string) (kubernetes.Interface, *cgContentTypes) {
	t.Helper()
	cfg := rest.CopyConfig(srv.Config)
	cfg.ContentType = contentType
	cfg.AcceptContentTypes = contentType
	rec := &cgContentTypes{seen: map[string]int{}}
	cfg.Wrap(rec.wrap)
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs, rec
}

// TestClientGoProtobuf drives the API with protobuf, as controllers do, and
// with JSON, and checks both see the same objects.
func TestClientGoProtobuf(t *testing.T) {
	srv := apitest.Start(t)
	ns := cgNamespace(t, srv.Client, "proto")
	for _, ct := range []string{"application/vnd.kubernetes.protobuf", "application/json"} {
		t.Run(ct, func(t *testing.T) {
			ctx := cgCtx(t)
			cs, rec := cgClientFor(t, srv, ct)
			pods := cs.CoreV1().Pods(ns)
			name := "p-" + strings.NewReplacer("/", "-", ".", "-").Replace(ct)
			l, err := pods.List(ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatalf("list: %v", err)
			}
			w, err := pods.Watch(ctx, metav1.ListOptions{ResourceVersion: l.ResourceVersion, FieldSelector: "metadata.name=" + name})
			if err != nil {
				t.Fatalf("watch: %v", err)
			}
			defer w.Stop()

			p := cgPod(name, cgLabels("proto"))
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "GREETING", Value: "héllo ✓"}}
			created, err := pods.Create(ctx, p, metav1.CreateOptions{})
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			if created.Spec.Containers[0].Env[0].Value != "héllo ✓" || created.UID == "" {
				t.Fatalf("created pod %+v", created.Spec.Containers[0].Env)
			}
			added := cgExpectEvent(t, w, watch.Added, name).(*corev1.Pod)
			if added.UID != created.UID {
				t.Fatalf("ADDED uid %s, want %s", added.UID, created.UID)
			}
			got, err := pods.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("get: %v", err)
			}
			if !equality.Semantic.DeepEqual(got, created) {
				t.Fatalf("get returned a different pod than create:\n%+v\n%+v", got, created)
			}
			got.Labels["stage"] = "two"
			upd, err := pods.Update(ctx, got, metav1.UpdateOptions{})
			if err != nil || upd.Labels["stage"] != "two" {
				t.Fatalf("update: %v", err)
			}
			cgExpectEvent(t, w, watch.Modified, name)
			if _, err := pods.Patch(ctx, name, types.StrategicMergePatchType, []byte(`{"metadata":{"labels":{"stage":"three"}}}`), metav1.PatchOptions{}); err != nil {
				t.Fatalf("patch: %v", err)
			}
			if m := cgExpectEvent(t, w, watch.Modified, name).(*corev1.Pod); m.Labels["stage"] != "three" {
				t.Fatalf("MODIFIED labels %v", m.Labels)
			}
			list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: "app=proto,stage=three"})
			if err != nil || len(list.Items) != 1 || list.Items[0].Name != name {
				t.Fatalf("list: %v %v", err, cgNames(t, list))
			}
			// Paginated lists and errors come back in the same type.
			if _, err := pods.List(ctx, metav1.ListOptions{Limit: 1}); err != nil {
				t.Fatalf("paginated list: %v", err)
			}
			_, err = pods.Get(ctx, "missing", metav1.GetOptions{})
			cgNotFound(t, err, "get missing")
			if err := pods.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
				t.Fatalf("delete: %v", err)
			}
			cgExpectEvent(t, w, watch.Deleted, name)
			w.Stop()
			rec.only(t, ct)
		})
	}

	t.Run("objects written in one are read in the other", func(t *testing.T) {
		ctx := cgCtx(t)
		pb, _ := cgClientFor(t, srv, "application/vnd.kubernetes.protobuf")
		js, _ := cgClientFor(t, srv, "application/json")
		d := cgDeployment("mixed", 3)
		d.Annotations = map[string]string{"note": "written as protobuf"}
		if _, err := pb.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		a, err := pb.AppsV1().Deployments(ns).Get(ctx, "mixed", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := js.AppsV1().Deployments(ns).Get(ctx, "mixed", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !equality.Semantic.DeepEqual(a, b) {
			t.Fatalf("protobuf and JSON reads differ:\n%+v\n%+v", a, b)
		}
		sc, err := pb.AppsV1().Deployments(ns).GetScale(ctx, "mixed", metav1.GetOptions{})
		if err != nil || sc.Spec.Replicas != 3 {
			t.Fatalf("scale over protobuf: %v %+v", err, sc)
		}
	})
}
