package packaging

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/skiffk8s/skiff/test/nodetest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	nodetest.RemoveSkiffBinary()
	if debDir != "" {
		os.RemoveAll(debDir)
	}
	os.Exit(code)
}

// testVersion is the version the tests package.
const testVersion = "0.0.0~test1"

var (
	debOnce sync.Once
	debDir  string
	debPath string
	debErr  error
)

// testDeb builds the package once per test binary from a freshly built
// skiff binary and the repository's systemd/ folder.
func testDeb(t *testing.T) string {
	t.Helper()
	bin := nodetest.SkiffBinary(t)
	debOnce.Do(func() {
		debDir, debErr = os.MkdirTemp("", "skiff-deb-test-")
		if debErr != nil {
			return
		}
		debPath, debErr = Build(Options{RepoRoot: "..", Binary: bin, Version: testVersion, Arch: runtime.GOARCH, OutDir: debDir})
	})
	if debErr != nil {
		t.Fatal(debErr)
	}
	return debPath
}

func dpkgDeb(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("dpkg-deb", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-deb %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestDebVersion(t *testing.T) {
	for _, tc := range []struct {
		describe string
		commits  int
		want     string
	}{
		{"v0.1.0", 10, "0.1.0"},
		{"v0.1.0-dirty", 10, "0.1.0+dirty"},
		{"v0.1.0-3-gabc1234", 13, "0.1.0+3.gabc1234"},
		{"v0.1.0-3-gabc1234-dirty", 13, "0.1.0+3.gabc1234.dirty"},
		{"v0.2.0-rc.1", 20, "0.2.0~rc.1"},
		{"v0.2.0-rc.1-2-g1234567", 22, "0.2.0~rc.1+2.g1234567"},
		{"771f928", 315, "0.0.0+315.g771f928"},
		{"771f928-dirty", 315, "0.0.0+315.g771f928.dirty"},
		{"abcdef0", 0, "0.0.0+0.gabcdef0"},
		{"v0.0.0-dev", 0, "0.0.0~dev"}, // internal/version's unstamped default
		{"0.3.1+ci.7", 0, "0.3.1+ci.7"},
	} {
		got, err := DebVersion(tc.describe, tc.commits)
		if err != nil || got != tc.want {
			t.Errorf("DebVersion(%q, %d) = %q, %v; want %q", tc.describe, tc.commits, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "main", "v1.2", "1.2.3 4", "-dirty"} {
		if got, err := DebVersion(bad, 1); err == nil {
			t.Errorf("DebVersion(%q) = %q, want an error", bad, got)
		}
	}
}

// Versions must sort as the history does: dpkg --compare-versions says so.
func TestDebVersionOrder(t *testing.T) {
	if _, err := exec.LookPath("dpkg"); err != nil {
		t.Fatal("no dpkg: the tests run on Debian, which has it")
	}
	ordered := []string{"v0.0.0-dev", "771f928", "v0.1.0-rc.1", "v0.1.0-rc.1-2-g1234567", "v0.1.0", "v0.1.0-3-gabc1234", "v0.1.0-3-gabc1234-dirty", "v0.1.1"}
	for i := 1; i < len(ordered); i++ {
		a, _ := DebVersion(ordered[i-1], 300)
		b, _ := DebVersion(ordered[i], 300)
		if err := exec.Command("dpkg", "--compare-versions", a, "lt", b).Run(); err != nil {
			t.Errorf("%s (%s) does not sort before %s (%s)", a, ordered[i-1], b, ordered[i])
		}
	}
}

func TestBuildRefusesWrongBinary(t *testing.T) {
	bin := nodetest.SkiffBinary(t)
	other := map[string]string{"amd64": "arm64", "arm64": "amd64"}[runtime.GOARCH]
	if other == "" {
		t.Skipf("tests run on amd64 or arm64, not %s", runtime.GOARCH)
	}
	dir := t.TempDir()
	_, err := Build(Options{RepoRoot: "..", Binary: bin, Version: "1.0.0", Arch: other, OutDir: dir})
	if err == nil || !strings.Contains(err.Error(), "GOARCH") {
		t.Errorf("packaging a %s binary as %s: %v, want an error naming GOARCH", runtime.GOARCH, other, err)
	}
	// A dynamically linked binary is refused too (the package promises a
	// static one).
	_, err = Build(Options{RepoRoot: "..", Binary: "/bin/sh", Version: "1.0.0", Arch: runtime.GOARCH, OutDir: dir})
	if err == nil || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
		t.Errorf("packaging /bin/sh: %v, want an error about a dynamic binary", err)
	}
	if _, err := Build(Options{RepoRoot: "..", Binary: bin, Version: "v1.0", Arch: runtime.GOARCH, OutDir: dir}); err == nil {
		t.Error("version v1.0 accepted, want an error (not a Debian version)")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("failed builds left %v in the output directory", ents)
	}
}

func TestDebControl(t *testing.T) {
	deb := testDeb(t)
	if got, want := filepath.Base(deb), "skiff_"+testVersion+"_"+runtime.GOARCH+".deb"; got != want {
		t.Errorf("file name %s, want %s", got, want)
	}
	for field, want := range map[string]string{
		"Package":      "skiff",
		"Version":      testVersion,
		"Architecture": runtime.GOARCH,
		"Depends":      "containerd, runc, iptables, conntrack",
		"Section":      "admin",
	} {
		if got := strings.TrimSpace(dpkgDeb(t, "--field", deb, field)); got != want {
			t.Errorf("%s: %q, want %q", field, got, want)
		}
	}
	info := dpkgDeb(t, "--info", deb)
	for _, script := range []string{"postinst", "prerm", "postrm"} {
		if !regexp.MustCompile(`\d+ lines\s+\*\s+` + script + `\s+#!/bin/sh`).MatchString(info) {
			t.Errorf("dpkg-deb --info lists no executable %s:\n%s", script, info)
		}
	}
	if strings.Contains(info, "preinst") {
		t.Errorf("unexpected preinst:\n%s", info)
	}

	// The conffiles are exactly the /etc/skiff configs.
	dir := t.TempDir()
	dpkgDeb(t, "--control", deb, dir)
	b, err := os.ReadFile(filepath.Join(dir, "conffiles"))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, c := range Components {
		want = append(want, ConfigPath(c))
	}
	got := strings.Fields(string(b))
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("conffiles %v, want %v", got, want)
	}
}

func TestDebContents(t *testing.T) {
	deb := testDeb(t)
	// dpkg-deb --contents: "-rw-r--r-- root/root 1584 2026-11-27 06:43 ./lib/..."
	type entry struct{ mode, owner string }
	entries := map[string]entry{}
	sc := bufio.NewScanner(strings.NewReader(dpkgDeb(t, "--contents", deb)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 {
			t.Fatalf("dpkg-deb --contents line %q", sc.Text())
		}
		path := strings.TrimSuffix(strings.TrimPrefix(f[5], "."), "/")
		entries[path] = entry{f[0], f[1]}
	}
	want := map[string]string{
		BinaryPath: "-rwxr-xr-x",
		ConfigDir:  "drwx------",
	}
	for _, c := range Components {
		want[UnitPath(c)] = "-rw-r--r--"
		want[ConfigPath(c)] = "-rw-------"
	}
	for path, mode := range want {
		e, ok := entries[path]
		switch {
		case !ok:
			t.Errorf("%s is not in the package", path)
		case e.mode != mode || e.owner != "root/root":
			t.Errorf("%s: %s %s, want %s root/root", path, e.mode, e.owner, mode)
		}
	}
	// Nothing else but the directories leading to them.
	for path, e := range entries {
		if _, ok := want[path]; !ok && !strings.HasPrefix(e.mode, "d") {
			t.Errorf("unexpected file %s in the package", path)
		}
	}
}
