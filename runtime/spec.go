package runtime

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// processArgs applies Kubernetes semantics: Command replaces the image's
// Entrypoint, Args replace its Cmd, and a Command without Args drops the
// image's Cmd.
func processArgs(cfg ContainerConfig) []string {
	entrypoint, cmd := cfg.Image.Entrypoint, cfg.Image.Cmd
	if len(cfg.Command) > 0 {
		entrypoint, cmd = cfg.Command, nil
	}
	if len(cfg.Args) > 0 {
		cmd = cfg.Args
	}
	return append(append([]string(nil), entrypoint...), cmd...)
}

// capName returns "CAP_X" for "X" or "CAP_X".
func capName(c string) string {
	c = strings.ToUpper(c)
	if !strings.HasPrefix(c, "CAP_") {
		c = "CAP_" + c
	}
	return c
}

// specOpts builds the OCI spec options for cfg. canLowerOOM tells whether
// this process may set a negative oom_score_adj (CAP_SYS_RESOURCE).
func specOpts(cfg ContainerConfig, id string, canLowerOOM bool) ([]oci.SpecOpts, error) {
	args := processArgs(cfg)
	if len(args) == 0 {
		return nil, fmt.Errorf("container %s: no command: the image has no entrypoint or cmd and none was given", cfg.Name)
	}
	opts := []oci.SpecOpts{
		oci.WithDefaultPathEnv,
		oci.WithEnv(cfg.Image.Env),
		oci.WithEnv(cfg.Env),
		oci.WithProcessArgs(args...),
	}
	cwd := cfg.WorkingDir
	if cwd == "" {
		cwd = cfg.Image.WorkingDir
	}
	if cwd == "" {
		cwd = "/"
	}
	opts = append(opts, oci.WithProcessCwd(cwd))
	if cfg.Hostname != "" {
		opts = append(opts, oci.WithHostname(cfg.Hostname))
	}
	if cfg.TTY {
		opts = append(opts, oci.WithTTY)
	}

	// User: RunAsUser/RunAsGroup win over the image's USER; a uid without
	// a gid takes the gid from the image's /etc/passwd.
	sec := cfg.Security
	switch {
	case sec.RunAsUser != nil && sec.RunAsGroup != nil:
		opts = append(opts, oci.WithUIDGID(uint32(*sec.RunAsUser), uint32(*sec.RunAsGroup)))
	case sec.RunAsUser != nil:
		opts = append(opts, oci.WithUserID(uint32(*sec.RunAsUser)))
	case cfg.Image.User != "":
		opts = append(opts, oci.WithUser(cfg.Image.User))
		if sec.RunAsGroup != nil {
			g := uint32(*sec.RunAsGroup)
			opts = append(opts, func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
				s.Process.User.GID = g
				return nil
			})
		}
	case sec.RunAsGroup != nil:
		opts = append(opts, oci.WithUIDGID(0, uint32(*sec.RunAsGroup)))
	}
	if len(sec.SupplementalGroups) > 0 {
		gids := sec.SupplementalGroups
		opts = append(opts, func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
			for _, g := range gids {
				s.Process.User.AdditionalGids = append(s.Process.User.AdditionalGids, uint32(g))
			}
			return nil
		})
	}

	// Mounts.
	var mounts []specs.Mount
	for _, m := range cfg.Mounts {
		switch m.Type {
		case "", "bind":
			o := []string{"rbind", "rprivate"}
			if m.ReadOnly {
				o = append(o, "ro")
			} else {
				o = append(o, "rw")
			}
			mounts = append(mounts, specs.Mount{Destination: m.Destination, Type: "bind", Source: m.Source, Options: o})
		case "tmpfs":
			o := []string{"nosuid", "nodev", "mode=1777"}
			if m.ReadOnly {
				o = append(o, "ro")
			}
			mounts = append(mounts, specs.Mount{Destination: m.Destination, Type: "tmpfs", Source: "tmpfs", Options: o})
		default:
			return nil, fmt.Errorf("container %s: mount %s: unknown type %q", cfg.Name, m.Destination, m.Type)
		}
	}
	// The container's own cgroups, read-only (writable when privileged),
	// at /sys/fs/cgroup, as containerd's CRI gives Kubernetes containers:
	// programs read their limits there.
	cgroupOpts := []string{"nosuid", "noexec", "nodev", "relatime", "ro"}
	if sec.Privileged {
		cgroupOpts[len(cgroupOpts)-1] = "rw"
	}
	cgroup := specs.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: cgroupOpts}
	opts = append(opts, oci.WithMounts(append([]specs.Mount{cgroup}, mounts...)))
	if sec.ReadOnlyRootFS {
		opts = append(opts, oci.WithRootFSReadonly())
	}

	// Privileges and capabilities (the default set is Docker's).
	if sec.Privileged {
		opts = append(opts, oci.WithPrivileged, oci.WithAllDevicesAllowed, oci.WithHostDevices)
	} else {
		var drop, add []string
		dropAll := false
		for _, c := range sec.CapDrop {
			if strings.EqualFold(c, "ALL") {
				dropAll = true
				continue
			}
			drop = append(drop, capName(c))
		}
		for _, c := range sec.CapAdd {
			if strings.EqualFold(c, "ALL") {
				opts = append(opts, oci.WithAllCurrentCapabilities)
				continue
			}
			add = append(add, capName(c))
		}
		if dropAll {
			opts = append(opts, oci.WithCapabilities(nil))
		}
		if len(drop) > 0 {
			opts = append(opts, oci.WithDroppedCapabilities(drop))
		}
		if len(add) > 0 {
			opts = append(opts, oci.WithAddedCapabilities(add))
		}
	}
	nnp := sec.NoNewPrivileges
	opts = append(opts, func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		s.Process.NoNewPrivileges = nnp
		return nil
	})

	// Namespaces.
	if cfg.NetNSPath != "" {
		opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: cfg.NetNSPath}))
	} else {
		opts = append(opts, oci.WithHostNamespace(specs.NetworkNamespace))
	}

	// Cgroup and resources.
	parent := cfg.CgroupParent
	if parent == "" {
		parent = "/skiff"
	}
	opts = append(opts, oci.WithCgroup(strings.TrimSuffix(parent, "/")+"/"+id))
	r := cfg.Resources
	if r.CPUShares > 0 {
		opts = append(opts, oci.WithCPUShares(r.CPUShares))
	}
	if r.CPUQuota > 0 {
		period := r.CPUPeriod
		if period == 0 {
			period = 100000
		}
		opts = append(opts, oci.WithCPUCFS(r.CPUQuota, period))
	}
	if r.MemoryLimit > 0 {
		opts = append(opts, oci.WithMemoryLimit(uint64(r.MemoryLimit)))
	}
	oom := r.OOMScoreAdjust
	if oom < 0 && !canLowerOOM {
		oom = 0 // best effort: lowering it needs CAP_SYS_RESOURCE
	}
	if oom != 0 {
		opts = append(opts, func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
			s.Process.OOMScoreAdj = &oom
			return nil
		})
	}
	return opts, nil
}

// hasCapSysResource reports whether this process has CAP_SYS_RESOURCE.
func hasCapSysResource() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && caps&(1<<24) != 0
		}
	}
	return false
}
