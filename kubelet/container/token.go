package container

import (
	"context"
	"fmt"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// defaultTokenExpiration is a projected token's life when the volume
// does not say (the API server's default for serviceAccountToken).
const defaultTokenExpiration int64 = 3600

// tokenRefreshFraction of a token's life passes before it is replaced,
// as upstream's kubelet token manager.
const tokenRefreshFraction = 0.8

// tokenKey names one projected token of a pod.
type tokenKey struct {
	uid       types.UID
	account   string
	audience  string
	expiresIn int64
}

type cachedToken struct {
	token   string
	issued  time.Time
	expires time.Time
}

// tokenCache keeps the tokens requested for pods' serviceAccountToken
// projections so a Sync only asks for a new one when 80% of the old
// one's life has passed. It is in memory: a restarted kubelet requests
// fresh tokens.
type tokenCache struct {
	mu     sync.Mutex
	tokens map[tokenKey]cachedToken // guarded by mu
}

// forget drops a pod's tokens.
func (c *tokenCache) forget(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.tokens {
		if k.uid == uid {
			delete(c.tokens, k)
		}
	}
}

// serviceAccountToken returns the token of a serviceAccountToken
// projection: a TokenRequest for the pod's service account, bound to the
// pod, with the projection's audience and expiration.
func (v *Volumes) serviceAccountToken(ctx context.Context, pod *corev1.Pod, p *corev1.ServiceAccountTokenProjection) (string, error) {
	account := pod.Spec.ServiceAccountName
	if account == "" {
		account = "default"
	}
	exp := defaultTokenExpiration
	if p.ExpirationSeconds != nil {
		exp = *p.ExpirationSeconds
	}
	key := tokenKey{uid: pod.UID, account: account, audience: p.Audience, expiresIn: exp}
	now := v.now()
	v.tokens.mu.Lock()
	t, ok := v.tokens.tokens[key]
	v.tokens.mu.Unlock()
	if ok && now.Before(t.issued.Add(time.Duration(float64(t.expires.Sub(t.issued))*tokenRefreshFraction))) {
		return t.token, nil
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: &exp,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	if p.Audience != "" {
		req.Spec.Audiences = []string{p.Audience}
	}
	tr, err := v.Client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, account, req, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("failed to fetch token: %w", err)
	}
	if tr.Status.Token == "" {
		return "", fmt.Errorf("failed to fetch token: the API server returned an empty token for service account %q", account)
	}
	t = cachedToken{token: tr.Status.Token, issued: now, expires: tr.Status.ExpirationTimestamp.Time}
	if !t.expires.After(now) {
		t.expires = now.Add(time.Duration(exp) * time.Second)
	}
	v.tokens.mu.Lock()
	if v.tokens.tokens == nil {
		v.tokens.tokens = map[tokenKey]cachedToken{}
	}
	v.tokens.tokens[key] = t
	v.tokens.mu.Unlock()
	return t.token, nil
}
