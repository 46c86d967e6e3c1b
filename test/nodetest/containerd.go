package nodetest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
)

// Containerd is a containerd daemon started by a test.
type Containerd struct {
	// Dir holds everything: config.toml, root/, state/, the socket, the log.
	Dir string
	// Address is the gRPC socket.
	Address string
	// LogFile is the daemon's output.
	LogFile string
	cmd     *exec.Cmd
}

// StartContainerd starts a containerd with its own root, state, socket and
// config under a fresh /tmp/skiff-XXXX directory (short enough for unix
// socket paths). At the end of the test it deletes every task and
// container, stops the daemon, kills leftover shims and their containers,
// unmounts what lies under its directory and removes it.
func StartContainerd(t testing.TB) *Containerd {
	t.Helper()
	return StartContainerdIn(t, "")
}

// StartContainerdIn is StartContainerd with the daemon (and so its shims
// and the containers of hostNetwork pods) in the network namespace pinned
// at netnsPath ("" for the test's own), as a lab host's containerd.
func StartContainerdIn(t testing.TB, netnsPath string) *Containerd {
	t.Helper()
	RequireRoot(t)
	ensureBinary(t, "/usr/bin/containerd", "containerd")
	if _, err := exec.LookPath("runc"); err != nil {
		installPackage(t, "runc")
	}
	dir, err := os.MkdirTemp("/tmp", "skiff-")
	if err != nil {
		t.Fatal(err)
	}
	c := &Containerd{
		Dir:     dir,
		Address: filepath.Join(dir, "c.sock"),
		LogFile: filepath.Join(dir, "containerd.log"),
	}
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = %q

[ttrpc]
  address = %q

[debug]
  address = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), c.Address, c.Address+".ttrpc", filepath.Join(dir, "debug.sock"))
	cfgPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(c.LogFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("containerd", "--config", cfgPath)
	if netnsPath != "" {
		// nsenter execs containerd in place: the pid, and Pdeathsig, stay.
		cmd = exec.Command("nsenter", "--net="+netnsPath, "containerd", "--config", cfgPath)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	exited, err := StartPinned(cmd)
	if err != nil {
		logf.Close()
		t.Fatalf("start containerd: %v", err)
	}
	logf.Close()
	c.cmd = cmd
	t.Cleanup(func() { c.stop(t, exited) })

	deadline := time.Now().Add(20 * time.Second)
	for {
		conn, err := net.Dial("unix", c.Address)
		if err == nil {
			conn.Close()
			break
		}
		select {
		case <-exited:
			t.Fatalf("containerd exited at start:\n%s", c.logTail())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd socket %s not ready after 20s:\n%s", c.Address, c.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return c
}

func (c *Containerd) logTail() string {
	b, _ := os.ReadFile(c.LogFile)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// stop tears everything down; it never fails the test for cleanup
// problems it can work around, but reports them.
func (c *Containerd) stop(t testing.TB, exited <-chan struct{}) {
	if t.Failed() {
		t.Logf("containerd log (tail):\n%s", c.logTail())
	}
	c.deleteAll(t)
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		_ = c.cmd.Process.Kill()
		<-exited
	}
	killShims(t, c.Address)
	UnmountUnder(t, c.Dir)
	if err := os.RemoveAll(c.Dir); err != nil {
		t.Logf("remove %s: %v", c.Dir, err)
	}
}

// deleteAll kills and deletes every task and container in every namespace.
func (c *Containerd) deleteAll(t testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := containerd.New(c.Address)
	if err != nil {
		t.Logf("cleanup: connect: %v", err)
		return
	}
	defer client.Close()
	nss, err := client.NamespaceService().List(ctx)
	if err != nil {
		t.Logf("cleanup: namespaces: %v", err)
		return
	}
	for _, ns := range nss {
		nctx := namespaces.WithNamespace(ctx, ns)
		cs, err := client.Containers(nctx)
		if err != nil {
			continue
		}
		for _, ctr := range cs {
			if task, err := ctr.Task(nctx, nil); err == nil {
				_ = task.Kill(nctx, syscall.SIGKILL, containerd.WithKillAll)
				if _, err := task.Delete(nctx, containerd.WithProcessKill); err != nil {
					t.Logf("cleanup: delete task %s: %v", ctr.ID(), err)
				}
			}
			if err := ctr.Delete(nctx, containerd.WithSnapshotCleanup); err != nil {
				t.Logf("cleanup: delete container %s: %v", ctr.ID(), err)
			}
		}
	}
}

// killShims kills every process whose command line names address (the
// shims of that containerd) and all their descendants (containers).
func killShims(t testing.TB, address string) {
	parents := map[int]int{}
	var roots []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil {
			s := string(st)
			if i := strings.LastIndexByte(s, ')'); i > 0 {
				f := strings.Fields(s[i+1:])
				if len(f) > 2 {
					ppid, _ := strconv.Atoi(f[1])
					parents[pid] = ppid
				}
			}
		}
		cl, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cl), address) {
			roots = append(roots, pid)
		}
	}
	if len(roots) == 0 {
		return
	}
	kill := map[int]bool{}
	for _, r := range roots {
		kill[r] = true
	}
	for changed := true; changed; {
		changed = false
		for pid, ppid := range parents {
			if kill[ppid] && !kill[pid] {
				kill[pid] = true
				changed = true
			}
		}
	}
	for pid := range kill {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	t.Logf("cleanup: killed %d leftover shim/container processes", len(kill))
}

// unmountUnder lazily unmounts every mount point under dir, deepest first.
// UnmountUnder detaches every mount at or below dir (pod network
// namespace pins, volumes, container roots), deepest first.
func UnmountUnder(t testing.TB, dir string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 {
			mp := fields[4]
			if mp == dir || strings.HasPrefix(mp, dir+"/") {
				points = append(points, mp)
			}
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	for _, mp := range points {
		if err := syscall.Unmount(mp, syscall.MNT_DETACH); err != nil {
			t.Logf("cleanup: unmount %s: %v", mp, err)
		}
	}
}
