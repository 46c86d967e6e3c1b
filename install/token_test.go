package install

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffk8s/skiff/apiserver/apitest"
	"github.com/skiffk8s/skiff/apiserver/pki"
)

func TestParseToken(t *testing.T) {
	tok, err := ParseToken("abcdef.0123456789abcdef")
	if err != nil || tok.ID != "abcdef" || tok.Secret != "0123456789abcdef" || tok.String() != "abcdef.0123456789abcdef" {
		t.Errorf("ParseToken = %+v, %v", tok, err)
	}
	for _, bad := range []string{"", "abcdef", "ABCDEF.0123456789abcdef", "abcde.0123456789abcdef", "abcdef.0123456789abcde", "abcdef:0123456789abcdef"} {
		_, err := ParseToken(bad)
		if err == nil {
			t.Errorf("ParseToken(%q) accepted", bad)
			continue
		}
		if strings.Contains(err.Error(), "0123456789") {
			t.Errorf("ParseToken(%q) error shows the secret: %v", bad, err)
		}
	}
	g, err := GenerateToken()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseToken(g.String()); err != nil {
		t.Errorf("a generated token does not parse: %v", err)
	}
	if g2, _ := GenerateToken(); g2 == g {
		t.Error("two generated tokens are equal")
	}
}

// TestCAHash checks the pin against the openssl pipeline kubeadm's docs
// give for computing it by hand.
func TestCAHash(t *testing.T) {
	dir := t.TempDir()
	b, err := pki.LoadOrCreate(pki.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	got := CAHash(b.CA)
	out, err := exec.Command("sh", "-c", "openssl x509 -pubkey -noout -in "+filepath.Join(dir, pki.CACertFile)+
		" | openssl pkey -pubin -outform der | openssl dgst -sha256 -hex | sed 's/^.* //'").Output()
	if err != nil {
		t.Fatalf("openssl: %v", err)
	}
	if want := "sha256:" + strings.TrimSpace(string(out)); got != want {
		t.Errorf("CAHash = %s, openssl says %s", got, want)
	}
	if h, err := CAHashPEM(b.CAPEM); err != nil || h != got {
		t.Errorf("CAHashPEM = %s, %v", h, err)
	}
	if p, err := ParseCAHash(strings.ToUpper(got[7:])); err == nil {
		t.Errorf("a pin without sha256: parsed as %s", p)
	}
	if p, err := ParseCAHash("SHA256:" + strings.ToUpper(got[7:])); err != nil || p != got {
		t.Errorf("ParseCAHash of an upper-case pin = %s, %v", p, err)
	}
	if _, err := ParseCAHash("sha256:abc"); err == nil || !strings.Contains(err.Error(), "64 hex digits") {
		t.Errorf("short pin: %v", err)
	}
	cmd, err := JoinCommand("https://10.0.0.1:6443", Token{ID: "abcdef", Secret: "0123456789abcdef"}, b.CAPEM)
	if want := "skiff join --server https://10.0.0.1:6443 --token abcdef.0123456789abcdef --ca-cert-hash " + got; err != nil || cmd != want {
		t.Errorf("JoinCommand = %q, %v; want %q", cmd, err, want)
	}
}

// TestTokens stores, lists and deletes tokens on a real API server, in
// upstream's Secret format.
func TestTokens(t *testing.T) {
	srv := apitest.Start(t)
	ctx := context.Background()
	now := time.Now()
	a := Token{ID: "aaaaaa", Secret: "0123456789abcdef"}
	b := Token{ID: "bbbbbb", Secret: "fedcba9876543210"}
	if err := CreateToken(ctx, srv.Client, a, time.Hour, "for w1", now); err != nil {
		t.Fatal(err)
	}
	if err := CreateToken(ctx, srv.Client, b, 0, "", now); err != nil {
		t.Fatal(err)
	}
	s, err := srv.Client.CoreV1().Secrets("kube-system").Get(ctx, "bootstrap-token-aaaaaa", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Type != "bootstrap.kubernetes.io/token" || string(s.Data["token-secret"]) != a.Secret || string(s.Data["usage-bootstrap-authentication"]) != "true" ||
		string(s.Data["usage-bootstrap-signing"]) != "true" || string(s.Data["auth-extra-groups"]) != DefaultNodeGroup ||
		string(s.Data["expiration"]) != now.Add(time.Hour).UTC().Format(time.RFC3339) {
		t.Errorf("token secret: type %s data %q", s.Type, s.Data)
	}
	if err := CreateToken(ctx, srv.Client, a, time.Hour, "", now); err == nil || !strings.Contains(err.Error(), `"aaaaaa" exists already`) {
		t.Errorf("second token with the same ID: %v", err)
	}
	list, err := ListTokens(ctx, srv.Client)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != "aaaaaa" || list[0].Description != "for w1" || list[0].Expires.IsZero() ||
		strings.Join(list[0].Usages, ",") != "authentication,signing" || list[1].ID != "bbbbbb" || !list[1].Expires.IsZero() {
		t.Errorf("ListTokens = %+v", list)
	}
	if err := DeleteToken(ctx, srv.Client, a.String()); err != nil {
		t.Fatal(err)
	}
	if err := DeleteToken(ctx, srv.Client, "aaaaaa"); err == nil || !strings.Contains(err.Error(), `token "aaaaaa" not found`) {
		t.Errorf("deleting a deleted token: %v", err)
	}
	if err := DeleteToken(ctx, srv.Client, "nope!"); err == nil || !strings.Contains(err.Error(), "is not of the form") {
		t.Errorf("deleting a malformed ID: %v", err)
	}
	if list, _ := ListTokens(ctx, srv.Client); len(list) != 1 || list[0].ID != "bbbbbb" {
		t.Errorf("after delete: %+v", list)
	}
}
