package auth

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tokens.csv")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTokenFileAuthenticatesBearerTokens(t *testing.T) {
	tf, err := LoadTokenFile(writeFile(t, "# admins\nsecret1,alice,1,\"system:masters,devs\"\nsecret2,bob,2\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, header string
		user         string
		groups       []string
		ok, fails    bool
	}{
		{"a known token with groups", "Bearer secret1", "alice", []string{"system:masters", "devs", GroupAuthenticated}, true, false},
		{"a known token without groups", "Bearer secret2", "bob", []string{GroupAuthenticated}, true, false},
		{"an unknown token is an error", "Bearer nope", "", nil, false, true},
		{"no Authorization header is not this authenticator's", "", "", nil, false, false},
		{"basic auth is not this authenticator's", "Basic YTpi", "", nil, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/api", nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			u, ok, err := tf.Authenticate(r)
			if ok != tc.ok || (err != nil) != tc.fails {
				t.Fatalf("ok=%v err=%v, want ok=%v error=%v", ok, err, tc.ok, tc.fails)
			}
			if ok && (u.Name != tc.user || !slices.Equal(u.Groups, tc.groups)) {
				t.Errorf("user %+v, want %s %v", u, tc.user, tc.groups)
			}
		})
	}
}

func TestTokenFileErrorsNameTheFileAndLine(t *testing.T) {
	p := writeFile(t, "good,alice,1\nbad-line-without-user\n")
	_, err := LoadTokenFile(p)
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("error %v, want one naming %s and line 2", err, p)
	}
	if _, err := LoadTokenFile(filepath.Join(t.TempDir(), "missing.csv")); err == nil || !strings.Contains(err.Error(), "missing.csv") {
		t.Errorf("missing file: %v", err)
	}
}

func TestClientCertUsesCommonNameAndOrganizations(t *testing.T) {
	r := httptest.NewRequest("GET", "/api", nil)
	if _, ok, _ := (ClientCert{}).Authenticate(r); ok {
		t.Fatal("a request without TLS was authenticated")
	}
	cert := &x509.Certificate{Subject: pkix.Name{CommonName: "system:node:n1", Organization: []string{"system:nodes"}}}
	r.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{cert}}}
	u, ok, err := Union{NewTokens(nil), ClientCert{}}.Authenticate(r)
	if !ok || err != nil || u.Name != "system:node:n1" || !slices.Equal(u.Groups, []string{"system:nodes", GroupAuthenticated}) {
		t.Errorf("got %+v ok=%v err=%v", u, ok, err)
	}
}
