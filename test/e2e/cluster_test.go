package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/skiffk8s/skiff/kubelet"
	"github.com/skiffk8s/skiff/runtime"
	"github.com/skiffk8s/skiff/test/lab"
)

// TestMultiHostCluster is the lab: one master and two workers,
// each a network namespace with its own containerd, set up with skiff
// init and skiff join and running the units' command lines.
func TestMultiHostCluster(t *testing.T) {
	l := lab.Start(t, lab.Config{Workers: 2, Settings: map[string]map[string]any{
		// Short node failure detection, so the failover part takes
		// seconds: a node is NotReady 10 s after its last heartbeat.
		"controller-manager": {"node-monitor-grace-period": "10s", "node-monitor-period": "1s"},
	}})
	ctx := context.Background()
	cs := l.Client
	w1, w2 := l.Workers[0], l.Workers[1]

	t.Run("BadJoinsRefused", func(t *testing.T) {
		args := strings.Fields(l.JoinCommand)
		token, hash := "", ""
		for i := range args[:len(args)-1] {
			switch args[i] {
			case "--token":
				token = args[i+1]
			case "--ca-cert-hash":
				hash = args[i+1]
			}
		}
		dir := t.TempDir()
		join := func(tok, h string) string {
			cmd := fmt.Sprintf("skiff join --server https://%s:6443 --token %s --ca-cert-hash %s", l.Master.IP, tok, h)
			out, err := w1.Skiff(append(strings.Fields(cmd)[1:], "--etc-dir", filepath.Join(dir, "etc"), "--data-dir", filepath.Join(dir, "data"), "--discovery-timeout", "3s")...)
			if err == nil {
				t.Errorf("%s succeeded:\n%s", cmd, out)
			}
			return out
		}
		wrongSecret := token[:7] + strings.Repeat("0", 16)
		if out := join(wrongSecret, hash); !strings.Contains(out, "failed to verify the JWS signature") {
			t.Errorf("a wrong token secret: %s", out)
		}
		if out := join("zzzzzz.0123456789abcdef", hash); !strings.Contains(out, `token ID "zzzzzz" is invalid for this cluster`) {
			t.Errorf("an unknown token: %s", out)
		}
		if out := join(token, "sha256:"+strings.Repeat("ab", 32)); !strings.Contains(out, "none of the public keys") || !strings.Contains(out, "are pinned") {
			t.Errorf("a wrong CA hash: %s", out)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("a refused join wrote files: %v", entries)
		}
	})

	t.Run("NodesAndIdentities", func(t *testing.T) {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(nodes.Items) != 3 {
			t.Fatalf("%d nodes, want 3", len(nodes.Items))
		}
		for _, n := range nodes.Items {
			if n.Spec.PodCIDR == "" {
				t.Errorf("node %s has no podCIDR", n.Name)
			}
			_, master := n.Labels["node-role.kubernetes.io/control-plane"]
			if master != (n.Name == l.Master.Name) {
				t.Errorf("node %s control-plane label: %v", n.Name, master)
			}
		}
		// Each worker's kubelet got its client certificate through a CSR
		// approved for its bootstrap token.
		csrs, err := cs.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		signed := map[string]bool{}
		for _, c := range csrs.Items {
			if c.Spec.SignerName == "kubernetes.io/kube-apiserver-client-kubelet" && len(c.Status.Certificate) > 0 && strings.HasPrefix(c.Spec.Username, "system:bootstrap:") {
				signed[c.Spec.Username] = true
			}
		}
		if len(signed) == 0 {
			t.Errorf("no kubelet client CSR signed for a bootstrap token: %+v", csrs.Items)
		}
		// ... and its serving certificate through one it made itself.
		for _, w := range l.Workers {
			waitUntil(t, time.Minute, "a signed serving certificate for "+w.Name, func() bool {
				csrs, err := cs.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{})
				if err != nil {
					return false
				}
				for _, c := range csrs.Items {
					if c.Spec.SignerName == "kubernetes.io/kubelet-serving" && c.Spec.Username == "system:node:"+w.Name && len(c.Status.Certificate) > 0 {
						return true
					}
				}
				return false
			})
		}
	})

	labels := map[string]string{"app": "web"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](6),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{Name: "httpd", Image: busyboxRef, ImagePullPolicy: corev1.PullNever,
						Command: []string{"sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"},
						Ports:   []corev1.ContainerPort{{ContainerPort: 80}}}},
					// Leave a lost node after 5 s instead of 300 s.
					Tolerations: []corev1.Toleration{
						{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](5)},
						{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](5)},
					},
				},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments("default").Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	running := func() map[string][]corev1.Pod {
		out := map[string][]corev1.Pod{}
		pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return out
		}
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" {
				out[p.Spec.NodeName] = append(out[p.Spec.NodeName], p)
			}
		}
		return out
	}
	var placed map[string][]corev1.Pod
	waitUntil(t, 2*time.Minute, "6 web pods running on both workers", func() bool {
		placed = running()
		return len(placed[w1.Name]) > 0 && len(placed[w2.Name]) > 0 && len(placed[w1.Name])+len(placed[w2.Name]) == 6
	})
	if n := len(placed[l.Master.Name]); n != 0 {
		t.Errorf("%d web pods on the tainted master", n)
	}
	// A client pod on each worker.
	for _, w := range l.Workers {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "client-" + w.Name, Namespace: "default"},
			Spec: corev1.PodSpec{NodeName: w.Name, Containers: []corev1.Container{{Name: "c", Image: busyboxRef, ImagePullPolicy: corev1.PullNever,
				Command: []string{"sleep", "3600"}}}}}
		if _, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, time.Minute, "client pods running", func() bool {
		for _, w := range l.Workers {
			p, err := cs.CoreV1().Pods("default").Get(ctx, "client-"+w.Name, metav1.GetOptions{})
			if err != nil || p.Status.Phase != corev1.PodRunning {
				return false
			}
		}
		return true
	})
	execIn := func(pod, script string) (string, error) {
		return l.Kubectl(t, "exec", pod, "--", "sh", "-c", script)
	}
	fetch := func(pod, target string) string {
		out, _ := execIn(pod, fmt.Sprintf(`printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 5 %s | tail -n 1`, target))
		return strings.TrimSpace(out)
	}

	t.Run("PodToPodAcrossNodes", func(t *testing.T) {
		for _, from := range l.Workers {
			for node, pods := range placed {
				if node == from.Name {
					continue
				}
				target := pods[0]
				if got := fetch("client-"+from.Name, target.Status.PodIP+" 80"); got != target.Name {
					t.Errorf("from %s to pod %s (%s) on %s: %q", from.Name, target.Name, target.Status.PodIP, node, got)
				}
			}
		}
	})

	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: labels,
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(80)}}}}
	svc, err := cs.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("ServiceAndDNSFromEveryNode", func(t *testing.T) {
		for _, w := range l.Workers {
			for _, target := range []string{svc.Spec.ClusterIP + " 80", "web 80", "web.default.svc.cluster.local 80"} {
				seen := map[string]bool{}
				for range 20 {
					seen[fetch("client-"+w.Name, target)] = true
				}
				delete(seen, "")
				if len(seen) < 2 {
					t.Errorf("from %s, %s reached %v: want pods on several nodes", w.Name, target, seen)
				}
			}
		}
	})
	t.Run("NodePortOnEveryNode", func(t *testing.T) {
		port := svc.Spec.Ports[0].NodePort
		for _, h := range l.Hosts() {
			// From the master's namespace, over the lab network.
			out := l.Master.Sh(t, "sh", "-c", fmt.Sprintf(`printf 'GET / HTTP/1.0\r\n\r\n' | busybox nc -w 5 %s %d | tail -n 1`, h.IP, port))
			if !regexp.MustCompile(`^web-`).MatchString(strings.TrimSpace(out)) {
				t.Errorf("NodePort %s:%d answered %q", h.IP, port, out)
			}
		}
	})
	t.Run("LogsAndExecOnBothWorkers", func(t *testing.T) {
		for _, w := range l.Workers {
			pod := placed[w.Name][0]
			if out, err := execIn(pod.Name, "hostname"); err != nil || strings.TrimSpace(out) != pod.Name {
				t.Errorf("exec in %s on %s: %q, %v", pod.Name, w.Name, out, err)
			}
			if out, err := l.Kubectl(t, "logs", "client-"+w.Name); err != nil {
				t.Errorf("logs of a pod on %s: %v: %s", w.Name, err, out)
			}
		}
	})

	t.Run("WorkerFailureAndReturn", func(t *testing.T) {
		// w2 loses its processes and its link.
		for _, u := range w2.Units {
			w2.StopUnit(t, u, true)
		}
		w2.CutLink(t)
		lost := map[string]bool{}
		for _, p := range placed[w2.Name] {
			lost[p.Name] = true
		}
		waitUntil(t, time.Minute, "w2 NotReady (Unknown)", func() bool {
			n, err := cs.CoreV1().Nodes().Get(ctx, w2.Name, metav1.GetOptions{})
			return err == nil && lab.NodeReady(n) == corev1.ConditionUnknown
		})
		waitUntil(t, 2*time.Minute, "6 web pods running on w1 alone", func() bool {
			placed = running()
			return len(placed[w1.Name]) == 6
		})
		// w2 comes back: link, then its units with the configs it has.
		w2.RestoreLink(t)
		for _, u := range w2.Units {
			w2.StartUnit(t, u)
		}
		l.WaitReady(t, 2*time.Minute, w2)
		// Its stale containers (pods evicted while it was away) go.
		rt, err := runtime.New(ctx, runtime.Config{Address: w2.Ctrd.Address, Namespace: "skiff", RegistriesConfig: filepath.Join(t.TempDir(), "none.yaml")})
		if err != nil {
			t.Fatal(err)
		}
		defer rt.Close()
		waitUntil(t, 2*time.Minute, "w2's containers of evicted pods removed", func() bool {
			cs, err := rt.ListContainers(ctx, nil)
			if err != nil {
				return false
			}
			for _, c := range cs {
				if lost[c.Labels[kubelet.LabelPodName]] {
					return false
				}
			}
			return true
		})
	})
}

// waitUntil polls cond every half second until it holds or timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
