package registry

import (
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// RBAC objects (rbac.authorization.k8s.io/v1). Their names may be any path
// segment ("system:controller:..."), not only DNS names.

// roleStrategy holds the rules of Roles.
type roleStrategy struct{}

// clusterRoleStrategy holds the rules of ClusterRoles.
type clusterRoleStrategy struct{}

// roleBindingStrategy holds the rules of RoleBindings.
type roleBindingStrategy struct{}

// clusterRoleBindingStrategy holds the rules of ClusterRoleBindings.
type clusterRoleBindingStrategy struct{}

func (roleStrategy) Default(runtime.Object) {}

func (roleStrategy) Validate(obj runtime.Object) field.ErrorList {
	role := obj.(*rbacv1.Role)
	return append(validateMeta(role, true, nameIsPathSegment), validatePolicyRules(role.Rules, true)...)
}

func (s roleStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	role, oldRole := obj.(*rbacv1.Role), old.(*rbacv1.Role)
	return append(s.Validate(role), validateMetaUpdate(role, oldRole)...)
}

func (roleStrategy) FieldSet(obj runtime.Object) fields.Set {
	return namespacedFields(obj.(metav1.Object), nil)
}

func (clusterRoleStrategy) Default(runtime.Object) {}

func (clusterRoleStrategy) Validate(obj runtime.Object) field.ErrorList {
	role := obj.(*rbacv1.ClusterRole)
	errs := append(validateMeta(role, false, nameIsPathSegment), validatePolicyRules(role.Rules, false)...)
	if agg := role.AggregationRule; agg != nil {
		path := field.NewPath("aggregationRule", "clusterRoleSelectors")
		if len(agg.ClusterRoleSelectors) == 0 {
			errs = append(errs, field.Required(path, "at least one clusterRoleSelector required if aggregationRule is non-nil"))
		}
		for i := range agg.ClusterRoleSelectors {
			errs = append(errs, validateLabelSelector(&agg.ClusterRoleSelectors[i], path.Index(i))...)
		}
	}
	return errs
}

func (s clusterRoleStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	role, oldRole := obj.(*rbacv1.ClusterRole), old.(*rbacv1.ClusterRole)
	return append(s.Validate(role), validateMetaUpdate(role, oldRole)...)
}

func (clusterRoleStrategy) FieldSet(obj runtime.Object) fields.Set {
	return clusterFields(obj.(metav1.Object), nil)
}

// validatePolicyRules checks each rule names verbs and either resources
// (with API groups) or, in cluster roles only, non-resource URLs.
func validatePolicyRules(rules []rbacv1.PolicyRule, namespaced bool) field.ErrorList {
	var errs field.ErrorList
	for i, r := range rules {
		path := field.NewPath("rules").Index(i)
		if len(r.Verbs) == 0 {
			errs = append(errs, field.Required(path.Child("verbs"), "verbs must contain at least one value"))
		}
		if len(r.NonResourceURLs) > 0 {
			if namespaced {
				errs = append(errs, field.Invalid(path.Child("nonResourceURLs"), r.NonResourceURLs, "namespaced rules cannot apply to non-resource URLs"))
			}
			if len(r.APIGroups) > 0 || len(r.Resources) > 0 || len(r.ResourceNames) > 0 {
				errs = append(errs, field.Invalid(path.Child("nonResourceURLs"), r.NonResourceURLs, "rules cannot apply to both regular resources and non-resource URLs"))
			}
			continue
		}
		if len(r.APIGroups) == 0 {
			errs = append(errs, field.Required(path.Child("apiGroups"), "resource rules must supply at least one api group"))
		}
		if len(r.Resources) == 0 {
			errs = append(errs, field.Required(path.Child("resources"), "resource rules must supply at least one resource"))
		}
	}
	return errs
}

func (roleBindingStrategy) Default(obj runtime.Object) {
	b := obj.(*rbacv1.RoleBinding)
	defaultBinding(&b.RoleRef, b.Subjects)
}

func (roleBindingStrategy) Validate(obj runtime.Object) field.ErrorList {
	b := obj.(*rbacv1.RoleBinding)
	errs := validateMeta(b, true, nameIsPathSegment)
	return append(errs, validateBinding(b.RoleRef, b.Subjects, true)...)
}

func (s roleBindingStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	b, oldB := obj.(*rbacv1.RoleBinding), old.(*rbacv1.RoleBinding)
	errs := append(s.Validate(b), validateMetaUpdate(b, oldB)...)
	return append(errs, validateRoleRefUpdate(b.RoleRef, oldB.RoleRef)...)
}

func (roleBindingStrategy) FieldSet(obj runtime.Object) fields.Set {
	return namespacedFields(obj.(metav1.Object), nil)
}

func (clusterRoleBindingStrategy) Default(obj runtime.Object) {
	b := obj.(*rbacv1.ClusterRoleBinding)
	defaultBinding(&b.RoleRef, b.Subjects)
}

func (clusterRoleBindingStrategy) Validate(obj runtime.Object) field.ErrorList {
	b := obj.(*rbacv1.ClusterRoleBinding)
	errs := validateMeta(b, false, nameIsPathSegment)
	return append(errs, validateBinding(b.RoleRef, b.Subjects, false)...)
}

func (s clusterRoleBindingStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	b, oldB := obj.(*rbacv1.ClusterRoleBinding), old.(*rbacv1.ClusterRoleBinding)
	errs := append(s.Validate(b), validateMetaUpdate(b, oldB)...)
	return append(errs, validateRoleRefUpdate(b.RoleRef, oldB.RoleRef)...)
}

func (clusterRoleBindingStrategy) FieldSet(obj runtime.Object) fields.Set {
	return clusterFields(obj.(metav1.Object), nil)
}

// defaultBinding fills the API groups of the role reference and of User
// and Group subjects.
func defaultBinding(ref *rbacv1.RoleRef, subjects []rbacv1.Subject) {
	if ref.APIGroup == "" {
		ref.APIGroup = rbacv1.GroupName
	}
	for i := range subjects {
		s := &subjects[i]
		if s.APIGroup == "" && (s.Kind == rbacv1.UserKind || s.Kind == rbacv1.GroupKind) {
			s.APIGroup = rbacv1.GroupName
		}
	}
}

// validateBinding checks the role reference (a RoleBinding may reference a
// Role or a ClusterRole, a ClusterRoleBinding only a ClusterRole) and the
// subjects.
func validateBinding(ref rbacv1.RoleRef, subjects []rbacv1.Subject, namespaced bool) field.ErrorList {
	var errs field.ErrorList
	refPath := field.NewPath("roleRef")
	if ref.APIGroup != rbacv1.GroupName {
		errs = append(errs, field.NotSupported(refPath.Child("apiGroup"), ref.APIGroup, []string{rbacv1.GroupName}))
	}
	kinds := []string{"ClusterRole"}
	if namespaced {
		kinds = []string{"Role", "ClusterRole"}
	}
	errs = append(errs, supported(ref.Kind, refPath.Child("kind"), kinds...)...)
	if ref.Name == "" {
		errs = append(errs, field.Required(refPath.Child("name"), ""))
	} else {
		errs = append(errs, invalidEach(refPath.Child("name"), ref.Name, nameIsPathSegment(ref.Name, false))...)
	}
	for i, s := range subjects {
		errs = append(errs, validateSubject(s, namespaced, field.NewPath("subjects").Index(i))...)
	}
	return errs
}

func validateSubject(s rbacv1.Subject, namespaced bool, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.Name == "" {
		errs = append(errs, field.Required(path.Child("name"), ""))
	}
	switch s.Kind {
	case rbacv1.ServiceAccountKind:
		if s.Name != "" {
			errs = append(errs, invalidEach(path.Child("name"), s.Name, validation.ValidateServiceAccountName(s.Name, false))...)
		}
		if s.APIGroup != "" {
			errs = append(errs, field.NotSupported(path.Child("apiGroup"), s.APIGroup, []string{""}))
		}
		if !namespaced && s.Namespace == "" {
			errs = append(errs, field.Required(path.Child("namespace"), ""))
		}
	case rbacv1.UserKind, rbacv1.GroupKind:
		if s.APIGroup != rbacv1.GroupName {
			errs = append(errs, field.NotSupported(path.Child("apiGroup"), s.APIGroup, []string{rbacv1.GroupName}))
		}
	default:
		errs = append(errs, field.NotSupported(path.Child("kind"), s.Kind,
			[]string{rbacv1.ServiceAccountKind, rbacv1.UserKind, rbacv1.GroupKind}))
	}
	return errs
}

func validateRoleRefUpdate(ref, old rbacv1.RoleRef) field.ErrorList {
	if ref != old {
		return field.ErrorList{field.Invalid(field.NewPath("roleRef"), ref, "cannot change roleRef")}
	}
	return nil
}
