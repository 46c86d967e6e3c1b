// Package nodetest is the node-tier test harness: a real containerd (with
// its own root, state, socket and config in a temp dir), a real registry
// (Debian's docker-registry) on 127.0.0.1, and a busybox image built from
// Debian's busybox-static and pushed to it. Everything started is stopped
// and cleaned up when the test ends. The helpers skip the test when not
// run as root; as root they install missing Debian packages with apt-get.
package nodetest

import (
	"os"
	"os/exec"
	"testing"
)

// RequireRoot skips t unless the test runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("node-tier test: needs root (real containerd, runc, mounts); run `make test` as root")
	}
}

// ensureBinary makes path exist, installing pkg with apt-get if needed.
func ensureBinary(t testing.TB, path, pkg string) {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		return
	}
	installPackage(t, pkg)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s missing after installing %s: %v", path, pkg, err)
	}
}

func installPackage(t testing.TB, pkg string) {
	t.Helper()
	RequireRoot(t)
	cmd := exec.Command("apt-get", "install", "-y", "-qq", "--no-install-recommends", pkg)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		upd := exec.Command("apt-get", "update", "-qq")
		if o2, err := upd.CombinedOutput(); err != nil {
			t.Fatalf("apt-get update: %v\n%s", err, o2)
		}
		cmd = exec.Command("apt-get", "install", "-y", "-qq", "--no-install-recommends", pkg)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err = cmd.CombinedOutput(); err != nil {
			t.Fatalf("apt-get install %s: %v\n%s", pkg, err, out)
		}
	}
}
