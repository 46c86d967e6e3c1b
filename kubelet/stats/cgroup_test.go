package stats

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// testCgroup is a container cgroup the test made: <pod cgroup>/<id> in
// every hierarchy (v1) or in the unified tree (v2), as runc makes one.
type testCgroup struct {
	dirs []string // one per hierarchy
}

// makeContainerCgroup creates name (e.g. /kubepods/burstable/pod<uid>/<id>)
// in every hierarchy where its parent exists.
func makeContainerCgroup(t testing.TB, name string) *testCgroup {
	t.Helper()
	const root = "/sys/fs/cgroup"
	var bases []string
	if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err == nil {
		bases = []string{root} // cgroup v2
	} else {
		entries, err := os.ReadDir(root)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Name() != "unified" && e.Type().IsDir() {
				bases = append(bases, filepath.Join(root, e.Name()))
			}
		}
	}
	cg := &testCgroup{}
	for _, base := range bases {
		parent := filepath.Join(base, filepath.Dir(name))
		if _, err := os.Stat(filepath.Join(parent, "cgroup.procs")); err != nil {
			continue
		}
		dir := filepath.Join(base, name)
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			t.Fatal(err)
		}
		// A cpuset cgroup takes no task until it has cpus and mems.
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			if b, err := os.ReadFile(filepath.Join(parent, f)); err == nil {
				_ = os.WriteFile(filepath.Join(dir, f), b, 0o644)
			}
		}
		cg.dirs = append(cg.dirs, dir)
	}
	if len(cg.dirs) == 0 {
		t.Fatalf("no hierarchy holds the parent of %s", name)
	}
	return cg
}

// add moves pid into the cgroup in every hierarchy.
func (cg *testCgroup) add(t testing.TB, pid int) {
	t.Helper()
	for _, d := range cg.dirs {
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
			t.Fatalf("move %d into %s: %v", pid, d, err)
		}
	}
}

// meminfoTotal is MemTotal from /proc/meminfo, in bytes.
func meminfoTotal(t *testing.T) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb * 1024
		}
	}
	t.Fatal("no MemTotal in /proc/meminfo")
	return 0
}
