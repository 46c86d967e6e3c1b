package rootcacertpublisher

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	testclock "k8s.io/utils/clock/testing"

	"github.com/skiffk8s/skiff/apiserver/pki"
	"github.com/skiffk8s/skiff/controllers"
)

// testCA writes a fresh cluster CA and returns its file and PEM.
func testCA(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	if _, err := pki.LoadOrCreate(pki.Config{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "ca.crt")
	pem, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return file, string(pem)
}

func configMap(ns string, data, annotations map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: ConfigMapName, Annotations: annotations}, Data: data}
}

func newFake(t *testing.T, caFile string, objs ...runtime.Object) (*Controller, *fake.Clientset) {
	t.Helper()
	cs := fake.NewClientset(objs...)
	inf := informers.NewSharedInformerFactory(cs, 0)
	c, err := New(context.Background(), controllers.Context{Client: cs, Informers: inf, Clock: testclock.NewFakeClock(time.Now()),
		Options: map[string]string{OptionRootCAFile: caFile}})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop); inf.Shutdown() })
	inf.Start(stop)
	inf.WaitForCacheSync(stop)
	cs.ClearActions()
	return c.(*Controller), cs
}

func TestSync(t *testing.T) {
	file, ca := testCA(t)
	desc := map[string]string{DescriptionAnnotation: Description}
	tests := []struct {
		name string
		objs []runtime.Object
		verb string // "" means no API call
		want *corev1.ConfigMap
	}{
		{name: "a namespace without the configmap gets it with the CA and upstream's description",
			verb: "create", want: configMap("team", map[string]string{"ca.crt": ca}, desc)},
		{name: "a configmap holding the CA and the description is left alone",
			objs: []runtime.Object{configMap("team", map[string]string{"ca.crt": ca}, desc)}},
		{name: "an edited certificate is put back",
			objs: []runtime.Object{configMap("team", map[string]string{"ca.crt": "forged"}, desc)},
			verb: "update", want: configMap("team", map[string]string{"ca.crt": ca}, desc)},
		{name: "an added key is removed",
			objs: []runtime.Object{configMap("team", map[string]string{"ca.crt": ca, "extra": "x"}, desc)},
			verb: "update", want: configMap("team", map[string]string{"ca.crt": ca}, desc)},
		{name: "a removed description comes back and other annotations stay",
			objs: []runtime.Object{configMap("team", map[string]string{"ca.crt": ca}, map[string]string{"mine": "yes"})},
			verb: "update", want: configMap("team", map[string]string{"ca.crt": ca}, map[string]string{"mine": "yes", DescriptionAnnotation: Description})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, cs := newFake(t, file, tt.objs...)
			if err := c.sync(context.Background(), "team"); err != nil {
				t.Fatalf("sync: %v", err)
			}
			acts := cs.Actions()
			if tt.verb == "" {
				if len(acts) != 0 {
					t.Fatalf("want no API calls, got %v", acts)
				}
				return
			}
			if len(acts) != 1 || !acts[0].Matches(tt.verb, "configmaps") || acts[0].GetNamespace() != "team" {
				t.Fatalf("want one %s of a configmap in team, got %v", tt.verb, acts)
			}
			got := acts[0].(interface{ GetObject() runtime.Object }).GetObject().(*corev1.ConfigMap)
			if got.Name != ConfigMapName || got.Data["ca.crt"] != tt.want.Data["ca.crt"] || len(got.Data) != len(tt.want.Data) {
				t.Errorf("wrote %s with data %v, want %s with %v", got.Name, got.Data, ConfigMapName, tt.want.Data)
			}
			for k, v := range tt.want.Annotations {
				if got.Annotations[k] != v {
					t.Errorf("annotation %s = %q, want %q", k, got.Annotations[k], v)
				}
			}
		})
	}
}

func TestSyncLeavesATerminatingNamespaceAlone(t *testing.T) {
	file, _ := testCA(t)
	c, cs := newFake(t, file)
	cs.PrependReactor("create", "configmaps", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, forbiddenTerminating("team")
	})
	if err := c.sync(context.Background(), "team"); err != nil {
		t.Fatalf("sync in a terminating namespace: %v, want no error (nothing to retry)", err)
	}
}

func TestEventsEnqueueNamespaces(t *testing.T) {
	file, _ := testCA(t)
	c, _ := newFake(t, file)
	c.namespaceChanged(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}})
	c.namespaceChanged(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "b"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}})
	c.configMapChanged(configMap("c", nil, nil))
	c.configMapChanged(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "d", Name: "other"}})
	if n := c.queue.Len(); n != 2 {
		t.Fatalf("queue holds %d keys, want 2 (the active namespace and the one whose kube-root-ca.crt changed)", n)
	}
}

func TestNewNamesTheOptionWhenTheCAIsUnusable(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.crt")
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{filepath.Join(dir, "missing.crt"), bad} {
		cs := fake.NewClientset()
		_, err := New(context.Background(), controllers.Context{Client: cs, Informers: informers.NewSharedInformerFactory(cs, 0),
			Options: map[string]string{OptionRootCAFile: file}})
		if err == nil || !strings.Contains(err.Error(), "--root-ca-file") || !strings.Contains(err.Error(), file) {
			t.Errorf("New with %s: error %v, want one naming --root-ca-file and the file", file, err)
		}
	}
}
