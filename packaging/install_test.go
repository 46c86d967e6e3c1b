package packaging

import (
	"bufio"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sandbox is a copy-on-write view of the host's root file system: an
// overlay whose lower layer is / and whose upper layer is a tmpfs, mounted
// in a private mount namespace, with a network namespace of its own (only
// a loopback), both held open by a sleeping process. Commands run chrooted
// into it (through nsenter); the test reads it through /proc/<pid>/root.
// Nothing written there reaches the host: the tmpfs and the mounts vanish
// with the namespace, and no port or address is shared with the host.
type sandbox struct {
	t      *testing.T
	holder *exec.Cmd
	merged string // the overlay's mount point, inside the namespace
}

// pkgDir is where the package's directory is bind-mounted in the sandbox.
const pkgDir = "/skiff-pkg"

func newSandbox(t *testing.T, debDir string) *sandbox {
	t.Helper()
	for _, tool := range []string{"unshare", "nsenter", "chroot", "mount", "dpkg", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s: %v (the test machines are Debian and have it)", tool, err)
		}
	}
	dir := t.TempDir()
	up, merged := filepath.Join(dir, "upper"), filepath.Join(dir, "merged")
	for _, d := range []string{up, merged} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The mount points inside merged (/dev, /proc) exist in the lower
	// layer; pkgDir is made in the upper one.
	script := `set -e
ip link set lo up
mount -t tmpfs -o mode=0755 skiff-upper "$UP"
mkdir "$UP/upper" "$UP/work"
mount -t overlay -o lowerdir=/,upperdir="$UP/upper",workdir="$UP/work" skiff-root "$MERGED"
mount --rbind /dev "$MERGED/dev"
mount -t proc proc "$MERGED/proc"
mkdir "$MERGED` + pkgDir + `"
mount --bind -o ro "$DEBDIR" "$MERGED` + pkgDir + `"
echo ready
exec sleep 300`
	holder := exec.Command("unshare", "--mount", "--propagation", "private", "--net", "--", "sh", "-c", script)
	holder.Env = append(os.Environ(), "UP="+up, "MERGED="+merged, "DEBDIR="+debDir)
	holder.Stderr = os.Stderr
	stdout, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	s := &sandbox{t: t, holder: holder, merged: merged}
	t.Cleanup(func() {
		holder.Process.Kill()
		holder.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		t.Fatalf("setting up the overlay: %q, %v", line, err)
	}
	return s
}

// path is p (absolute, inside the sandbox) as the test can open it.
func (s *sandbox) path(p string) string {
	return filepath.Join("/proc", strconv.Itoa(s.holder.Process.Pid), "root", s.merged, p)
}

// command is a command chrooted into the sandbox, with a clean
// environment and no systemd (none runs on the test machines; /run is the
// root file system's, without /run/systemd/system). nsenter and chroot
// exec, so the command's process is the one started.
func (s *sandbox) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"--target", strconv.Itoa(s.holder.Process.Pid), "--mount", "--net", "--",
		"chroot", s.merged}, args...)...)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C", "HOME=/root"}
	return cmd
}

// run runs a command in the sandbox and returns its output.
func (s *sandbox) run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := s.command(ctx, args...).CombinedOutput()
	return string(out), err
}

func (s *sandbox) mustRun(args ...string) string {
	s.t.Helper()
	out, err := s.run(args...)
	if err != nil {
		s.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// mode is the type and permission bits of p in the sandbox, or 0 if p is
// missing.
func (s *sandbox) mode(p string) fs.FileMode {
	s.t.Helper()
	fi, err := os.Lstat(s.path(p))
	if errors.Is(err, fs.ErrNotExist) {
		return 0
	}
	if err != nil {
		s.t.Fatal(err)
	}
	return fi.Mode() & (fs.ModeType | fs.ModePerm)
}

func (s *sandbox) wantMode(p string, want fs.FileMode) {
	s.t.Helper()
	if got := s.mode(p); got != want {
		if want == 0 {
			s.t.Errorf("%s is still there (%v)", p, got)
		} else {
			s.t.Errorf("%s: mode %v, want %v", p, got, want)
		}
	}
}

// enabledSkiffUnits lists skiff unit symlinks under /etc/systemd/system.
func (s *sandbox) enabledSkiffUnits() []string {
	var found []string
	filepath.WalkDir(s.path("/etc/systemd/system"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), "skiff") {
			found = append(found, p)
		}
		return nil
	})
	return found
}

func (s *sandbox) status() string {
	out, err := s.run("dpkg-query", "-W", "-f", "${Status}", Name)
	if err != nil {
		return "" // dpkg knows no such package
	}
	return strings.TrimSpace(out)
}

// hostState is what the test must leave on the host as it found it.
func hostState() map[string]bool {
	st := map[string]bool{}
	paths := []string{BinaryPath, ConfigDir, "/var/lib/skiff", "/var/log/pods"}
	for _, c := range Components {
		paths = append(paths, UnitPath(c))
	}
	for _, p := range paths {
		_, err := os.Lstat(p)
		st[p] = err == nil
	}
	out, _ := exec.Command("dpkg-query", "-W", "-f", "${Status}", Name).Output()
	st["dpkg status "+string(out)] = true
	return st
}

// TestInstallRemovePurge installs the package with dpkg in a throwaway
// copy of this machine (see sandbox), reinstalls it, removes it and purges
// it, checking files, modes, that no unit got enabled, and that the host
// did not change.
func TestInstallRemovePurge(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("installing the package needs root (mount namespace, overlay, chroot); CI runs the tests as root")
	}
	deb := testDeb(t)
	before := hostState()
	defer func() {
		after := hostState()
		for k, v := range before {
			if after[k] != v {
				t.Errorf("the host changed: %s existed %v before the test, %v after", k, v, after[k])
			}
		}
	}()
	s := newSandbox(t, filepath.Dir(deb))
	inSandbox := pkgDir + "/" + filepath.Base(deb)

	// Install. Depends are forced: the point is the package, not whether
	// this machine has containerd.
	start := time.Now()
	s.mustRun("dpkg", "-i", "--force-depends", inSandbox)
	t.Logf("dpkg -i: %v", time.Since(start))
	if st := s.status(); st != "install ok installed" {
		t.Fatalf("after dpkg -i: status %q", st)
	}
	s.wantMode(BinaryPath, 0o755)
	for _, c := range Components {
		s.wantMode(UnitPath(c), 0o644)
		s.wantMode(ConfigPath(c), 0o600)
	}
	s.wantMode(ConfigDir, fs.ModeDir|0o700)
	s.wantMode("/var/lib/skiff", fs.ModeDir|0o700)
	s.wantMode("/var/log/pods", fs.ModeDir|0o755)
	if out := s.mustRun(BinaryPath, "version"); !strings.HasPrefix(out, "skiff ") {
		t.Errorf("/usr/bin/skiff version: %q", out)
	}
	if en := s.enabledSkiffUnits(); len(en) > 0 {
		t.Errorf("installing enabled units: %v", en)
	}
	conffiles := s.mustRun("dpkg-query", "-W", "-f", "${Conffiles}", Name)
	for _, c := range Components {
		if !strings.Contains(conffiles, ConfigPath(c)+" ") {
			t.Errorf("dpkg does not track %s as a conffile:\n%s", ConfigPath(c), conffiles)
		}
	}

	// What `skiff init` would leave: state, a key, an edited config.
	for p, content := range map[string]string{
		"/var/lib/skiff/pki/ca.key":    "key",
		"/etc/skiff/admin.kubeconfig":  "kubeconfig",
		"/var/log/pods/ns_pod_uid/c/0": "log",
	} {
		if err := os.MkdirAll(filepath.Dir(s.path(p)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(s.path(p), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	edited := ConfigPath("kubelet")
	f, err := os.OpenFile(s.path(edited), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("node-name: edited\n")
	f.Close()

	// Reinstall (an upgrade to the same version: prerm upgrade, postinst
	// configure again): idempotent, keeps the edited config.
	s.mustRun("dpkg", "-i", "--force-depends", "--force-confold", inSandbox)
	if b, _ := os.ReadFile(s.path(edited)); !strings.Contains(string(b), "node-name: edited") {
		t.Errorf("reinstalling replaced the edited %s", edited)
	}
	s.wantMode(ConfigDir, fs.ModeDir|0o700)

	// Remove: the program and units go, configs and state stay.
	s.mustRun("dpkg", "-r", Name)
	if st := s.status(); st != "deinstall ok config-files" {
		t.Errorf("after dpkg -r: status %q", st)
	}
	s.wantMode(BinaryPath, 0)
	for _, c := range Components {
		s.wantMode(UnitPath(c), 0)
		s.wantMode(ConfigPath(c), 0o600)
	}
	s.wantMode("/var/lib/skiff/pki/ca.key", 0o600)
	s.wantMode("/etc/skiff/admin.kubeconfig", 0o600)

	// An admin had enabled a unit; purge removes the link too.
	wants := "/etc/systemd/system/multi-user.target.wants"
	if err := os.MkdirAll(s.path(wants), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(UnitPath("kubelet"), s.path(wants+"/skiff-kubelet.service")); err != nil {
		t.Fatal(err)
	}

	// Purge: everything goes.
	s.mustRun("dpkg", "-P", Name)
	if st := s.status(); st != "" {
		t.Errorf("after dpkg -P: status %q", st)
	}
	for _, p := range []string{ConfigDir, "/var/lib/skiff", "/var/log/pods"} {
		s.wantMode(p, 0)
	}
	if en := s.enabledSkiffUnits(); len(en) > 0 {
		t.Errorf("purge left unit links: %v", en)
	}
	t.Logf("install, reinstall, remove, purge: %v", time.Since(start))
}

// TestMaintainerScriptsWithSystemd runs the package's life cycle in a
// sandbox that looks booted with systemd (/run/systemd/system) and has a
// systemctl that logs its calls, where only skiff-kubelet runs: the
// scripts reload systemd, restart running units on an upgrade, stop the
// running one on remove, and never enable or start anything.
func TestMaintainerScriptsWithSystemd(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("installing the package needs root (mount namespace, overlay, chroot); CI runs the tests as root")
	}
	deb := testDeb(t)
	s := newSandbox(t, filepath.Dir(deb))
	inSandbox := pkgDir + "/" + filepath.Base(deb)
	if err := os.MkdirAll(s.path("/run/systemd/system"), 0o755); err != nil {
		t.Fatal(err)
	}
	fake := `#!/bin/sh
echo "$*" >>/systemctl.log
case "$1" in
is-active) [ "$2" = --quiet ] && shift; [ "$2" = skiff-kubelet.service ] ;;
*) exit 0 ;;
esac
`
	if err := os.WriteFile(s.path("/usr/local/sbin/systemctl"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	calls := func() []string {
		b, _ := os.ReadFile(s.path("/systemctl.log"))
		os.Remove(s.path("/systemctl.log"))
		return strings.Split(strings.TrimSpace(string(b)), "\n")
	}
	all := "skiff-etcd.service skiff-apiserver.service skiff-controller-manager.service skiff-scheduler.service skiff-kubelet.service skiff-proxy.service skiff-dns.service"
	steps := []struct {
		name string
		args []string
		want []string
	}{
		{"install", []string{"dpkg", "-i", "--force-depends", inSandbox}, []string{"daemon-reload"}},
		{"upgrade", []string{"dpkg", "-i", "--force-depends", inSandbox}, []string{"daemon-reload", "try-restart " + all}},
		{"remove", []string{"dpkg", "-r", Name}, nil}, // checked below: is-active of each, stop of the running one
		{"purge", []string{"dpkg", "-P", Name}, []string{"daemon-reload"}},
	}
	for _, st := range steps {
		s.mustRun(st.args...)
		got := calls()
		if st.name == "remove" {
			var stops []string
			for _, c := range got {
				if strings.HasPrefix(c, "stop ") {
					stops = append(stops, c)
				} else if !strings.HasPrefix(c, "is-active ") && c != "daemon-reload" {
					t.Errorf("remove: unexpected systemctl %s", c)
				}
			}
			if strings.Join(stops, ";") != "stop skiff-kubelet.service" {
				t.Errorf("remove stopped %q, want only the running skiff-kubelet.service; calls: %q", stops, got)
			}
			if got[len(got)-1] != "daemon-reload" {
				t.Errorf("remove: last call %q, want daemon-reload (postrm)", got[len(got)-1])
			}
			continue
		}
		if strings.Join(got, ";") != strings.Join(st.want, ";") {
			t.Errorf("%s: systemctl calls %q, want %q", st.name, got, st.want)
		}
	}
}
