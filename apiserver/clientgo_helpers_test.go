package apiserver_test

import (
	"context"
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// Helpers shared by the client-go integration tests (clientgo_*_test.go).

// cgCtx returns a context that ends with the test or after a minute.
func cgCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// cgNamespace creates a namespace named after prefix with a random
// suffix and returns its name.
func cgNamespace(t testing.TB, cs kubernetes.Interface, prefix string) string {
	t.Helper()
	ns, err := cs.CoreV1().Namespaces().Create(cgCtx(t), &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}

// cgPoll calls cond until it returns true, an error, or 20s pass.
func cgPoll(t testing.TB, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: timed out", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cgWantCode fails the test unless err is an API error with HTTP code code.
func cgWantCode(t testing.TB, err error, code int32, what string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: got no error, want HTTP %d", what, code)
	}
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		t.Fatalf("%s: got %T %v, want an API error with HTTP %d", what, err, err, code)
	}
	if got := st.Status().Code; got != code {
		t.Fatalf("%s: got HTTP %d (%v), want %d", what, got, err, code)
	}
}

// cgNotFound fails unless err is a 404.
func cgNotFound(t testing.TB, err error, what string) {
	t.Helper()
	if !apierrors.IsNotFound(err) {
		t.Fatalf("%s: got %v, want NotFound", what, err)
	}
}

// cgNames returns the names of a list's items, in order.
func cgNames(t testing.TB, list runtime.Object) []string {
	t.Helper()
	items, err := meta.ExtractList(list)
	if err != nil {
		t.Fatalf("extract list: %v", err)
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		m, err := meta.Accessor(it)
		if err != nil {
			t.Fatalf("list item: %v", err)
		}
		out = append(out, m.GetName())
	}
	return out
}

// cgNextEvent returns the next event of w, failing after 10s.
func cgNextEvent(t testing.TB, w watch.Interface) watch.Event {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatalf("watch closed, want an event")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatalf("no watch event in 10s")
	}
	return watch.Event{}
}

// cgExpectEvent skips bookmarks and returns the next event, checking its
// type and object name.
func cgExpectEvent(t testing.TB, w watch.Interface, typ watch.EventType, name string) runtime.Object {
	t.Helper()
	for {
		ev := cgNextEvent(t, w)
		if ev.Type == watch.Bookmark {
			continue
		}
		if ev.Type == watch.Error {
			t.Fatalf("watch error event: %v", apierrors.FromObject(ev.Object))
		}
		m, err := meta.Accessor(ev.Object)
		if err != nil {
			t.Fatalf("watch event object %T: %v", ev.Object, err)
		}
		if ev.Type != typ || m.GetName() != name {
			t.Fatalf("watch event %s %s, want %s %s", ev.Type, m.GetName(), typ, name)
		}
		return ev.Object
	}
}

// cgPtr returns a pointer to v.
func cgPtr[T any](v T) *T { return &v }

// Realistic objects.

func cgLabels(app string) map[string]string { return map[string]string{"app": app} }

func cgContainer(name, image string) corev1.Container {
	return corev1.Container{
		Name:  name,
		Image: image,
		Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
	}
}

func cgPodSpec() corev1.PodSpec {
	return corev1.PodSpec{
		Containers:                    []corev1.Container{cgContainer("web", "busybox:1.36")},
		TerminationGracePeriodSeconds: cgPtr[int64](30),
	}
}

func cgPod(name string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Spec: cgPodSpec()}
}

func cgPodTemplate(app string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: cgLabels(app)}, Spec: cgPodSpec()}
}

func cgConfigMap(name string, labels map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Data:       map[string]string{"key": "value"},
	}
}
