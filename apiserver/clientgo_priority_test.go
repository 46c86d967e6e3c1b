package apiserver_test

import (
	"net/http"
	"testing"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/skiffk8s/skiff/apiserver/apitest"
)

// Priority admission: what a pod's priority and preemptionPolicy become
// on create, and the refusals, as upstream's Priority admission plugin.

func cgPriorityClass(name string, value int32, globalDefault bool, policy corev1.PreemptionPolicy) *schedulingv1.PriorityClass {
	pc := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Value: value, GlobalDefault: globalDefault}
	if policy != "" {
		pc.PreemptionPolicy = &policy
	}
	return pc
}

func cgCreatePriorityClass(t *testing.T, cs kubernetes.Interface, pc *schedulingv1.PriorityClass) {
	t.Helper()
	if _, err := cs.SchedulingV1().PriorityClasses().Create(cgCtx(t), pc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create PriorityClass %s: %v", pc.Name, err)
	}
}

// cgPodWithClass is a pod naming class (none when "").
func cgPodWithClass(name, class string) *corev1.Pod {
	p := cgPod(name, nil)
	p.Spec.PriorityClassName = class
	return p
}

func TestPriorityAdmission(t *testing.T) {
	srv := apitest.Start(t)
	cs := srv.Client
	ctx := cgCtx(t)
	ns := cgNamespace(t, cs, "priority")
	cgCreatePriorityClass(t, cs, cgPriorityClass("high", 1000, false, ""))
	cgCreatePriorityClass(t, cs, cgPriorityClass("batch-never", 500, false, corev1.PreemptNever))

	create := func(t *testing.T, p *corev1.Pod) (*corev1.Pod, error) {
		t.Helper()
		return cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
	}
	type want struct {
		class    string
		priority int32
		policy   corev1.PreemptionPolicy
	}
	admitted := []struct {
		name string
		pod  *corev1.Pod
		want want
	}{
		{"a pod without a class and no default class gets priority 0", cgPodWithClass("plain", ""),
			want{"", 0, corev1.PreemptLowerPriority}},
		{"a pod naming a class gets the class's value", cgPodWithClass("high", "high"),
			want{"high", 1000, corev1.PreemptLowerPriority}},
		{"a pod gets preemptionPolicy Never from its class", cgPodWithClass("never", "batch-never"),
			want{"batch-never", 500, corev1.PreemptNever}},
		{"a pod naming system-node-critical gets its built-in value", cgPodWithClass("node-critical", "system-node-critical"),
			want{"system-node-critical", 2000001000, corev1.PreemptLowerPriority}},
		{"a pod naming system-cluster-critical gets its built-in value", cgPodWithClass("cluster-critical", "system-cluster-critical"),
			want{"system-cluster-critical", 2000000000, corev1.PreemptLowerPriority}},
		{"a pod that sets its class's own value is admitted",
			func() *corev1.Pod {
				p := cgPodWithClass("same", "high")
				p.Spec.Priority = cgPtr[int32](1000)
				return p
			}(),
			want{"high", 1000, corev1.PreemptLowerPriority}},
	}
	for _, tc := range admitted {
		t.Run(tc.name, func(t *testing.T) {
			got, err := create(t, tc.pod)
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			if got.Spec.PriorityClassName != tc.want.class || got.Spec.Priority == nil || *got.Spec.Priority != tc.want.priority ||
				got.Spec.PreemptionPolicy == nil || *got.Spec.PreemptionPolicy != tc.want.policy {
				t.Fatalf("got class %q priority %v policy %v, want %+v", got.Spec.PriorityClassName,
					ptrString(got.Spec.Priority), ptrString(got.Spec.PreemptionPolicy), tc.want)
			}
		})
	}

	refused := []struct {
		name, msg string
		pod       *corev1.Pod
	}{
		{"a pod naming an unknown class is forbidden",
			`pods "unknown" is forbidden: no PriorityClass with name foo was found`, cgPodWithClass("unknown", "foo")},
		{"a pod setting a priority other than its class's is forbidden",
			`pods "mismatch" is forbidden: the integer value of priority (5) must not be provided in pod spec; priority admission controller computed 1000 from the given PriorityClass name`,
			func() *corev1.Pod {
				p := cgPodWithClass("mismatch", "high")
				p.Spec.Priority = cgPtr[int32](5)
				return p
			}()},
		{"a pod setting a preemptionPolicy other than its class's is forbidden",
			`pods "policy" is forbidden: the string value of PreemptionPolicy (PreemptLowerPriority) must not be provided in pod spec; priority admission controller computed Never from the given PriorityClass name`,
			func() *corev1.Pod {
				p := cgPodWithClass("policy", "batch-never")
				p.Spec.PreemptionPolicy = cgPtr(corev1.PreemptLowerPriority)
				return p
			}()},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			_, err := create(t, tc.pod)
			cgWantCode(t, err, http.StatusForbidden, "create")
			if !apierrors.IsForbidden(err) || err.Error() != tc.msg {
				t.Fatalf("got %q, want %q", err, tc.msg)
			}
		})
	}

	t.Run("an update that omits priority and preemptionPolicy keeps them", func(t *testing.T) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, "never", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Spec.Priority, p.Spec.PreemptionPolicy = nil, nil
		p.Spec.Containers[0].Image = "busybox:1.37"
		got, err := cs.CoreV1().Pods(ns).Update(ctx, p, metav1.UpdateOptions{})
		if err != nil {
			t.Fatalf("update: %v", err)
		}
		if *got.Spec.Priority != 500 || *got.Spec.PreemptionPolicy != corev1.PreemptNever {
			t.Fatalf("got priority %d policy %s, want 500 Never", *got.Spec.Priority, *got.Spec.PreemptionPolicy)
		}
	})
}

func TestPriorityAdmissionGlobalDefault(t *testing.T) {
	srv := apitest.Start(t)
	cs := srv.Client
	ctx := cgCtx(t)
	ns := cgNamespace(t, cs, "priority")
	cgCreatePriorityClass(t, cs, cgPriorityClass("default-low", 100, true, corev1.PreemptNever))
	// A list is a consistent read: afterwards the class is in the cache
	// the admission reads.
	if _, err := cs.SchedulingV1().PriorityClasses().List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}

	t.Run("a pod naming no class gets the globalDefault class", func(t *testing.T) {
		got, err := cs.CoreV1().Pods(ns).Create(ctx, cgPodWithClass("defaulted", ""), metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		if got.Spec.PriorityClassName != "default-low" || *got.Spec.Priority != 100 || *got.Spec.PreemptionPolicy != corev1.PreemptNever {
			t.Fatalf("got class %q priority %d policy %s, want default-low 100 Never",
				got.Spec.PriorityClassName, *got.Spec.Priority, *got.Spec.PreemptionPolicy)
		}
	})
	t.Run("a second globalDefault class is forbidden", func(t *testing.T) {
		_, err := cs.SchedulingV1().PriorityClasses().Create(ctx, cgPriorityClass("default-high", 200, true, ""), metav1.CreateOptions{})
		cgWantCode(t, err, http.StatusForbidden, "create second default")
		want := `priorityclasses.scheduling.k8s.io "default-high" is forbidden: PriorityClass default-low is marked as default, only one default can exist`
		if err.Error() != want {
			t.Fatalf("got %q, want %q", err, want)
		}
	})
	t.Run("marking another class default by update is forbidden", func(t *testing.T) {
		cgCreatePriorityClass(t, cs, cgPriorityClass("other", 300, false, ""))
		pc, err := cs.SchedulingV1().PriorityClasses().Get(ctx, "other", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pc.GlobalDefault = true
		_, err = cs.SchedulingV1().PriorityClasses().Update(ctx, pc, metav1.UpdateOptions{})
		cgWantCode(t, err, http.StatusForbidden, "update to default")
	})
	t.Run("the default class itself can be updated", func(t *testing.T) {
		pc, err := cs.SchedulingV1().PriorityClasses().Get(ctx, "default-low", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pc.Description = "the default"
		if _, err := cs.SchedulingV1().PriorityClasses().Update(ctx, pc, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("update: %v", err)
		}
	})
}

func ptrString[T any](p *T) any {
	if p == nil {
		return "<nil>"
	}
	return *p
}
