// Package defaultbinder is the DefaultBinder plugin: it binds a pod
// through the pods/binding subresource, as upstream's.
package defaultbinder

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffk8s/skiff/scheduler/framework"
)

// Name is the plugin's name in the configuration.
const Name = "DefaultBinder"

// DefaultBinder posts a Binding.
type DefaultBinder struct{ h framework.Handle }

var _ framework.BindPlugin = (*DefaultBinder)(nil)

// New builds the plugin; it takes no args.
func New(_ context.Context, args []byte, h framework.Handle) (framework.Plugin, error) {
	if len(args) > 0 && string(args) != "null" && string(args) != "{}" {
		return nil, fmt.Errorf("DefaultBinder takes no args")
	}
	return &DefaultBinder{h: h}, nil
}

// Name implements framework.Plugin.
func (b *DefaultBinder) Name() string { return Name }

// Bind implements framework.BindPlugin.
func (b *DefaultBinder) Bind(ctx context.Context, _ *framework.CycleState, pod *corev1.Pod, nodeName string) *framework.Status {
	binding := &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: nodeName},
	}
	if err := b.h.ClientSet().CoreV1().Pods(pod.Namespace).Bind(ctx, binding, metav1.CreateOptions{}); err != nil {
		return framework.AsStatus(fmt.Errorf("binding pod %s/%s to %s: %w", pod.Namespace, pod.Name, nodeName, err))
	}
	return nil
}
