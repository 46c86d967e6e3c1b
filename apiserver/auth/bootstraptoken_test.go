package auth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	testTokenID     = "abcdef"
	testTokenSecret = "0123456789abcdef"
	testToken       = testTokenID + "." + testTokenSecret
)

var testNow = time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)

// tokenSecret is a valid bootstrap-token Secret for testToken; edit
// changes it.
func tokenSecret(edit func(*corev1.Secret)) *corev1.Secret {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "bootstrap-token-" + testTokenID, Namespace: "kube-system"},
		Type:       "bootstrap.kubernetes.io/token",
		Data: map[string][]byte{
			"token-id":                       []byte(testTokenID),
			"token-secret":                   []byte(testTokenSecret),
			"usage-bootstrap-authentication": []byte("true"),
			"usage-bootstrap-signing":        []byte("true"),
		},
	}
	if edit != nil {
		edit(s)
	}
	return s
}

// bootstrapAuth serves secrets by name, at a clock the test moves.
type bootstrapAuth struct {
	secrets map[string]*corev1.Secret
	now     time.Time
	lookups int
}

func (b *bootstrapAuth) authenticator() *BootstrapTokens {
	return &BootstrapTokens{
		Secret: func(_ context.Context, name string) (*corev1.Secret, bool) {
			b.lookups++
			s, ok := b.secrets[name]
			return s, ok
		},
		Clock: func() time.Time { return b.now },
	}
}

func withSecret(s *corev1.Secret) *bootstrapAuth {
	return &bootstrapAuth{secrets: map[string]*corev1.Secret{s.Name: s}, now: testNow}
}

func bearer(header string) *http.Request {
	r := httptest.NewRequest("GET", "/api", nil)
	if header != "" {
		r.Header.Set("Authorization", header)
	}
	return r
}

func TestBootstrapTokenAuthenticatesWhileTheSecretAllowsIt(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(*corev1.Secret)
		header string
		groups []string
		fails  bool
	}{
		{name: "a token matching its secret is system:bootstrap:<id> in system:bootstrappers",
			groups: []string{GroupBootstrappers, GroupAuthenticated}},
		{name: "the scheme may be written in any case", header: "bearer " + testToken,
			groups: []string{GroupBootstrappers, GroupAuthenticated}},
		{name: "an expiration in the future is fine",
			edit:   func(s *corev1.Secret) { s.Data["expiration"] = []byte(testNow.Add(time.Minute).Format(time.RFC3339)) },
			groups: []string{GroupBootstrappers, GroupAuthenticated}},
		{name: "valid extra groups are added, sorted, without duplicates; others are ignored",
			edit: func(s *corev1.Secret) {
				s.Data["auth-extra-groups"] = []byte("system:bootstrappers:kubeadm:default-node-token,system:masters,system:bootstrappers:b,system:bootstrappers,system:bootstrappers:b,system:bootstrappers:UPPER")
			},
			groups: []string{GroupBootstrappers, "system:bootstrappers:b", "system:bootstrappers:kubeadm:default-node-token", GroupAuthenticated}},
		{name: "a wrong secret fails", header: "Bearer " + testTokenID + ".ffffffffffffffff", fails: true},
		{name: "an unknown id fails", header: "Bearer zzzzzz." + testTokenSecret, fails: true},
		{name: "an expiration just reached fails",
			edit:  func(s *corev1.Secret) { s.Data["expiration"] = []byte(testNow.Format(time.RFC3339)) },
			fails: true},
		{name: "an expiration that does not parse fails",
			edit:  func(s *corev1.Secret) { s.Data["expiration"] = []byte("tomorrow") },
			fails: true},
		{name: "a secret without usage-bootstrap-authentication fails",
			edit:  func(s *corev1.Secret) { delete(s.Data, "usage-bootstrap-authentication") },
			fails: true},
		{name: "usage-bootstrap-authentication other than true fails",
			edit:  func(s *corev1.Secret) { s.Data["usage-bootstrap-authentication"] = []byte("yes") },
			fails: true},
		{name: "a secret of another type fails",
			edit:  func(s *corev1.Secret) { s.Type = corev1.SecretTypeOpaque },
			fails: true},
		{name: "a secret naming another token id fails",
			edit:  func(s *corev1.Secret) { s.Data["token-id"] = []byte("zzzzzz") },
			fails: true},
		{name: "a secret being deleted fails",
			edit:  func(s *corev1.Secret) { s.DeletionTimestamp = &metav1.Time{Time: testNow} },
			fails: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := withSecret(tokenSecret(tc.edit))
			header := tc.header
			if header == "" {
				header = "Bearer " + testToken
			}
			u, ok, err := b.authenticator().Authenticate(bearer(header))
			if tc.fails {
				if ok || err == nil {
					t.Fatalf("got %+v ok=%v err=%v, want an error", u, ok, err)
				}
				if strings.Contains(err.Error(), testTokenSecret) {
					t.Errorf("error %q reveals the token secret", err)
				}
				return
			}
			if !ok || err != nil {
				t.Fatalf("ok=%v err=%v, want user", ok, err)
			}
			if u.Name != "system:bootstrap:"+testTokenID || u.UID != "" || !slices.Equal(u.Groups, tc.groups) {
				t.Errorf("user %+v, want system:bootstrap:%s with groups %v", u, testTokenID, tc.groups)
			}
		})
	}
}

func TestBootstrapTokenLeavesOtherCredentialsAlone(t *testing.T) {
	for _, header := range []string{
		"",
		"Basic YTpi",
		"Bearer ",
		"Bearer some-static-token",
		"Bearer header.payload.signature",
		"Bearer ABCDEF.0123456789ABCDEF", // upper case is not a bootstrap token
		"Bearer abcdef.0123456789abcde",  // secret one short
		"Bearer abcdefg.0123456789abcdef",
	} {
		b := withSecret(tokenSecret(nil))
		u, ok, err := b.authenticator().Authenticate(bearer(header))
		if ok || err != nil || u != nil {
			t.Errorf("%q: got %+v ok=%v err=%v, want not this authenticator's", header, u, ok, err)
		}
		if b.lookups != 0 {
			t.Errorf("%q: %d secret lookups, want none", header, b.lookups)
		}
	}
}

func TestBootstrapTokenExpiresWithTheClock(t *testing.T) {
	exp := testNow.Add(time.Hour)
	b := withSecret(tokenSecret(func(s *corev1.Secret) { s.Data["expiration"] = []byte(exp.Format(time.RFC3339)) }))
	a := b.authenticator()
	for _, tc := range []struct {
		at   time.Time
		want bool
	}{
		{testNow, true},
		{exp.Add(-time.Second), true},
		{exp, false},
		{exp.Add(time.Second), false},
	} {
		b.now = tc.at
		_, ok, err := a.Authenticate(bearer("Bearer " + testToken))
		if ok != tc.want || (err == nil) != tc.want {
			t.Errorf("at %s (expiry %s): ok=%v err=%v, want ok=%v", tc.at.Format(time.RFC3339), exp.Format(time.RFC3339), ok, err, tc.want)
		}
	}
	// Deleting the secret ends the token at once: nothing is remembered.
	b.now = testNow
	delete(b.secrets, "bootstrap-token-"+testTokenID)
	if _, ok, err := a.Authenticate(bearer("Bearer " + testToken)); ok || err == nil {
		t.Errorf("after the secret is gone: ok=%v err=%v, want an error", ok, err)
	}
}

func TestWithAnonymous(t *testing.T) {
	admin := NewTokens(map[string]*User{"admin-token": {Name: "admin", Groups: []string{GroupMasters, GroupAuthenticated}}})
	b := withSecret(tokenSecret(nil))
	a := WithAnonymous{Union{ClientCert{}, b.authenticator()}}
	withTokenFile := WithAnonymous{Union{ClientCert{}, b.authenticator(), admin}}
	for _, tc := range []struct {
		name   string
		a      Authenticator
		header string
		user   string
		fails  bool
	}{
		{"no credentials is system:anonymous", a, "", UserAnonymous, false},
		{"a scheme nobody reads is system:anonymous", a, "Basic YTpi", UserAnonymous, false},
		{"an empty bearer token is system:anonymous", a, "Bearer ", UserAnonymous, false},
		{"a bearer token nobody recognises fails", a, "Bearer not-a-token", "", true},
		{"a bootstrap token that is wrong fails", a, "Bearer abcdef.ffffffffffffffff", "", true},
		{"a bootstrap token that is right is its user", a, "Bearer " + testToken, "system:bootstrap:abcdef", false},
		{"a static token next to bootstrap tokens", withTokenFile, "Bearer admin-token", "admin", false},
		{"a wrong token with a token file fails", withTokenFile, "Bearer nope", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, ok, err := tc.a.Authenticate(bearer(tc.header))
			if tc.fails {
				if ok || err == nil {
					t.Fatalf("got %+v ok=%v err=%v, want an error", u, ok, err)
				}
				return
			}
			if !ok || err != nil || u.Name != tc.user {
				t.Fatalf("got %+v ok=%v err=%v, want %s", u, ok, err, tc.user)
			}
			if u.Name == UserAnonymous && !slices.Equal(u.Groups, []string{GroupUnauthenticated}) {
				t.Errorf("anonymous groups %v, want [%s]", u.Groups, GroupUnauthenticated)
			}
		})
	}
}
