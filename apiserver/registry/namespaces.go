package registry

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// namespaceStrategy holds the rules of core/v1 Namespaces.
type namespaceStrategy struct{}

func (namespaceStrategy) Default(obj runtime.Object) {
	ns := obj.(*corev1.Namespace)
	if ns.Name != "" {
		if ns.Labels == nil {
			ns.Labels = map[string]string{}
		}
		ns.Labels[corev1.LabelMetadataName] = ns.Name
	}
	// A new namespace (no phase yet) gets the "kubernetes" finalizer, which
	// the namespace controller removes once the namespace is empty. It is
	// never re-added afterwards, so deletion can finish.
	if ns.Status.Phase == "" && ns.DeletionTimestamp == nil && !hasFinalizer(ns.Spec.Finalizers, corev1.FinalizerKubernetes) {
		ns.Spec.Finalizers = append(ns.Spec.Finalizers, corev1.FinalizerKubernetes)
	}
	if ns.Status.Phase == "" {
		ns.Status.Phase = corev1.NamespaceActive
	}
}

func hasFinalizer(finalizers []corev1.FinalizerName, f corev1.FinalizerName) bool {
	for _, x := range finalizers {
		if x == f {
			return true
		}
	}
	return false
}

func (namespaceStrategy) Validate(obj runtime.Object) field.ErrorList {
	ns := obj.(*corev1.Namespace)
	errs := validateMeta(ns, false, validation.ValidateNamespaceName)
	path := field.NewPath("spec", "finalizers")
	for i, f := range ns.Spec.Finalizers {
		errs = append(errs, validateQualifiedName(string(f), path.Index(i))...)
		errs = append(errs, validateKubeFinalizerName(string(f), path.Index(i))...)
	}
	return errs
}

func (s namespaceStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	ns, oldNs := obj.(*corev1.Namespace), old.(*corev1.Namespace)
	return append(s.Validate(ns), validateMetaUpdate(ns, oldNs)...)
}

func (namespaceStrategy) FieldSet(obj runtime.Object) fields.Set {
	ns := obj.(*corev1.Namespace)
	return clusterFields(ns, fields.Set{"status.phase": string(ns.Status.Phase)})
}
