package registry

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"testing"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// csrPEM returns a PEM certificate request signed by a fresh key.
func csrPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "system:node:node-1", Organization: []string{"system:nodes"}},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func TestCSRValidation(t *testing.T) {
	request := csrPEM(t)
	valid := func() *certificatesv1.CertificateSigningRequest {
		return &certificatesv1.CertificateSigningRequest{
			ObjectMeta: metav1.ObjectMeta{Name: "node-csr-abc"},
			Spec: certificatesv1.CertificateSigningRequestSpec{
				Request:    request,
				SignerName: certificatesv1.KubeAPIServerClientKubeletSignerName,
				Usages:     []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth},
			},
		}
	}
	spec := func(f func(*certificatesv1.CertificateSigningRequestSpec)) func(*certificatesv1.CertificateSigningRequest) {
		return func(csr *certificatesv1.CertificateSigningRequest) { f(&csr.Spec) }
	}
	runValidateCases(t, csrStrategy{}, valid, []validateCase[*certificatesv1.CertificateSigningRequest]{
		{name: "a kubelet client certificate request is valid"},
		{"a request is required", spec(func(s *certificatesv1.CertificateSigningRequestSpec) { s.Request = nil }), []fieldErr{required("spec.request")}},
		{"a request is a PEM certificate request", spec(func(s *certificatesv1.CertificateSigningRequestSpec) {
			s.Request = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("x")})
		}), []fieldErr{invalid("spec.request")}},
		{"a request parses", spec(func(s *certificatesv1.CertificateSigningRequestSpec) {
			s.Request = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte("garbage")})
		}), []fieldErr{invalid("spec.request")}},
		{"usages are required", spec(func(s *certificatesv1.CertificateSigningRequestSpec) { s.Usages = nil }), []fieldErr{required("spec.usages")}},
		{"usages are known", spec(func(s *certificatesv1.CertificateSigningRequestSpec) { s.Usages = append(s.Usages, "world domination") }),
			[]fieldErr{notSupported("spec.usages[2]")}},
		{"usages appear once", spec(func(s *certificatesv1.CertificateSigningRequestSpec) {
			s.Usages = append(s.Usages, certificatesv1.UsageClientAuth)
		}),
			[]fieldErr{duplicate("spec.usages[2]")}},
		{"a signer name is required", spec(func(s *certificatesv1.CertificateSigningRequestSpec) { s.SignerName = "" }),
			[]fieldErr{required("spec.signerName")}},
		{"a signer name is a domain and a path", spec(func(s *certificatesv1.CertificateSigningRequestSpec) { s.SignerName = "kubelet" }),
			[]fieldErr{invalid("spec.signerName")}},
		{"a signer domain has two labels", spec(func(s *certificatesv1.CertificateSigningRequestSpec) { s.SignerName = "example/signer" }),
			[]fieldErr{invalid("spec.signerName")}},
		{"a custom signer is valid", spec(func(s *certificatesv1.CertificateSigningRequestSpec) { s.SignerName = "example.com/my-signer" }), nil},
		{"the legacy signer is not allowed", spec(func(s *certificatesv1.CertificateSigningRequestSpec) { s.SignerName = "kubernetes.io/legacy-unknown" }),
			[]fieldErr{invalid("spec.signerName")}},
		{"a certificate lasts at least ten minutes", spec(func(s *certificatesv1.CertificateSigningRequestSpec) { s.ExpirationSeconds = ptrTo[int32](599) }),
			[]fieldErr{invalid("spec.expirationSeconds")}},
		{"a request is cluster-scoped", func(csr *certificatesv1.CertificateSigningRequest) { csr.Namespace = "default" },
			[]fieldErr{forbidden("metadata.namespace")}},
	})

	runUpdateCases(t, csrStrategy{}, valid, []updateCase[*certificatesv1.CertificateSigningRequest]{
		{name: "a request may be approved", update: func(csr *certificatesv1.CertificateSigningRequest) {
			csr.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue}}
		}},
		{name: "the request itself does not change", update: func(csr *certificatesv1.CertificateSigningRequest) {
			csr.Spec.Usages = csr.Spec.Usages[:1]
		}, want: []fieldErr{invalid("spec")}},
	})

	want := fields.Set{"metadata.name": "node-csr-abc", "spec.signerName": certificatesv1.KubeAPIServerClientKubeletSignerName}
	if got := (csrStrategy{}).FieldSet(valid()); !semanticEqual(got, want) {
		t.Errorf("field set: got %v, want %v", got, want)
	}
}

func TestCSRDefaults(t *testing.T) {
	runDefaultCases(t, csrStrategy{}, []defaultCase[*certificatesv1.CertificateSigningRequest]{
		{"a condition without a status is True",
			func() *certificatesv1.CertificateSigningRequest {
				return &certificatesv1.CertificateSigningRequest{Status: certificatesv1.CertificateSigningRequestStatus{
					Conditions: []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateApproved}}}}
			},
			func(csr *certificatesv1.CertificateSigningRequest) any { return csr.Status.Conditions[0].Status }, corev1.ConditionTrue},
	})
}

func TestSignerNameValidation(t *testing.T) {
	for _, c := range []struct {
		name, signer string
		want         []fieldErr
	}{
		{"a built-in signer is valid", certificatesv1.KubeletServingSignerName, nil},
		{"a signer domain is made of DNS labels", "exa_mple.com/signer", []fieldErr{invalid("spec.signerName")}},
		{"a signer path is a DNS subdomain", "example.com/Signer", []fieldErr{invalid("spec.signerName")}},
		{"a signer name has one slash", "example.com/a/b", []fieldErr{invalid("spec.signerName")}},
	} {
		t.Run(c.name, func(t *testing.T) {
			checkErrors(t, validateSignerName(c.signer, field.NewPath("spec", "signerName")), c.want...)
		})
	}
}
