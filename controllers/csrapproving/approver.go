// Package csrapproving auto-approves kubelet client certificate requests,
// as upstream's kube-controller-manager "csrapproving" controller: a
// CertificateSigningRequest for the signer
// kubernetes.io/kube-apiserver-client-kubelet whose request is a kubelet
// client certificate (CN system:node:<name>, O system:nodes only, no
// subject alternative names, usages digital signature and client auth,
// optionally key encipherment) is approved when its requester may ask
// for it: a joining node (group system:bootstrappers, upstream's
// "nodeclient" permission), the node itself renewing (user
// system:node:<name>, "selfnodeclient"), or a cluster admin (group
// system:masters, whom upstream's authorizer allows everything). Upstream
// asks the authorizer with a SubjectAccessReview; Skiff's API server has
// no RBAC yet, so those are the rules kubeadm's default bindings give.
// Everything else is left pending for a human, never denied.
//
// Unlike upstream, it also approves a kubelet's serving certificate
// request (signer kubernetes.io/kubelet-serving, what skiff join's nodes
// ask for with --rotate-server-certificates) when the node itself asks,
// for CN system:node:<name> and O system:nodes, with server-auth usages,
// and with names and addresses that are exactly the registered Node's:
// DNS names among its name and its Hostname/InternalDNS/ExternalDNS
// addresses, IP addresses among its InternalIP/ExternalIP addresses (the
// checks of the kubelet-csr-approver project). Until the Node exists, and
// whenever its addresses change, the request is looked at again.
package csrapproving

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/kubernetes"
	certlisters "k8s.io/client-go/listers/certificates/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	"k8s.io/utils/clock"

	"github.com/skiffk8s/skiff/controllers"
	"github.com/skiffk8s/skiff/controllers/internal/controllerutil"
)

// Name is the controller's name in --controllers, logs and metrics.
const Name = "csrapproving"

// What an approval looks like, as upstream's.
const (
	Reason = "AutoApproved"
	// NodeClientMessage approves a new node's (or an admin's) request.
	NodeClientMessage = "Auto approving kubelet client certificate after SubjectAccessReview."
	// SelfNodeClientMessage approves a node's renewal of its own certificate.
	SelfNodeClientMessage = "Auto approving self kubelet client certificate after SubjectAccessReview."
	// ServingMessage approves a node's serving certificate.
	ServingMessage = "Auto approving kubelet serving certificate: requested by the node, for its own names and addresses."
)

const (
	nodeUserPrefix = "system:node:"
	nodesGroup     = "system:nodes"
	mastersGroup   = "system:masters"
)

// Controller approves kubelet client CSRs.
type Controller struct {
	client      kubernetes.Interface
	lister      certlisters.CertificateSigningRequestLister
	nodes       corelisters.NodeLister
	synced      cache.InformerSynced
	nodesSynced cache.InformerSynced
	queue       controllerutil.Queue
	clock       clock.Clock
	log         *slog.Logger
}

var _ controllers.Controller = (*Controller)(nil)

// New builds the controller; it takes no options. Queue keys are CSR
// names.
func New(ctx context.Context, c controllers.Context) (controllers.Controller, error) {
	inf := c.Informers.Certificates().V1().CertificateSigningRequests()
	nodes := c.Informers.Core().V1().Nodes()
	ctl := &Controller{
		client:      c.Client,
		lister:      inf.Lister(),
		nodes:       nodes.Lister(),
		synced:      inf.Informer().HasSynced,
		nodesSynced: nodes.Informer().HasSynced,
		queue:       controllerutil.NewQueue(Name, c),
		clock:       c.Clock,
		log:         c.Logger,
	}
	if ctl.clock == nil {
		ctl.clock = clock.RealClock{}
	}
	if ctl.log == nil {
		ctl.log = slog.New(slog.DiscardHandler)
	}
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    ctl.enqueue,
		UpdateFunc: func(_, obj any) { ctl.enqueue(obj) },
	}); err != nil {
		return nil, fmt.Errorf("%s: csr handler: %w", Name, err)
	}
	// A serving request waits for its Node and the Node's addresses (the
	// kubelet reports them after registering): look again when a Node
	// comes or its addresses change.
	if _, err := nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { ctl.enqueueServing() },
		UpdateFunc: func(old, cur any) {
			o, ok1 := old.(*corev1.Node)
			n, ok2 := cur.(*corev1.Node)
			if !ok1 || !ok2 || !slices.Equal(o.Status.Addresses, n.Status.Addresses) {
				ctl.enqueueServing()
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("%s: node handler: %w", Name, err)
	}
	return ctl, nil
}

// Name implements controllers.Controller.
func (c *Controller) Name() string { return Name }

// Run implements controllers.Controller.
func (c *Controller) Run(ctx context.Context, workers int) error {
	return controllerutil.Run(ctx, Name, c.log.With("controller", Name), c.queue, workers, c.sync, c.synced, c.nodesSynced)
}

func (c *Controller) enqueue(obj any) {
	if csr, ok := obj.(*certificatesv1.CertificateSigningRequest); ok && pending(csr) {
		c.queue.Add(csr.Name)
	}
}

// enqueueServing queues the pending kubelet serving requests.
func (c *Controller) enqueueServing() {
	csrs, _ := c.lister.List(labels.Everything())
	for _, csr := range csrs {
		if csr.Spec.SignerName == certificatesv1.KubeletServingSignerName {
			c.enqueue(csr)
		}
	}
}

// pending tells whether csr has no certificate and neither an Approved
// nor a Denied condition.
func pending(csr *certificatesv1.CertificateSigningRequest) bool {
	if len(csr.Status.Certificate) != 0 {
		return false
	}
	for _, cond := range csr.Status.Conditions {
		if cond.Type == certificatesv1.CertificateApproved || cond.Type == certificatesv1.CertificateDenied {
			return false
		}
	}
	return true
}

// sync approves the CSR name when Decide says so.
func (c *Controller) sync(ctx context.Context, name string) error {
	csr, err := c.lister.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !pending(csr) {
		return nil
	}
	var msg string
	if csr.Spec.SignerName == certificatesv1.KubeletServingSignerName {
		msg, err = DecideServing(csr, c.nodes)
		if errors.Is(err, errNoNode) {
			return err // retried with back-off, and when the Node comes
		}
	} else {
		msg, err = Decide(csr)
	}
	if err != nil {
		c.log.Debug("not approving", "csr", name, "why", err)
		return nil
	}
	now := metav1.NewTime(c.clock.Now())
	csr = csr.DeepCopy()
	csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue,
		Reason: Reason, Message: msg, LastUpdateTime: now, LastTransitionTime: now,
	})
	if _, err := c.client.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, name, csr, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("approve csr %s: %w", name, err)
	}
	c.log.Info("approved kubelet certificate", "csr", name, "signer", csr.Spec.SignerName, "requester", csr.Spec.Username, "message", msg)
	return nil
}

// Decide returns the approval message for csr, or an error saying why it
// stays pending: it is not a kubelet client certificate request, or its
// requester may not have it approved.
func Decide(csr *certificatesv1.CertificateSigningRequest) (string, error) {
	if csr.Spec.SignerName != certificatesv1.KubeAPIServerClientKubeletSignerName {
		return "", fmt.Errorf("signer %q is not %s", csr.Spec.SignerName, certificatesv1.KubeAPIServerClientKubeletSignerName)
	}
	req, err := ParseRequest(csr.Spec.Request)
	if err != nil {
		return "", err
	}
	if err := ValidateKubeletClient(req, csr.Spec.Usages); err != nil {
		return "", err
	}
	switch {
	case csr.Spec.Username == req.Subject.CommonName:
		return SelfNodeClientMessage, nil
	case slices.Contains(csr.Spec.Groups, bootstrapapi.BootstrapDefaultGroup), slices.Contains(csr.Spec.Groups, mastersGroup):
		return NodeClientMessage, nil
	}
	return "", fmt.Errorf("requester %q (groups %v) is neither %s, a bootstrapper nor an admin", csr.Spec.Username, csr.Spec.Groups, req.Subject.CommonName)
}

// errNoNode is DecideServing's error while the requesting node has no
// Node object yet.
var errNoNode = errors.New("the node is not registered yet")

var (
	kubeletServingUsages      = sets.New(certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment, certificatesv1.UsageServerAuth)
	kubeletServingUsagesNoRSA = sets.New(certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth)
)

// DecideServing returns the approval message for a kubelet serving
// certificate request, or why it stays pending (errNoNode: for now).
func DecideServing(csr *certificatesv1.CertificateSigningRequest, nodes corelisters.NodeLister) (string, error) {
	req, err := ParseRequest(csr.Spec.Request)
	if err != nil {
		return "", err
	}
	cn := req.Subject.CommonName
	name, ok := strings.CutPrefix(cn, nodeUserPrefix)
	switch {
	case !ok || name == "":
		return "", errors.New("subject common name does not begin with 'system:node:'")
	case !slices.Equal(req.Subject.Organization, []string{nodesGroup}):
		return "", errors.New("subject organization is not system:nodes")
	case csr.Spec.Username != cn:
		return "", fmt.Errorf("requester %q is not the node %q", csr.Spec.Username, cn)
	case len(req.EmailAddresses) > 0 || len(req.URIs) > 0:
		return "", errors.New("email and URI subjectAltNames are not allowed")
	case len(req.DNSNames)+len(req.IPAddresses) == 0:
		return "", errors.New("no DNS or IP subjectAltNames")
	}
	if u := sets.New(csr.Spec.Usages...); !u.Equal(kubeletServingUsages) && !u.Equal(kubeletServingUsagesNoRSA) {
		return "", fmt.Errorf("usages did not match %v", sets.List(kubeletServingUsages))
	}
	node, err := nodes.Get(name)
	if apierrors.IsNotFound(err) {
		return "", errNoNode
	}
	if err != nil {
		return "", err
	}
	dns, ips := sets.New(name), sets.New[string]()
	for _, a := range node.Status.Addresses {
		switch a.Type {
		case corev1.NodeHostName, corev1.NodeInternalDNS, corev1.NodeExternalDNS:
			dns.Insert(a.Address)
		case corev1.NodeInternalIP, corev1.NodeExternalIP:
			if ip := net.ParseIP(a.Address); ip != nil {
				ips.Insert(ip.String())
			}
		}
	}
	for _, d := range req.DNSNames {
		if !dns.Has(d) {
			return "", fmt.Errorf("DNS name %q is not one of node %s's", d, name)
		}
	}
	for _, ip := range req.IPAddresses {
		if !ips.Has(ip.String()) {
			return "", fmt.Errorf("IP address %s is not one of node %s's", ip, name)
		}
	}
	return ServingMessage, nil
}

// ParseRequest parses a PEM "CERTIFICATE REQUEST".
func ParseRequest(pemBytes []byte) (*x509.CertificateRequest, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("PEM block type must be CERTIFICATE REQUEST")
	}
	return x509.ParseCertificateRequest(block.Bytes)
}

var (
	kubeletClientUsages      = sets.New(certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment, certificatesv1.UsageClientAuth)
	kubeletClientUsagesNoRSA = sets.New(certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth)
)

// ValidateKubeletClient checks that req and usages make a kubelet client
// certificate, as upstream's ValidateKubeletClientCSR (the
// kube-apiserver-client-kubelet signer signs nothing else).
func ValidateKubeletClient(req *x509.CertificateRequest, usages []certificatesv1.KeyUsage) error {
	if !slices.Equal(req.Subject.Organization, []string{nodesGroup}) {
		return errors.New("subject organization is not system:nodes")
	}
	if len(req.DNSNames) > 0 {
		return errors.New("DNS subjectAltNames are not allowed")
	}
	if len(req.EmailAddresses) > 0 {
		return errors.New("Email subjectAltNames are not allowed")
	}
	if len(req.IPAddresses) > 0 {
		return errors.New("IP subjectAltNames are not allowed")
	}
	if len(req.URIs) > 0 {
		return errors.New("URI subjectAltNames are not allowed")
	}
	if !strings.HasPrefix(req.Subject.CommonName, nodeUserPrefix) {
		return errors.New("subject common name does not begin with 'system:node:'")
	}
	if u := sets.New(usages...); !u.Equal(kubeletClientUsages) && !u.Equal(kubeletClientUsagesNoRSA) {
		return fmt.Errorf("usages did not match %v", sets.List(kubeletClientUsages))
	}
	return nil
}
