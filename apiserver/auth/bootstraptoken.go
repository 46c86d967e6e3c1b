package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	bootstraputil "k8s.io/cluster-bootstrap/token/util"
	bootstrapsecret "k8s.io/cluster-bootstrap/util/secrets"
	bootstraptokens "k8s.io/cluster-bootstrap/util/tokens"
)

// Well-known names of bootstrap-token users.
const (
	// GroupBootstrappers is the group of every bootstrap-token user.
	GroupBootstrappers = bootstrapapi.BootstrapDefaultGroup // "system:bootstrappers"
	// BootstrapUserPrefix starts a bootstrap-token user's name; the
	// token id follows.
	BootstrapUserPrefix = bootstrapapi.BootstrapUserPrefix // "system:bootstrap:"
)

// BootstrapTokens authenticates bootstrap tokens ("<id>.<secret>", id six
// and secret sixteen characters of [a-z0-9]) with upstream's semantics
// (k8s.io/cluster-bootstrap, "Authenticating with Bootstrap Tokens"): the
// token is valid while the Secret kube-system/bootstrap-token-<id> exists,
// is not being deleted, has type bootstrap.kubernetes.io/token, token-id
// <id>, token-secret <secret> (compared in constant time),
// usage-bootstrap-authentication "true", and an expiration (RFC 3339) in
// the future or none at all; an expiration that does not parse counts as
// past. The user is system:bootstrap:<id>, in the groups
// system:bootstrappers, the auth-extra-groups (comma-separated) that are
// valid bootstrap group names (system:bootstrappers:[a-z0-9:-]*[a-z0-9]),
// and system:authenticated.
//
// Bearer tokens of another shape are not its business (ok false, no
// error). A bootstrap-shaped token that fails any check is an error.
type BootstrapTokens struct {
	// Secret returns the Secret kube-system/<name>, or false when there
	// is none; ctx is the request's. It is called for every request
	// carrying a bootstrap-shaped token, so it must not cost a round trip
	// to the data store; the returned Secret is only read. A Secret it
	// stops returning (deleted) stops authenticating from that request on.
	Secret func(ctx context.Context, name string) (*corev1.Secret, bool)
	// Clock returns the time expirations are compared with; nil means
	// time.Now.
	Clock func() time.Time
}

// Authenticate implements Authenticator.
func (b *BootstrapTokens) Authenticate(r *http.Request) (*User, bool, error) {
	tok, ok := BearerToken(r)
	if !ok {
		return nil, false, nil
	}
	id, secret, err := bootstraptokens.ParseToken(tok)
	if err != nil {
		return nil, false, nil
	}
	now := time.Now
	if b.Clock != nil {
		now = b.Clock
	}
	lookup := func(name string) (*corev1.Secret, bool) { return b.Secret(r.Context(), name) }
	u, err := checkBootstrapToken(lookup, id, secret, now())
	if err != nil {
		return nil, false, err
	}
	return u, true, nil
}

// checkBootstrapToken is the decision: whether the Secret that lookup
// finds for id makes id.secret a valid token at now, and whose.
// Its errors name the token id and the Secret, never the token secret.
func checkBootstrapToken(lookup func(string) (*corev1.Secret, bool), id, secret string, now time.Time) (*User, error) {
	name := bootstraputil.BootstrapTokenSecretName(id)
	fail := func(why string) (*User, error) {
		return nil, fmt.Errorf("bootstrap token %s: secret %s/%s %s", id, "kube-system", name, why)
	}
	s, ok := lookup(name)
	if !ok || s == nil {
		return fail("not found")
	}
	if s.DeletionTimestamp != nil {
		return fail("is being deleted")
	}
	if s.Type != bootstrapapi.SecretTypeBootstrapToken || s.Data == nil {
		return fail("is not of type " + string(bootstrapapi.SecretTypeBootstrapToken))
	}
	if subtle.ConstantTimeCompare(s.Data[bootstrapapi.BootstrapTokenSecretKey], []byte(secret)) != 1 {
		return fail("has another " + bootstrapapi.BootstrapTokenSecretKey)
	}
	if string(s.Data[bootstrapapi.BootstrapTokenIDKey]) != id {
		return fail("has another " + bootstrapapi.BootstrapTokenIDKey)
	}
	if bootstrapsecret.HasExpired(s, now) {
		return fail("has expired (" + bootstrapapi.BootstrapTokenExpirationKey + " " + string(s.Data[bootstrapapi.BootstrapTokenExpirationKey]) + ")")
	}
	if string(s.Data[bootstrapapi.BootstrapTokenUsageAuthentication]) != "true" {
		return fail("does not allow authentication (" + bootstrapapi.BootstrapTokenUsageAuthentication + " is not \"true\")")
	}
	return &User{Name: BootstrapUserPrefix + id, Groups: append(bootstrapGroups(s), GroupAuthenticated)}, nil
}

// bootstrapGroups is system:bootstrappers and the valid auth-extra-groups,
// sorted and without duplicates. Upstream refuses a token whose extra
// groups include an invalid name; here such names are ignored.
func bootstrapGroups(s *corev1.Secret) []string {
	groups := []string{GroupBootstrappers}
	extra := string(s.Data[bootstrapapi.BootstrapTokenExtraGroupsKey])
	for _, g := range strings.Split(extra, ",") {
		if bootstraputil.ValidateBootstrapGroupName(g) == nil {
			groups = append(groups, g)
		}
	}
	slices.Sort(groups)
	return slices.Compact(groups)
}

// BearerToken returns the token of an "Authorization: Bearer <token>"
// header (the scheme in any case), as upstream reads it; ok is false when
// there is none or it is empty.
func BearerToken(r *http.Request) (token string, ok bool) {
	scheme, rest, found := strings.Cut(r.Header.Get("Authorization"), " ")
	if !found || !strings.EqualFold(scheme, "bearer") {
		return "", false
	}
	token, _, _ = strings.Cut(strings.TrimLeft(rest, " "), " ")
	return token, token != ""
}

// Anonymous identities.
const (
	UserAnonymous        = "system:anonymous"
	GroupUnauthenticated = "system:unauthenticated"
)

// AnonymousUser is who a request without credentials runs as.
func AnonymousUser() *User {
	return &User{Name: UserAnonymous, Groups: []string{GroupUnauthenticated}}
}

// errInvalidBearerToken is upstream's answer to a bearer token no
// authenticator recognises.
var errInvalidBearerToken = errors.New("invalid bearer token")

// WithAnonymous is upstream's anonymous authentication (kube-apiserver
// --anonymous-auth): a request the wrapped authenticator identifies is its
// user; a request with credentials that are wrong, or with a bearer token
// no one recognises, is an error (401); a request with no credentials at
// all is AnonymousUser, and authorization decides what it may do.
type WithAnonymous struct{ Authenticator }

// Authenticate implements Authenticator.
func (a WithAnonymous) Authenticate(r *http.Request) (*User, bool, error) {
	u, ok, err := a.Authenticator.Authenticate(r)
	switch {
	case err != nil:
		return nil, false, err
	case ok:
		return u, true, nil
	}
	if _, has := BearerToken(r); has {
		return nil, false, errInvalidBearerToken
	}
	return AnonymousUser(), true, nil
}
