package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/skiffk8s/skiff/runtime"
	"github.com/skiffk8s/skiff/test/nodetest"
)

// env is one containerd, one registry with busybox, and a Runtime.
type env struct {
	rt       *runtime.Containerd
	registry string // 127.0.0.1:PORT
	busybox  runtime.Image
	cgroup   string // cgroup parent for the test's containers
	logDir   string
	hits     *atomic.Int64 // requests through the counting proxy
	proxy    string        // counting proxy in front of the registry
	cfg      runtime.Config
}

func setup(t testing.TB) *env {
	t.Helper()
	// Registered first so it runs last, after containerd's cleanup has
	// deleted every container (a failed test may leave some behind).
	cgroup := fmt.Sprintf("/skiff-test-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)
	t.Cleanup(func() { nodetest.RemoveCgroup(cgroup) })
	cd := nodetest.StartContainerd(t)
	registry := nodetest.StartRegistry(t)
	nodetest.PushBusybox(t, registry, "library/busybox:latest")

	// A proxy that counts requests, used as a docker.io mirror.
	target, _ := url.Parse("http://" + registry)
	hits := &atomic.Int64{}
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)

	dir := t.TempDir()
	regPath := filepath.Join(dir, "registries.yaml")
	regYAML := fmt.Sprintf(`mirrors:
  docker.io:
    endpoint: ["%s"]
configs:
  "%s":
    tls: {insecure_skip_verify: true}
`, proxy.URL, registry)
	if err := os.WriteFile(regPath, []byte(regYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cfg := runtime.Config{
		Address:          cd.Address,
		Namespace:        "skiff-test",
		RegistriesConfig: regPath,
		FIFODir:          filepath.Join(cd.Dir, "fifo"),
	}
	rt, err := runtime.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{registry: registry, logDir: dir, hits: hits, proxy: proxy.URL, cfg: cfg, rt: rt}
	t.Cleanup(func() { e.rt.Close() })
	img, err := rt.PullImage(ctx, registry+"/library/busybox:latest", runtime.PullIfNotPresent, nil)
	if err != nil {
		t.Fatalf("pull busybox: %v", err)
	}
	e.busybox, e.cgroup = img, cgroup
	return e
}

// run creates and starts cfg (busybox defaults filled in) and removes it
// at the end of the test.
func (e *env) create(t *testing.T, cfg runtime.ContainerConfig) string {
	t.Helper()
	if cfg.Image.Ref == "" {
		cfg.Image = e.busybox
	}
	if cfg.Name == "" {
		cfg.Name = strings.ReplaceAll(t.Name(), "/", "-")
	}
	if cfg.LogPath == "" {
		cfg.LogPath = filepath.Join(e.logDir, "logs", cfg.Name, "0.log")
	}
	cfg.CgroupParent = e.cgroup
	id, err := e.rt.CreateContainer(context.Background(), cfg)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	t.Cleanup(func() {
		if err := e.rt.RemoveContainer(context.Background(), id); err != nil {
			t.Errorf("remove %s: %v", id, err)
		}
	})
	return id
}

func (e *env) start(t *testing.T, cfg runtime.ContainerConfig) string {
	t.Helper()
	id := e.create(t, cfg)
	if err := e.rt.StartContainer(context.Background(), id); err != nil {
		t.Fatalf("start: %v", err)
	}
	return id
}

// waitExit waits for the container to exit and returns its status.
func (e *env) waitExit(t *testing.T, id string) runtime.ContainerStatus {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, err := e.rt.ContainerStatus(context.Background(), id)
		if err != nil {
			t.Fatalf("status: %v", err)
		}
		if st.State == runtime.StateExited {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s still %s after 15s", id, st.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// output runs sh -c script in a fresh container and returns its exit
// status and the text of its log (CRI prefixes stripped).
func (e *env) output(t *testing.T, cfg runtime.ContainerConfig, script string) (runtime.ContainerStatus, string) {
	t.Helper()
	cfg.Command = []string{"sh", "-c", script}
	id := e.start(t, cfg)
	st := e.waitExit(t, id)
	return st, logText(t, st.LogPath)
}

// logText reads a CRI log and returns the text of its lines.
func logText(t *testing.T, path string) string {
	t.Helper()
	var b []byte
	var err error
	// The copier may trail the exit by a moment.
	for i := 0; i < 50; i++ {
		if b, err = os.ReadFile(path); err == nil && len(b) > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	var out []string
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		f := strings.SplitN(line, " ", 4)
		if len(f) == 4 {
			out = append(out, f[3])
		}
	}
	return strings.Join(out, "\n")
}

func TestContainerd(t *testing.T) {
	e := setup(t)
	ctx := context.Background()

	t.Run("Version", func(t *testing.T) {
		name, v, err := e.rt.Version(ctx)
		if err != nil || name != "containerd" || v == "" {
			t.Fatalf("Version = %q %q %v", name, v, err)
		}
	})

	t.Run("PullThroughMirrorThenIfNotPresentIsLocal", func(t *testing.T) {
		before := e.hits.Load()
		img, err := e.rt.PullImage(ctx, "busybox", runtime.PullAlways, nil)
		if err != nil {
			t.Fatalf("pull busybox through the docker.io mirror: %v", err)
		}
		if img.Ref != "docker.io/library/busybox:latest" || img.ID != e.busybox.ID {
			t.Errorf("pulled %q %q, want docker.io/library/busybox:latest %s", img.Ref, img.ID, e.busybox.ID)
		}
		if len(img.RepoDigests) != 1 || !strings.HasPrefix(img.RepoDigests[0], "docker.io/library/busybox@sha256:") {
			t.Errorf("RepoDigests = %v", img.RepoDigests)
		}
		if e.hits.Load() == before {
			t.Fatal("the pull did not go through the mirror")
		}
		mid := e.hits.Load()
		if _, err := e.rt.PullImage(ctx, "docker.io/library/busybox:latest", runtime.PullIfNotPresent, nil); err != nil {
			t.Fatal(err)
		}
		if n := e.hits.Load() - mid; n != 0 {
			t.Errorf("IfNotPresent of a present image made %d registry requests", n)
		}
	})

	t.Run("NeverFailsWhenAbsent", func(t *testing.T) {
		_, err := e.rt.PullImage(ctx, e.registry+"/absent:1", runtime.PullNever, nil)
		if !errors.Is(err, runtime.ErrImageNeverPull) {
			t.Fatalf("err = %v, want ErrImageNeverPull", err)
		}
		if _, err := e.rt.PullImage(ctx, e.busybox.Ref, runtime.PullNever, nil); err != nil {
			t.Fatalf("Never with a present image: %v", err)
		}
	})

	t.Run("MissingImageCarriesRegistryMessage", func(t *testing.T) {
		_, err := e.rt.PullImage(ctx, e.registry+"/library/busybox:nosuchtag", runtime.PullIfNotPresent, nil)
		if !errors.Is(err, runtime.ErrImageNotFound) {
			t.Fatalf("err = %v, want ErrImageNotFound", err)
		}
		if !strings.Contains(err.Error(), "manifest unknown") {
			t.Errorf("err = %v, want the registry's message (manifest unknown)", err)
		}
	})

	t.Run("InvalidReference", func(t *testing.T) {
		_, err := e.rt.PullImage(ctx, "Not A/valid::ref", runtime.PullAlways, nil)
		if !errors.Is(err, runtime.ErrInvalidImageName) {
			t.Fatalf("err = %v, want ErrInvalidImageName", err)
		}
	})

	t.Run("ImportTarball", func(t *testing.T) {
		f, err := os.Open(nodetest.BusyboxTarball(t))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		imgs, err := e.rt.Import(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if len(imgs) != 1 || imgs[0].Ref != nodetest.BusyboxTarballRef {
			t.Fatalf("imported %+v, want %s", imgs, nodetest.BusyboxTarballRef)
		}
		img, err := e.rt.PullImage(ctx, nodetest.BusyboxTarballRef, runtime.PullNever, nil)
		if err != nil {
			t.Fatal(err)
		}
		st, out := e.output(t, runtime.ContainerConfig{Image: img}, "echo imported")
		if st.ExitCode != 0 || out != "imported" {
			t.Errorf("imported image ran: exit %d, output %q", st.ExitCode, out)
		}
		list, err := e.rt.ListImages(ctx)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, i := range list {
			found = found || i.Ref == nodetest.BusyboxTarballRef
		}
		if !found {
			t.Errorf("ListImages does not show %s: %+v", nodetest.BusyboxTarballRef, list)
		}
	})

	t.Run("EchoGoesToCRILog", func(t *testing.T) {
		st, _ := e.output(t, runtime.ContainerConfig{}, "echo hello; echo oops >&2; printf partial")
		b, err := os.ReadFile(st.LogPath)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		if len(lines) != 3 {
			t.Fatalf("log has %d lines, want 3:\n%s", len(lines), b)
		}
		want := map[string]bool{"stdout F hello": true, "stderr F oops": true, "stdout F partial": true}
		for _, l := range lines {
			ts, rest, _ := strings.Cut(l, " ")
			if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
				t.Errorf("line %q: timestamp: %v", l, err)
			}
			if !want[rest] {
				t.Errorf("unexpected log line %q", l)
			}
		}
		if st.ExitCode != 0 || st.Reason != "Completed" || st.StartedAt.IsZero() || st.FinishedAt.Before(st.StartedAt) {
			t.Errorf("status = %+v", st)
		}
	})

	t.Run("ExitCodes", func(t *testing.T) {
		st, _ := e.output(t, runtime.ContainerConfig{}, "exit 3")
		if st.ExitCode != 3 || st.Reason != "Error" {
			t.Errorf("exit 3: got %d %q", st.ExitCode, st.Reason)
		}
	})

	t.Run("StopSendsSIGTERMThenSIGKILL", func(t *testing.T) {
		dir := t.TempDir()
		id := e.start(t, runtime.ContainerConfig{
			Command: []string{"sh", "-c", "trap 'echo term > /out/marker' TERM; echo ready > /out/ready; while true; do sleep 0.1; done"},
			Mounts:  []runtime.Mount{{Source: dir, Destination: "/out"}},
		})
		waitFile(t, filepath.Join(dir, "ready"))
		start := time.Now()
		if err := e.rt.StopContainer(ctx, id, time.Second); err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		if b, err := os.ReadFile(filepath.Join(dir, "marker")); err != nil || string(b) != "term\n" {
			t.Errorf("trap marker = %q, %v; SIGTERM not delivered", b, err)
		}
		if took < time.Second {
			t.Errorf("stopped after %v: the trap ignores TERM, so SIGKILL should come after the 1s grace", took)
		}
		st, _ := e.rt.ContainerStatus(ctx, id)
		if st.State != runtime.StateExited || st.ExitCode != 137 {
			t.Errorf("after stop: %+v, want exited 137", st)
		}
		if err := e.rt.StopContainer(ctx, id, time.Second); err != nil {
			t.Errorf("stopping a stopped container: %v", err)
		}
	})

	t.Run("CgroupLimits", func(t *testing.T) {
		_, out := e.output(t, runtime.ContainerConfig{
			Resources: runtime.Resources{MemoryLimit: 64 << 20, CPUQuota: 50000, CPUPeriod: 100000, CPUShares: 512},
		}, "cat /proc/self/cgroup")
		// Read the host's view of the container's cgroup files.
		var memPath, cpuPath string
		for _, l := range strings.Split(out, "\n") {
			f := strings.SplitN(l, ":", 3)
			if len(f) != 3 {
				continue
			}
			switch {
			case strings.Contains(f[1], "memory"):
				memPath = f[2]
			case f[1] == "cpu" || strings.Contains(f[1], "cpu,") || strings.HasSuffix(f[1], ",cpu"):
				cpuPath = f[2]
			}
		}
		if !strings.HasPrefix(memPath, e.cgroup+"/") {
			t.Fatalf("memory cgroup %q not under %s:\n%s", memPath, e.cgroup, out)
		}
		check := func(file, want string) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Errorf("%v", err)
				return
			}
			if got := strings.TrimSpace(string(b)); got != want {
				t.Errorf("%s = %s, want %s", file, got, want)
			}
		}
		check(filepath.Join("/sys/fs/cgroup/memory", memPath, "memory.limit_in_bytes"), fmt.Sprint(64<<20))
		check(filepath.Join("/sys/fs/cgroup/cpu", cpuPath, "cpu.cfs_quota_us"), "50000")
		check(filepath.Join("/sys/fs/cgroup/cpu", cpuPath, "cpu.shares"), "512")
	})

	t.Run("OOMKilled", func(t *testing.T) {
		st, _ := e.output(t, runtime.ContainerConfig{Resources: runtime.Resources{MemoryLimit: 16 << 20}},
			"dd if=/dev/zero of=/dev/null bs=64M count=1")
		if st.ExitCode != 137 || st.Reason != "OOMKilled" {
			t.Errorf("over the memory limit: exit %d reason %q, want 137 OOMKilled", st.ExitCode, st.Reason)
		}
	})

	t.Run("LogsSurviveReconnect", func(t *testing.T) {
		id := e.start(t, runtime.ContainerConfig{Command: []string{"sh", "-c", "i=0; while [ $i -lt 30 ]; do echo line$i; i=$((i+1)); sleep 0.02; done"}})
		time.Sleep(100 * time.Millisecond)
		// A restarted kubelet: a second Runtime re-attaches the copier.
		rt2, err := runtime.New(ctx, e.cfg)
		if err != nil {
			t.Fatal(err)
		}
		e.rt.Close() // the first one's copier goes away
		e.rt = rt2   // closed by the env's cleanup
		deadline := time.Now().Add(10 * time.Second)
		var st runtime.ContainerStatus
		for time.Now().Before(deadline) {
			if st, err = rt2.ContainerStatus(ctx, id); err != nil || st.State == runtime.StateExited {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if out := logText(t, st.LogPath); !strings.HasSuffix(out, "line29") {
			t.Errorf("log after reconnect ends %q, want line29", out[max(0, len(out)-40):])
		}
	})

	t.Run("EnvWorkingDirUser", func(t *testing.T) {
		uid, gid := int64(65534), int64(65534)
		_, out := e.output(t, runtime.ContainerConfig{
			Env:        []string{"GREETING=hi", "PATH=/bin"},
			WorkingDir: "/tmp",
			Security:   runtime.Security{RunAsUser: &uid, RunAsGroup: &gid},
		}, `echo "$GREETING $PATH $(pwd) $(id -u):$(id -g)"`)
		if out != "hi /bin /tmp 65534:65534" {
			t.Errorf("output %q, want %q", out, "hi /bin /tmp 65534:65534")
		}
	})

	t.Run("ReadOnlyRootFS", func(t *testing.T) {
		st, out := e.output(t, runtime.ContainerConfig{Security: runtime.Security{ReadOnlyRootFS: true}},
			"touch /x 2>&1; echo rc=$?")
		if !strings.Contains(out, "Read-only file system") || !strings.HasSuffix(out, "rc=1") {
			t.Errorf("write to a read-only root: %q (exit %d)", out, st.ExitCode)
		}
	})

	t.Run("BindMounts", func(t *testing.T) {
		rw, ro := t.TempDir(), t.TempDir()
		if err := os.WriteFile(filepath.Join(ro, "in"), []byte("from host"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, out := e.output(t, runtime.ContainerConfig{Mounts: []runtime.Mount{
			{Source: rw, Destination: "/rw"},
			{Source: ro, Destination: "/ro", ReadOnly: true},
			{Destination: "/scratch", Type: "tmpfs"},
		}}, "echo written > /rw/out; cat /ro/in; echo; touch /ro/x 2>/dev/null || echo ro-refused; grep -c ' /scratch tmpfs' /proc/mounts")
		if out != "from host\nro-refused\n1" {
			t.Errorf("output %q", out)
		}
		if b, _ := os.ReadFile(filepath.Join(rw, "out")); string(b) != "written\n" {
			t.Errorf("rw mount: host sees %q", b)
		}
	})

	t.Run("JoinsNetNSByPath", func(t *testing.T) {
		name := fmt.Sprintf("skt-%d", os.Getpid())
		if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
			t.Fatalf("ip netns add: %v %s", err, out)
		}
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
		if out, err := exec.Command("ip", "-n", name, "link", "add", "skt0", "type", "veth", "peer", "name", "skt1").CombinedOutput(); err != nil {
			t.Fatalf("veth: %v %s", err, out)
		}
		_, out := e.output(t, runtime.ContainerConfig{NetNSPath: "/var/run/netns/" + name}, "ip -o link | cut -d: -f2 | tr -d ' ' | cut -d@ -f1 | sort | tr '\\n' ,")
		if out != "lo,skt0,skt1," {
			t.Errorf("links inside = %q, want lo,skt0,skt1,", out)
		}
	})

	t.Run("ListByLabel", func(t *testing.T) {
		id := e.create(t, runtime.ContainerConfig{Command: []string{"true"}, Labels: map[string]string{"skiff.io/pod-uid": "u-123", "x": "y"}})
		list, err := e.rt.ListContainers(ctx, map[string]string{"skiff.io/pod-uid": "u-123"})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0].ID != id || list[0].State != runtime.StateCreated || list[0].Labels["x"] != "y" || len(list[0].Labels) != 2 {
			t.Fatalf("list = %+v, want just %s (created, with its own labels only)", list, id)
		}
		if list[0].ImageID != e.busybox.ID || list[0].Name == "" {
			t.Errorf("status = %+v", list[0])
		}
	})

	t.Run("Exec", func(t *testing.T) {
		id := e.start(t, runtime.ContainerConfig{Command: []string{"sleep", "60"}})
		code, out, err := e.rt.Exec(ctx, id, []string{"sh", "-c", "echo out; echo err >&2; exit 4"}, 5*time.Second)
		// stdout and stderr are two pipes: their order is not kept.
		if err != nil || code != 4 || len(out) != 8 || !strings.Contains(string(out), "out\n") || !strings.Contains(string(out), "err\n") {
			t.Errorf("exec = %d %q %v, want 4 and out\\n, err\\n", code, out, err)
		}
		_, _, err = e.rt.Exec(ctx, id, []string{"sleep", "10"}, 300*time.Millisecond)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("exec past its timeout: %v, want DeadlineExceeded", err)
		}
		if err := e.rt.StopContainer(ctx, id, 0); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("RemoveCleansUp", func(t *testing.T) {
		id, err := e.rt.CreateContainer(ctx, runtime.ContainerConfig{Name: "rm", Image: e.busybox, Command: []string{"sleep", "60"}, CgroupParent: e.cgroup})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.rt.StartContainer(ctx, id); err != nil {
			t.Fatal(err)
		}
		if err := e.rt.RemoveContainer(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, err := e.rt.ContainerStatus(ctx, id); !errors.Is(err, runtime.ErrNotFound) {
			t.Errorf("status after remove: %v, want ErrNotFound", err)
		}
		snaps, _ := e.rt.Client().SnapshotService(e.rt.Snapshotter()).Stat(nsCtx(ctx), id)
		if snaps.Name != "" {
			t.Errorf("snapshot %s still there", id)
		}
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup/memory", e.cgroup, id)); err == nil {
			t.Errorf("cgroup of %s still there", id)
		}
	})
}

func waitFile(t *testing.T, path string) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s never appeared", path)
}

func nsCtx(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, "skiff-test")
}

// BenchmarkCreateStart measures CreateContainer + StartContainer of a
// busybox container (image present, host network), reported as ms/op.
func BenchmarkCreateStart(b *testing.B) {
	e := setup(b)
	ctx := context.Background()
	b.ResetTimer()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		id, err := e.rt.CreateContainer(ctx, runtime.ContainerConfig{
			Name: fmt.Sprintf("bench-%d", i), Image: e.busybox, Command: []string{"sleep", "60"},
			CgroupParent: e.cgroup, LogPath: filepath.Join(e.logDir, "bench", fmt.Sprint(i), "0.log"),
		})
		if err != nil {
			b.Fatal(err)
		}
		if err := e.rt.StartContainer(ctx, id); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		b.StopTimer()
		if err := e.rt.RemoveContainer(ctx, id); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/op")
}
