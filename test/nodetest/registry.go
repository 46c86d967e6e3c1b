package nodetest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// StartRegistry starts Debian's docker-registry on 127.0.0.1 with a free
// port and a temp storage dir, and returns its address ("127.0.0.1:PORT").
// It speaks plain HTTP. The registry stops when the test ends.
func StartRegistry(t testing.TB) string {
	t.Helper()
	return startRegistry(t, "", "")
}

// StartAuthRegistry is StartRegistry with htpasswd authentication: every
// request, pulls included, needs HTTP basic auth as user and password.
func StartAuthRegistry(t testing.TB, user, password string) string {
	t.Helper()
	return startRegistry(t, user, password)
}

func startRegistry(t testing.TB, user, password string) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/docker-registry"); err != nil {
		RequireRoot(t)
		ensureBinary(t, "/usr/bin/docker-registry", "docker-registry")
		// The package starts a service on :5000; tests want none.
		_ = exec.Command("systemctl", "disable", "--now", "docker-registry").Run()
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	config := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
`, filepath.Join(dir, "data"), addr)
	if user != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		config += fmt.Sprintf("auth:\n  htpasswd:\n    realm: skiff-test\n    path: %s\n", htpasswd)
	}
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/usr/bin/docker-registry", "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	exited, err := StartPinned(cmd)
	if err != nil {
		logf.Close()
		t.Fatalf("start docker-registry: %v", err)
	}
	logf.Close()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(15 * time.Second)
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			// With auth, an unauthenticated /v2/ answers 401 once ready.
			if resp.StatusCode == http.StatusOK || (user != "" && resp.StatusCode == http.StatusUnauthorized) {
				return addr
			}
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(filepath.Join(dir, "registry.log"))
			t.Fatalf("docker-registry exited at start:\n%s", b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker-registry on %s not ready after 15s (last error %v)", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
