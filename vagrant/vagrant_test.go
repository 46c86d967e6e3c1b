// Package vagrant holds the multi-VM lab (Vagrantfile, provision/*.sh) and
// its tests: `vagrant validate` with both providers' configs, and the
// machines and addresses the SKIFF_* settings give. Nothing here boots a
// VM or reaches the network.
package vagrant

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// ensureVagrant installs Debian's vagrant and vagrant-libvirt (for the
// libvirt provider's config checks) when missing, as root.
func ensureVagrant(t *testing.T) {
	t.Helper()
	var missing []string
	for _, p := range []string{"vagrant", "vagrant-libvirt"} {
		if out, _ := exec.Command("dpkg-query", "-W", "-f", "${Status}", p).Output(); string(out) != "install ok installed" {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return
	}
	if os.Geteuid() != 0 {
		t.Skipf("%v not installed, and installing needs root; CI runs the tests as root and installs them", missing)
	}
	install := func() ([]byte, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "apt-get", append([]string{"install", "-y", "-qq", "--no-install-recommends"}, missing...)...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		return cmd.CombinedOutput()
	}
	start := time.Now()
	if out, err := install(); err != nil {
		// A fresh machine may have no package lists yet.
		t.Logf("apt-get install %v: %v\n%s\nupdating the package lists", missing, err, out)
		if out, err := exec.Command("apt-get", "update", "-qq").CombinedOutput(); err != nil {
			t.Fatalf("apt-get update: %v\n%s", err, out)
		}
		if out, err := install(); err != nil {
			t.Fatalf("apt-get install %v: %v\n%s", missing, err, out)
		}
	}
	t.Logf("installed %v in %v", missing, time.Since(start))
}

// vagrant runs vagrant in this folder without network (a new, empty
// network namespace), with its state in temp dirs, and returns its output.
func vagrant(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	unshare := []string{"unshare", "--net"}
	if os.Geteuid() != 0 {
		unshare = []string{"unshare", "--map-root-user", "--net"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, unshare[0], append(append(unshare[1:], "vagrant"), args...)...)
	cmd.Env = append(os.Environ(),
		"VAGRANT_CHECKPOINT_DISABLE=1", "VAGRANT_NO_COLOR=1",
		"VAGRANT_HOME="+t.TempDir(), "VAGRANT_DOTFILE_PATH="+t.TempDir())
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// fakeVBoxManage is a directory with a VBoxManage that only tells its
// version: VirtualBox is not in Debian, and without it vagrant refuses to
// validate the virtualbox provider's config.
func fakeVBoxManage(t *testing.T) string {
	dir := t.TempDir()
	script := "#!/bin/sh\n[ \"$1\" = --version ] && { echo 7.0.14r161095; exit 0; }\necho \"fake VBoxManage: $*\" >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(dir, "VBoxManage"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestVagrantValidate(t *testing.T) {
	ensureVagrant(t)
	vbox := "PATH=" + fakeVBoxManage(t) + ":" + os.Getenv("PATH")
	for _, provider := range []string{"libvirt", "virtualbox"} {
		for _, tc := range []struct {
			name string
			env  []string
		}{
			{"defaults", nil},
			{"3 masters, 5 workers, a /16", []string{"SKIFF_MASTERS=3", "SKIFF_WORKERS=5", "SKIFF_NETWORK=10.10.0.0/16", "SKIFF_BOX=debian/bookworm64"}},
			{"master only", []string{"SKIFF_WORKERS=0", "SKIFF_CPUS=1", "SKIFF_MEMORY=1024"}},
		} {
			t.Run(provider+"/"+tc.name, func(t *testing.T) {
				env := append([]string{"VAGRANT_DEFAULT_PROVIDER=" + provider, vbox}, tc.env...)
				out, err := vagrant(t, env, "validate")
				if err != nil || !strings.Contains(out, "Vagrantfile validated successfully") {
					t.Errorf("vagrant validate: %v\n%s", err, out)
				}
			})
		}
	}
}

func TestVagrantRejectsBadSettings(t *testing.T) {
	ensureVagrant(t)
	for _, tc := range []struct{ env, want string }{
		{"SKIFF_WORKERS=two", `SKIFF_WORKERS="two": want a whole number in 0..100`},
		{"SKIFF_MASTERS=0", `SKIFF_MASTERS="0": want a whole number in 1..9`},
		{"SKIFF_MEMORY=512", `SKIFF_MEMORY="512"`},
		{"SKIFF_NETWORK=192.168.56.0/25", "want an IPv4 network of /24 or larger"},
		{"SKIFF_NETWORK=not-a-network", "SKIFF_NETWORK:"},
	} {
		out, err := vagrant(t, []string{"VAGRANT_DEFAULT_PROVIDER=libvirt", tc.env}, "validate")
		if err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("%s: vagrant validate: %v, want a failure saying %q\n%s", tc.env, err, tc.want, out)
		}
	}
}

// recorder loads the Vagrantfile with a stand-in Vagrant module that prints
// each machine's name, private address, provisioners and primary flag.
const recorder = `
class Rec
  def initialize(out = nil) @out = out end
  def method_missing(name, *args, **kw, &blk)
    case name
    when :define
      node = Rec.new([args[0]])
      blk.call(node)
      puts (node.out + [kw[:primary] ? "primary" : "-"]).join(" ")
    when :network then @out << kw[:ip] if @out
    when :provision then @out << "#{args[0]}:#{File.basename(kw[:path])}(#{(kw[:args] || []).join(",")})" if @out
    when :ruby then nil # a trigger's body runs on the host at up time, not here
    else blk.call(Rec.new) if blk
    end
    self
  end
  def respond_to_missing?(*) true end
  attr_reader :out
end
module Vagrant
  def self.configure(_) yield Rec.new end
end
load ARGV[0]
`

func machines(t *testing.T, env ...string) []string {
	t.Helper()
	cmd := exec.Command("ruby", "-e", recorder, "Vagrantfile")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ruby: %v\n%s", err, out)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

func TestVagrantMachines(t *testing.T) {
	if _, err := exec.LookPath("ruby"); err != nil {
		ensureVagrant(t) // vagrant brings ruby
	}
	got := machines(t)
	want := []string{
		"master-1 192.168.56.11 install:install.sh() init:init.sh(192.168.56.11) primary",
		"worker-1 192.168.56.101 install:install.sh() join:join.sh(worker,192.168.56.101) -",
		"worker-2 192.168.56.102 install:install.sh() join:join.sh(worker,192.168.56.102) -",
	}
	if !slices.Equal(got, want) {
		t.Errorf("default machines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	got = machines(t, "SKIFF_MASTERS=2", "SKIFF_WORKERS=1", "SKIFF_NETWORK=10.20.0.0/16")
	want = []string{
		"master-1 10.20.0.11 install:install.sh() init:init.sh(10.20.0.11) primary",
		"master-2 10.20.0.12 install:install.sh() join:join.sh(control-plane,10.20.0.12) -",
		"worker-1 10.20.0.101 install:install.sh() join:join.sh(worker,10.20.0.101) -",
	}
	if !slices.Equal(got, want) {
		t.Errorf("2 masters, 1 worker on 10.20.0.0/16:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// The provisioning scripts parse, and each provisioner the Vagrantfile
// names exists and is executable.
func TestProvisionScripts(t *testing.T) {
	scripts, _ := filepath.Glob("provision/*.sh")
	if len(scripts) != 3 {
		t.Fatalf("provision scripts %v, want install.sh, init.sh, join.sh", scripts)
	}
	for _, s := range scripts {
		if out, err := exec.Command("bash", "-n", s).CombinedOutput(); err != nil {
			t.Errorf("bash -n %s: %v\n%s", s, err, out)
		}
		if fi, err := os.Stat(s); err != nil || fi.Mode()&0o111 == 0 {
			t.Errorf("%s is not executable: %v", s, err)
		}
	}
}
