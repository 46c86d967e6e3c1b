// Package lab runs a multi-host Skiff cluster on one machine, for tests
// and for developers (root only). Each host is a network namespace with
// one veth into a bridge that lives in a switch namespace of the lab's
// own, with an address the lab chooses (192.168.77.0/24) and no route off
// the machine; each host has its own containerd (own root, state and
// socket) and runs its role's components as processes with the systemd
// units' own command lines (systemd/*.service, with /usr/bin/skiff and
// /etc/skiff replaced by the built binary and the host's directory). The
// hosts are set up the way packaged hosts are: `skiff init` on the master,
// `skiff join` with the join command it printed on each worker; the lab
// then adds what several hosts on one machine need (their own containerd
// socket, pod log and netns directories) in a drop-in of the kubelet's
// config. A
// unit's process that exits is started again a second later, as the
// units' Restart=always does.
package lab

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/skiffk8s/skiff/install"
	"github.com/skiffk8s/skiff/kubelet/network"
	"github.com/skiffk8s/skiff/runtime"
	"github.com/skiffk8s/skiff/test/nodetest"
)

// Subnet is the lab network; the master is .10, workers .11, .12, ...
const Subnet = "192.168.77.0/24"

// Config sizes and tunes a lab.
type Config struct {
	// Masters is the number of masters (m1, m2, ...; default 1). More
	// than one needs ExternalEtcd: m1 runs skiff init --upload-certs, the
	// others join with --role master.
	Masters int
	// ExternalEtcd runs Debian's etcd on a host of its own (e1,
	// 192.168.77.5) for the masters' API servers (--etcd-servers).
	ExternalEtcd bool
	// Workers is the number of worker hosts (w1, w2, ...).
	Workers int
	// Settings are added to every host's config file of a component
	// (e.g. "controller-manager": {"node-monitor-grace-period": "10s"}),
	// after init or join wrote it.
	Settings map[string]map[string]any
}

// Lab is a running multi-host cluster.
type Lab struct {
	Master *Host
	// Masters are all masters, Master first.
	Masters []*Host
	Workers []*Host
	// Etcd is the external etcd's host (ExternalEtcd), else nil.
	Etcd *Host
	// Client is a cluster-admin client; it dials inside the master's
	// namespace.
	Client kubernetes.Interface
	// RESTConfig is Client's config.
	RESTConfig *rest.Config
	// JoinCommand is what skiff init printed for workers, and
	// MasterJoinCommand for masters (with --upload-certs).
	JoinCommand, MasterJoinCommand string
	// Binary is the skiff binary the hosts run.
	Binary string

	switchNS string
	unitsDir string
	cfg      Config
}

// Host is one machine of the lab.
type Host struct {
	Name   string
	IP     net.IP
	NetNS  string // pinned network namespace
	Dir    string // etc/ and data/ of the host
	Etc    string
	Data   string
	Ctrd   *nodetest.Containerd
	Units  []string
	link   string // the host's veth end in the switch namespace
	lab    *Lab
	mu     sync.Mutex
	procs  map[string]*exec.Cmd
	exited map[string]<-chan struct{}
	stops  map[string]chan struct{}
}

// Start builds and runs a lab of one master and cfg.Workers workers, and
// waits until every node is Ready. Everything is torn down when the test
// ends.
func Start(t *testing.T, cfg Config) *Lab {
	t.Helper()
	nodetest.RequireRoot(t)
	l := &Lab{Binary: nodetest.SkiffBinary(t), unitsDir: filepath.Join(repoRoot(t), "systemd"), cfg: cfg}
	l.switchNS = nodetest.NewNetNS(t)
	sh(t, l.switchNS, "ip", "link", "add", "lab0", "type", "bridge")
	sh(t, l.switchNS, "ip", "link", "set", "lab0", "up")

	if cfg.Masters == 0 {
		cfg.Masters = 1
		l.cfg.Masters = 1
	}
	if cfg.Masters > 1 && !cfg.ExternalEtcd {
		t.Fatal("lab: several masters need ExternalEtcd")
	}
	if cfg.ExternalEtcd {
		l.startEtcd(t)
	}
	for i := range cfg.Masters {
		l.Masters = append(l.Masters, l.newHost(t, fmt.Sprintf("m%d", i+1), 10+i))
	}
	l.Master = l.Masters[0]
	for i := range cfg.Workers {
		l.Workers = append(l.Workers, l.newHost(t, fmt.Sprintf("w%d", i+1), 20+i))
	}
	l.initMaster(t)
	for _, m := range l.Masters[1:] {
		if err := m.Join(t, l.MasterJoinCommand); err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
	}
	for _, w := range l.Workers {
		if err := w.Join(t, l.JoinCommand); err != nil {
			t.Fatalf("%s: %v", w.Name, err)
		}
	}
	l.WaitReady(t, 3*time.Minute, l.Hosts()...)
	return l
}

// Hosts is the masters and the workers.
func (l *Lab) Hosts() []*Host { return append(append([]*Host{}, l.Masters...), l.Workers...) }

// EtcdURL is the external etcd's client URL.
const EtcdURL = "http://192.168.77.5:2379"

// startEtcd runs Debian's etcd (make test-deps installs etcd-server) on
// host e1, plain HTTP inside the lab network.
func (l *Lab) startEtcd(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("etcd"); err != nil {
		t.Fatalf("etcd is missing: run `make test-deps` (apt-get install etcd-server)")
	}
	dir, err := os.MkdirTemp("/tmp", "skiff-lab-e1-")
	if err != nil {
		t.Fatal(err)
	}
	e := l.host(t, "e1", 5, dir)
	l.Etcd = e
	e.plug(t)
	cmd := exec.Command("nsenter", "--net="+e.NetNS, "etcd", "--name", "e1", "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", EtcdURL, "--advertise-client-urls", EtcdURL,
		"--listen-peer-urls", "http://127.0.0.1:2380", "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
		"--initial-cluster", "e1=http://127.0.0.1:2380")
	logf, err := os.Create(filepath.Join(dir, "etcd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	exited, err := nodetest.StartPinned(cmd)
	if err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		_ = os.RemoveAll(dir)
	})
}

// host is a new Host at 192.168.77.<octet> with its network namespace and
// directory (not yet plugged into the bridge).
func (l *Lab) host(t *testing.T, name string, octet int, dir string) *Host {
	return &Host{Name: name, IP: net.IPv4(192, 168, 77, byte(octet)), NetNS: nodetest.NewNetNS(t), Dir: dir,
		Etc: filepath.Join(dir, "etc"), Data: filepath.Join(dir, "data"), link: "sw-" + name, lab: l,
		procs: map[string]*exec.Cmd{}, exited: map[string]<-chan struct{}{}, stops: map[string]chan struct{}{}}
}

// newHost creates a host's namespace, link, directories and containerd
// (with busybox imported).
func (l *Lab) newHost(t *testing.T, name string, octet int) *Host {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "skiff-lab-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	h := l.host(t, name, octet, dir)
	t.Cleanup(func() {
		h.StopAll(t)
		nodetest.UnmountUnder(t, h.Dir)
		_ = os.RemoveAll(h.Dir)
	})
	h.plug(t)

	h.Ctrd = nodetest.StartContainerdIn(t, h.NetNS)
	ctx := context.Background()
	rt, err := runtime.New(ctx, runtime.Config{Address: h.Ctrd.Address, Namespace: "skiff", RegistriesConfig: filepath.Join(dir, "none.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	f, err := os.Open(nodetest.BusyboxTarball(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := rt.Import(ctx, f); err != nil {
		t.Fatalf("%s: import busybox: %v", name, err)
	}
	return h
}

// plug connects the host to the lab's bridge with its address.
func (h *Host) plug(t *testing.T) {
	t.Helper()
	l := h.lab
	sh(t, h.NetNS, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", h.link)
	sh(t, h.NetNS, "ip", "link", "set", h.link, "netns", l.switchNS)
	sh(t, l.switchNS, "ip", "link", "set", h.link, "master", "lab0")
	sh(t, l.switchNS, "ip", "link", "set", h.link, "up")
	sh(t, h.NetNS, "ip", "addr", "add", h.IP.String()+"/24", "dev", "eth0")
	sh(t, h.NetNS, "ip", "link", "set", "eth0", "up")
}

// initMaster runs skiff init on the master; once it has written the
// configs and waits for the API server, the lab adds its settings and
// starts the master's units; init then prints the join command.
func (l *Lab) initMaster(t *testing.T) {
	t.Helper()
	m := l.Master
	args := []string{"init", "--advertise-address", m.IP.String(), "--node-name", m.Name,
		"--etc-dir", m.Etc, "--data-dir", m.Data, "--wait", "3m"}
	if l.cfg.ExternalEtcd {
		args = append(args, "--etcd-servers", EtcdURL)
	}
	if l.cfg.Masters > 1 {
		args = append(args, "--upload-certs")
	}
	cmd := m.command(args...)
	var out bytes.Buffer
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("skiff init: %v", err)
	}
	// "systemd is not running here: start the control plane with ..."
	// comes once the configs are written.
	sc := bufio.NewScanner(stdout)
	started := false
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		if !started && strings.HasPrefix(line, "systemd is not running here") {
			started = true
			m.Units = install.MasterUnits
			m.configure(t)
			for _, u := range m.Units {
				m.StartUnit(t, u)
			}
		}
		if j := strings.TrimSpace(line); strings.HasPrefix(j, "skiff join ") {
			if strings.Contains(j, "--role master") {
				l.MasterJoinCommand = j
			} else {
				l.JoinCommand = j
			}
		}
	}
	if err := cmd.Wait(); err != nil || l.JoinCommand == "" {
		t.Fatalf("skiff init: %v\n%s\n%s", err, out.String(), m.Logs())
	}
	l.RESTConfig, l.Client = m.AdminClient(t)
}

// AdminClient is a cluster-admin client of the master's own API server
// (its admin kubeconfig), dialing inside its namespace.
func (h *Host) AdminClient(t testing.TB) (*rest.Config, kubernetes.Interface) {
	t.Helper()
	rc, err := clientcmd.BuildConfigFromFlags("", filepath.Join(h.Etc, "admin.kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	rc.Dial = network.DialerIn(h.NetNS)
	rc.QPS, rc.Burst = 100, 200
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	return rc, cs
}

// Join runs a join command (as skiff init or skiff token create printed
// it) on the host, then adds the lab's settings and starts the units of
// the role it names (a master's with --role master, else a worker's). A
// failed join returns skiff join's output as the error.
func (h *Host) Join(t *testing.T, joinCommand string) error {
	t.Helper()
	args := strings.Fields(joinCommand)
	if len(args) < 2 || args[0] != "skiff" || args[1] != "join" {
		return fmt.Errorf("not a join command: %q", joinCommand)
	}
	args = append(args[1:], "--node-name", h.Name, "--node-ip", h.IP.String(), "--etc-dir", h.Etc, "--data-dir", h.Data)
	if out, err := h.command(args...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w\n%s", joinCommand, err, out)
	}
	h.Units = install.WorkerUnits
	if strings.Contains(joinCommand, "--role master") {
		h.Units = install.MasterUnits
	}
	h.configure(t)
	for _, u := range h.Units {
		h.StartUnit(t, u)
	}
	return nil
}

// configure adds the lab's per-host settings as a drop-in (90-lab.yaml,
// after the 50-skiff-init/join one): the host's containerd and its own pod
// log and netns directories, then Config.Settings.
func (h *Host) configure(t *testing.T) {
	t.Helper()
	add := map[string]map[string]any{
		"kubelet": {
			"containerd-address": h.Ctrd.Address, "registries-config": filepath.Join(h.Dir, "registries.yaml"),
			"pod-logs-dir": filepath.Join(h.Data, "pods-logs"), "netns-dir": filepath.Join(h.Data, "netns"),
		},
	}
	for comp, kv := range h.lab.cfg.Settings {
		if add[comp] == nil {
			add[comp] = map[string]any{}
		}
		for k, v := range kv {
			add[comp][k] = v
		}
	}
	for comp, kv := range add {
		if _, err := os.Stat(filepath.Join(h.Etc, comp+".yaml")); os.IsNotExist(err) {
			continue // not a component of this host
		}
		out, err := yaml.Marshal(kv)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(h.Etc, comp+".yaml.d", "90-lab.yaml")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append([]byte("# the test lab's settings for several hosts on one machine\n"), out...), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// Skiff runs the lab's skiff binary with args in the host's namespace and
// returns its combined output.
func (h *Host) Skiff(args ...string) (string, error) {
	out, err := h.command(args...).CombinedOutput()
	return string(out), err
}

// command is the skiff binary with args inside the host's namespace.
func (h *Host) command(args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"--net=" + h.NetNS, h.lab.Binary}, args...)...)
}

var execStart = regexp.MustCompile(`(?m)^ExecStart=(.*)$`)

// UnitCommand is the unit's ExecStart for this host: /usr/bin/skiff is
// the lab's binary and /etc/skiff the host's directory.
func (h *Host) UnitCommand(t testing.TB, unit string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(h.lab.unitsDir, unit+".service"))
	if err != nil {
		t.Fatal(err)
	}
	m := execStart.FindSubmatch(data)
	if m == nil {
		t.Fatalf("%s.service has no ExecStart", unit)
	}
	var args []string
	for _, f := range strings.Fields(string(m[1])) {
		switch {
		case f == "/usr/bin/skiff":
			f = h.lab.Binary
		case strings.HasPrefix(f, "/etc/skiff/"):
			f = filepath.Join(h.Etc, strings.TrimPrefix(f, "/etc/skiff/"))
		}
		args = append(args, f)
	}
	return args
}

// StartUnit starts a unit's command in the host's namespace and, as the
// units' Restart=always does, starts it again a second after it exits,
// until StopUnit. Its output goes to Dir/<unit>.log.
func (h *Host) StartUnit(t testing.TB, unit string) {
	t.Helper()
	args := h.UnitCommand(t, unit)
	stop := make(chan struct{})
	h.mu.Lock()
	if h.stops[unit] != nil {
		h.mu.Unlock()
		t.Fatalf("%s: %s runs already", h.Name, unit)
	}
	h.stops[unit] = stop
	h.mu.Unlock()
	start := func() (*exec.Cmd, <-chan struct{}, error) {
		cmd := exec.Command("nsenter", append([]string{"--net=" + h.NetNS}, args...)...)
		logf, err := os.OpenFile(filepath.Join(h.Dir, unit+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, nil, err
		}
		defer logf.Close()
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		exited, err := nodetest.StartPinned(cmd)
		return cmd, exited, err
	}
	cmd, exited, err := start()
	if err != nil {
		t.Fatalf("%s: start %s: %v", h.Name, unit, err)
	}
	h.mu.Lock()
	h.procs[unit], h.exited[unit] = cmd, exited
	h.mu.Unlock()
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-exited:
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Second):
			}
			var err error
			if cmd, exited, err = start(); err != nil {
				return
			}
			h.mu.Lock()
			h.procs[unit], h.exited[unit] = cmd, exited
			h.mu.Unlock()
		}
	}()
}

// StopUnit stops a unit's process and its restarts: SIGTERM, then SIGKILL
// after 20 s (kill: SIGKILL at once, as a crash or power loss).
func (h *Host) StopUnit(t testing.TB, unit string, kill bool) {
	t.Helper()
	h.mu.Lock()
	if stop := h.stops[unit]; stop != nil {
		close(stop)
	}
	delete(h.stops, unit)
	cmd, exited := h.procs[unit], h.exited[unit]
	delete(h.procs, unit)
	h.mu.Unlock()
	if cmd == nil {
		return
	}
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		t.Logf("%s: %s did not stop in 20 s; killing it", h.Name, unit)
		_ = cmd.Process.Kill()
		<-exited
	}
}

// StopAll stops every unit of the host, in reverse start order.
func (h *Host) StopAll(t testing.TB) {
	for i := len(h.Units) - 1; i >= 0; i-- {
		h.StopUnit(t, h.Units[i], false)
	}
}

// CutLink takes the host off the lab network (its switch port down);
// RestoreLink puts it back.
func (h *Host) CutLink(t testing.TB) {
	sh(t, h.lab.switchNS, "ip", "link", "set", h.link, "down")
}

// RestoreLink puts the host back on the lab network.
func (h *Host) RestoreLink(t testing.TB) {
	sh(t, h.lab.switchNS, "ip", "link", "set", h.link, "up")
}

// Logs returns the tail of each unit's log, for failure messages.
func (h *Host) Logs() string {
	var b strings.Builder
	for _, u := range h.Units {
		data, _ := os.ReadFile(filepath.Join(h.Dir, u+".log"))
		if len(data) > 3000 {
			data = data[len(data)-3000:]
		}
		fmt.Fprintf(&b, "--- %s %s ---\n%s\n", h.Name, u, data)
	}
	return b.String()
}

// Sh runs a command in the host's namespace and returns its output.
func (h *Host) Sh(t testing.TB, args ...string) string {
	t.Helper()
	return sh(t, h.NetNS, args...)
}

// WaitReady waits until the hosts' nodes are Ready.
func (l *Lab) WaitReady(t testing.TB, timeout time.Duration, hosts ...*Host) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for _, h := range hosts {
		for {
			n, err := l.Client.CoreV1().Nodes().Get(context.Background(), h.Name, metav1.GetOptions{})
			if err == nil && NodeReady(n) == corev1.ConditionTrue {
				break
			}
			if time.Now().After(deadline) {
				var logs strings.Builder
				for _, h := range l.Hosts() {
					logs.WriteString(h.Logs())
				}
				t.Fatalf("node %s not Ready after %s (last: %v)\n%s", h.Name, timeout, err, logs.String())
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
}

// NodeReady is the status of the node's Ready condition.
func NodeReady(n *corev1.Node) corev1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return corev1.ConditionUnknown
}

// Kubectl runs the lab binary's kubectl as the admin inside the master's
// namespace and returns its combined output.
func (l *Lab) Kubectl(t testing.TB, args ...string) (string, error) {
	t.Helper()
	cmd := l.Master.command(append([]string{"kubectl", "--kubeconfig", filepath.Join(l.Master.Etc, "admin.kubeconfig")}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func sh(t testing.TB, netns string, args ...string) string {
	t.Helper()
	out, err := exec.Command("nsenter", append([]string{"--net=" + netns}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// repoRoot is the directory of go.mod above the working directory.
func repoRoot(t testing.TB) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}
