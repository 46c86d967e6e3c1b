package registry

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func validServiceAccount() *corev1.ServiceAccount {
	return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "builder", Namespace: "ci"}}
}

func TestServiceAccountValidation(t *testing.T) {
	runValidateCases(t, serviceAccountStrategy{}, validServiceAccount, []validateCase[*corev1.ServiceAccount]{
		{name: "a service account is valid"},
		{"a service account name may have dots", func(sa *corev1.ServiceAccount) { sa.Name = "ci.builder" }, nil},
		{"a service account name is a DNS subdomain", func(sa *corev1.ServiceAccount) { sa.Name = "ci:builder" }, []fieldErr{invalid("metadata.name")}},
		{"a service account needs a namespace", func(sa *corev1.ServiceAccount) { sa.Namespace = "" }, []fieldErr{required("metadata.namespace")}},
	})
}

func TestServiceAccountUpdateValidation(t *testing.T) {
	runUpdateCases(t, serviceAccountStrategy{}, validServiceAccount, []updateCase[*corev1.ServiceAccount]{
		{name: "image pull secrets may change", update: func(sa *corev1.ServiceAccount) {
			sa.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "registry"}}
		}},
		{name: "the namespace does not change", update: func(sa *corev1.ServiceAccount) { sa.Namespace = "prod" },
			want: []fieldErr{invalid("metadata.namespace")}},
	})
}
