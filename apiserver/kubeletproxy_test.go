package apiserver_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/utils/exec"

	"github.com/skiffk8s/skiff/apiserver/apitest"
)

// kubeletCluster is an API server with one node whose kubelet is a fake,
// a pod "web" (one container "app") bound to it, a pod "two" with
// containers "a", "b" and "waiting" (not started), and a pod "pending" with no node.
type kubeletCluster struct {
	srv     *apitest.Server
	kubelet *fakeKubelet
	ns      string
}

func startKubeletCluster(t *testing.T) *kubeletCluster {
	t.Helper()
	srv := apitest.Start(t)
	k := startFakeKubelet(t, srv)
	ctx := cgCtx(t)
	cs := srv.Client
	node := kubeletNode("node-1", k)
	created, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created.Status = node.Status
	if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	ns := cgNamespace(t, cs, "kp")
	pods := []*corev1.Pod{
		{ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{cgContainer("app", "busybox")}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "two", Labels: map[string]string{"app": "two"}},
			Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{cgContainer("a", "busybox"), cgContainer("b", "busybox"), cgContainer("waiting", "busybox")}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "pending"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{cgContainer("app", "busybox")}}},
	}
	for _, p := range pods {
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return &kubeletCluster{srv: srv, kubelet: k, ns: ns}
}

func TestPodLogsAreStreamedFromTheKubelet(t *testing.T) {
	c := startKubeletCluster(t)
	ctx := cgCtx(t)
	logs := func(pod string, opts *corev1.PodLogOptions) (string, error) {
		// Stream, as kubectl reads logs (DoRaw would drop the Status).
		rc, err := c.srv.Client.CoreV1().Pods(c.ns).GetLogs(pod, opts).Stream(ctx)
		if err != nil {
			return "", err
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		return string(b), err
	}

	out, err := logs("web", &corev1.PodLogOptions{})
	if err != nil || out != "line 1\nline 2\nline 3\n" {
		t.Errorf("logs = %q, %v; want the three lines", out, err)
	}
	u, subject := c.kubelet.lastRequest(t, "/containerLogs/")
	if u.Path != "/containerLogs/"+c.ns+"/web/app" {
		t.Errorf("kubelet path = %s, want /containerLogs/%s/web/app (the only container)", u.Path, c.ns)
	}
	if subject != "CN=kube-apiserver-kubelet-client,O=system:masters" {
		t.Errorf("kubelet saw client %q, want the kube-apiserver-kubelet-client identity", subject)
	}

	tail, since, limit := int64(1), int64(60), int64(100)
	out, err = logs("two", &corev1.PodLogOptions{Container: "b", TailLines: &tail, Timestamps: true, Previous: true, SinceSeconds: &since, LimitBytes: &limit})
	if err != nil || out != "2026-01-02T03:04:05.000000000Z previous line\n" {
		t.Errorf("logs with options = %q, %v", out, err)
	}
	u, _ = c.kubelet.lastRequest(t, "/containerLogs/")
	if u.Path != "/containerLogs/"+c.ns+"/two/b" || u.RawQuery != "limitBytes=100&previous=true&sinceSeconds=60&tailLines=1&timestamps=true" {
		t.Errorf("kubelet request = %s?%s", u.Path, u.RawQuery)
	}

	// Errors, in upstream's words.
	_, err = logs("two", &corev1.PodLogOptions{})
	cgWantCode(t, err, 400, "logs of a two-container pod without a container")
	if !strings.Contains(err.Error(), "a container name must be specified for pod two, choose one of: [a b waiting]") {
		t.Errorf("error = %v", err)
	}
	_, err = logs("web", &corev1.PodLogOptions{Container: "nope"})
	cgWantCode(t, err, 400, "logs of an unknown container")
	if !strings.Contains(err.Error(), "container nope is not valid for pod web") {
		t.Errorf("error = %v", err)
	}
	_, err = logs("missing", &corev1.PodLogOptions{})
	cgNotFound(t, err, "logs of a missing pod")
	_, err = logs("two", &corev1.PodLogOptions{Container: "waiting"})
	if err == nil || !strings.Contains(err.Error(), `container "waiting" in pod "two" is waiting to start: ContainerCreating`) {
		t.Errorf("kubelet's 400 came back as %v", err)
	}
	neg := int64(-1)
	_, err = logs("web", &corev1.PodLogOptions{TailLines: &neg})
	cgWantCode(t, err, 422, "negative tailLines")
	// A pod with no node has no log yet (upstream: an empty body).
	out, err = logs("pending", &corev1.PodLogOptions{})
	if err != nil || out != "" {
		t.Errorf("logs of an unscheduled pod = %q, %v; want empty", out, err)
	}
}

func TestFollowedLogsStreamLinesAsTheyCome(t *testing.T) {
	c := startKubeletCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stream, err := c.srv.Client.CoreV1().Pods(c.ns).GetLogs("web", &corev1.PodLogOptions{Follow: true}).Stream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	lines := bufio.NewReader(stream)
	for _, want := range []string{"line 1", "line 2", "line 3"} {
		if got, err := lines.ReadString('\n'); err != nil || got != want+"\n" {
			t.Fatalf("line = %q, %v; want %q", got, err, want)
		}
	}
	// Longer than nothing: the line arrives while the request is open.
	time.Sleep(200 * time.Millisecond)
	c.kubelet.follow <- "written later"
	if got, err := lines.ReadString('\n'); err != nil || got != "written later\n" {
		t.Fatalf("followed line = %q, %v", got, err)
	}
}

func TestKubectlLogs(t *testing.T) {
	c := startKubeletCluster(t)
	kc := kcNew(t, c.srv)
	if out := kc.ok(t, "logs", "-n", c.ns, "web"); out != "line 1\nline 2\nline 3\n" {
		t.Errorf("kubectl logs = %q", out)
	}
	if out := kc.ok(t, "logs", "-n", c.ns, "web", "--tail=2", "--timestamps"); out != "2026-01-02T03:04:05.000000000Z line 2\n2026-01-02T03:04:05.000000000Z line 3\n" {
		t.Errorf("kubectl logs --tail=2 --timestamps = %q", out)
	}
	if out := kc.ok(t, "logs", "-n", c.ns, "two", "-c", "a", "--previous"); out != "previous line\n" {
		t.Errorf("kubectl logs --previous = %q", out)
	}
	u, _ := c.kubelet.lastRequest(t, "/containerLogs/")
	if u.Query().Get("previous") != "true" {
		t.Errorf("--previous reached the kubelet as %s", u.RawQuery)
	}
	r := kc.fails(t, "logs", "-n", c.ns, "web", "-c", "nope")
	kcContains(t, r.stderr, "container nope is not valid for pod web") // kubectl checks first
	r = kc.fails(t, "logs", "-n", c.ns, "two", "-c", "waiting")
	kcContains(t, r.stderr, `Error from server (BadRequest): container "waiting" in pod "two" is waiting to start: ContainerCreating`)
	r = kc.fails(t, "logs", "-n", c.ns, "missing")
	kcContains(t, r.stderr, `pods "missing" not found`)

	w := kc.start(t, 30*time.Second, "logs", "-f", "-n", c.ns, "web")
	w.waitFor(t, regexp.MustCompile(`^line 3$`), 20*time.Second)
	c.kubelet.follow <- "from kubectl -f"
	w.waitFor(t, regexp.MustCompile(`^from kubectl -f$`), 20*time.Second)
	w.stop()
}

func execURL(c *kubeletCluster, pod string, command ...string) *rest.Request {
	req := c.srv.Client.CoreV1().RESTClient().Post().Resource("pods").Namespace(c.ns).Name(pod).SubResource("exec")
	return req.VersionedParams(&corev1.PodExecOptions{Command: command, Stdin: true, Stdout: true, Stderr: true}, scheme.ParameterCodec)
}

func TestExecThroughTheProxyOverSPDYAndWebSocket(t *testing.T) {
	c := startKubeletCluster(t)
	for _, proto := range []string{"spdy", "websocket"} {
		t.Run(proto, func(t *testing.T) {
			run := func(command ...string) (string, error) {
				u := execURL(c, "web", command...).URL()
				var ex remotecommand.Executor
				var err error
				if proto == "spdy" {
					ex, err = remotecommand.NewSPDYExecutor(c.srv.Config, "POST", u)
				} else {
					ex, err = remotecommand.NewWebSocketExecutor(c.srv.Config, "GET", u.String())
				}
				if err != nil {
					t.Fatal(err)
				}
				var stdout, stderr bytes.Buffer
				err = ex.StreamWithContext(cgCtx(t), remotecommand.StreamOptions{Stdin: strings.NewReader("hello " + proto), Stdout: &stdout, Stderr: &stderr})
				return stdout.String(), err
			}
			out, err := run("echo", "hi")
			if err != nil || out != "echo hi: hello "+proto {
				t.Errorf("exec = %q, %v; want the command and stdin back", out, err)
			}
			u, subject := c.kubelet.lastRequest(t, "/exec/")
			if u.Path != "/exec/"+c.ns+"/web/app" || u.Query().Get("input") != "1" || u.Query().Get("output") != "1" || u.Query()["command"][1] != "hi" {
				t.Errorf("kubelet exec request = %s", u)
			}
			if subject != "CN=kube-apiserver-kubelet-client,O=system:masters" {
				t.Errorf("kubelet saw client %q", subject)
			}
			out, err = run("fail", "now")
			var exit exec.ExitError
			if !errors.As(err, &exit) || exit.ExitStatus() != 3 || out != "fail now: hello "+proto {
				t.Errorf("failing exec = %q, %v; want exit code 3", out, err)
			}
		})
	}
}

func TestExecErrors(t *testing.T) {
	c := startKubeletCluster(t)
	ctx := cgCtx(t)
	do := func(pod string, command ...string) error {
		return execURL(c, pod, command...).Do(ctx).Error()
	}
	err := do("pending", "ls")
	cgWantCode(t, err, 400, "exec in a pod with no node")
	if !strings.Contains(err.Error(), "pod pending does not have a host assigned") {
		t.Errorf("error = %v", err)
	}
	err = do("two", "ls")
	cgWantCode(t, err, 400, "exec without a container in a two-container pod")
	if !strings.Contains(err.Error(), "choose one of: [a b waiting]") {
		t.Errorf("error = %v", err)
	}
	cgNotFound(t, do("missing", "ls"), "exec in a missing pod")
	// Not an upgrade: the proxy needs one.
	err = do("web", "ls")
	cgWantCode(t, err, 400, "exec without an upgrade")
}

func TestKubectlExec(t *testing.T) {
	c := startKubeletCluster(t)
	kc := kcNew(t, c.srv)
	out := kc.okStdin(t, "from stdin", "exec", "-i", "-n", c.ns, "web", "--", "cat", "-")
	if out != "cat -: from stdin" {
		t.Errorf("kubectl exec = %q", out)
	}
	r := kc.fails(t, "exec", "-n", c.ns, "web", "--", "fail")
	if r.code != 3 {
		t.Errorf("kubectl exec of a failing command exited %d, want 3\n%s", r.code, r)
	}
}

func TestPortForwardThroughTheProxy(t *testing.T) {
	c := startKubeletCluster(t)
	u := c.srv.Client.CoreV1().RESTClient().Post().Resource("pods").Namespace(c.ns).Name("web").SubResource("portforward").URL()
	transport, upgrader, err := spdy.RoundTripperFor(c.srv.Config)
	if err != nil {
		t.Fatal(err)
	}
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, "POST", u)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan struct{})
	fw, err := portforward.NewOnAddressesWithContext(ctx, dialer, []string{"127.0.0.1"}, []string{"0:8080"}, ready, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	go fw.ForwardPorts()
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
		t.Fatal("port forward never got ready")
	}
	ports, err := fw.GetPorts()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ports[0].Local))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := conn.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	got, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || got != "ping\n" {
		t.Errorf("echo through the port forward = %q, %v", got, err)
	}
	if u, _ := c.kubelet.lastRequest(t, "/portForward/"); u.Path != "/portForward/"+c.ns+"/web" {
		t.Errorf("kubelet port-forward path = %s", u.Path)
	}
}

func TestNodeProxyReachesTheKubelet(t *testing.T) {
	c := startKubeletCluster(t)
	ctx := cgCtx(t)
	b, err := c.srv.Client.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes/node-1/proxy/healthz").DoRaw(ctx)
	if err != nil || string(b) != "ok" {
		t.Errorf("nodes/proxy/healthz = %q, %v", b, err)
	}
	if _, subject := c.kubelet.lastRequest(t, "/healthz"); subject != "CN=kube-apiserver-kubelet-client,O=system:masters" {
		t.Errorf("kubelet saw client %q", subject)
	}
	_, err = c.srv.Client.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes/nope/proxy/healthz").DoRaw(ctx)
	cgNotFound(t, err, "proxy to a missing node")

	kc := kcNew(t, c.srv)
	if out := kc.ok(t, "get", "--raw", "/api/v1/nodes/node-1/proxy/healthz"); out != "ok" {
		t.Errorf("kubectl get --raw nodes proxy = %q", out)
	}
}

func TestDiscoveryListsTheKubeletSubresources(t *testing.T) {
	srv := apitest.Start(t)
	l, err := srv.Client.Discovery().ServerResourcesForGroupVersion("v1")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range l.APIResources {
		got[r.Name] = r.Kind + " " + strings.Join(r.Verbs, ",")
	}
	for name, want := range map[string]string{
		"pods/log":         "Pod get",
		"pods/exec":        "PodExecOptions create,get",
		"pods/attach":      "PodAttachOptions create,get",
		"pods/portforward": "PodPortForwardOptions create,get",
		"nodes/proxy":      "NodeProxyOptions create,delete,get,patch,update",
	} {
		if got[name] != want {
			t.Errorf("%s = %q, want %q", name, got[name], want)
		}
	}
}
