package install

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	bootstraputil "k8s.io/cluster-bootstrap/token/util"

	"github.com/skiffk8s/skiff/apiserver/auth"
	"github.com/skiffk8s/skiff/apiserver/pki"
)

// The control plane's shared keys a joining master needs, as kubeadm's
// upload-certs: the cluster CA and the service-account key pair (the rest
// each master issues itself).
var sharedPKIFiles = []string{pki.CACertFile, pki.CAKeyFile, pki.SAKeyFile, pki.SAPublicKeyFile}

// etcdServersKey holds the API server's --etcd-servers in the uploaded
// Secret (not encrypted: addresses, not keys).
const etcdServersKey = "etcd-servers"

// UploadedCertsTTL is how long the uploaded keys stay in the cluster (as
// kubeadm's two hours): the Secret is owned by a bootstrap token of that
// lifetime, which the controller manager deletes when it expires, and the
// garbage collector then deletes the Secret.
const UploadedCertsTTL = 2 * time.Hour

// CertificateKey is the AES-256 key the uploaded keys are encrypted with
// (64 hex digits in --certificate-key).
type CertificateKey []byte

// GenerateCertificateKey returns a new random key.
func GenerateCertificateKey() (CertificateKey, error) {
	k := make(CertificateKey, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("certificate key: %w", err)
	}
	return k, nil
}

// ParseCertificateKey parses 64 hex digits.
func ParseCertificateKey(s string) (CertificateKey, error) {
	k, err := hex.DecodeString(s)
	if err != nil || len(k) != 32 {
		return nil, errors.New("the certificate key is not 64 hex digits")
	}
	return k, nil
}

func (k CertificateKey) String() string { return hex.EncodeToString(k) }

// UploadCerts stores the shared control-plane keys from pkiDir, each
// encrypted with key (AES-256-GCM), and the API server's etcd servers in
// the Secret kube-system/skiff-certs, which bootstrap-token users may
// read. The Secret goes with a bootstrap token of UploadedCertsTTL that
// owns it.
func UploadCerts(ctx context.Context, cs kubernetes.Interface, pkiDir string, etcdServers string, key CertificateKey, now time.Time) error {
	aead, err := newAEAD(key)
	if err != nil {
		return err
	}
	data := map[string][]byte{}
	for _, f := range sharedPKIFiles {
		plain, err := os.ReadFile(filepath.Join(pkiDir, f))
		if err != nil {
			return fmt.Errorf("upload certificates: %w", err)
		}
		nonce := make([]byte, aead.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			return err
		}
		data[f] = aead.Seal(nonce, nonce, plain, []byte(f))
	}
	data[etcdServersKey] = []byte(etcdServers)

	// The owning token authenticates nobody and signs nothing: it only
	// times the Secret out.
	owner, err := GenerateToken()
	if err != nil {
		return err
	}
	tokenSecret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: bootstraputil.BootstrapTokenSecretName(owner.ID), Namespace: metav1.NamespaceSystem},
		Type:       bootstrapapi.SecretTypeBootstrapToken,
		Data: map[string][]byte{
			bootstrapapi.BootstrapTokenIDKey:          []byte(owner.ID),
			bootstrapapi.BootstrapTokenSecretKey:      []byte(owner.Secret),
			bootstrapapi.BootstrapTokenExpirationKey:  []byte(now.Add(UploadedCertsTTL).UTC().Format(time.RFC3339)),
			bootstrapapi.BootstrapTokenDescriptionKey: []byte("owns the uploaded control-plane keys (kube-system/skiff-certs)"),
		},
	}
	created, err := cs.CoreV1().Secrets(metav1.NamespaceSystem).Create(ctx, tokenSecret, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("upload certificates: owner token: %w", err)
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: auth.UploadedCertsSecret, Namespace: metav1.NamespaceSystem,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Secret", Name: created.Name, UID: created.UID}}},
		Type: corev1.SecretTypeOpaque,
		Data: data,
	}
	secrets := cs.CoreV1().Secrets(metav1.NamespaceSystem)
	if _, err := secrets.Create(ctx, secret, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
		old, gerr := secrets.Get(ctx, secret.Name, metav1.GetOptions{})
		if gerr != nil {
			return fmt.Errorf("upload certificates: %w", gerr)
		}
		secret.ResourceVersion = old.ResourceVersion
		_, err = secrets.Update(ctx, secret, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("upload certificates: %w", err)
	}
	return nil
}

// DownloadCerts reads kube-system/skiff-certs, decrypts the keys with key
// and writes them into pkiDir (the private keys 0600), returning the etcd
// servers the masters use. A wrong key writes nothing.
func DownloadCerts(ctx context.Context, cs kubernetes.Interface, pkiDir string, key CertificateKey) (string, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return "", err
	}
	s, err := cs.CoreV1().Secrets(metav1.NamespaceSystem).Get(ctx, auth.UploadedCertsSecret, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", errors.New("no uploaded control-plane keys in the cluster (they last 2 hours): run `skiff token create --upload-certs` on a master for a new master join command")
	}
	if err != nil {
		return "", fmt.Errorf("get the uploaded control-plane keys: %w", err)
	}
	plain := map[string][]byte{}
	for _, f := range sharedPKIFiles {
		sealed := s.Data[f]
		if len(sealed) < aead.NonceSize() {
			return "", fmt.Errorf("the uploaded control-plane keys lack %s", f)
		}
		p, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], []byte(f))
		if err != nil {
			return "", errors.New("the certificate key does not decrypt the uploaded control-plane keys: wrong --certificate-key")
		}
		plain[f] = p
	}
	for _, f := range sharedPKIFiles {
		perm := os.FileMode(0o644)
		if f == pki.CAKeyFile || f == pki.SAKeyFile {
			perm = 0o600
		}
		if err := writeFile(filepath.Join(pkiDir, f), plain[f], perm); err != nil {
			return "", fmt.Errorf("write %s: %w", f, err)
		}
	}
	if err := os.Chmod(pkiDir, 0o700); err != nil {
		return "", err
	}
	return string(s.Data[etcdServersKey]), nil
}

func newAEAD(key CertificateKey) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, errors.New("the certificate key is not 32 bytes")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
