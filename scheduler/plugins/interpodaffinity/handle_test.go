package interpodaffinity

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"

	"github.com/skiffk8s/skiff/scheduler/framework"
	"github.com/skiffk8s/skiff/scheduler/plugins/plugintest"
)

// newHandle returns a handle over a snapshot of nodes and pods whose
// informer factory (namespace lister started and synced) holds objs.
func newHandle(t *testing.T, nodes []*corev1.Node, pods []*corev1.Pod, objs ...runtime.Object) *plugintest.Handle {
	t.Helper()
	return plugintest.NewHandle(t, nodes, pods, objs, func(f informers.SharedInformerFactory) {
		f.Core().V1().Namespaces().Informer()
	})
}

func namespace(name string, labels ...string) *corev1.Namespace {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}}}
	for i := 0; i+1 < len(labels); i += 2 {
		ns.Labels[labels[i]] = labels[i+1]
	}
	return ns
}

func newPlugin(t *testing.T, h framework.Handle, args string) *InterPodAffinity {
	t.Helper()
	return plugintest.MustNew[*InterPodAffinity](t, New, h, args)
}
