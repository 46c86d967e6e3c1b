package e2e

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestUpQuickStart is the README's quick start on the real `skiff up`
// process: kubectl create deployment with 3 replicas and kubectl expose
// give three running pods behind a Service that a client pod reaches by
// name, answered by all three.
func TestUpQuickStart(t *testing.T) {
	u := startUp(t)
	run := func(args ...string) string {
		t.Helper()
		out, err := u.kubectl(args...)
		if err != nil {
			u.fail(t, "kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	// The default service account comes a moment after the API server.
	deadline := time.Now().Add(time.Minute)
	for {
		out, err := u.kubectl("get", "serviceaccount", "default")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			u.fail(t, "no default service account: %s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	run("create", "deployment", "web", "--image="+busyboxRef, "--replicas=3", "--port=80", "--",
		"sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www")
	run("expose", "deployment", "web", "--port=80")
	run("rollout", "status", "deployment/web", "--timeout=2m")
	run("run", "client", "--image="+busyboxRef, "--image-pull-policy=Never", "--", "sleep", "3600")
	run("wait", "--for=condition=Ready", "pod/client", "--timeout=2m")
	seen := map[string]bool{}
	for range 30 {
		out, _ := u.kubectl("exec", "client", "--", "sh", "-c", `printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 5 web 80 | tail -n 1`)
		if name := strings.TrimSpace(out); regexp.MustCompile(`^web-`).MatchString(name) {
			seen[name] = true
		}
	}
	if len(seen) != 3 {
		t.Errorf("30 requests to the web Service from a pod reached %v, want all 3 pods", seen)
	}
}
