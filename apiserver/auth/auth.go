// Package auth authenticates API requests (client certificates, static
// bearer tokens, service-account and bootstrap tokens, anonymous) and
// decides whether a user may do what they ask. It is the one place where
// RBAC will plug in: an Authorizer, replacing BuiltinPolicy.
package auth

import (
	"context"
	"crypto/subtle"
	"encoding/csv"
	"fmt"
	"net/http"
	"os"
	"strings"
)

// User is an authenticated caller.
type User struct {
	Name   string
	UID    string
	Groups []string
}

// Well-known groups.
const (
	GroupAuthenticated = "system:authenticated"
	GroupMasters       = "system:masters"
)

// Authenticator identifies the caller of a request. ok is false when the
// request carries no credentials this authenticator understands; err is set
// when it carries credentials that are wrong.
type Authenticator interface {
	Authenticate(r *http.Request) (u *User, ok bool, err error)
}

// Union tries authenticators in order; the first that authenticates the
// request wins. When none does, the first error (if any) is returned.
type Union []Authenticator

// Authenticate implements Authenticator.
func (u Union) Authenticate(r *http.Request) (*User, bool, error) {
	var firstErr error
	for _, a := range u {
		user, ok, err := a.Authenticate(r)
		if ok && err == nil {
			return user, true, nil
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return nil, false, firstErr
}

// ClientCert authenticates requests by their verified TLS client
// certificate: CN is the user name, O entries are the groups. The TLS
// server must verify the chain against the client CA.
type ClientCert struct{}

// Authenticate implements Authenticator.
func (ClientCert) Authenticate(r *http.Request) (*User, bool, error) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return nil, false, nil
	}
	c := r.TLS.VerifiedChains[0][0]
	groups := append([]string{}, c.Subject.Organization...)
	return &User{Name: c.Subject.CommonName, Groups: append(groups, GroupAuthenticated)}, true, nil
}

// TokenFile authenticates "Authorization: Bearer <token>" against a static
// token file in upstream's CSV format: token,user,uid[,"group1,group2"].
type TokenFile struct {
	tokens map[string]*User
}

// LoadTokenFile reads a token file. Errors name the file and line.
func LoadTokenFile(path string) (*TokenFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	r.Comment = '#'
	records, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("token file %s: %w", path, err)
	}
	t := &TokenFile{tokens: map[string]*User{}}
	for i, rec := range records {
		if len(rec) < 3 || rec[0] == "" || rec[1] == "" {
			return nil, fmt.Errorf("token file %s: line %d: want token,user,uid[,groups]", path, i+1)
		}
		u := &User{Name: rec[1], UID: rec[2]}
		if len(rec) > 3 && rec[3] != "" {
			for _, g := range strings.Split(rec[3], ",") {
				if g = strings.TrimSpace(g); g != "" {
					u.Groups = append(u.Groups, g)
				}
			}
		}
		u.Groups = append(u.Groups, GroupAuthenticated)
		t.tokens[rec[0]] = u
	}
	return t, nil
}

// NewTokens returns a TokenFile authenticator over an in-memory map.
func NewTokens(tokens map[string]*User) *TokenFile { return &TokenFile{tokens: tokens} }

// Authenticate implements Authenticator.
func (t *TokenFile) Authenticate(r *http.Request) (*User, bool, error) {
	tok, ok := BearerToken(r)
	if !ok {
		return nil, false, nil
	}
	for k, u := range t.tokens {
		if subtle.ConstantTimeCompare([]byte(k), []byte(tok)) == 1 {
			return u, true, nil
		}
	}
	return nil, false, fmt.Errorf("invalid bearer token")
}

// Attributes describe what a request wants to do.
type Attributes struct {
	User        *User
	Verb        string
	Group       string
	Version     string
	Resource    string
	Subresource string
	Namespace   string
	Name        string
	// ResourceRequest is true for requests of API resources
	// (/api/v1/..., /apis/<group>/<version>/...), false for the others
	// (discovery, /healthz, /metrics), which have Path instead.
	ResourceRequest bool
	// Path is the URL path of a non-resource request.
	Path string
}

// Authorizer decides whether a request may proceed. RBAC implements this
// later; until then the server uses BuiltinPolicy.
type Authorizer interface {
	Authorize(ctx context.Context, a Attributes) (allowed bool, reason string, err error)
}

// AlwaysAllow allows every request (tests, tools).
type AlwaysAllow struct{}

// Authorize implements Authorizer.
func (AlwaysAllow) Authorize(context.Context, Attributes) (bool, string, error) { return true, "", nil }
