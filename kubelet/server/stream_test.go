package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apihttpstream "k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	utilexec "k8s.io/client-go/util/exec"

	"github.com/skiffk8s/skiff/kubelet/network"
	"github.com/skiffk8s/skiff/runtime"
	"github.com/skiffk8s/skiff/test/nodetest"
)

// node is a real containerd with busybox, a kubelet server in front of it
// and one pod "box" in namespace "default" whose containers the tests
// start.
type node struct {
	rt     *runtime.Containerd
	image  runtime.Image
	cgroup string
	netns  string // the pod's network namespace (pinned)
	logs   string
	ts     *testServer

	mu  sync.Mutex
	ids map[string]string // container name → runtime ID; guarded by mu
}

func startNode(t *testing.T) *node {
	t.Helper()
	nodetest.RequireRoot(t)
	n := &node{ids: map[string]string{}, logs: t.TempDir()}
	n.cgroup = fmt.Sprintf("/skiff-server-test-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)
	t.Cleanup(func() { nodetest.RemoveCgroup(n.cgroup) })
	cd := nodetest.StartContainerd(t)
	ctx := context.Background()
	rt, err := runtime.New(ctx, runtime.Config{
		Address: cd.Address, Namespace: "skiff-test",
		RegistriesConfig: filepath.Join(t.TempDir(), "none.yaml"), FIFODir: filepath.Join(cd.Dir, "fifo"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	f, err := os.Open(nodetest.BusyboxTarball(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	imgs, err := rt.Import(ctx, f)
	if err != nil || len(imgs) == 0 {
		t.Fatalf("import busybox: %v", err)
	}
	n.rt, n.image = rt, imgs[0]
	n.netns = nodetest.NewNetNS(t)

	pod := testPod("default", "box", "shell", "printer", "web", "echo-ws", "echo-spdy")
	dial := network.DialerIn(n.netns)
	n.ts = startServer(t, Config{
		Pods:       func() []*corev1.Pod { return []*corev1.Pod{pod} },
		PodLogsDir: n.logs,
		LookupContainer: func(_ *corev1.Pod, c string) (ContainerInfo, bool) {
			n.mu.Lock()
			defer n.mu.Unlock()
			id, ok := n.ids[c]
			return ContainerInfo{ID: id, Running: ok}, ok
		},
		Streamer: rt,
		DialPod: func(ctx context.Context, _ *corev1.Pod, port int32) (net.Conn, error) {
			return dial(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", port))
		},
	})
	return n
}

// run starts container name of the pod with cmd.
func (n *node) run(t *testing.T, name string, cfg runtime.ContainerConfig, cmd ...string) string {
	t.Helper()
	ctx := context.Background()
	cfg.Name, cfg.Image, cfg.Command = name, n.image, cmd
	cfg.CgroupParent, cfg.NetNSPath = n.cgroup, n.netns
	cfg.LogPath = filepath.Join(n.logs, "default_box_box-uid", name, "0.log")
	id, err := n.rt.CreateContainer(ctx, cfg)
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	t.Cleanup(func() { _ = n.rt.RemoveContainer(context.Background(), id) })
	if err := n.rt.StartContainer(ctx, id); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	n.mu.Lock()
	n.ids[name] = id
	n.mu.Unlock()
	return id
}

// executor kinds kubectl uses: websocket v5 first, SPDY as the fallback.
type executorKind struct {
	name string
	new  func(t *testing.T, n *node, u *url.URL) remotecommand.Executor
}

var executors = []executorKind{
	{"WebSocketV5", func(t *testing.T, n *node, u *url.URL) remotecommand.Executor {
		e, err := remotecommand.NewWebSocketExecutor(n.ts.restConfig(t, "admin"), "GET", u.String())
		if err != nil {
			t.Fatal(err)
		}
		return e
	}},
	{"SPDY", func(t *testing.T, n *node, u *url.URL) remotecommand.Executor {
		e, err := remotecommand.NewSPDYExecutor(n.ts.restConfig(t, "admin"), "POST", u)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}},
}

// streamURL is /<verb>/default/box/<container> with the stream flags
// and commands.
func (n *node) streamURL(verb, container string, o remotecommand.StreamOptions, cmd ...string) *url.URL {
	u, _ := url.Parse(n.ts.URL + "/" + verb + "/default/box/" + container)
	q := url.Values{}
	for _, c := range cmd {
		q.Add("command", c)
	}
	for k, v := range map[string]bool{"stdin": o.Stdin != nil, "stdout": o.Stdout != nil, "stderr": o.Stderr != nil, "tty": o.Tty} {
		if v {
			q.Set(k, "true")
		}
	}
	u.RawQuery = q.Encode()
	return u
}

// exec runs cmd in container "shell" and returns stdout, stderr and the
// stream's error.
func (n *node) exec(t *testing.T, kind executorKind, o remotecommand.StreamOptions, cmd ...string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return kind.new(t, n, n.streamURL("exec", "shell", o, cmd...)).StreamWithContext(ctx, o)
}

// sizes is a TerminalSizeQueue giving one size, then nothing until done.
type sizes struct {
	first chan remotecommand.TerminalSize
	done  chan struct{}
}

func (s *sizes) Next() *remotecommand.TerminalSize {
	select {
	case sz := <-s.first:
		return &sz
	case <-s.done:
		return nil
	}
}

func TestExecAttachAndPortForwardAgainstContainerd(t *testing.T) {
	n := startNode(t)
	n.run(t, "shell", runtime.ContainerConfig{}, "sleep", "3600")
	for _, kind := range executors {
		t.Run("Exec"+kind.name, func(t *testing.T) {
			t.Run("ExitCodeReachesTheClient", func(t *testing.T) {
				var out, errb bytes.Buffer
				err := n.exec(t, kind, remotecommand.StreamOptions{Stdout: &out, Stderr: &errb}, "sh", "-c", "echo to-out; echo to-err >&2; exit 7")
				var ee utilexec.ExitError
				if !errors.As(err, &ee) || ee.ExitStatus() != 7 {
					t.Fatalf("err = %v (%T), want exit code 7", err, err)
				}
				if out.String() != "to-out\n" || errb.String() != "to-err\n" {
					t.Fatalf("stdout %q stderr %q", out.String(), errb.String())
				}
			})
			t.Run("SuccessIsNoError", func(t *testing.T) {
				var out bytes.Buffer
				if err := n.exec(t, kind, remotecommand.StreamOptions{Stdout: &out}, "echo", "fine"); err != nil || out.String() != "fine\n" {
					t.Fatalf("err %v stdout %q", err, out.String())
				}
			})
			t.Run("StdinIsPipedUntilItEnds", func(t *testing.T) {
				var out bytes.Buffer
				err := n.exec(t, kind, remotecommand.StreamOptions{Stdin: strings.NewReader("hello\nworld\n"), Stdout: &out}, "cat")
				if err != nil || out.String() != "hello\nworld\n" {
					t.Fatalf("err %v stdout %q", err, out.String())
				}
			})
			t.Run("TTYAndResize", func(t *testing.T) {
				var out bytes.Buffer
				q := &sizes{first: make(chan remotecommand.TerminalSize, 1), done: make(chan struct{})}
				defer close(q.done)
				q.first <- remotecommand.TerminalSize{Width: 101, Height: 33}
				err := n.exec(t, kind, remotecommand.StreamOptions{Stdout: &out, Tty: true, TerminalSizeQueue: q}, "sh", "-c", "sleep 0.5; tty; stty size")
				if err != nil || !strings.Contains(out.String(), "/dev/pts/") || !strings.Contains(out.String(), "33 101") {
					t.Fatalf("err %v output %q, want a /dev/pts tty of 33 rows and 101 columns", err, out.String())
				}
			})
		})
	}
	for _, kind := range executors {
		t.Run("AClientThatGoesAwayKillsItsProcess"+kind.name, func(t *testing.T) {
			marker := fmt.Sprintf("%d", 40000+len(kind.name)) // distinct sleep per protocol
			ctx, cancel := context.WithCancel(context.Background())
			o := remotecommand.StreamOptions{Stdout: io.Discard}
			errc := make(chan error, 1)
			go func() {
				errc <- kind.new(t, n, n.streamURL("exec", "shell", o, "sleep", marker)).StreamWithContext(ctx, o)
			}()
			waitFor(t, func() bool { return strings.Contains(n.ps(t), "sleep "+marker) }, "the exec'd process to start")
			cancel()
			<-errc
			waitFor(t, func() bool { return !strings.Contains(n.ps(t), "sleep "+marker) }, "the exec'd process to be killed")
		})
	}
	t.Run("ExecInAStoppedOrUnknownContainerIsRefused", func(t *testing.T) {
		c := n.ts.authed(t)
		code, body := get(t, c, n.ts.URL+"/exec/default/box/web?command=ls&stdout=true")
		if code != http.StatusBadRequest || !strings.Contains(body, `container "web" in pod "box" is not running`) {
			t.Fatalf("%d %q", code, body)
		}
		code, body = get(t, c, n.ts.URL+"/exec/default/box/nope?command=ls&stdout=true")
		if code != http.StatusNotFound || !strings.Contains(body, `container "nope" not found`) {
			t.Fatalf("%d %q", code, body)
		}
		code, body = get(t, c, n.ts.URL+"/exec/default/box/shell?command=ls")
		if code != http.StatusBadRequest || !strings.Contains(body, "at least 1 of stdin, stdout, stderr") {
			t.Fatalf("%d %q", code, body)
		}
	})

	n.run(t, "printer", runtime.ContainerConfig{}, "sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done")
	for _, kind := range executors {
		t.Run("Attach"+kind.name, func(t *testing.T) {
			t.Run("SeesTheOutputOfARunningContainer", func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				pr, pw := io.Pipe()
				o := remotecommand.StreamOptions{Stdout: pw}
				errc := make(chan error, 1)
				go func() {
					errc <- kind.new(t, n, n.streamURL("attach", "printer", o)).StreamWithContext(ctx, o)
				}()
				line := make([]byte, 64)
				nr, err := pr.Read(line)
				if err != nil || !strings.HasPrefix(string(line[:nr]), "tick ") {
					t.Fatalf("read %q %v, want a tick", line[:nr], err)
				}
				cancel()
				pr.Close()
				<-errc
			})
			t.Run("FeedsStdinAndEndsWhenTheContainerExits", func(t *testing.T) {
				name := "echo-" + strings.ToLower(strings.TrimSuffix(kind.name, "V5"))
				if kind.name == "WebSocketV5" {
					name = "echo-ws"
				}
				n.run(t, name, runtime.ContainerConfig{Stdin: true}, "sh", "-c", `while read l; do [ "$l" = quit ] && exit 3; echo got $l; done`)
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				inR, inW := io.Pipe()
				outR, outW := io.Pipe()
				o := remotecommand.StreamOptions{Stdin: inR, Stdout: outW}
				errc := make(chan error, 1)
				go func() {
					errc <- kind.new(t, n, n.streamURL("attach", name, o)).StreamWithContext(ctx, o)
					outW.Close()
				}()
				time.Sleep(300 * time.Millisecond) // attached
				if _, err := io.WriteString(inW, "hi\n"); err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 64)
				nr, _ := io.ReadAtLeast(outR, buf, len("got hi\n"))
				if string(buf[:nr]) != "got hi\n" {
					t.Fatalf("output %q, want %q", buf[:nr], "got hi\n")
				}
				_, _ = io.WriteString(inW, "quit\n")
				go func() { _, _ = io.Copy(io.Discard, outR) }()
				select {
				case err := <-errc:
					if err != nil {
						t.Fatalf("attach ended with %v, want success when the container exits", err)
					}
				case <-ctx.Done():
					t.Fatal("attach did not end when the container exited")
				}
			})
		})
	}

	n.run(t, "web", runtime.ContainerConfig{}, "sh", "-c", "mkdir -p /www && echo hello-from-pod > /www/index.html && exec httpd -f -p 8080 -h /www")
	for _, tc := range []struct {
		name   string
		dialer func(t *testing.T, u *url.URL) httpstreamDialer
	}{
		{"SPDY", func(t *testing.T, u *url.URL) httpstreamDialer {
			rt, upgrader, err := spdy.RoundTripperFor(n.ts.restConfig(t, "admin"))
			if err != nil {
				t.Fatal(err)
			}
			return spdy.NewDialer(upgrader, &http.Client{Transport: rt}, "POST", u)
		}},
		{"WebSocketTunnel", func(t *testing.T, u *url.URL) httpstreamDialer {
			d, err := portforward.NewSPDYOverWebsocketDialer(u, n.ts.restConfig(t, "admin"))
			if err != nil {
				t.Fatal(err)
			}
			return d
		}},
	} {
		t.Run("PortForward"+tc.name, func(t *testing.T) {
			u, _ := url.Parse(n.ts.URL + "/portForward/default/box")
			body := portForwardGet(t, tc.dialer(t, u), 8080)
			if !strings.Contains(body, "hello-from-pod") {
				t.Fatalf("through the forwarded port: %q", body)
			}
		})
	}
}

type httpstreamDialer = apihttpstream.Dialer

// portForwardGet forwards a local port to port in the pod with d and
// fetches / through it twice (two forwarded connections).
func portForwardGet(t *testing.T, d httpstreamDialer, port int) string {
	t.Helper()
	// client-go's forwarder stops at the first failed stream (as kubectl
	// port-forward does), so while httpd may still be starting, each try
	// runs a fresh forwarder.
	deadline := time.Now().Add(10 * time.Second)
	for {
		body, err := forwardOnce(t, d, port)
		if err == nil {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET through port-forward: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// forwardOnce forwards a local port to port in the pod and GETs / twice
// through it.
func forwardOnce(t *testing.T, d httpstreamDialer, port int) (string, error) {
	stop, ready := make(chan struct{}), make(chan struct{})
	var errOut bytes.Buffer
	pf, err := portforward.NewOnAddresses(d, []string{"127.0.0.1"}, []string{fmt.Sprintf("0:%d", port)}, stop, ready, io.Discard, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- pf.ForwardPorts() }()
	defer func() {
		close(stop)
		<-errc
	}()
	select {
	case <-ready:
	case err := <-errc:
		t.Fatalf("port-forward: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("port-forward not ready in 10s")
	}
	ports, err := pf.GetPorts()
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var body string
	for range 2 {
		resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/", ports[0].Local))
		if err != nil {
			return "", fmt.Errorf("%w (%s)", err, errOut.String())
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
	}
	return body, nil
}

// ps lists the processes of container "shell".
func (n *node) ps(t *testing.T) string {
	t.Helper()
	n.mu.Lock()
	id := n.ids["shell"]
	n.mu.Unlock()
	var out bytes.Buffer
	if _, err := n.rt.ExecStream(context.Background(), id, []string{"ps", "-o", "args"}, runtime.Streams{Stdout: &out}); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
