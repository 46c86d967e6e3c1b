package packaging

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sandboxScript is a shell script that applies, in a new mount namespace
// inside the sandbox, the parts of a unit's hardening that shape what the
// process can reach, then execs its ExecStart: the capability bounding
// set, NoNewPrivileges, ProtectSystem=strict with ReadWritePaths,
// PrivateTmp, ProtectHome and ProtectKernelTunables, as systemd would.
// (The seccomp-based options are not emulated.)
func sandboxScript(t *testing.T, u unit) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("set -e\n")
	for _, p := range u.words("Service", "ReadWritePaths") {
		fmt.Fprintf(&b, "mount --bind %s %s\n", p, p)
	}
	if v, _ := u.get("Service", "PrivateTmp"); v == "yes" {
		b.WriteString("mount -t tmpfs tmpfs /tmp\nmount -t tmpfs tmpfs /var/tmp\n")
	}
	if v, _ := u.get("Service", "ProtectHome"); v == "yes" {
		b.WriteString("for d in /home /root /run/user; do if [ -d $d ]; then mount -t tmpfs -o ro tmpfs $d; fi; done\n")
	}
	if v, _ := u.get("Service", "ProtectKernelTunables"); v == "yes" {
		b.WriteString("mount --bind /proc/sys /proc/sys\nmount -o remount,bind,ro /proc/sys\n")
	}
	switch v, _ := u.get("Service", "ProtectSystem"); v {
	case "strict":
		b.WriteString("mount -o remount,bind,ro /\n")
	case "":
	default:
		t.Fatalf("ProtectSystem=%s: the emulation knows only strict", v)
	}
	setpriv := []string{"exec", "setpriv"}
	if v, _ := u.get("Service", "NoNewPrivileges"); v == "yes" {
		setpriv = append(setpriv, "--no-new-privs")
	}
	if caps, ok := u.get("Service", "CapabilityBoundingSet"); ok {
		set := "-all"
		for _, c := range strings.Fields(caps) {
			set += ",+" + strings.ToLower(strings.TrimPrefix(c, "CAP_"))
		}
		setpriv = append(setpriv, "--inh-caps", "-all", "--bounding-set", set)
	}
	exec, _ := u.get("Service", "ExecStart")
	b.WriteString(strings.Join(append(setpriv, exec), " ") + "\n")
	return b.String()
}

// component is a component started in the sandbox as its unit would.
type component struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func (c *component) running() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

func (c *component) output() string {
	b, _ := os.ReadFile(c.log)
	return string(b)
}

func (c *component) stop() {
	if !c.running() {
		return
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
}

// startUnit runs the unit's ExecStartPre lines (all "+": with full
// privileges) and then its ExecStart in the emulated sandbox.
func (s *sandbox) startUnit(t *testing.T, name string, u unit) *component {
	t.Helper()
	for _, pre := range u["Service"]["ExecStartPre"] {
		ignoreFailure := strings.Contains(strings.SplitN(pre, " ", 2)[0], "-")
		if out, err := s.run(strings.Fields(strings.TrimLeft(pre, "-+"))...); err != nil && !ignoreFailure {
			t.Fatalf("%s ExecStartPre=%s: %v\n%s", name, pre, err, out)
		}
	}
	c := &component{name: name, log: filepath.Join(t.TempDir(), name+".log"), done: make(chan struct{})}
	f, err := os.Create(c.log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c.cmd = s.command(context.Background(), "unshare", "--mount", "--propagation", "private", "--", "sh", "-c", sandboxScript(t, u))
	c.cmd.Stdout, c.cmd.Stderr = f, f
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.cmd.Wait(); close(c.done) }()
	t.Cleanup(func() {
		c.stop()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, c.output())
		}
	})
	return c
}

// waitFor polls cond every 200ms until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	for end := time.Now().Add(timeout); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// TestSandboxedUnitsRun installs the package in a sandbox (see
// TestInstallRemovePurge) and runs etcd, then the API server, scheduler,
// controller manager, DNS and proxy with their default configs under their
// units' hardening, emulated: each must come up and do its job (serve,
// take its leader lease, write iptables rules) without being denied
// anything.
func TestSandboxedUnitsRun(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("running the components in a sandbox needs root (mount and network namespaces, overlay, chroot); CI runs the tests as root")
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Fatalf("setpriv: %v (util-linux, on every Debian)", err)
	}
	deb := testDeb(t)
	units := readUnits(t)
	s := newSandbox(t, filepath.Dir(deb))
	s.mustRun("dpkg", "-i", "--force-depends", pkgDir+"/"+filepath.Base(deb))

	// etcd alone: the API server's embedded etcd takes the same ports.
	etcd := s.startUnit(t, "etcd", units["etcd"])
	if !waitFor(20*time.Second, func() bool { return strings.Contains(etcd.output(), "etcd serving") || !etcd.running() }) || !etcd.running() {
		t.Fatalf("skiff etcd did not come up under its unit's sandbox:\n%s", etcd.output())
	}
	etcd.stop()

	api := s.startUnit(t, "apiserver", units["apiserver"])
	kubectl := func(args ...string) (string, error) {
		return s.run(append([]string{BinaryPath, "kubectl", "--kubeconfig", "/var/lib/skiff/admin.kubeconfig"}, args...)...)
	}
	if !waitFor(30*time.Second, func() bool {
		out, err := kubectl("get", "--raw", "/readyz")
		return (err == nil && out == "ok") || !api.running()
	}) || !api.running() {
		t.Fatalf("skiff apiserver is not ready under its unit's sandbox:\n%s", api.output())
	}
	// What `skiff init` writes for the others (here all admin).
	admin, err := os.ReadFile(s.path("/var/lib/skiff/admin.kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	for _, kc := range []string{"scheduler", "controller-manager", "kubelet"} {
		if err := os.WriteFile(s.path("/etc/skiff/"+kc+".kubeconfig"), admin, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	sched := s.startUnit(t, "scheduler", units["scheduler"])
	cm := s.startUnit(t, "controller-manager", units["controller-manager"])
	dns := s.startUnit(t, "dns", units["dns"])
	// The proxy's unit is barely sandboxed; it must still write its
	// iptables rules (in the sandbox's network namespace).
	proxy := s.startUnit(t, "proxy", units["proxy"])
	leases := func() string {
		out, _ := kubectl("get", "lease", "-n", "kube-system", "-o", "name")
		return out
	}
	if !waitFor(30*time.Second, func() bool {
		l := leases()
		return strings.Contains(l, "lease.coordination.k8s.io/skiff-scheduler") &&
			strings.Contains(l, "lease.coordination.k8s.io/kube-controller-manager") || !sched.running() || !cm.running()
	}) {
		t.Errorf("leader leases after 30s: %q", leases())
	}
	if !waitFor(10*time.Second, func() bool { return strings.Contains(dns.output(), "cluster DNS serving") || !dns.running() }) {
		t.Errorf("skiff dns does not serve under its unit's sandbox:\n%s", dns.output())
	}
	if !waitFor(20*time.Second, func() bool {
		out, _ := s.run("iptables", "-w", "-t", "nat", "-S", "SKIFF-SERVICES")
		return strings.Contains(out, "SKIFF-SVC-") || !proxy.running() // the kubernetes Service's chain
	}) {
		out, _ := s.run("iptables", "-w", "-t", "nat", "-S")
		t.Errorf("skiff proxy wrote no Service rules under its unit's sandbox:\n%s", out)
	}
	// A few more seconds: nothing that runs later in a component (informer
	// resyncs, leader renewals) is denied either.
	time.Sleep(3 * time.Second)
	for _, c := range []*component{api, sched, cm, dns, proxy} {
		if !c.running() {
			t.Errorf("skiff %s exited under its unit's sandbox:\n%s", c.name, c.output())
		}
		for _, bad := range []string{"permission denied", "read-only file system", "operation not permitted"} {
			if strings.Contains(strings.ToLower(c.output()), bad) {
				t.Errorf("skiff %s: %q in its output:\n%s", c.name, bad, c.output())
			}
		}
	}
}
