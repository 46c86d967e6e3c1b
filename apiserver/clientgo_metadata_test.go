package apiserver_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/metadata"

	"github.com/skiffk8s/skiff/apiserver/apitest"
)

// client-go's metadata client (the garbage collector's and the namespace
// controller's) gets each object's full metadata from get, list and watch.
func TestMetadataClientSeesObjectMetadata(t *testing.T) {
	srv := apitest.Start(t)
	ctx := cgCtx(t)
	mc, err := metadata.NewForConfig(srv.Config)
	if err != nil {
		t.Fatal(err)
	}
	cms := mc.Resource(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}).Namespace("default")
	w, err := cms.Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	created, err := srv.Client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		Name: "meta", Labels: map[string]string{"a": "b"}, Finalizers: []string{"example.com/x"},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "owner", UID: "1234"}},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, m metav1.ObjectMeta) {
		t.Helper()
		if m.Name != "meta" || m.UID != created.UID || m.Labels["a"] != "b" || len(m.Finalizers) != 1 ||
			len(m.OwnerReferences) != 1 || m.OwnerReferences[0].UID != "1234" || m.ResourceVersion == "" {
			t.Errorf("%s: metadata %+v", what, m)
		}
	}
	got, err := cms.Get(ctx, "meta", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	check("get", got.ObjectMeta)
	list, err := cms.List(ctx, metav1.ListOptions{})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("list: %v %v", list, err)
	}
	check("list", list.Items[0].ObjectMeta)
	ev := cgNextEvent(t, w)
	pm, ok := ev.Object.(*metav1.PartialObjectMetadata)
	if ev.Type != watch.Added || !ok {
		t.Fatalf("watch event %v %T", ev.Type, ev.Object)
	}
	check("watch", pm.ObjectMeta)
}
