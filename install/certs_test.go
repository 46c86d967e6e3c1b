package install

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffk8s/skiff/apiserver/apitest"
	"github.com/skiffk8s/skiff/apiserver/pki"
)

// TestUploadedCerts: the control plane's keys go into the cluster
// encrypted, owned by a short-lived token, and come back only with the
// right key.
func TestUploadedCerts(t *testing.T) {
	srv := apitest.Start(t)
	ctx := context.Background()
	src := filepath.Join(srv.DataDir, "pki")
	key, err := GenerateCertificateKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := UploadCerts(ctx, srv.Client, src, "http://10.0.0.5:2379", key, time.Now()); err != nil {
		t.Fatal(err)
	}
	s, err := srv.Client.CoreV1().Secrets("kube-system").Get(ctx, "skiff-certs", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	caKey, _ := os.ReadFile(filepath.Join(src, pki.CAKeyFile))
	if bytes.Contains(s.Data[pki.CAKeyFile], caKey[30:60]) {
		t.Error("the CA key is stored in the clear")
	}
	if len(s.OwnerReferences) != 1 || !strings.HasPrefix(s.OwnerReferences[0].Name, "bootstrap-token-") {
		t.Errorf("owners %+v, want the timing-out token", s.OwnerReferences)
	}
	owner, err := srv.Client.CoreV1().Secrets("kube-system").Get(ctx, s.OwnerReferences[0].Name, metav1.GetOptions{})
	if err != nil || len(owner.Data["expiration"]) == 0 || len(owner.Data["usage-bootstrap-authentication"]) != 0 {
		t.Errorf("owner token %v: %q, want one that expires and authenticates nobody", err, owner.Data)
	}

	wrong, _ := GenerateCertificateKey()
	dst := filepath.Join(t.TempDir(), "pki")
	if _, err := DownloadCerts(ctx, srv.Client, dst, wrong); err == nil || !strings.Contains(err.Error(), "wrong --certificate-key") {
		t.Errorf("wrong key: %v", err)
	}
	if _, err := os.Stat(dst); !os.IsNotExist(err) {
		t.Errorf("a wrong key wrote %s (%v)", dst, err)
	}
	etcd, err := DownloadCerts(ctx, srv.Client, dst, key)
	if err != nil || etcd != "http://10.0.0.5:2379" {
		t.Fatalf("download: %q, %v", etcd, err)
	}
	for _, f := range sharedPKIFiles {
		want, _ := os.ReadFile(filepath.Join(src, f))
		got, err := os.ReadFile(filepath.Join(dst, f))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s differs after the round trip (%v)", f, err)
		}
	}
	if st, _ := os.Stat(filepath.Join(dst, pki.CAKeyFile)); st == nil || st.Mode().Perm() != 0o600 {
		t.Errorf("ca.key mode %v, want 0600", st)
	}
	if _, err := ParseCertificateKey(key.String()); err != nil {
		t.Error(err)
	}
	if _, err := ParseCertificateKey("abc"); err == nil {
		t.Error("a short certificate key parsed")
	}
}
