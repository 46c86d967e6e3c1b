package install

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	bootstraputil "k8s.io/cluster-bootstrap/token/util"
)

// DefaultNodeGroup is the extra group of the tokens skiff creates, as
// kubeadm's system:bootstrappers:kubeadm:default-node-token.
const DefaultNodeGroup = "system:bootstrappers:skiff:default-node-token"

// Token is a bootstrap token, "ID.Secret": 6 and 16 characters of
// [a-z0-9]. The ID is public (it names the Secret); the secret is not.
type Token struct {
	ID, Secret string
}

var tokenRE = regexp.MustCompile(`^([a-z0-9]{6})\.([a-z0-9]{16})$`)

// ParseToken parses "ID.Secret".
func ParseToken(s string) (Token, error) {
	m := tokenRE.FindStringSubmatch(s)
	if m == nil {
		return Token{}, fmt.Errorf("token %q is not of the form [a-z0-9]{6}.[a-z0-9]{16}", redact(s))
	}
	return Token{ID: m[1], Secret: m[2]}, nil
}

// redact keeps what may be a token's public ID and hides the rest.
func redact(s string) string {
	if id, _, ok := strings.Cut(s, "."); ok {
		return id + ".<hidden>"
	}
	if len(s) > 6 {
		return s[:6] + "<hidden>"
	}
	return s
}

// GenerateToken returns a new random token.
func GenerateToken() (Token, error) {
	s, err := bootstraputil.GenerateBootstrapToken()
	if err != nil {
		return Token{}, fmt.Errorf("generate token: %w", err)
	}
	return ParseToken(s)
}

func (t Token) String() string { return t.ID + "." + t.Secret }

// TokenInfo is a stored token as `skiff token list` shows it.
type TokenInfo struct {
	ID          string
	Expires     time.Time // zero: never
	Usages      []string  // "authentication", "signing"
	Groups      []string
	Description string
}

// CreateToken stores t as a bootstrap-token Secret in kube-system
// (bootstrap-token-<id>, type bootstrap.kubernetes.io/token), usable to
// authenticate joining nodes and to sign the cluster-info ConfigMap, in
// group DefaultNodeGroup, expiring ttl after now (0: never). An existing
// token with the same ID is an error.
func CreateToken(ctx context.Context, cs kubernetes.Interface, t Token, ttl time.Duration, description string, now time.Time) error {
	data := map[string][]byte{
		bootstrapapi.BootstrapTokenIDKey:               []byte(t.ID),
		bootstrapapi.BootstrapTokenSecretKey:           []byte(t.Secret),
		bootstrapapi.BootstrapTokenUsageAuthentication: []byte("true"),
		bootstrapapi.BootstrapTokenUsageSigningKey:     []byte("true"),
		bootstrapapi.BootstrapTokenExtraGroupsKey:      []byte(DefaultNodeGroup),
	}
	if description != "" {
		data[bootstrapapi.BootstrapTokenDescriptionKey] = []byte(description)
	}
	if ttl > 0 {
		data[bootstrapapi.BootstrapTokenExpirationKey] = []byte(now.Add(ttl).UTC().Format(time.RFC3339))
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: bootstraputil.BootstrapTokenSecretName(t.ID), Namespace: metav1.NamespaceSystem},
		Type:       bootstrapapi.SecretTypeBootstrapToken,
		Data:       data,
	}
	if _, err := cs.CoreV1().Secrets(metav1.NamespaceSystem).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("a token with ID %q exists already", t.ID)
		}
		return fmt.Errorf("create token: %w", err)
	}
	return nil
}

// ListTokens lists the bootstrap tokens, by ID.
func ListTokens(ctx context.Context, cs kubernetes.Interface) ([]TokenInfo, error) {
	list, err := cs.CoreV1().Secrets(metav1.NamespaceSystem).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	var out []TokenInfo
	for _, s := range list.Items {
		if s.Type != bootstrapapi.SecretTypeBootstrapToken {
			continue
		}
		info := TokenInfo{ID: string(s.Data[bootstrapapi.BootstrapTokenIDKey]), Description: string(s.Data[bootstrapapi.BootstrapTokenDescriptionKey])}
		if exp := s.Data[bootstrapapi.BootstrapTokenExpirationKey]; len(exp) > 0 {
			if t, err := time.Parse(time.RFC3339, string(exp)); err == nil {
				info.Expires = t
			}
		}
		if string(s.Data[bootstrapapi.BootstrapTokenUsageAuthentication]) == "true" {
			info.Usages = append(info.Usages, "authentication")
		}
		if string(s.Data[bootstrapapi.BootstrapTokenUsageSigningKey]) == "true" {
			info.Usages = append(info.Usages, "signing")
		}
		if g := string(s.Data[bootstrapapi.BootstrapTokenExtraGroupsKey]); g != "" {
			info.Groups = strings.Split(g, ",")
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// DeleteToken deletes the token with the given ID (or "ID.Secret").
func DeleteToken(ctx context.Context, cs kubernetes.Interface, id string) error {
	if t, err := ParseToken(id); err == nil {
		id = t.ID
	}
	if !bootstraputil.IsValidBootstrapTokenID(id) {
		return fmt.Errorf("token ID %q is not of the form [a-z0-9]{6}", id)
	}
	err := cs.CoreV1().Secrets(metav1.NamespaceSystem).Delete(ctx, bootstraputil.BootstrapTokenSecretName(id), metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("token %q not found", id)
	}
	if err != nil {
		return fmt.Errorf("delete token: %w", err)
	}
	return nil
}
