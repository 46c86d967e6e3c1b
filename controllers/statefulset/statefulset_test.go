package statefulset

import (
	"context"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/skiffk8s/skiff/controllers/internal/ctrltest"
)

func newSet(replicas int32, policy appsv1.PodManagementPolicyType) *appsv1.StatefulSet {
	lbls := map[string]string{"app": "web"}
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "web-uid", Generation: 1},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr.To(replicas),
			ServiceName:         "nginx",
			PodManagementPolicy: policy,
			Selector:            &metav1.LabelSelector{MatchLabels: lbls},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbls},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "nginx", Image: "nginx"}}},
			},
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType},
		},
	}
}

func TestSync(t *testing.T) {
	for _, tc := range []struct {
		name       string
		set        *appsv1.StatefulSet
		wantWrites []string
		wantEvents []string
	}{{
		name:       "OrderedReady creates only the first ordinal",
		set:        newSet(3, appsv1.OrderedReadyPodManagement),
		wantWrites: []string{"create controllerrevisions", "create pods web-0", "update statefulsets/status web"},
		wantEvents: []string{"Normal SuccessfulCreate create Pod web-0 in StatefulSet web successful"},
	}, {
		name:       "Parallel creates every ordinal at once",
		set:        newSet(2, appsv1.ParallelPodManagement),
		wantWrites: []string{"create controllerrevisions", "create pods web-0", "create pods web-1", "update statefulsets/status web"},
		wantEvents: []string{"Normal SuccessfulCreate create Pod web-0 in StatefulSet web successful", "Normal SuccessfulCreate create Pod web-1 in StatefulSet web successful"},
	}, {
		name: "spec.ordinals.start numbers pods from the start",
		set: func() *appsv1.StatefulSet {
			s := newSet(1, appsv1.OrderedReadyPodManagement)
			s.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 5}
			return s
		}(),
		wantWrites: []string{"create controllerrevisions", "create pods web-5", "update statefulsets/status web"},
		wantEvents: []string{"Normal SuccessfulCreate create Pod web-5 in StatefulSet web successful"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			u := ctrltest.NewUnit(t, tc.set)
			sc := newController(u.Context)
			u.Add(t, tc.set)
			if err := sc.sync(context.Background(), "default/web"); err != nil {
				t.Fatal(err)
			}
			writes := u.Writes()
			for i, w := range writes {
				if len(w) > len("create controllerrevisions") && w[:len("create controllerrevisions")] == "create controllerrevisions" {
					writes[i] = "create controllerrevisions"
				}
			}
			if !slices.Equal(writes, tc.wantWrites) {
				t.Errorf("writes %q, want %q", writes, tc.wantWrites)
			}
			if got := u.Events(); !slices.Equal(got, tc.wantEvents) {
				t.Errorf("events %q, want %q", got, tc.wantEvents)
			}
		})
	}
}

func TestPodIdentity(t *testing.T) {
	p := newPod(newSet(3, ""), 2, "abc", &newSet(3, "").Spec.Template)
	if p.Name != "web-2" || p.Spec.Hostname != "web-2" || p.Spec.Subdomain != "nginx" {
		t.Errorf("name %s hostname %s subdomain %s", p.Name, p.Spec.Hostname, p.Spec.Subdomain)
	}
	want := map[string]string{"app": "web", podNameLabel: "web-2", podIndexLabel: "2", appsv1.ControllerRevisionHashLabelKey: "abc"}
	for k, v := range want {
		if p.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, p.Labels[k], v)
		}
	}
}
