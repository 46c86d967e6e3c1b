package replicaset

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPodsToDeleteRanksAsUpstream(t *testing.T) {
	now := t0
	pod := func(name string, mod func(*corev1.Pod)) *corev1.Pod {
		p := ownedPod(name, nil)
		mod(p)
		return p
	}
	restarts := func(n int32) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			running(p, "n1", now.Add(-time.Hour))
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{RestartCount: n}}
		}
	}
	tests := []struct {
		name         string
		first, later *corev1.Pod
		related      []*corev1.Pod
	}{
		{"an unassigned pod goes before an assigned one",
			pod("unassigned", func(p *corev1.Pod) {}), pod("assigned", func(p *corev1.Pod) { p.Spec.NodeName = "n1" }), nil},
		{"a pending pod goes before a running one",
			pod("pending", func(p *corev1.Pod) { p.Spec.NodeName = "n1"; p.Status.Phase = corev1.PodPending }),
			pod("running", func(p *corev1.Pod) { running(p, "n1", time.Time{}) }), nil},
		{"an unknown pod goes before a running one",
			pod("unknown", func(p *corev1.Pod) { p.Spec.NodeName = "n1"; p.Status.Phase = corev1.PodUnknown }),
			pod("running", func(p *corev1.Pod) { running(p, "n1", time.Time{}) }), nil},
		{"a not ready pod goes before a ready one",
			pod("not-ready", func(p *corev1.Pod) { running(p, "n1", time.Time{}) }),
			pod("ready", func(p *corev1.Pod) { running(p, "n1", now.Add(-time.Hour)) }), nil},
		{"a lower deletion cost goes first",
			pod("cheap", func(p *corev1.Pod) {
				running(p, "n1", now.Add(-time.Hour))
				p.Annotations = map[string]string{PodDeletionCostAnnotation: "-5"}
			}),
			pod("dear", func(p *corev1.Pod) { running(p, "n2", now.Add(-time.Hour)) }),
			[]*corev1.Pod{pod("r1", func(p *corev1.Pod) { p.Spec.NodeName = "n2" }), pod("r2", func(p *corev1.Pod) { p.Spec.NodeName = "n2" })}},
		{"a pod on a node crowded with related pods goes first",
			pod("crowded", func(p *corev1.Pod) { running(p, "n2", now.Add(-time.Hour)) }),
			pod("alone", func(p *corev1.Pod) { running(p, "n1", now.Add(-time.Hour)) }),
			[]*corev1.Pod{pod("r1", func(p *corev1.Pod) { p.Spec.NodeName = "n2" }), pod("r2", func(p *corev1.Pod) { p.Spec.NodeName = "n2" })}},
		{"a pod ready for a much shorter time goes first",
			pod("recent", func(p *corev1.Pod) { running(p, "n1", now.Add(-time.Minute)) }),
			pod("long", func(p *corev1.Pod) { running(p, "n1", now.Add(-10*time.Hour)) }), nil},
		{"more restarts go first",
			pod("flaky", restarts(5)), pod("steady", restarts(0)), nil},
		{"a much newer pod goes first",
			pod("new", func(p *corev1.Pod) {
				restarts(0)(p)
				p.CreationTimestamp = metav1.NewTime(now.Add(-time.Minute))
			}),
			pod("old", func(p *corev1.Pod) {
				restarts(0)(p)
				p.CreationTimestamp = metav1.NewTime(now.Add(-100 * time.Hour))
			}), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, order := range [][]*corev1.Pod{{tt.first, tt.later}, {tt.later, tt.first}} {
				got := podsToDelete(order, tt.related, 1, now)
				if got[0].Name != tt.first.Name {
					t.Errorf("deleted %s first, want %s", got[0].Name, tt.first.Name)
				}
			}
		})
	}
}
