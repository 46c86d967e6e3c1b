package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ServiceAccountTokens issues and verifies service-account tokens: JWTs
// signed (ES256) with the cluster's service-account key, with upstream's
// claims, so in-cluster clients and TokenRequest users get what they get
// from kube-apiserver.
type ServiceAccountTokens struct {
	// Key signs tokens; its public half verifies them. Must be ECDSA P-256.
	Key crypto.Signer
	// Issuer is the iss claim and the default audience, e.g.
	// "https://kubernetes.default.svc.cluster.local".
	Issuer string
	// Clock returns the time; nil means time.Now.
	Clock func() time.Time
	// Valid, when set, checks that what the token names still exists
	// (the service account, and the bound pod or secret, with the same
	// UIDs). A token whose objects are gone is rejected.
	Valid func(ctx context.Context, c *KubernetesClaims) error
}

// ObjectRef names an object a token refers to.
type ObjectRef struct {
	Name string `json:"name"`
	UID  string `json:"uid"`
}

// KubernetesClaims is the "kubernetes.io" claim of a service-account token.
type KubernetesClaims struct {
	Namespace      string     `json:"namespace"`
	ServiceAccount ObjectRef  `json:"serviceaccount"`
	Pod            *ObjectRef `json:"pod,omitempty"`
	Secret         *ObjectRef `json:"secret,omitempty"`
	Node           *ObjectRef `json:"node,omitempty"`
}

type saClaims struct {
	jwt.RegisteredClaims
	Kubernetes *KubernetesClaims `json:"kubernetes.io,omitempty"`
}

func (t *ServiceAccountTokens) now() time.Time {
	if t.Clock != nil {
		return t.Clock()
	}
	return time.Now()
}

// Issue returns a token for kc valid for ttl, for the given audiences (the
// issuer when empty), and its expiry.
func (t *ServiceAccountTokens) Issue(kc KubernetesClaims, audiences []string, ttl time.Duration) (string, time.Time, error) {
	if len(audiences) == 0 {
		audiences = []string{t.Issuer}
	}
	now := t.now()
	exp := now.Add(ttl)
	claims := saClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    t.Issuer,
			Subject:   "system:serviceaccount:" + kc.Namespace + ":" + kc.ServiceAccount.Name,
			Audience:  audiences,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
		},
		Kubernetes: &kc,
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	s, err := tok.SignedString(t.Key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign service-account token: %w", err)
	}
	return s, exp, nil
}

// Authenticate implements Authenticator for bearer tokens this issuer
// signed. Tokens of other issuers are not its business (ok false, no
// error).
func (t *ServiceAccountTokens) Authenticate(r *http.Request) (*User, bool, error) {
	raw, ok := BearerToken(r)
	if !ok {
		return nil, false, nil
	}
	if strings.Count(raw, ".") != 2 {
		return nil, false, nil
	}
	pub, ok := t.Key.Public().(*ecdsa.PublicKey)
	if !ok {
		return nil, false, errors.New("service-account key is not ECDSA")
	}
	var claims saClaims
	_, err := jwt.ParseWithClaims(raw, &claims, func(*jwt.Token) (any, error) { return pub, nil },
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithIssuer(t.Issuer), jwt.WithAudience(t.Issuer),
		jwt.WithTimeFunc(t.now), jwt.WithExpirationRequired())
	if err != nil {
		if claims.Issuer != "" && claims.Issuer != t.Issuer {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("invalid service-account token: %w", err)
	}
	kc := claims.Kubernetes
	if kc == nil || kc.Namespace == "" || kc.ServiceAccount.Name == "" {
		return nil, false, errors.New("invalid service-account token: no kubernetes.io claims")
	}
	if t.Valid != nil {
		if err := t.Valid(r.Context(), kc); err != nil {
			return nil, false, fmt.Errorf("invalid service-account token: %w", err)
		}
	}
	return &User{
		Name:   "system:serviceaccount:" + kc.Namespace + ":" + kc.ServiceAccount.Name,
		UID:    kc.ServiceAccount.UID,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + kc.Namespace, GroupAuthenticated},
	}, true, nil
}
