package csrapproving

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"slices"
	"testing"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiffk8s/skiff/controllers/internal/ctrltest"
)

// request is a PEM certificate request for cn and orgs, changed by opts.
func request(t *testing.T, cn string, orgs []string, opts ...func(*x509.CertificateRequest)) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn, Organization: orgs}}
	for _, o := range opts {
		o(tmpl)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

var clientUsages = []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment, certificatesv1.UsageClientAuth}

// csr is a kubelet client CSR for node-1 by a bootstrapper; change
// returns the spec to alter.
func csr(t *testing.T, change func(*certificatesv1.CertificateSigningRequestSpec)) *certificatesv1.CertificateSigningRequest {
	c := &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "node-csr-1"},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:    request(t, "system:node:node-1", []string{"system:nodes"}),
			SignerName: certificatesv1.KubeAPIServerClientKubeletSignerName,
			Usages:     clientUsages,
			Username:   "system:bootstrap:abcdef",
			Groups:     []string{"system:bootstrappers", "system:authenticated"},
		},
	}
	if change != nil {
		change(&c.Spec)
	}
	return c
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name   string
		change func(*certificatesv1.CertificateSigningRequestSpec)
		want   string // "" means left pending
	}{
		{"a new node's request by a bootstrapper is approved", nil, NodeClientMessage},
		{"a node renewing its own certificate is approved", func(s *certificatesv1.CertificateSigningRequestSpec) {
			s.Username, s.Groups = "system:node:node-1", []string{"system:nodes", "system:authenticated"}
		}, SelfNodeClientMessage},
		{"an admin's request is approved, as upstream's authorizer allows system:masters everything", func(s *certificatesv1.CertificateSigningRequestSpec) {
			s.Username, s.Groups = "kubernetes-admin", []string{"system:masters", "system:authenticated"}
		}, NodeClientMessage},
		{"usages without key encipherment (ECDSA keys) are approved", func(s *certificatesv1.CertificateSigningRequestSpec) {
			s.Usages = []certificatesv1.KeyUsage{certificatesv1.UsageClientAuth, certificatesv1.UsageDigitalSignature}
		}, NodeClientMessage},
		{"another node asking for node-1's certificate stays pending", func(s *certificatesv1.CertificateSigningRequestSpec) {
			s.Username, s.Groups = "system:node:node-2", []string{"system:nodes", "system:authenticated"}
		}, ""},
		{"another user stays pending", func(s *certificatesv1.CertificateSigningRequestSpec) {
			s.Username, s.Groups = "alice", []string{"system:authenticated"}
		}, ""},
		{"another signer stays pending", func(s *certificatesv1.CertificateSigningRequestSpec) {
			s.SignerName = certificatesv1.KubeAPIServerClientSignerName
		}, ""},
		{"the kubelet serving signer stays pending", func(s *certificatesv1.CertificateSigningRequestSpec) {
			s.SignerName = certificatesv1.KubeletServingSignerName
		}, ""},
		{"a CN that is not system:node: stays pending", func(s *certificatesv1.CertificateSigningRequestSpec) {
			s.Request = request(t, "node-1", []string{"system:nodes"})
		}, ""},
		{"an O other than system:nodes stays pending", func(s *certificatesv1.CertificateSigningRequestSpec) {
			s.Request = request(t, "system:node:node-1", []string{"system:masters"})
		}, ""},
		{"an extra O stays pending", func(s *certificatesv1.CertificateSigningRequestSpec) {
			s.Request = request(t, "system:node:node-1", []string{"system:nodes", "system:masters"})
		}, ""},
		{"no O stays pending", func(s *certificatesv1.CertificateSigningRequestSpec) {
			s.Request = request(t, "system:node:node-1", nil)
		}, ""},
		{"a DNS SAN stays pending", func(s *certificatesv1.CertificateSigningRequestSpec) {
			s.Request = request(t, "system:node:node-1", []string{"system:nodes"}, func(r *x509.CertificateRequest) { r.DNSNames = []string{"node-1"} })
		}, ""},
		{"an IP SAN stays pending", func(s *certificatesv1.CertificateSigningRequestSpec) {
			s.Request = request(t, "system:node:node-1", []string{"system:nodes"}, func(r *x509.CertificateRequest) { r.IPAddresses = []net.IP{net.ParseIP("10.0.0.1")} })
		}, ""},
		{"an email SAN stays pending", func(s *certificatesv1.CertificateSigningRequestSpec) {
			s.Request = request(t, "system:node:node-1", []string{"system:nodes"}, func(r *x509.CertificateRequest) { r.EmailAddresses = []string{"a@b.c"} })
		}, ""},
		{"server auth usage stays pending", func(s *certificatesv1.CertificateSigningRequestSpec) {
			s.Usages = append(slices.Clone(clientUsages), certificatesv1.UsageServerAuth)
		}, ""},
		{"usages without client auth stay pending", func(s *certificatesv1.CertificateSigningRequestSpec) {
			s.Usages = []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment}
		}, ""},
		{"client auth alone stays pending, as upstream wants digital signature too", func(s *certificatesv1.CertificateSigningRequestSpec) {
			s.Usages = []certificatesv1.KeyUsage{certificatesv1.UsageClientAuth}
		}, ""},
		{"a garbage request stays pending", func(s *certificatesv1.CertificateSigningRequestSpec) {
			s.Request = []byte("garbage")
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decide(csr(t, tt.change))
			if got != tt.want {
				t.Errorf("Decide = %q (%v), want %q", got, err, tt.want)
			}
			if (got == "") != (err != nil) {
				t.Errorf("Decide = %q with error %v: want a reason exactly when pending", got, err)
			}
		})
	}
}

func newUnit(t *testing.T, objs ...runtime.Object) (*Controller, *ctrltest.Unit) {
	t.Helper()
	u := ctrltest.NewUnit(t, objs...)
	c, err := New(context.Background(), u.Context)
	if err != nil {
		t.Fatal(err)
	}
	u.Add(t, objs...)
	return c.(*Controller), u
}

func TestSyncApprovesThroughTheApprovalSubresource(t *testing.T) {
	c, u := newUnit(t, csr(t, nil))
	if err := c.sync(context.Background(), "node-csr-1"); err != nil {
		t.Fatal(err)
	}
	if w := u.Writes(); !slices.Equal(w, []string{"update certificatesigningrequests/approval node-csr-1"}) {
		t.Fatalf("writes %v, want one approval update", w)
	}
	got, err := u.Fake.CertificatesV1().CertificateSigningRequests().Get(context.Background(), "node-csr-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	conds := got.Status.Conditions
	if len(conds) != 1 || conds[0].Type != certificatesv1.CertificateApproved || conds[0].Status != corev1.ConditionTrue ||
		conds[0].Reason != "AutoApproved" || conds[0].Message != "Auto approving kubelet client certificate after SubjectAccessReview." {
		t.Errorf("conditions %+v, want Approved/True AutoApproved with upstream's message", conds)
	}
}

func TestSyncLeavesDecidedAndForeignRequestsAlone(t *testing.T) {
	approved := csr(t, nil)
	approved.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue}}
	denied := csr(t, nil)
	denied.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateDenied, Status: corev1.ConditionTrue}}
	signed := csr(t, nil)
	signed.Status.Certificate = []byte("cert")
	other := csr(t, func(s *certificatesv1.CertificateSigningRequestSpec) { s.Username, s.Groups = "alice", nil })
	for name, obj := range map[string]*certificatesv1.CertificateSigningRequest{"approved": approved, "denied": denied, "signed": signed, "another user's": other} {
		c, u := newUnit(t, obj)
		if err := c.sync(context.Background(), obj.Name); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if w := u.Writes(); len(w) != 0 {
			t.Errorf("an %s CSR was written: %v (never denied, never approved twice)", name, w)
		}
	}
	c, u := newUnit(t)
	if err := c.sync(context.Background(), "gone"); err != nil || len(u.Writes()) != 0 {
		t.Errorf("a gone CSR: %v, writes %v", err, u.Writes())
	}
}

func TestEventsEnqueueOnlyPendingRequests(t *testing.T) {
	c, _ := newUnit(t)
	signed := csr(t, nil)
	signed.Status.Certificate = []byte("cert")
	c.enqueue(signed)
	c.enqueue(csr(t, nil))
	if n := c.queue.Len(); n != 1 {
		t.Fatalf("queue holds %d keys, want 1", n)
	}
}

// servingCSR is node-1's serving CSR for its name and 192.168.77.11,
// requested by node-1 itself; change alters the spec.
func servingCSR(t *testing.T, opts []func(*x509.CertificateRequest), change func(*certificatesv1.CertificateSigningRequestSpec)) *certificatesv1.CertificateSigningRequest {
	if opts == nil {
		opts = []func(*x509.CertificateRequest){func(r *x509.CertificateRequest) {
			r.DNSNames = []string{"node-1"}
			r.IPAddresses = []net.IP{net.ParseIP("192.168.77.11")}
		}}
	}
	c := &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "serving-1"},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:    request(t, "system:node:node-1", []string{"system:nodes"}, opts...),
			SignerName: certificatesv1.KubeletServingSignerName,
			Usages:     []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth},
			Username:   "system:node:node-1",
			Groups:     []string{"system:nodes", "system:authenticated"},
		},
	}
	if change != nil {
		change(&c.Spec)
	}
	return c
}

func node1() *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}, Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{
		{Type: corev1.NodeInternalIP, Address: "192.168.77.11"}, {Type: corev1.NodeHostName, Address: "node-1.lab"}}}}
}

// TestDecideServing: a node's serving certificate is approved only when
// the node asks for its own names and addresses.
func TestDecideServing(t *testing.T) {
	sans := func(dns []string, ips ...string) []func(*x509.CertificateRequest) {
		return []func(*x509.CertificateRequest){func(r *x509.CertificateRequest) {
			r.DNSNames = dns
			for _, ip := range ips {
				r.IPAddresses = append(r.IPAddresses, net.ParseIP(ip))
			}
		}}
	}
	for _, tc := range []struct {
		name    string
		csr     *certificatesv1.CertificateSigningRequest
		approve bool
	}{
		{"the node's name and InternalIP", servingCSR(t, nil, nil), true},
		{"its Hostname address", servingCSR(t, sans([]string{"node-1.lab"}), nil), true},
		{"with key encipherment (RSA)", servingCSR(t, nil, func(s *certificatesv1.CertificateSigningRequestSpec) {
			s.Usages = append(s.Usages, certificatesv1.UsageKeyEncipherment)
		}), true},
		{"an address the node does not have", servingCSR(t, sans([]string{"node-1"}, "192.168.77.12"), nil), false},
		{"a foreign DNS name", servingCSR(t, sans([]string{"kubernetes.default"}), nil), false},
		{"no names at all", servingCSR(t, sans(nil), nil), false},
		{"asked by a bootstrapper", servingCSR(t, nil, func(s *certificatesv1.CertificateSigningRequestSpec) {
			s.Username, s.Groups = "system:bootstrap:abcdef", []string{"system:bootstrappers"}
		}), false},
		{"asked by another node", servingCSR(t, nil, func(s *certificatesv1.CertificateSigningRequestSpec) { s.Username = "system:node:node-2" }), false},
		{"client usages", servingCSR(t, nil, func(s *certificatesv1.CertificateSigningRequestSpec) { s.Usages = clientUsages }), false},
	} {
		c, u := newUnit(t, tc.csr, node1())
		if err := c.sync(context.Background(), tc.csr.Name); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if approved := len(u.Writes()) == 1; approved != tc.approve {
			t.Errorf("%s: approved %v, want %v (writes %v)", tc.name, approved, tc.approve, u.Writes())
		}
	}
	// Before the Node is registered the request waits (sync fails, so the
	// queue retries) and nothing is written.
	c, u := newUnit(t, servingCSR(t, nil, nil))
	if err := c.sync(context.Background(), "serving-1"); err == nil || len(u.Writes()) != 0 {
		t.Errorf("serving CSR of an unregistered node: err %v, writes %v; want a retry and no write", err, u.Writes())
	}
}
