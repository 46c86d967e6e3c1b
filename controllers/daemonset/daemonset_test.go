package daemonset

import (
	"context"
	"slices"
	"sort"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffk8s/skiff/controllers/internal/ctrltest"
)

func newDS(name string) *appsv1.DaemonSet {
	lbls := map[string]string{"app": name}
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: "ds-uid", Generation: 1},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: lbls},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbls},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: "busybox"}}},
			},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType},
		},
	}
}

func node(name string, taints ...corev1.Taint) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}}, Spec: corev1.NodeSpec{Taints: taints}}
}

func TestShouldRun(t *testing.T) {
	ds := newDS("agent")
	gpu := newDS("gpu")
	gpu.Spec.Template.Spec.NodeSelector = map[string]string{"gpu": "true"}
	for _, tc := range []struct {
		name      string
		ds        *appsv1.DaemonSet
		node      *corev1.Node
		run, keep bool
	}{
		{"a plain node runs the daemon", ds, node("a"), true, true},
		{"an untolerated NoSchedule taint stops new pods but keeps running ones", ds, node("a", corev1.Taint{Key: "dedicated", Effect: corev1.TaintEffectNoSchedule}), false, true},
		{"an untolerated NoExecute taint evicts the daemon", ds, node("a", corev1.Taint{Key: "dedicated", Effect: corev1.TaintEffectNoExecute}), false, false},
		{"the standard not-ready taint is tolerated", ds, node("a", corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute}), true, true},
		{"an unschedulable node still runs the daemon", ds, node("a", corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}), true, true},
		{"a node outside the nodeSelector runs nothing", gpu, node("a"), false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run, keep := shouldRun(tc.ds, tc.node)
			if run != tc.run || keep != tc.keep {
				t.Errorf("shouldRun = %v, %v; want %v, %v", run, keep, tc.run, tc.keep)
			}
		})
	}
}

func TestSyncCreatesOnePodPerNodeBoundByAffinity(t *testing.T) {
	ds := newDS("agent")
	u := ctrltest.NewUnit(t, ds)
	dc := newController(u.Context)
	u.Add(t, ds, node("n1"), node("n2"), node("tainted", corev1.Taint{Key: "dedicated", Effect: corev1.TaintEffectNoSchedule}))
	if err := dc.sync(context.Background(), "default/agent"); err != nil {
		t.Fatal(err)
	}
	pods, _ := u.Fake.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
	var nodes []string
	for _, p := range pods.Items {
		nodes = append(nodes, targetNode(&p))
		if p.Spec.NodeName != "" || p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == "" || p.Labels[templateGenerationLabel] != "1" || !metav1.IsControlledBy(&p, ds) {
			t.Errorf("pod %s nodeName %q labels %v owners %v", p.Name, p.Spec.NodeName, p.Labels, p.OwnerReferences)
		}
		if !slices.ContainsFunc(p.Spec.Tolerations, func(t corev1.Toleration) bool {
			return t.Key == corev1.TaintNodeUnreachable && t.Effect == corev1.TaintEffectNoExecute && t.TolerationSeconds == nil
		}) {
			t.Errorf("pod tolerations %v lack unreachable NoExecute", p.Spec.Tolerations)
		}
	}
	sort.Strings(nodes)
	if !slices.Equal(nodes, []string{"n1", "n2"}) {
		t.Errorf("pods for nodes %v, want n1 and n2", nodes)
	}
	got, _ := u.Fake.AppsV1().DaemonSets("default").Get(context.Background(), "agent", metav1.GetOptions{})
	if got.Status.DesiredNumberScheduled != 2 || got.Status.ObservedGeneration != 1 {
		t.Errorf("status %+v", got.Status)
	}
	revs, _ := u.Fake.AppsV1().ControllerRevisions("default").List(context.Background(), metav1.ListOptions{})
	if len(revs.Items) != 1 || revs.Items[0].Revision != 1 {
		t.Errorf("revisions %v, want one with revision 1", revs.Items)
	}
}
