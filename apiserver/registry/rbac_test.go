package registry

import (
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func podReader() rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: []string{"get", "list", "watch"}, APIGroups: []string{""}, Resources: []string{"pods"}}
}

func validRole() *rbacv1.Role {
	return &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "pod-reader", Namespace: "default"}, Rules: []rbacv1.PolicyRule{podReader()}}
}

func validClusterRole() *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "system:pod-reader"}, Rules: []rbacv1.PolicyRule{podReader()}}
}

func TestRoleValidation(t *testing.T) {
	runValidateCases(t, roleStrategy{}, validRole, []validateCase[*rbacv1.Role]{
		{name: "a pod reader role is valid"},
		{"a role name may hold ':'", func(r *rbacv1.Role) { r.Name = "system:pod-reader" }, nil},
		{"a role name has no '/'", func(r *rbacv1.Role) { r.Name = "pods/reader" }, []fieldErr{invalid("metadata.name")}},
		{"a role name is not '..'", func(r *rbacv1.Role) { r.Name = ".." }, []fieldErr{invalid("metadata.name")}},
		{"a role needs a namespace", func(r *rbacv1.Role) { r.Namespace = "" }, []fieldErr{required("metadata.namespace")}},
		{"a rule grants verbs", func(r *rbacv1.Role) { r.Rules[0].Verbs = nil }, []fieldErr{required("rules[0].verbs")}},
		{"a resource rule names API groups", func(r *rbacv1.Role) { r.Rules[0].APIGroups = nil }, []fieldErr{required("rules[0].apiGroups")}},
		{"a resource rule names resources", func(r *rbacv1.Role) { r.Rules[0].Resources = nil }, []fieldErr{required("rules[0].resources")}},
		{"a namespaced rule does not grant URLs", func(r *rbacv1.Role) {
			r.Rules = []rbacv1.PolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz"}}}
		}, []fieldErr{invalid("rules[0].nonResourceURLs")}},
	})
}

func TestClusterRoleValidation(t *testing.T) {
	runValidateCases(t, clusterRoleStrategy{}, validClusterRole, []validateCase[*rbacv1.ClusterRole]{
		{name: "a pod reader cluster role is valid"},
		{"a cluster role may grant URLs", func(r *rbacv1.ClusterRole) {
			r.Rules = append(r.Rules, rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz", "/metrics"}})
		}, nil},
		{"a rule grants URLs or resources, not both", func(r *rbacv1.ClusterRole) { r.Rules[0].NonResourceURLs = []string{"/healthz"} },
			[]fieldErr{invalid("rules[0].nonResourceURLs")}},
		{"a cluster role has no namespace", func(r *rbacv1.ClusterRole) { r.Namespace = "default" }, []fieldErr{forbidden("metadata.namespace")}},
		{"an aggregated cluster role selects roles", func(r *rbacv1.ClusterRole) { r.AggregationRule = &rbacv1.AggregationRule{} },
			[]fieldErr{required("aggregationRule.clusterRoleSelectors")}},
		{"an aggregated cluster role is valid", func(r *rbacv1.ClusterRole) {
			r.AggregationRule = &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"rbac.example.com/aggregate-to-view": "true"}}}}
		}, nil},
		{"an aggregation selector is a valid selector", func(r *rbacv1.ClusterRole) {
			r.AggregationRule = &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"aggregate to": "view"}}}}
		}, []fieldErr{invalid("aggregationRule.clusterRoleSelectors[0].matchLabels")}},
	})
}

func newRoleBinding() *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "read-pods", Namespace: "default"},
		RoleRef:    rbacv1.RoleRef{Kind: "Role", Name: "pod-reader"},
		Subjects: []rbacv1.Subject{
			{Kind: rbacv1.UserKind, Name: "jane"},
			{Kind: rbacv1.ServiceAccountKind, Name: "builder", Namespace: "ci"},
		},
	}
}

func validRoleBinding() *rbacv1.RoleBinding {
	b := newRoleBinding()
	roleBindingStrategy{}.Default(b)
	return b
}

func validClusterRoleBinding() *rbacv1.ClusterRoleBinding {
	b := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "system:read-pods"},
		RoleRef:    rbacv1.RoleRef{Kind: "ClusterRole", Name: "system:pod-reader"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.GroupKind, Name: "system:nodes"}, {Kind: rbacv1.ServiceAccountKind, Name: "builder", Namespace: "ci"}},
	}
	clusterRoleBindingStrategy{}.Default(b)
	return b
}

func TestRoleBindingDefaults(t *testing.T) {
	runDefaultCases(t, roleBindingStrategy{}, []defaultCase[*rbacv1.RoleBinding]{
		{"the role reference is in the RBAC group", newRoleBinding,
			func(b *rbacv1.RoleBinding) any { return b.RoleRef.APIGroup }, rbacv1.GroupName},
		{"user subjects are in the RBAC group and service accounts in the core group", newRoleBinding,
			func(b *rbacv1.RoleBinding) any { return []string{b.Subjects[0].APIGroup, b.Subjects[1].APIGroup} },
			[]string{rbacv1.GroupName, ""}},
	})
}

func TestRoleBindingValidation(t *testing.T) {
	runValidateCases(t, roleBindingStrategy{}, validRoleBinding, []validateCase[*rbacv1.RoleBinding]{
		{name: "a binding of a user and a service account to a role is valid"},
		{"a role binding may reference a cluster role", func(b *rbacv1.RoleBinding) { b.RoleRef.Kind = "ClusterRole" }, nil},
		{"a role binding references a Role or ClusterRole", func(b *rbacv1.RoleBinding) { b.RoleRef.Kind = "User" },
			[]fieldErr{notSupported("roleRef.kind")}},
		{"the role reference is in the RBAC group", func(b *rbacv1.RoleBinding) { b.RoleRef.APIGroup = "apps" },
			[]fieldErr{notSupported("roleRef.apiGroup")}},
		{"the role reference names a role", func(b *rbacv1.RoleBinding) { b.RoleRef.Name = "" }, []fieldErr{required("roleRef.name")}},
		{"a subject has a name", func(b *rbacv1.RoleBinding) { b.Subjects[0].Name = "" }, []fieldErr{required("subjects[0].name")}},
		{"a subject kind is ServiceAccount, User or Group", func(b *rbacv1.RoleBinding) { b.Subjects[0].Kind = "Robot" },
			[]fieldErr{notSupported("subjects[0].kind")}},
		{"a service account subject has a valid name", func(b *rbacv1.RoleBinding) { b.Subjects[1].Name = "Builder" },
			[]fieldErr{invalid("subjects[1].name")}},
		{"a service account subject is in the core group", func(b *rbacv1.RoleBinding) { b.Subjects[1].APIGroup = rbacv1.GroupName },
			[]fieldErr{notSupported("subjects[1].apiGroup")}},
		{"a service account subject of a role binding may omit its namespace", func(b *rbacv1.RoleBinding) { b.Subjects[1].Namespace = "" }, nil},
	})
}

func TestClusterRoleBindingValidation(t *testing.T) {
	runValidateCases(t, clusterRoleBindingStrategy{}, validClusterRoleBinding, []validateCase[*rbacv1.ClusterRoleBinding]{
		{name: "a binding of a group and a service account to a cluster role is valid"},
		{"a cluster role binding references a ClusterRole", func(b *rbacv1.ClusterRoleBinding) { b.RoleRef.Kind = "Role" },
			[]fieldErr{notSupported("roleRef.kind")}},
		{"a service account subject of a cluster role binding has a namespace", func(b *rbacv1.ClusterRoleBinding) { b.Subjects[1].Namespace = "" },
			[]fieldErr{required("subjects[1].namespace")}},
		{"a cluster role binding has no namespace", func(b *rbacv1.ClusterRoleBinding) { b.Namespace = "default" },
			[]fieldErr{forbidden("metadata.namespace")}},
	})
}

func TestRoleBindingUpdateValidation(t *testing.T) {
	runUpdateCases(t, roleBindingStrategy{}, validRoleBinding, []updateCase[*rbacv1.RoleBinding]{
		{name: "subjects may change", update: func(b *rbacv1.RoleBinding) { b.Subjects = b.Subjects[:1] }},
		{name: "the role reference does not change", update: func(b *rbacv1.RoleBinding) { b.RoleRef.Name = "admin" },
			want: []fieldErr{invalid("roleRef")}},
	})
	runUpdateCases(t, clusterRoleBindingStrategy{}, validClusterRoleBinding, []updateCase[*rbacv1.ClusterRoleBinding]{
		{name: "the cluster role reference does not change", update: func(b *rbacv1.ClusterRoleBinding) { b.RoleRef.Name = "cluster-admin" },
			want: []fieldErr{invalid("roleRef")}},
	})
}

func TestRoleUpdateValidation(t *testing.T) {
	runUpdateCases(t, roleStrategy{}, validRole, []updateCase[*rbacv1.Role]{
		{name: "rules may change", update: func(r *rbacv1.Role) { r.Rules[0].Verbs = []string{"*"} }},
		{name: "rules stay valid", update: func(r *rbacv1.Role) { r.Rules[0].Verbs = nil }, want: []fieldErr{required("rules[0].verbs")}},
	})
	runUpdateCases(t, clusterRoleStrategy{}, validClusterRole, []updateCase[*rbacv1.ClusterRole]{
		{name: "cluster role rules may change", update: func(r *rbacv1.ClusterRole) { r.Rules = nil }},
	})
}

func TestBindingSubjectGroupValidation(t *testing.T) {
	runValidateCases(t, clusterRoleBindingStrategy{}, validClusterRoleBinding, []validateCase[*rbacv1.ClusterRoleBinding]{
		{"user and group subjects are in the RBAC group", func(b *rbacv1.ClusterRoleBinding) { b.Subjects[0].APIGroup = "" },
			[]fieldErr{notSupported("subjects[0].apiGroup")}},
		{"the cluster role name has no '/'", func(b *rbacv1.ClusterRoleBinding) { b.RoleRef.Name = "a/b" },
			[]fieldErr{invalid("roleRef.name")}},
	})
}
