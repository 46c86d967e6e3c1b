package registry

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
)

func newSecret(typ corev1.SecretType, data map[string][]byte) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: "default"}, Type: typ, Data: data}
}

func validSecret() *corev1.Secret {
	s := newSecret("", map[string][]byte{"password": []byte("hunter2")})
	secretStrategy{}.Default(s)
	return s
}

func TestSecretDefaults(t *testing.T) {
	runDefaultCases(t, secretStrategy{}, []defaultCase[*corev1.Secret]{
		{"type defaults to Opaque", func() *corev1.Secret { return newSecret("", nil) },
			func(s *corev1.Secret) any { return s.Type }, corev1.SecretTypeOpaque},
		{"stringData is merged into data",
			func() *corev1.Secret {
				s := newSecret("", map[string][]byte{"user": []byte("old"), "keep": []byte("k")})
				s.StringData = map[string]string{"user": "admin"}
				return s
			},
			func(s *corev1.Secret) any { return []any{s.Data, s.StringData} },
			[]any{map[string][]byte{"user": []byte("admin"), "keep": []byte("k")}, map[string]string(nil)}},
	})
}

func TestSecretValidation(t *testing.T) {
	typed := func(typ corev1.SecretType, data map[string][]byte) func(*corev1.Secret) {
		return func(s *corev1.Secret) { s.Type, s.Data = typ, data }
	}
	runValidateCases(t, secretStrategy{}, validSecret, []validateCase[*corev1.Secret]{
		{name: "an opaque secret is valid"},
		{"a secret name is a DNS subdomain", func(s *corev1.Secret) { s.Name = "Creds" }, []fieldErr{invalid("metadata.name")}},
		{"data keys are file-name-like", func(s *corev1.Secret) { s.Data["a b"] = nil }, []fieldErr{invalid("data[a b]")}},
		{"data holds at most 1 MiB", func(s *corev1.Secret) { s.Data["big"] = []byte(strings.Repeat("x", 1<<20)) }, []fieldErr{tooLong("data")}},
		{"a TLS secret has a certificate and a key", typed(corev1.SecretTypeTLS, map[string][]byte{"tls.crt": []byte("c")}),
			[]fieldErr{required("data[tls.key]")}},
		{"a TLS secret with both is valid", typed(corev1.SecretTypeTLS, map[string][]byte{"tls.crt": nil, "tls.key": nil}), nil},
		{"a docker config secret holds JSON", typed(corev1.SecretTypeDockerConfigJson, map[string][]byte{".dockerconfigjson": []byte("{")}),
			[]fieldErr{invalid("data[.dockerconfigjson]")}},
		{"a docker config secret holds its key", typed(corev1.SecretTypeDockerConfigJson, nil),
			[]fieldErr{required("data[.dockerconfigjson]")}},
		{"a basic-auth secret has a username or a password", typed(corev1.SecretTypeBasicAuth, nil),
			[]fieldErr{required("data[username]"), required("data[password]")}},
		{"an SSH secret has a private key", typed(corev1.SecretTypeSSHAuth, nil), []fieldErr{required("data[ssh-privatekey]")}},
		{"a service account token secret names its service account", typed(corev1.SecretTypeServiceAccountToken, nil),
			[]fieldErr{required("metadata.annotations[kubernetes.io/service-account.name]")}},
		{"a custom secret type needs no particular keys", typed("example.com/token", nil), nil},
	})
}

func TestSecretUpdateValidation(t *testing.T) {
	immutable := func(s *corev1.Secret) { s.Immutable = ptrTo(true) }
	runUpdateCases(t, secretStrategy{}, validSecret, []updateCase[*corev1.Secret]{
		{name: "data may change", update: func(s *corev1.Secret) { s.Data["password"] = []byte("changed") }},
		{name: "the type does not change", update: func(s *corev1.Secret) { s.Type = "example.com/token" }, want: []fieldErr{invalid("type")}},
		{name: "an immutable secret keeps its data", old: immutable,
			update: func(s *corev1.Secret) { s.Data["password"] = []byte("changed") }, want: []fieldErr{forbidden("data")}},
		{name: "an immutable secret stays immutable", old: immutable,
			update: func(s *corev1.Secret) { s.Immutable = ptrTo(false) }, want: []fieldErr{forbidden("immutable")}},
	})
}

func TestSecretFieldSet(t *testing.T) {
	want := fields.Set{"metadata.name": "creds", "metadata.namespace": "default", "type": "Opaque"}
	if got := (secretStrategy{}).FieldSet(validSecret()); !semanticEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestDockercfgSecretValidation(t *testing.T) {
	runValidateCases(t, secretStrategy{}, validSecret, []validateCase[*corev1.Secret]{
		{"a dockercfg secret holds JSON", func(s *corev1.Secret) {
			s.Type, s.Data = corev1.SecretTypeDockercfg, map[string][]byte{".dockercfg": []byte(`{"registry.local":{}}`)}
		}, nil},
		{"a dockercfg secret holds valid JSON", func(s *corev1.Secret) {
			s.Type, s.Data = corev1.SecretTypeDockercfg, map[string][]byte{".dockercfg": []byte("registry.local")}
		}, []fieldErr{invalid("data[.dockercfg]")}},
	})
}
