package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/skiffk8s/skiff/apiserver/apitest"
	"github.com/skiffk8s/skiff/kubelet"
	"github.com/skiffk8s/skiff/kubelet/agent"
	"github.com/skiffk8s/skiff/runtime"
	"github.com/skiffk8s/skiff/test/nodetest"
)

const (
	nodeName   = "e2e-node"
	podCIDR    = "10.244.7.0/24"
	ctrdNS     = "skiff-e2e"
	busyboxRef = nodetest.BusyboxTarballRef
)

// node is one host under test: an API server, a containerd with busybox
// imported, and a node agent whose pod network lives in a test namespace.
type node struct {
	cs     kubernetes.Interface
	cfg    agent.Config
	logs   string
	cancel context.CancelFunc
	done   chan error
	// process, when set, runs the kubelet as `skiff kubelet` from this
	// binary, reaching the API server with kubeconfig; proc is the
	// running process.
	process    string
	kubeconfig string
	proc       *os.Process
}

func startNode(t testing.TB) *node {
	t.Helper()
	return startNodeWith(t, "")
}

// startNodeWith starts a node whose kubelet is the skiff binary at
// process ("" in this test process).
func startNodeWith(t testing.TB, process string) *node {
	t.Helper()
	nodetest.RequireRoot(t)
	ctrd := nodetest.StartContainerd(t)
	ctx := context.Background()
	rt, err := runtime.New(ctx, runtime.Config{Address: ctrd.Address, Namespace: ctrdNS, RegistriesConfig: filepath.Join(t.TempDir(), "none.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(nodetest.BusyboxTarball(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Import(ctx, f); err != nil {
		t.Fatalf("import busybox: %v", err)
	}
	f.Close()
	rt.Close()

	srv := apitest.Start(t)
	dir := t.TempDir()
	n := &node{cs: srv.Client, logs: filepath.Join(dir, "logs"), process: process, kubeconfig: filepath.Join(srv.DataDir, "admin.kubeconfig")}
	n.cfg = agent.Config{
		Client: srv.Client, ContainerdAddress: ctrd.Address, ContainerdNamespace: ctrdNS,
		RegistriesConfig: filepath.Join(dir, "none.yaml"), NodeName: nodeName, NodeIP: net.IPv4(127, 0, 0, 1), PodCIDR: podCIDR,
		RootDir: filepath.Join(dir, "kubelet"), PodLogsDir: n.logs, NetNSDir: filepath.Join(dir, "netns"),
		HostNetNS: nodetest.NewNetNS(t),
		// The kubelet server on a free loopback port, its certificate from
		// the test cluster's CA (the API server reaches it at NodeIP).
		ServerPort: freePort(t), ServerBindAddress: "127.0.0.1",
		CACertFile: filepath.Join(srv.DataDir, "pki", "ca.crt"), CAKeyFile: filepath.Join(srv.DataDir, "pki", "ca.key"),
		StatsInterval: time.Second,
		Tune: func(c *kubelet.Config) {
			c.RelistInterval = 200 * time.Millisecond
			c.PodResyncInterval = 2 * time.Second
		},
	}
	n.start(t)
	t.Cleanup(func() {
		// Delete every pod so the kubelet stops them before it goes.
		_ = n.cs.CoreV1().Pods("default").DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{})
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			l, err := n.cs.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
			if err != nil || len(l.Items) == 0 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		n.stop(t)
	})
	n.waitFor(t, "the node to be Ready", func() (bool, error) {
		nd, err := n.cs.CoreV1().Nodes().Get(context.Background(), nodeName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		for _, c := range nd.Status.Conditions {
			if c.Type == corev1.NodeReady {
				return c.Status == corev1.ConditionTrue, nil
			}
		}
		return false, nil
	})
	return n
}

func (n *node) start(t testing.TB) {
	if n.process != "" {
		n.startProcess(t)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel, n.done = cancel, make(chan error, 1)
	go func() { n.done <- agent.Run(ctx, n.cfg) }()
}

func (n *node) stop(t testing.TB) {
	if n.proc != nil {
		_ = n.proc.Signal(unix.SIGTERM)
		select {
		case err := <-n.done:
			if err != nil {
				t.Logf("skiff kubelet ended: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("skiff kubelet did not stop in 30 s")
			_ = n.proc.Kill()
		}
		n.proc = nil
		return
	}
	if n.cancel == nil {
		return
	}
	n.cancel()
	select {
	case err := <-n.done:
		if err != nil && !strings.Contains(err.Error(), "context canceled") {
			t.Logf("kubelet ended: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("kubelet did not stop in 30 s")
	}
	n.cancel = nil
}

// startProcess runs `skiff kubelet` with the node's config as flags.
func (n *node) startProcess(t testing.TB) {
	c := n.cfg
	args := []string{"kubelet", "--kubeconfig", n.kubeconfig, "--containerd-address", c.ContainerdAddress,
		"--containerd-namespace", c.ContainerdNamespace, "--registries-config", c.RegistriesConfig,
		"--node-name", c.NodeName, "--node-ip", c.NodeIP.String(), "--pod-cidr", c.PodCIDR,
		"--root-dir", c.RootDir, "--pod-logs-dir", c.PodLogsDir, "--netns-dir", c.NetNSDir, "--host-netns", c.HostNetNS,
		"--kubelet-port", strconv.Itoa(c.ServerPort), "--address", c.ServerBindAddress, "--client-ca-file", c.CACertFile, "--ca-key-file", c.CAKeyFile}
	cmd := exec.Command(n.process, args...)
	logf, err := os.Create(filepath.Join(filepath.Dir(c.RootDir), "kubelet.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &unix.SysProcAttr{Pdeathsig: unix.SIGKILL}
	exited, err := nodetest.StartPinned(cmd)
	if err != nil {
		t.Fatalf("start skiff kubelet: %v", err)
	}
	n.proc, n.done = cmd.Process, make(chan error, 1)
	go func() {
		<-exited
		if st := cmd.ProcessState; st != nil && !st.Success() {
			n.done <- fmt.Errorf("skiff kubelet: %s", st)
			return
		}
		n.done <- nil
	}()
}

// freePort returns a TCP port free on 127.0.0.1 right now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitFor polls cond until it is true, fails, or 60 s pass.
func (n *node) waitFor(t testing.TB, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func busyboxPod(name string, policy corev1.RestartPolicy, script string) *corev1.Pod {
	grace := int64(2)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"e2e": name}},
		Spec: corev1.PodSpec{
			NodeName: nodeName, RestartPolicy: policy, TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{Name: "main", Image: busyboxRef, ImagePullPolicy: corev1.PullNever,
				Command: []string{"sh", "-c", script}}},
		},
	}
}

func (n *node) create(t testing.TB, p *corev1.Pod) *corev1.Pod {
	t.Helper()
	out, err := n.cs.CoreV1().Pods("default").Create(context.Background(), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// waitPhase waits for the pod to reach phase and returns it.
func (n *node) waitPhase(t testing.TB, name string, phase corev1.PodPhase) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	n.waitFor(t, fmt.Sprintf("pod %s to be %s", name, phase), func() (bool, error) {
		p, err := n.cs.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		pod = p
		if phase != corev1.PodFailed && p.Status.Phase == corev1.PodFailed {
			return false, fmt.Errorf("pod failed: %+v", p.Status)
		}
		return p.Status.Phase == phase, nil
	})
	return pod
}

func (n *node) logOf(t testing.TB, pod *corev1.Pod) string {
	t.Helper()
	b, _ := os.ReadFile(filepath.Join(n.logs, fmt.Sprintf("default_%s_%s", pod.Name, pod.UID), "main", "0.log"))
	return string(b)
}

func TestNodeRunsRealPods(t *testing.T) {
	n := startNode(t)

	t.Run("a pod runs and its output is in its CRI log file", func(t *testing.T) {
		n.create(t, busyboxPod("hello", corev1.RestartPolicyAlways, "echo hello from skiff; sleep 3600"))
		pod := n.waitPhase(t, "hello", corev1.PodRunning)
		cs := pod.Status.ContainerStatuses
		if len(cs) != 1 || cs[0].State.Running == nil || !strings.HasPrefix(cs[0].ContainerID, "containerd://") || cs[0].RestartCount != 0 {
			t.Fatalf("container status: %+v", cs)
		}
		if !strings.HasPrefix(pod.Status.PodIP, "10.244.7.") {
			t.Errorf("pod IP %q not from the node's pod CIDR %s", pod.Status.PodIP, podCIDR)
		}
		n.waitFor(t, "the log line", func() (bool, error) {
			return strings.Contains(n.logOf(t, pod), " stdout F hello from skiff"), nil
		})
	})

	t.Run("a container's exit code fails a Never pod", func(t *testing.T) {
		n.create(t, busyboxPod("exit3", corev1.RestartPolicyNever, "exit 3"))
		pod := n.waitPhase(t, "exit3", corev1.PodFailed)
		cs := pod.Status.ContainerStatuses
		if len(cs) != 1 || cs[0].State.Terminated == nil || cs[0].State.Terminated.ExitCode != 3 {
			t.Fatalf("container status: %+v", cs)
		}
	})

	t.Run("two pods reach each other by pod IP", func(t *testing.T) {
		n.create(t, busyboxPod("server", corev1.RestartPolicyAlways, "echo ok-from-server > /tmp/index.html; exec httpd -f -p 8080 -h /tmp"))
		server := n.waitPhase(t, "server", corev1.PodRunning)
		n.create(t, busyboxPod("client", corev1.RestartPolicyNever,
			// busybox-static's wget crashes (static glibc); nc speaks HTTP/1.0 fine.
			fmt.Sprintf("for i in 1 2 3 4 5 6 7 8 9 10; do printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 2 %s 8080 | grep ok-from && exit 0; sleep 0.5; done; exit 1", server.Status.PodIP)))
		var client *corev1.Pod
		n.waitFor(t, "the client to finish", func() (bool, error) {
			p, err := n.cs.CoreV1().Pods("default").Get(context.Background(), "client", metav1.GetOptions{})
			client = p
			return err == nil && (p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed), err
		})
		if client.Status.Phase != corev1.PodSucceeded {
			out, _ := exec.Command("nsenter", "--net="+n.cfg.HostNetNS, "sh", "-c", "ip addr; ip route; iptables -S; iptables -t nat -S; sysctl net.ipv4.ip_forward; cat /proc/sys/net/bridge/bridge-nf-call-iptables").CombinedOutput()
			t.Fatalf("client %s, log %q; server %s; host namespace:\n%s", client.Status.Phase, n.logOf(t, client), server.Status.PodIP, out)
		}
		if log := n.logOf(t, client); !strings.Contains(log, "ok-from-server") {
			t.Errorf("client log %q lacks the server's page", log)
		}
	})

	t.Run("a hostNetwork pod runs in the node's network namespace", func(t *testing.T) {
		p := busyboxPod("hostnet", corev1.RestartPolicyAlways, "cat /proc/net/dev; echo host=$(hostname); sleep 3600")
		p.Spec.HostNetwork = true
		n.create(t, p)
		pod := n.waitPhase(t, "hostnet", corev1.PodRunning)
		if pod.Status.PodIP != pod.Status.HostIP || pod.Status.PodIP != "127.0.0.1" {
			t.Errorf("podIP %q hostIP %q, want both the node IP 127.0.0.1", pod.Status.PodIP, pod.Status.HostIP)
		}
		// The node bridge lives only in the node's (test) namespace.
		log := n.waitLog(t, pod, "main", 0, "host=")
		if !strings.Contains(log, "skiff0:") {
			t.Errorf("the hostNetwork pod does not see the node bridge skiff0:\n%s", log)
		}
		hostname, _ := os.Hostname()
		if !strings.Contains(log, "host="+hostname) {
			t.Errorf("hostname in the pod is not the node's %q:\n%s", hostname, log)
		}
		if _, err := os.Stat(filepath.Join(n.cfg.NetNSDir, string(pod.UID))); !os.IsNotExist(err) {
			t.Errorf("a hostNetwork pod got its own network namespace pinned (stat: %v)", err)
		}
	})

	t.Run("a kubelet restart keeps running containers", func(t *testing.T) {
		before, err := n.cs.CoreV1().Pods("default").Get(context.Background(), "hello", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n.stop(t)
		n.start(t)
		time.Sleep(2 * time.Second) // let the new kubelet sync the pod at least once
		after := n.waitPhase(t, "hello", corev1.PodRunning)
		b, a := before.Status.ContainerStatuses[0], after.Status.ContainerStatuses[0]
		if a.ContainerID != b.ContainerID || a.RestartCount != b.RestartCount {
			t.Errorf("after the restart: %s restarts %d, before: %s restarts %d", a.ContainerID, a.RestartCount, b.ContainerID, b.RestartCount)
		}
	})

	t.Run("deleting a pod stops its container and removes the object", func(t *testing.T) {
		if err := n.cs.CoreV1().Pods("default").Delete(context.Background(), "hello", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		n.waitFor(t, "the pod object to go", func() (bool, error) {
			_, err := n.cs.CoreV1().Pods("default").Get(context.Background(), "hello", metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
	})
}
