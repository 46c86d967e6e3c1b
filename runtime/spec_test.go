package runtime

import (
	"context"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
)

func TestProcessArgsFollowKubernetesSemantics(t *testing.T) {
	img := Image{Entrypoint: []string{"/entry"}, Cmd: []string{"default"}}
	for _, tc := range []struct {
		name          string
		command, args []string
		want          []string
	}{
		{"image entrypoint and cmd when neither is given", nil, nil, []string{"/entry", "default"}},
		{"args replace the image's cmd", nil, []string{"a"}, []string{"/entry", "a"}},
		{"command replaces entrypoint and drops the image's cmd", []string{"/bin/sh"}, nil, []string{"/bin/sh"}},
		{"command and args replace both", []string{"/bin/sh"}, []string{"-c", "x"}, []string{"/bin/sh", "-c", "x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := processArgs(ContainerConfig{Image: img, Command: tc.command, Args: tc.args})
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// buildSpec applies specOpts that need no image rootfs.
func buildSpec(t *testing.T, cfg ContainerConfig, canLowerOOM bool) *oci.Spec {
	t.Helper()
	opts, err := specOpts(cfg, "abc", canLowerOOM)
	if err != nil {
		t.Fatal(err)
	}
	ctx := namespaces.WithNamespace(context.Background(), "test")
	s, err := oci.GenerateSpec(ctx, nil, &containers.Container{ID: "abc"}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSpecFromContainerConfig(t *testing.T) {
	s := buildSpec(t, ContainerConfig{
		Image:        Image{Cmd: []string{"sh"}, Env: []string{"PATH=/img", "A=image"}},
		Env:          []string{"A=pod", "B=2"},
		NetNSPath:    "/run/skiff/netns/pod",
		CgroupParent: "/kubepods/pod1",
		Resources:    Resources{CPUShares: 256, CPUQuota: 20000, MemoryLimit: 1 << 20, OOMScoreAdjust: -997},
		Security:     Security{CapAdd: []string{"NET_ADMIN"}, CapDrop: []string{"chown"}, NoNewPrivileges: true, ReadOnlyRootFS: true},
		Mounts:       []Mount{{Source: "/h", Destination: "/c", ReadOnly: true}},
	}, false)
	if got := strings.Join(s.Process.Env, " "); got != "PATH=/img A=pod B=2" {
		t.Errorf("env = %q: image env, then the pod's overriding it", got)
	}
	if s.Linux.CgroupsPath != "/kubepods/pod1/abc" {
		t.Errorf("cgroups path = %q", s.Linux.CgroupsPath)
	}
	r := s.Linux.Resources
	if *r.CPU.Shares != 256 || *r.CPU.Quota != 20000 || *r.CPU.Period != 100000 || *r.Memory.Limit != 1<<20 {
		t.Errorf("resources = %+v %+v", *r.CPU, *r.Memory)
	}
	if s.Process.OOMScoreAdj != nil {
		t.Errorf("a negative oom_score_adj without CAP_SYS_RESOURCE must be dropped, got %d", *s.Process.OOMScoreAdj)
	}
	caps := s.Process.Capabilities.Bounding
	if !slices.Contains(caps, "CAP_NET_ADMIN") || slices.Contains(caps, "CAP_CHOWN") || !slices.Contains(caps, "CAP_KILL") {
		t.Errorf("capabilities = %v", caps)
	}
	if !s.Process.NoNewPrivileges || !s.Root.Readonly {
		t.Error("no_new_privs and readonly root not set")
	}
	found := false
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == "network" {
			found = ns.Path == "/run/skiff/netns/pod"
		}
	}
	if !found {
		t.Errorf("network namespace not joined by path: %+v", s.Linux.Namespaces)
	}
	if !slices.ContainsFunc(s.Mounts, func(m specs.Mount) bool {
		return m.Destination == "/sys/fs/cgroup" && m.Type == "cgroup" && slices.Contains(m.Options, "ro")
	}) {
		t.Errorf("no read-only cgroup mount at /sys/fs/cgroup: %+v", s.Mounts)
	}
	last := s.Mounts[len(s.Mounts)-1]
	if last.Destination != "/c" || !slices.Contains(last.Options, "ro") || !slices.Contains(last.Options, "rbind") {
		t.Errorf("bind mount = %+v", last)
	}

	s = buildSpec(t, ContainerConfig{Image: Image{Cmd: []string{"sh"}}, Resources: Resources{OOMScoreAdjust: -997},
		Security: Security{CapDrop: []string{"ALL"}, CapAdd: []string{"kill"}}}, true)
	if s.Process.OOMScoreAdj == nil || *s.Process.OOMScoreAdj != -997 {
		t.Error("oom_score_adj not kept when it may be lowered")
	}
	if !slices.Equal(s.Process.Capabilities.Bounding, []string{"CAP_KILL"}) {
		t.Errorf("drop ALL + add KILL = %v", s.Process.Capabilities.Bounding)
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == "network" {
			t.Errorf("empty NetNSPath must mean the host's network namespace, got %+v", ns)
		}
	}
}

func TestSpecRejectsNoCommand(t *testing.T) {
	if _, err := specOpts(ContainerConfig{Name: "x"}, "id", false); err == nil {
		t.Fatal("no error for a container with nothing to run")
	}
}

func TestCRILogWriterSplitsLinesAndPartials(t *testing.T) {
	dir := t.TempDir()
	tl, err := newTaskLog(dir+"/sub/0.log", nil, false)
	if err != nil {
		t.Fatal(err)
	}
	tl.log.now = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC) }
	tl.stdout.Write([]byte("one\ntw"))
	tl.stderr.Write([]byte("err\n"))
	tl.stdout.Write([]byte("o\n" + strings.Repeat("x", maxLogLine+3) + "\nlast"))
	tl.finish()
	b, err := readFile(dir + "/sub/0.log")
	if err != nil {
		t.Fatal(err)
	}
	ts := "2026-01-02T03:04:05.000000006Z"
	want := ts + " stdout F one\n" + ts + " stderr F err\n" + ts + " stdout F two\n" +
		ts + " stdout P " + strings.Repeat("x", maxLogLine) + "\n" + ts + " stdout F xxx\n" + ts + " stdout F last\n"
	if b != want {
		t.Errorf("log =\n%.300s\nwant\n%.300s", b, want)
	}
}

func readFile(p string) (string, error) {
	b, err := os.ReadFile(p)
	return string(b), err
}
