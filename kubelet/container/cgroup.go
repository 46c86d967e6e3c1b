package container

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Cgroups creates and removes pod-level cgroups (cgroupfs layout, as
// containerd's cgroupfs driver expects the CgroupParent it is given). On
// cgroup v1 the pod's directory is made in every mounted hierarchy and
// the cpu, memory and pids limits are written; on a unified (v2) host
// the controllers are enabled down the tree and cpu.weight, cpu.max,
// memory.max and pids.max are written. A controller the host lacks is
// skipped.
type Cgroups struct {
	// Root is where cgroupfs is mounted; "" means /sys/fs/cgroup.
	Root string
	// PodPidsLimit is pids.max for each pod; 0 leaves it unlimited.
	PodPidsLimit int64
}

func (g *Cgroups) root() string {
	if g.Root == "" {
		return "/sys/fs/cgroup"
	}
	return g.Root
}

// unified reports whether Root is a cgroup v2 mount.
func (g *Cgroups) unified() bool {
	_, err := os.Stat(filepath.Join(g.root(), "cgroup.controllers"))
	return err == nil
}

// hierarchies lists the v1 hierarchies mounted under Root (directories
// holding cgroup.procs), keyed by name; aliases such as "cpu,cpuacct"
// symlinks are resolved and listed once. The v2 "unified" mount of a
// hybrid host is left out.
func (g *Cgroups) hierarchies() (map[string]string, error) {
	entries, err := os.ReadDir(g.root())
	if err != nil {
		return nil, fmt.Errorf("list cgroup hierarchies: %w", err)
	}
	out := map[string]string{}
	seen := map[string]bool{}
	for _, e := range entries {
		if e.Name() == "unified" {
			continue
		}
		dir := filepath.Join(g.root(), e.Name())
		real, err := filepath.EvalSymlinks(dir)
		if err != nil || seen[real] {
			continue
		}
		if _, err := os.Stat(filepath.Join(real, "cgroup.procs")); err != nil {
			continue
		}
		seen[real] = true
		out[e.Name()] = real
	}
	return out, nil
}

// EnsurePodCgroup creates the pod's cgroup (and the QoS parents) with the
// pod's limits and returns its path, the value for CgroupParent. It is
// safe to repeat; limits are rewritten each time.
func (g *Cgroups) EnsurePodCgroup(pod *corev1.Pod) (string, error) {
	parent := CgroupParent(pod)
	res := PodCgroupResources(pod, g.PodPidsLimit)
	qos := QOSClass(pod)
	if g.unified() {
		return parent, g.ensureV2(parent, qos, res)
	}
	hs, err := g.hierarchies()
	if err != nil {
		return "", err
	}
	var errs []error
	for name, dir := range hs {
		full := filepath.Join(dir, parent)
		if err := mkdirCgroup(dir, parent, name); err != nil {
			errs = append(errs, err)
			continue
		}
		controllers := strings.Split(name, ",")
		for _, ctrl := range controllers {
			switch ctrl {
			case "cpu":
				if qos == corev1.PodQOSBestEffort {
					errs = append(errs, writeCgroup(filepath.Join(dir, "kubepods/besteffort"), "cpu.shares", strconv.Itoa(minShares)))
				}
				errs = append(errs, writeCgroup(full, "cpu.shares", strconv.FormatUint(res.CPUShares, 10)))
				if res.CPUQuota > 0 {
					errs = append(errs,
						writeCgroup(full, "cpu.cfs_period_us", strconv.FormatUint(res.CPUPeriod, 10)),
						writeCgroup(full, "cpu.cfs_quota_us", strconv.FormatInt(res.CPUQuota, 10)))
				} else {
					errs = append(errs, writeCgroup(full, "cpu.cfs_quota_us", "-1"))
				}
			case "memory":
				limit := "-1"
				if res.MemoryLimit > 0 {
					limit = strconv.FormatInt(res.MemoryLimit, 10)
				}
				errs = append(errs, writeCgroup(full, "memory.limit_in_bytes", limit))
			case "pids":
				limit := "max"
				if res.PidsLimit > 0 {
					limit = strconv.FormatInt(res.PidsLimit, 10)
				}
				errs = append(errs, writeCgroup(full, "pids.max", limit))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return parent, fmt.Errorf("pod cgroup %s: %w", parent, err)
	}
	return parent, nil
}

// mkdirCgroup creates each level of rel under the hierarchy dir; cpuset
// directories get their parent's cpus and mems, without which no task
// could join them.
func mkdirCgroup(dir, rel, name string) error {
	cur := dir
	for _, part := range strings.Split(strings.Trim(rel, "/"), "/") {
		next := filepath.Join(cur, part)
		if err := os.Mkdir(next, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create cgroup %s: %w", next, err)
		}
		if strings.Contains(","+name+",", ",cpuset,") {
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				b, err := os.ReadFile(filepath.Join(next, f))
				if err == nil && strings.TrimSpace(string(b)) == "" {
					if pb, err := os.ReadFile(filepath.Join(cur, f)); err == nil {
						if err := writeCgroup(next, f, strings.TrimSpace(string(pb))); err != nil {
							return err
						}
					}
				}
			}
		}
		cur = next
	}
	return nil
}

func writeCgroup(dir, file, value string) error {
	if err := os.WriteFile(filepath.Join(dir, file), []byte(value), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	return nil
}

// ensureV2 creates the pod cgroup on a unified hierarchy.
func (g *Cgroups) ensureV2(parent string, qos corev1.PodQOSClass, res PodResources) error {
	root := g.root()
	avail := map[string]bool{}
	if b, err := os.ReadFile(filepath.Join(root, "cgroup.controllers")); err == nil {
		for _, c := range strings.Fields(string(b)) {
			avail[c] = true
		}
	}
	var enable []string
	for _, c := range []string{"cpu", "memory", "pids"} {
		if avail[c] {
			enable = append(enable, "+"+c)
		}
	}
	cur := root
	for _, part := range strings.Split(strings.Trim(parent, "/"), "/") {
		// Best effort: a parent holding processes refuses subtree control.
		if len(enable) > 0 {
			_ = writeCgroup(cur, "cgroup.subtree_control", strings.Join(enable, " "))
		}
		cur = filepath.Join(cur, part)
		if err := os.Mkdir(cur, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create cgroup %s: %w", cur, err)
		}
	}
	var errs []error
	if avail["cpu"] {
		weight := 1 + ((res.CPUShares-2)*9999)/262142
		errs = append(errs, writeCgroup(cur, "cpu.weight", strconv.FormatUint(weight, 10)))
		max := "max " + strconv.Itoa(QuotaPeriod)
		if res.CPUQuota > 0 {
			max = fmt.Sprintf("%d %d", res.CPUQuota, res.CPUPeriod)
		}
		errs = append(errs, writeCgroup(cur, "cpu.max", max))
		if qos == corev1.PodQOSBestEffort {
			errs = append(errs, writeCgroup(filepath.Join(root, "kubepods/besteffort"), "cpu.weight", "1"))
		}
	}
	if avail["memory"] {
		limit := "max"
		if res.MemoryLimit > 0 {
			limit = strconv.FormatInt(res.MemoryLimit, 10)
		}
		errs = append(errs, writeCgroup(cur, "memory.max", limit))
	}
	if avail["pids"] {
		limit := "max"
		if res.PidsLimit > 0 {
			limit = strconv.FormatInt(res.PidsLimit, 10)
		}
		errs = append(errs, writeCgroup(cur, "pids.max", limit))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("pod cgroup %s: %w", parent, err)
	}
	return nil
}

// RemovePodCgroup removes the pod's cgroup (and any container cgroups
// left under it) in every hierarchy. A cgroup that still holds processes
// cannot be removed; that is an error wrapping EBUSY. A cgroup that does
// not exist is not an error.
func (g *Cgroups) RemovePodCgroup(uid types.UID) error {
	var dirs []string
	if g.unified() {
		dirs = []string{g.root()}
	} else {
		hs, err := g.hierarchies()
		if err != nil {
			return err
		}
		for _, d := range hs {
			dirs = append(dirs, d)
		}
	}
	var errs []error
	for _, d := range dirs {
		for _, rel := range podCgroupCandidates(uid) {
			errs = append(errs, removeCgroupTree(filepath.Join(d, rel)))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove pod cgroup of %s: %w", uid, err)
	}
	return nil
}

// removeCgroupTree removes a cgroup directory depth-first. On a real
// cgroupfs the control files vanish with rmdir; on a plain directory (as
// in tests) the files are removed first.
func removeCgroupTree(dir string) error {
	var subdirs []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			subdirs = append(subdirs, p)
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("walk %s: %w", dir, err)
	}
	sort.Sort(sort.Reverse(sort.StringSlice(subdirs)))
	for _, sd := range subdirs {
		if err := os.Remove(sd); err != nil && !errors.Is(err, fs.ErrNotExist) {
			if !isCgroupfs(sd) {
				if err := os.RemoveAll(sd); err == nil {
					continue
				}
			}
			return fmt.Errorf("remove cgroup %s: %w", sd, err)
		}
	}
	return nil
}

// isCgroupfs reports whether dir lies on a cgroup filesystem.
func isCgroupfs(dir string) bool {
	return statfsType(dir) == cgroupMagic || statfsType(dir) == cgroup2Magic
}
