package registry

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// csrStrategy holds the rules of certificates.k8s.io/v1
// CertificateSigningRequests. Filling spec.username, uid, groups and extra
// from the requesting user is the handler's job (it knows the user).
type csrStrategy struct{}

const (
	legacyUnknownSignerName = "kubernetes.io/legacy-unknown"
	// minCSRExpirationSeconds is ten minutes.
	minCSRExpirationSeconds = 600
)

// keyUsages are the usages a CSR may request.
var keyUsages = []certificatesv1.KeyUsage{
	certificatesv1.UsageSigning, certificatesv1.UsageDigitalSignature, certificatesv1.UsageContentCommitment,
	certificatesv1.UsageKeyEncipherment, certificatesv1.UsageKeyAgreement, certificatesv1.UsageDataEncipherment,
	certificatesv1.UsageCertSign, certificatesv1.UsageCRLSign, certificatesv1.UsageEncipherOnly,
	certificatesv1.UsageDecipherOnly, certificatesv1.UsageAny, certificatesv1.UsageServerAuth,
	certificatesv1.UsageClientAuth, certificatesv1.UsageCodeSigning, certificatesv1.UsageEmailProtection,
	certificatesv1.UsageSMIME, certificatesv1.UsageIPsecEndSystem, certificatesv1.UsageIPsecTunnel,
	certificatesv1.UsageIPsecUser, certificatesv1.UsageTimestamping, certificatesv1.UsageOCSPSigning,
	certificatesv1.UsageMicrosoftSGC, certificatesv1.UsageNetscapeSGC,
}

func (csrStrategy) Default(obj runtime.Object) {
	csr := obj.(*certificatesv1.CertificateSigningRequest)
	for i := range csr.Status.Conditions {
		if c := &csr.Status.Conditions[i]; c.Status == "" {
			c.Status = corev1.ConditionTrue
		}
	}
}

func (csrStrategy) Validate(obj runtime.Object) field.ErrorList {
	csr := obj.(*certificatesv1.CertificateSigningRequest)
	errs := validateMeta(csr, false, validation.NameIsDNSSubdomain)
	spec, path := &csr.Spec, field.NewPath("spec")
	if len(spec.Request) == 0 {
		errs = append(errs, field.Required(path.Child("request"), ""))
	} else if err := checkCSR(spec.Request); err != nil {
		errs = append(errs, field.Invalid(path.Child("request"), field.OmitValueType{}, err.Error()))
	}
	if len(spec.Usages) == 0 {
		errs = append(errs, field.Required(path.Child("usages"), "usages must be provided"))
	}
	known, seen := sets.New(keyUsages...), sets.New[certificatesv1.KeyUsage]()
	for i, u := range spec.Usages {
		if !known.Has(u) {
			errs = append(errs, field.NotSupported(path.Child("usages").Index(i), u, keyUsages))
		}
		if seen.Has(u) {
			errs = append(errs, field.Duplicate(path.Child("usages").Index(i), u))
		}
		seen.Insert(u)
	}
	if spec.SignerName == legacyUnknownSignerName {
		errs = append(errs, field.Invalid(path.Child("signerName"), spec.SignerName, "the legacy signerName is not allowed via this API version"))
	} else {
		errs = append(errs, validateSignerName(spec.SignerName, path.Child("signerName"))...)
	}
	if spec.ExpirationSeconds != nil && *spec.ExpirationSeconds < minCSRExpirationSeconds {
		errs = append(errs, field.Invalid(path.Child("expirationSeconds"), *spec.ExpirationSeconds, "may not specify a duration less than 600 seconds (10 minutes)"))
	}
	return errs
}

// checkCSR parses a PEM "CERTIFICATE REQUEST" and checks its signature.
func checkCSR(request []byte) error {
	block, _ := pem.Decode(request)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return errors.New("PEM block type must be CERTIFICATE REQUEST")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return err
	}
	return csr.CheckSignature()
}

// validateSignerName checks "example.com/signer-name": a domain with at
// least two labels, a slash, and a DNS-1123 subdomain path.
func validateSignerName(name string, path *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(path, "")}
	}
	domain, rest, ok := strings.Cut(name, "/")
	if !ok || strings.Contains(rest, "/") {
		return field.ErrorList{field.Invalid(path, name, "must be a fully qualified domain and path of the form 'example.com/signer-name'")}
	}
	var errs field.ErrorList
	if len(domain) > utilvalidation.DNS1123SubdomainMaxLength {
		errs = append(errs, field.TooLong(path, domain, utilvalidation.DNS1123SubdomainMaxLength))
	}
	labels := strings.Split(domain, ".")
	for _, label := range labels {
		if msgs := utilvalidation.IsDNS1123Label(label); len(msgs) > 0 {
			for _, msg := range msgs {
				errs = append(errs, field.Invalid(path, domain, fmt.Sprintf("validating label %q: %s", label, msg)))
			}
			break
		}
	}
	if len(labels) < 2 {
		errs = append(errs, field.Invalid(path, domain, "should be a domain with at least two segments separated by dots"))
	}
	if maxLen := utilvalidation.DNS1123SubdomainMaxLength + utilvalidation.DNS1123LabelMaxLength + 1; len(rest) > maxLen {
		errs = append(errs, field.TooLong(path, rest, maxLen))
	}
	return append(errs, invalidEach(path, rest, utilvalidation.IsDNS1123Subdomain(rest))...)
}

func (s csrStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	csr, oldCSR := obj.(*certificatesv1.CertificateSigningRequest), old.(*certificatesv1.CertificateSigningRequest)
	errs := s.Validate(csr)
	errs = append(errs, validateMetaUpdate(csr, oldCSR)...)
	// Approval and signing change the status; the request itself is fixed.
	if !semanticEqual(csr.Spec, oldCSR.Spec) {
		errs = append(errs, field.Invalid(field.NewPath("spec"), field.OmitValueType{}, "field is immutable"))
	}
	return errs
}

func (csrStrategy) FieldSet(obj runtime.Object) fields.Set {
	csr := obj.(*certificatesv1.CertificateSigningRequest)
	return clusterFields(csr, fields.Set{"spec.signerName": csr.Spec.SignerName})
}
