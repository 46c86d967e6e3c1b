package podtopologyspread

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"

	"github.com/skiffk8s/skiff/scheduler/framework"
	"github.com/skiffk8s/skiff/scheduler/plugins/plugintest"
)

// newHandle returns a handle over a snapshot of nodes and pods whose
// informer factory (Service, ReplicaSet and StatefulSet listers started
// and synced) holds objs.
func newHandle(t *testing.T, nodes []*corev1.Node, pods []*corev1.Pod, objs ...runtime.Object) *plugintest.Handle {
	t.Helper()
	return plugintest.NewHandle(t, nodes, pods, objs, func(f informers.SharedInformerFactory) {
		f.Core().V1().Services().Informer()
		f.Apps().V1().ReplicaSets().Informer()
		f.Apps().V1().StatefulSets().Informer()
	})
}

func newPlugin(t *testing.T, h framework.Handle, args string) *PodTopologySpread {
	t.Helper()
	return plugintest.MustNew[*PodTopologySpread](t, New, h, args)
}
