// Package csrsigning signs approved CertificateSigningRequests with the
// cluster CA, as upstream's kube-controller-manager "csrsigning"
// controller, for the signers kubernetes.io/kube-apiserver-client-kubelet
// (kubelet client certificates), kubernetes.io/kube-apiserver-client
// (any client certificate) and kubernetes.io/kubelet-serving (kubelet
// serving certificates). A request the signer does not accept (a wrong
// subject or usages for the signer, a malformed request) gets a Failed
// condition instead of a certificate.
package csrsigning

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/kubernetes"
	certlisters "k8s.io/client-go/listers/certificates/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"github.com/skiffk8s/skiff/apiserver/pki"
	"github.com/skiffk8s/skiff/controllers"
	"github.com/skiffk8s/skiff/controllers/csrapproving"
	"github.com/skiffk8s/skiff/controllers/internal/controllerutil"
)

// Name is the controller's name in --controllers, logs and metrics.
const Name = "csrsigning"

// Options the controller reads from controllers.Context.Options, as
// upstream kube-controller-manager's flags of the same names.
const (
	// OptionCertFile is the PEM CA certificate that signs.
	OptionCertFile = "cluster-signing-cert-file"
	// OptionKeyFile is the PEM private key of that CA.
	OptionKeyFile = "cluster-signing-key-file"
	// OptionDuration is the longest lifetime of a signed certificate
	// (a Go duration); a CSR's spec.expirationSeconds may ask for less.
	OptionDuration = "cluster-signing-duration"

	DefaultCertFile = "/var/lib/skiff/pki/ca.crt"
	DefaultKeyFile  = "/var/lib/skiff/pki/ca.key"
	DefaultDuration = 365 * 24 * time.Hour
)

// Signing policy constants, as upstream's.
const (
	// Backdate is how far before the signing time NotBefore lies, for
	// clocks that run behind.
	Backdate = 5 * time.Minute
	// Short is the lifetime under which NotAfter counts from the signing
	// time rather than from the backdated NotBefore.
	Short = 8 * time.Hour
	// MinDuration is the shortest lifetime signed, whatever a CSR asks.
	MinDuration = 10 * time.Minute
	// FailedReason is the reason of the Failed condition of a CSR the
	// signer refuses.
	FailedReason = "SignerValidationFailure"
)

// Controller signs approved CSRs.
type Controller struct {
	client kubernetes.Interface
	lister certlisters.CertificateSigningRequestLister
	synced cache.InformerSynced
	queue  controllerutil.Queue
	clock  clock.Clock
	log    *slog.Logger
	// ca signs; nil when the default CA files do not exist (the
	// controller then signs nothing, as upstream's without a CA).
	ca       *pki.Bundle
	certFile string
	duration time.Duration
}

var _ controllers.Controller = (*Controller)(nil)

// New builds the controller from the options cluster-signing-cert-file,
// cluster-signing-key-file and cluster-signing-duration (defaults
// /var/lib/skiff/pki/ca.crt, /var/lib/skiff/pki/ca.key, 8760h). An
// unreadable, unparseable or mismatched CA, or a bad duration, is an
// error naming the option. When the CA files are the defaults and do not
// exist (a host that is not a control-plane node), the controller runs
// but signs nothing, and says so in its log.
func New(ctx context.Context, c controllers.Context) (controllers.Controller, error) {
	certFile, keyFile := c.Options[OptionCertFile], c.Options[OptionKeyFile]
	if certFile == "" {
		certFile = DefaultCertFile
	}
	if keyFile == "" {
		keyFile = DefaultKeyFile
	}
	duration := DefaultDuration
	if s := c.Options[OptionDuration]; s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return nil, fmt.Errorf("%s: --%s: %w", Name, OptionDuration, err)
		}
		if d <= 0 {
			return nil, fmt.Errorf("%s: --%s: %v must be positive", Name, OptionDuration, d)
		}
		duration = d
	}
	inf := c.Informers.Certificates().V1().CertificateSigningRequests()
	ctl := &Controller{
		client:   c.Client,
		lister:   inf.Lister(),
		synced:   inf.Informer().HasSynced,
		queue:    controllerutil.NewQueue(Name, c),
		clock:    c.Clock,
		log:      c.Logger,
		certFile: certFile,
		duration: duration,
	}
	if ctl.clock == nil {
		ctl.clock = clock.RealClock{}
	}
	if ctl.log == nil {
		ctl.log = slog.New(slog.DiscardHandler)
	}
	if certFile == DefaultCertFile && keyFile == DefaultKeyFile && (missing(certFile) || missing(keyFile)) {
		return ctl, nil
	}
	ca, err := pki.LoadCAFiles(certFile, keyFile, ctl.clock.Now)
	if err != nil {
		return nil, fmt.Errorf("%s: --%s/--%s: %w", Name, OptionCertFile, OptionKeyFile, err)
	}
	ctl.ca = ca
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    ctl.enqueue,
		UpdateFunc: func(_, obj any) { ctl.enqueue(obj) },
	}); err != nil {
		return nil, fmt.Errorf("%s: csr handler: %w", Name, err)
	}
	return ctl, nil
}

func missing(file string) bool {
	_, err := os.Stat(file)
	return errors.Is(err, os.ErrNotExist)
}

// Name implements controllers.Controller.
func (c *Controller) Name() string { return Name }

// Run implements controllers.Controller.
func (c *Controller) Run(ctx context.Context, workers int) error {
	log := c.log.With("controller", Name)
	if c.ca == nil {
		log.Warn("no cluster CA: certificate signing requests will not be signed", OptionCertFile, c.certFile)
		<-ctx.Done()
		return nil
	}
	return controllerutil.Run(ctx, Name, log, c.queue, workers, c.sync, c.synced)
}

func (c *Controller) enqueue(obj any) {
	if csr, ok := obj.(*certificatesv1.CertificateSigningRequest); ok && toSign(csr) {
		c.queue.Add(csr.Name)
	}
}

// signers are the signer names this controller signs for.
var signers = []string{
	certificatesv1.KubeAPIServerClientKubeletSignerName,
	certificatesv1.KubeAPIServerClientSignerName,
	certificatesv1.KubeletServingSignerName,
}

// toSign tells whether csr is for one of our signers, approved (and not
// denied), not failed and not yet signed.
func toSign(csr *certificatesv1.CertificateSigningRequest) bool {
	if len(csr.Status.Certificate) != 0 || !slices.Contains(signers, csr.Spec.SignerName) {
		return false
	}
	approved := false
	for _, cond := range csr.Status.Conditions {
		switch cond.Type {
		case certificatesv1.CertificateDenied, certificatesv1.CertificateFailed:
			return false
		case certificatesv1.CertificateApproved:
			approved = true
		}
	}
	return approved
}

// sync signs the CSR name, or marks it Failed when the signer refuses it.
func (c *Controller) sync(ctx context.Context, name string) error {
	csr, err := c.lister.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !toSign(csr) {
		return nil
	}
	now := c.clock.Now()
	certPEM, refusal := Sign(c.ca.CA, c.ca.CAKey, &csr.Spec, c.duration, now)
	csr = csr.DeepCopy()
	if refusal != nil {
		var r *Refusal
		if !errors.As(refusal, &r) {
			return fmt.Errorf("sign csr %s: %w", name, refusal)
		}
		t := metav1.NewTime(now)
		csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
			Type: certificatesv1.CertificateFailed, Status: corev1.ConditionTrue,
			Reason: FailedReason, Message: r.Error(), LastUpdateTime: t, LastTransitionTime: t,
		})
		c.log.Info("refused to sign", "csr", name, "why", r.Error())
	} else {
		csr.Status.Certificate = certPEM
	}
	if _, err := c.client.CertificatesV1().CertificateSigningRequests().UpdateStatus(ctx, csr, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("update status of csr %s: %w", name, err)
	}
	if refusal == nil {
		c.log.Info("signed certificate", "csr", name, "signer", csr.Spec.SignerName)
	}
	return nil
}

// Refusal is the signer's refusal of a request: it goes into the CSR's
// Failed condition, and is not retried.
type Refusal struct{ msg string }

func (r *Refusal) Error() string { return r.msg }

func refuse(format string, args ...any) error { return &Refusal{msg: fmt.Sprintf(format, args...)} }

// Sign returns the PEM certificate that ca (with key) signs for spec at
// now, valid for Duration(maxTTL, spec.ExpirationSeconds) from now (from
// now-Backdate for lifetimes of Short or more), never past the CA, with
// spec's usages, and the request's subject and SANs. A request the
// signer does not accept is a *Refusal; other errors are failures to
// retry.
func Sign(ca *x509.Certificate, key crypto.Signer, spec *certificatesv1.CertificateSigningRequestSpec, maxTTL time.Duration, now time.Time) ([]byte, error) {
	req, err := csrapproving.ParseRequest(spec.Request)
	if err != nil {
		return nil, refuse("unable to parse csr: %v", err)
	}
	if err := req.CheckSignature(); err != nil {
		return nil, refuse("unable to verify certificate request signature: %v", err)
	}
	if err := validate(spec.SignerName, req, spec.Usages); err != nil {
		return nil, refuse("%v", err)
	}
	keyUsage, extKeyUsage, err := KeyUsages(spec.Usages)
	if err != nil {
		return nil, refuse("%v", err)
	}
	if !now.Before(ca.NotAfter) {
		return nil, fmt.Errorf("the signer has expired: NotAfter=%v", ca.NotAfter)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, err
	}
	ttl := Duration(maxTTL, spec.ExpirationSeconds)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               req.Subject,
		DNSNames:              req.DNSNames,
		IPAddresses:           req.IPAddresses,
		EmailAddresses:        req.EmailAddresses,
		URIs:                  req.URIs,
		KeyUsage:              keyUsage,
		ExtKeyUsage:           extKeyUsage,
		BasicConstraintsValid: true,
		NotBefore:             now.Add(-Backdate),
	}
	if ttl < Short {
		tmpl.NotAfter = now.Add(ttl)
	} else {
		tmpl.NotAfter = tmpl.NotBefore.Add(ttl)
	}
	if !tmpl.NotAfter.Before(ca.NotAfter) {
		tmpl.NotAfter = ca.NotAfter
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, req.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// Duration is the lifetime of a certificate for a CSR asking for
// expirationSeconds (nil: no wish) under a signer allowing maxTTL: the
// smaller of the two, but at least MinDuration, as upstream.
func Duration(maxTTL time.Duration, expirationSeconds *int32) time.Duration {
	if expirationSeconds == nil {
		return maxTTL
	}
	switch d := time.Duration(*expirationSeconds) * time.Second; {
	case d > maxTTL:
		return maxTTL
	case d < MinDuration:
		return MinDuration
	default:
		return d
	}
}

// validate checks req and usages against what signer signs, as
// upstream's signer recognizers.
func validate(signer string, req *x509.CertificateRequest, usages []certificatesv1.KeyUsage) error {
	switch signer {
	case certificatesv1.KubeAPIServerClientKubeletSignerName:
		return csrapproving.ValidateKubeletClient(req, usages)
	case certificatesv1.KubeAPIServerClientSignerName:
		return validateClientUsages(usages)
	case certificatesv1.KubeletServingSignerName:
		return validateKubeletServing(req, usages)
	}
	return fmt.Errorf("unknown signer %q", signer)
}

// validateClientUsages accepts client auth with optional digital
// signature and key encipherment.
func validateClientUsages(usages []certificatesv1.KeyUsage) error {
	hasClientAuth := false
	for _, u := range usages {
		switch u {
		case certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment:
		case certificatesv1.UsageClientAuth:
			hasClientAuth = true
		default:
			return fmt.Errorf("invalid usage for client certificate: %s", u)
		}
	}
	if !hasClientAuth {
		return fmt.Errorf("missing required usage for client certificate: %s", certificatesv1.UsageClientAuth)
	}
	return nil
}

var (
	kubeletServingUsages      = sets.New(certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment, certificatesv1.UsageServerAuth)
	kubeletServingUsagesNoRSA = sets.New(certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth)
)

// validateKubeletServing is upstream's ValidateKubeletServingCSR.
func validateKubeletServing(req *x509.CertificateRequest, usages []certificatesv1.KeyUsage) error {
	if u := sets.New(usages...); !u.Equal(kubeletServingUsages) && !u.Equal(kubeletServingUsagesNoRSA) {
		return fmt.Errorf("usages did not match %v", sets.List(kubeletServingUsages))
	}
	if !reflect.DeepEqual(req.Subject.Organization, []string{"system:nodes"}) {
		return errors.New("subject organization is not system:nodes")
	}
	if !strings.HasPrefix(req.Subject.CommonName, "system:node:") {
		return errors.New("subject common name does not begin with 'system:node:'")
	}
	if len(req.DNSNames) == 0 && len(req.IPAddresses) == 0 {
		return errors.New("DNS or IP subjectAltName is required")
	}
	if len(req.EmailAddresses) > 0 {
		return errors.New("Email subjectAltNames are not allowed")
	}
	if len(req.URIs) > 0 {
		return errors.New("URI subjectAltNames are not allowed")
	}
	return nil
}

var keyUsageOf = map[certificatesv1.KeyUsage]x509.KeyUsage{
	certificatesv1.UsageSigning:           x509.KeyUsageDigitalSignature,
	certificatesv1.UsageDigitalSignature:  x509.KeyUsageDigitalSignature,
	certificatesv1.UsageContentCommitment: x509.KeyUsageContentCommitment,
	certificatesv1.UsageKeyEncipherment:   x509.KeyUsageKeyEncipherment,
	certificatesv1.UsageKeyAgreement:      x509.KeyUsageKeyAgreement,
	certificatesv1.UsageDataEncipherment:  x509.KeyUsageDataEncipherment,
	certificatesv1.UsageCertSign:          x509.KeyUsageCertSign,
	certificatesv1.UsageCRLSign:           x509.KeyUsageCRLSign,
	certificatesv1.UsageEncipherOnly:      x509.KeyUsageEncipherOnly,
	certificatesv1.UsageDecipherOnly:      x509.KeyUsageDecipherOnly,
}

var extKeyUsageOf = map[certificatesv1.KeyUsage]x509.ExtKeyUsage{
	certificatesv1.UsageAny:             x509.ExtKeyUsageAny,
	certificatesv1.UsageServerAuth:      x509.ExtKeyUsageServerAuth,
	certificatesv1.UsageClientAuth:      x509.ExtKeyUsageClientAuth,
	certificatesv1.UsageCodeSigning:     x509.ExtKeyUsageCodeSigning,
	certificatesv1.UsageEmailProtection: x509.ExtKeyUsageEmailProtection,
	certificatesv1.UsageSMIME:           x509.ExtKeyUsageEmailProtection,
	certificatesv1.UsageIPsecEndSystem:  x509.ExtKeyUsageIPSECEndSystem,
	certificatesv1.UsageIPsecTunnel:     x509.ExtKeyUsageIPSECTunnel,
	certificatesv1.UsageIPsecUser:       x509.ExtKeyUsageIPSECUser,
	certificatesv1.UsageTimestamping:    x509.ExtKeyUsageTimeStamping,
	certificatesv1.UsageOCSPSigning:     x509.ExtKeyUsageOCSPSigning,
	certificatesv1.UsageMicrosoftSGC:    x509.ExtKeyUsageMicrosoftServerGatedCrypto,
	certificatesv1.UsageNetscapeSGC:     x509.ExtKeyUsageNetscapeServerGatedCrypto,
}

// KeyUsages maps a CSR's usages to X.509 key usages and (sorted,
// distinct) extended key usages, as upstream; an unknown usage is an
// error.
func KeyUsages(usages []certificatesv1.KeyUsage) (x509.KeyUsage, []x509.ExtKeyUsage, error) {
	var ku x509.KeyUsage
	ext := map[x509.ExtKeyUsage]bool{}
	var unknown []string
	for _, u := range usages {
		if v, ok := keyUsageOf[u]; ok {
			ku |= v
		} else if v, ok := extKeyUsageOf[u]; ok {
			ext[v] = true
		} else {
			unknown = append(unknown, string(u))
		}
	}
	if len(unknown) > 0 {
		return 0, nil, fmt.Errorf("unrecognized usage values: %q", unknown)
	}
	var out []x509.ExtKeyUsage
	for v := range ext {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return ku, out, nil
}
