package registry

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func newPriorityClass(name string, value int32) *schedulingv1.PriorityClass {
	return &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Value: value}
}

func validPriorityClass() *schedulingv1.PriorityClass {
	pc := newPriorityClass("high", 1000)
	priorityClassStrategy{}.Default(pc)
	return pc
}

func TestPriorityClassDefaults(t *testing.T) {
	runDefaultCases(t, priorityClassStrategy{}, []defaultCase[*schedulingv1.PriorityClass]{
		{"preemptionPolicy defaults to PreemptLowerPriority", func() *schedulingv1.PriorityClass { return newPriorityClass("high", 1000) },
			func(pc *schedulingv1.PriorityClass) any { return *pc.PreemptionPolicy }, corev1.PreemptLowerPriority},
	})
}

func TestPriorityClassValidation(t *testing.T) {
	runValidateCases(t, priorityClassStrategy{}, validPriorityClass, []validateCase[*schedulingv1.PriorityClass]{
		{name: "a user priority class is valid"},
		{"a user priority is at most one billion", func(pc *schedulingv1.PriorityClass) { pc.Value = 1000000000 }, nil},
		{"a user priority above one billion is reserved", func(pc *schedulingv1.PriorityClass) { pc.Value = 1000000001 },
			[]fieldErr{forbidden("value")}},
		{"a system priority class with its built-in value is valid", func(pc *schedulingv1.PriorityClass) {
			pc.Name, pc.Value = "system-node-critical", 2000001000
		}, nil},
		{"a system priority class keeps its built-in value", func(pc *schedulingv1.PriorityClass) {
			pc.Name, pc.Value = "system-cluster-critical", 5
		}, []fieldErr{forbidden("metadata.name")}},
		{"the system- prefix is reserved", func(pc *schedulingv1.PriorityClass) { pc.Name = "system-important" },
			[]fieldErr{forbidden("metadata.name")}},
		{"preemptionPolicy is PreemptLowerPriority or Never", func(pc *schedulingv1.PriorityClass) {
			pc.PreemptionPolicy = ptrTo[corev1.PreemptionPolicy]("Sometimes")
		}, []fieldErr{notSupported("preemptionPolicy")}},
		{"a priority class is cluster-scoped", func(pc *schedulingv1.PriorityClass) { pc.Namespace = "default" },
			[]fieldErr{forbidden("metadata.namespace")}},
	})
}

func TestPriorityClassUpdateValidation(t *testing.T) {
	runUpdateCases(t, priorityClassStrategy{}, validPriorityClass, []updateCase[*schedulingv1.PriorityClass]{
		{name: "the description may change", update: func(pc *schedulingv1.PriorityClass) { pc.Description = "for web" }},
		{name: "the value does not change", update: func(pc *schedulingv1.PriorityClass) { pc.Value = 2000 },
			want: []fieldErr{forbidden("value")}},
		{name: "the preemption policy does not change", update: func(pc *schedulingv1.PriorityClass) {
			pc.PreemptionPolicy = ptrTo(corev1.PreemptNever)
		}, want: []fieldErr{invalid("preemptionPolicy")}},
	})
}

func TestSystemPriorityClassValidation(t *testing.T) {
	runValidateCases(t, priorityClassStrategy{}, validPriorityClass, []validateCase[*schedulingv1.PriorityClass]{
		{"a system priority class is not the global default", func(pc *schedulingv1.PriorityClass) {
			pc.Name, pc.Value, pc.GlobalDefault = "system-cluster-critical", 2000000000, true
		}, []fieldErr{forbidden("metadata.name")}},
	})
}
