package e2e

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/skiffk8s/skiff/controllers"
	"github.com/skiffk8s/skiff/controllers/endpointslice"
	"github.com/skiffk8s/skiff/dns"
	"github.com/skiffk8s/skiff/proxy"
)

// clusterDNSIP is the cluster DNS address the kubelet writes into pods'
// resolv.conf.
const clusterDNSIP = "10.96.0.10"

// TestServices runs the service proxy (rules inside the node namespace the
// test created) and the cluster DNS server (on 10.96.0.10:53 on that
// namespace's loopback) next to a real node, with the endpointslice
// controller in-process, and reaches three busybox httpd pods through a
// ClusterIP Service, its DNS name and a NodePort.
//
// Network: pods talk to pods and to the node namespace, all created by
// the test; nothing else is contacted.
func TestServices(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	runEndpointSliceController(t, n)
	root := t // the proxies live until the test ends
	stopProxy, _ := runProxy(root, n)
	runClusterDNS(t, n)

	var webs []*corev1.Pod
	for i := range 3 {
		name := fmt.Sprintf("web-%d", i)
		p := busyboxPod(name, corev1.RestartPolicyAlways, "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www")
		p.Labels["app"] = "web"
		if i == 0 {
			p.Spec.Hostname, p.Spec.Subdomain = "web-0", "web-headless"
		}
		webs = append(webs, n.create(t, p))
	}
	n.create(t, busyboxPod("client", corev1.RestartPolicyAlways, "exec sleep 3600"))

	web := createService(t, n, "web", corev1.ServiceTypeNodePort, "", map[string]string{"app": "web"})
	createService(t, n, "web-headless", corev1.ServiceTypeClusterIP, corev1.ClusterIPNone, map[string]string{"app": "web"})
	empty := createService(t, n, "empty", corev1.ServiceTypeClusterIP, "", map[string]string{"app": "nothing"})
	podIPs := map[string]string{}
	for _, p := range webs {
		podIPs[p.Name] = n.waitPhase(t, p.Name, corev1.PodRunning).Status.PodIP
	}
	n.waitPhase(t, "client", corev1.PodRunning)
	// A real node routes every address somewhere (a default route out of
	// its uplink), so a packet to a ClusterIP reaches the filter rules;
	// the test's node has no default route, so route the service CIDR
	// out of a veth pair whose both ends stay in the node's namespace (a
	// stand-in for the uplink; this kernel may lack dummy devices). Not
	// onto the pod bridge: a packet leaving by the interface it came in
	// makes the kernel send the pod an ICMP redirect, and the redirect
	// uses up the per-host ICMP rate limit, so the REJECT's "port
	// unreachable" that follows it is not sent and the client times out.
	for _, args := range [][]string{
		{"ip", "link", "add", "skiff-uplink", "type", "veth", "peer", "name", "skiff-uplink-p"},
		{"ip", "link", "set", "skiff-uplink", "up"},
		{"ip", "link", "set", "skiff-uplink-p", "up"},
		{"ip", "route", "replace", "10.96.0.0/12", "dev", "skiff-uplink"},
	} {
		if out, err := exec.Command("nsenter", append([]string{"--net=" + n.cfg.HostNetNS}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("route the service CIDR in the node namespace: %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}

	// fetch runs count requests to host from the client pod and returns
	// the hostnames that answered, in order ("" for a failed request).
	fetch := func(t *testing.T, host string, count int) []string {
		t.Helper()
		script := fmt.Sprintf(`for i in $(seq %d); do r=$(printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 5 %s 80 2>/dev/null | tail -n 1); echo "got:$r"; done`, count, host)
		out, errOut, code := n.kubectl(t, "", "exec", "client", "--", "sh", "-c", script)
		if code != 0 {
			t.Fatalf("exec in client: exit %d: %s %s", code, out, errOut)
		}
		var got []string
		for _, l := range strings.Split(out, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), "got:"); ok {
				got = append(got, v)
			}
		}
		return got
	}
	// reachAll waits until count requests to host reach every name in
	// want and nothing else.
	reachAll := func(t *testing.T, host string, want ...string) {
		t.Helper()
		var last []string
		deadline := time.Now().Add(90 * time.Second)
		for time.Now().Before(deadline) {
			last = fetch(t, host, 60)
			seen := map[string]int{}
			ok := len(last) == 60
			for _, h := range last {
				seen[h]++
			}
			for _, w := range want {
				ok = ok && seen[w] > 0
			}
			if ok && len(seen) == len(want) {
				return
			}
			time.Sleep(time.Second)
		}
		t.Fatalf("60 requests to %s did not reach exactly %v; last answers: %q", host, want, last)
	}
	execOut := func(t *testing.T, script string) (string, int) {
		t.Helper()
		out, errOut, code := n.kubectl(t, "", "exec", "client", "--", "sh", "-c", script)
		return out + errOut, code
	}
	nslookup := func(t *testing.T, name string) []string {
		t.Helper()
		var out string
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			var code int
			out, code = execOut(t, "nslookup "+name)
			if code == 0 {
				return answerIPs(out)
			}
			time.Sleep(time.Second)
		}
		t.Fatalf("nslookup %s: %s", name, out)
		return nil
	}

	t.Run("ClusterIP", func(t *testing.T) {
		reachAll(t, web.Spec.ClusterIP, "web-0", "web-1", "web-2")
	})
	t.Run("DNSName", func(t *testing.T) {
		ips := nslookup(t, "web.default.svc.cluster.local")
		if len(ips) != 1 || ips[0] != web.Spec.ClusterIP {
			t.Fatalf("web.default.svc.cluster.local = %v, want %s", ips, web.Spec.ClusterIP)
		}
		reachAll(t, ips[0], "web-0", "web-1", "web-2")
		// A client connecting by a short name resolves it through the
		// pod's search path (default.svc.cluster.local svc.cluster.local
		// cluster.local, ndots:5) and reaches the service. (busybox's
		// nslookup is no judge of this: it does not search for dotted
		// names and exits 1 when any searched name is missing.)
		for _, name := range []string{"web", "web.default", "web.default.svc"} {
			out, code := execOut(t, `printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 5 `+name+` 80`)
			if code != 0 || !regexp.MustCompile(`(?m)^web-[0-2]$`).MatchString(out) {
				t.Errorf("nc %s 80 from the client pod: exit %d:\n%s", name, code, out)
			}
		}
	})
	t.Run("DNS", func(t *testing.T) {
		if ips := nslookup(t, "web-0.web-headless.default.svc.cluster.local"); len(ips) != 1 || ips[0] != podIPs["web-0"] {
			t.Errorf("web-0.web-headless = %v, want %s", ips, podIPs["web-0"])
		}
		var want []string
		for _, ip := range podIPs {
			want = append(want, ip)
		}
		// The headless name lists every ready endpoint once they are all
		// ready.
		deadline := time.Now().Add(60 * time.Second)
		for {
			ips := nslookup(t, "web-headless.default.svc.cluster.local")
			if sameSet(ips, want) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("web-headless = %v, want %v", ips, want)
			}
			time.Sleep(time.Second)
		}
		out, code := execOut(t, "nslookup missing.default.svc.cluster.local")
		if code == 0 || !strings.Contains(out, "NXDOMAIN") {
			t.Errorf("nslookup of a missing name: exit %d, want NXDOMAIN:\n%s", code, out)
		}
	})
	t.Run("NodePort", func(t *testing.T) {
		// From the node's own namespace, to its bridge address (a local
		// address there) and the NodePort.
		gw := strings.TrimSuffix(podCIDR, "0/24") + "1"
		port := web.Spec.Ports[0].NodePort
		var out []byte
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			cmd := exec.Command("nsenter", "--net="+n.cfg.HostNetNS, "sh", "-c",
				fmt.Sprintf(`printf 'GET / HTTP/1.0\r\n\r\n' | busybox nc -w 5 %s %d`, gw, port))
			out, _ = cmd.CombinedOutput()
			if regexp.MustCompile(`(?m)^web-[0-2]$`).Match(out) {
				return
			}
			time.Sleep(time.Second)
		}
		t.Fatalf("NodePort %s:%d from the node namespace: %s", gw, port, out)
	})
	t.Run("NoEndpointsRefused", func(t *testing.T) {
		// nc -w 10 waits 10 s on a dropped SYN and says "timed out"; the
		// proxy's REJECT ends it at once with "Connection refused". The
		// proxy's rule has been in place since the ClusterIP test, so the
		// first attempt must be refused.
		var out string
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			var code int
			out, code = execOut(t, fmt.Sprintf(`start=$(date +%%s); nc -w 10 %s 80 </dev/null; echo "exit:$? took:$(($(date +%%s)-start))"`, empty.Spec.ClusterIP))
			if code == 0 && strings.Contains(out, "refused") {
				break
			}
			t.Logf("not refused yet: %s", out)
			time.Sleep(time.Second)
		}
		m := regexp.MustCompile(`exit:(\d+) took:(\d+)`).FindStringSubmatch(out)
		if !strings.Contains(out, "refused") || m == nil || m[1] == "0" || len(m[2]) > 1 || m[2] > "5" {
			rules, _ := exec.Command("nsenter", "--net="+n.cfg.HostNetNS, "sh", "-c", "iptables-save; ip route").CombinedOutput()
			t.Fatalf("a Service without endpoints was not refused at once: %s\nnode rules:\n%s", out, rules)
		}
	})
	t.Run("ScaleDown", func(t *testing.T) {
		for _, name := range []string{"web-1", "web-2"} {
			if err := n.cs.CoreV1().Pods("default").Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		reachAll(t, web.Spec.ClusterIP, "web-0")
	})
	t.Run("ProxyRestart", func(t *testing.T) {
		// A stream of requests from the client pod runs until the test
		// touches /tmp/stop in the pod (at most 3000 requests); the proxy
		// stops and a new one starts meanwhile. Its first sync rewrites
		// every chain atomically, so no request may fail.
		script := fmt.Sprintf(`rm -f /tmp/stop; i=0; while [ ! -e /tmp/stop ] && [ $i -lt 3000 ]; do i=$((i+1)); r=$(printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 5 %s 80 2>&1 | tail -n 1); echo "got:$r"; sleep 0.1; done; echo done`, web.Spec.ClusterIP)
		cmd := exec.Command(sharedSkiff(t), "kubectl", "--kubeconfig", n.kubeconfig, "exec", "client", "--", "sh", "-c", script)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		lines := make(chan string, 4000)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		var got []string
		// next waits for count more answers (bounded against hangs).
		next := func(count int) {
			t.Helper()
			timeout := time.After(120 * time.Second)
			for range count {
				select {
				case l, ok := <-lines:
					if !ok {
						t.Fatalf("the request stream ended early after %q", got)
					}
					if v, ok := strings.CutPrefix(l, "got:"); ok {
						got = append(got, v)
					}
				case <-timeout:
					t.Fatalf("the request stream stalled after %d answers", len(got))
				}
			}
		}
		next(5)
		stopProxy()
		next(3) // rules stay in the kernel while no proxy runs
		var healthz string
		stopProxy, healthz = runProxy(root, n)
		n.waitFor(t, "the new proxy's first sync", func() (bool, error) {
			resp, err := http.Get("http://" + healthz + "/healthz")
			if err != nil {
				return false, nil
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK, nil
		})
		next(10)
		if out, errOut, code := n.kubectl(t, "", "exec", "client", "--", "touch", "/tmp/stop"); code != 0 {
			t.Fatalf("touch /tmp/stop: %s %s", out, errOut)
		}
		for l := range lines {
			if v, ok := strings.CutPrefix(l, "got:"); ok {
				got = append(got, v)
			}
		}
		for i, v := range got {
			if v != "web-0" {
				t.Errorf("request %d of %d during the proxy restart failed: %q", i+1, len(got), v)
			}
		}
	})
	t.Run("Cleanup", func(t *testing.T) {
		stopProxy()
		if err := proxy.Cleanup(ctx, n.cfg.HostNetNS); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("nsenter", "--net="+n.cfg.HostNetNS, "sh", "-c", "iptables-save -t nat; iptables-save -t filter").CombinedOutput()
		if err != nil {
			t.Fatalf("iptables-save: %v: %s", err, out)
		}
		for _, l := range strings.Split(string(out), "\n") {
			// The kubelet's own chains stay.
			rest := strings.NewReplacer("SKIFF-POSTROUTING", "", "SKIFF-FORWARD", "").Replace(l)
			if strings.Contains(rest, "SKIFF-") {
				t.Errorf("a proxy rule is left after Cleanup: %s", l)
			}
		}
	})
}

// answerIPs returns the addresses of a busybox nslookup answer (after the
// "Name:" line; the server's own address comes before it).
func answerIPs(out string) []string {
	var ips []string
	named := false
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "Name:") {
			named = true
			continue
		}
		if v, ok := strings.CutPrefix(l, "Address:"); ok && named {
			v = strings.TrimSpace(v)
			if f := strings.Fields(v); len(f) > 0 {
				v = f[0]
			}
			if ip := net.ParseIP(v); ip != nil && ip.To4() != nil {
				ips = append(ips, ip.String())
			}
		}
	}
	return ips
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]bool{}
	for _, x := range a {
		m[x] = true
	}
	for _, x := range b {
		if !m[x] {
			return false
		}
	}
	return true
}

func createService(t *testing.T, n *node, name string, typ corev1.ServiceType, clusterIP string, selector map[string]string) *corev1.Service {
	t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{Type: typ, ClusterIP: clusterIP, Selector: selector,
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(80), Protocol: corev1.ProtocolTCP}}},
	}
	out, err := n.cs.CoreV1().Services("default").Create(context.Background(), svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// runEndpointSliceController runs the endpointslice controller against the
// node's API server until the test ends.
func runEndpointSliceController(t *testing.T, n *node) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	inf := informers.NewSharedInformerFactory(n.cs, 0)
	ctl, err := endpointslice.New(ctx, controllers.Context{Client: n.cs, Informers: inf, Clock: clock.RealClock{},
		Recorder: &record.FakeRecorder{}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { _ = ctl.Run(ctx, 2) })
	inf.Start(ctx.Done())
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		inf.Shutdown()
	})
}

// runProxy runs the service proxy with every rule inside the node's
// namespace and its /healthz on a free loopback port; it returns a
// function that stops it (also called at the end of the test, followed by
// a Cleanup) and the healthz address.
func runProxy(t *testing.T, n *node) (func(), string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	healthz := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	go func() {
		done <- proxy.Run(ctx, proxy.Config{Client: n.cs, NodeName: nodeName, ClusterCIDR: "10.244.0.0/16",
			NetNS: n.cfg.HostNetNS, HealthzBindAddress: healthz, Logger: slog.New(slog.DiscardHandler)})
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("proxy: %v", err)
			}
		})
	}
	t.Cleanup(func() {
		stop()
		_ = proxy.Cleanup(context.Background(), n.cfg.HostNetNS)
	})
	return stop, healthz
}

// runClusterDNS serves cluster DNS on 10.96.0.10:53 (UDP and TCP) on the
// loopback of the node's namespace, from sockets opened by a thread that
// joined it; there are no upstreams (other names get SERVFAIL).
func runClusterDNS(t *testing.T, n *node) {
	t.Helper()
	type result struct {
		pc  net.PacketConn
		l   net.Listener
		err error
	}
	res := make(chan result, 1)
	go func() {
		// The thread stays locked in the test's namespace and is discarded
		// when the goroutine ends; the sockets stay there.
		goruntime.LockOSThread()
		l, err := listenInNetNS(n.cfg.HostNetNS, clusterDNSIP+":53")
		if err != nil {
			res <- result{err: err}
			return
		}
		pc, err := net.ListenPacket("udp", clusterDNSIP+":53")
		if err != nil {
			l.Close()
		}
		res <- result{pc, l, err}
	}()
	r := <-res
	if r.err != nil {
		t.Fatalf("listen on %s:53 in the node namespace: %v", clusterDNSIP, r.err)
	}
	s, err := dns.Start(context.Background(), dns.Config{Client: n.cs, Listen: clusterDNSIP + ":53",
		PacketConn: r.pc, Listener: r.l, Upstreams: []string{}})
	if err != nil {
		r.pc.Close()
		r.l.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
}
