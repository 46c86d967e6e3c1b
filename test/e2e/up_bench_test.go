package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiffk8s/skiff/kubelet/network"
	"github.com/skiffk8s/skiff/runtime"
	"github.com/skiffk8s/skiff/test/lab"
	"github.com/skiffk8s/skiff/test/nodetest"
)

// BenchmarkUp measures the quick start: the real `skiff up` process (API
// server with embedded etcd, scheduler, controller manager, kubelet,
// proxy, DNS) in a network namespace of its own with its own containerd
// (busybox imported). It reports the time from starting `skiff up` to a
// Ready node (up-to-ready-s) and to a pod created as soon as the API
// answered being Running (up-to-pod-s), then the process's resident
// memory after 20 s idle with that pod running (rss-MiB; anon-MiB leaves
// out the mapped binary), containerd excluded. The benchmark's own ns/op
// means nothing (it includes the 20 s wait).
func BenchmarkUp(b *testing.B) {
	nodetest.RequireRoot(b)
	for range b.N {
		u := startUp(b)
		ctx := context.Background()
		pod := busyboxPod("first", corev1.RestartPolicyAlways, "sleep 3600")
		pod.Spec.NodeName = "" // through the scheduler
		for {
			_, err := u.cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
			if err == nil {
				break
			}
			// The default namespace's service account comes a moment
			// after the API server.
			if time.Since(u.start) > time.Minute {
				u.fail(b, "create pod: %v", err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		var ready, running time.Duration
		deadline := u.start.Add(40 * time.Second)
		for ready == 0 || running == 0 {
			if ready == 0 {
				if n, err := u.cs.CoreV1().Nodes().Get(ctx, "up", metav1.GetOptions{}); err == nil && lab.NodeReady(n) == corev1.ConditionTrue {
					ready = time.Since(u.start)
				}
			}
			if running == 0 {
				if p, err := u.cs.CoreV1().Pods("default").Get(ctx, "first", metav1.GetOptions{}); err == nil && p.Status.Phase == corev1.PodRunning {
					running = time.Since(u.start)
				}
			}
			if time.Now().After(deadline) {
				p, err := u.cs.CoreV1().Pods("default").Get(ctx, "first", metav1.GetOptions{})
				u.fail(b, "node ready after %v, pod running after %v (0: not yet) after 40 s; pod %v: %+v", ready, running, err, p.Status)
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(20 * time.Second)
		st, err := nodetest.ProcStatus(u.pid)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(ready.Seconds(), "up-to-ready-s")
		b.ReportMetric(running.Seconds(), "up-to-pod-s")
		b.ReportMetric(st["VmRSS"], "rss-MiB")
		b.ReportMetric(st["RssAnon"], "anon-MiB")
		u.stop(b)
	}
}

// upCluster is a running `skiff up` process in a network namespace of its
// own, with its own containerd (busybox imported).
type upCluster struct {
	ns, dir string
	start   time.Time
	pid     int
	cs      kubernetes.Interface
	// kubectl runs the binary's kubectl with the admin kubeconfig inside
	// the namespace.
	kubectl func(args ...string) (string, error)
	exited  <-chan struct{}
	stopped bool
}

// startUp starts `skiff up` and returns once its API server answers.
func startUp(t testing.TB) *upCluster {
	t.Helper()
	nodetest.RequireRoot(t)
	bin := nodetest.SkiffBinary(t)
	ctrd := nodetest.StartContainerd(t)
	ctx := context.Background()
	rt, err := runtime.New(ctx, runtime.Config{Address: ctrd.Address, Namespace: "skiff", RegistriesConfig: filepath.Join(t.TempDir(), "none.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(nodetest.BusyboxTarball(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Import(ctx, f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	rt.Close()
	u := &upCluster{ns: nodetest.NewNetNS(t), dir: t.TempDir()}
	u.start = time.Now()
	cmd := exec.Command("nsenter", "--net="+u.ns, bin, "up", "--data-dir", filepath.Join(u.dir, "data"), "--bind-address", "127.0.0.1",
		"--node-name", "up", "--node-ip", "127.0.0.1", "--containerd-address", ctrd.Address,
		"--pod-logs-dir", filepath.Join(u.dir, "logs"), "--netns-dir", filepath.Join(u.dir, "netns"),
		"--registries-config", filepath.Join(u.dir, "registries.yaml"))
	logf, err := os.Create(filepath.Join(u.dir, "up.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	exited, err := nodetest.StartPinned(cmd)
	logf.Close()
	if err != nil {
		t.Fatal(err)
	}
	u.pid, u.exited = cmd.Process.Pid, exited
	t.Cleanup(func() { u.stop(t) })
	kubeconfig := filepath.Join(u.dir, "data", "admin.kubeconfig")
	u.kubectl = func(args ...string) (string, error) {
		out, err := exec.Command("nsenter", append([]string{"--net=" + u.ns, bin, "kubectl", "--kubeconfig", kubeconfig}, args...)...).CombinedOutput()
		return string(out), err
	}
	// The API server writes the admin kubeconfig once it serves.
	for u.cs == nil {
		if rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig); err == nil {
			rc.Dial = network.DialerIn(u.ns)
			if c, err := kubernetes.NewForConfig(rc); err == nil {
				if _, err := c.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err == nil {
					u.cs = c
				}
			}
		}
		select {
		case <-exited:
			u.fail(t, "skiff up exited")
		case <-time.After(10 * time.Millisecond):
		}
		if time.Since(u.start) > time.Minute {
			u.fail(t, "the API server did not answer in a minute")
		}
	}
	return u
}

// fail ends the test with skiff up's log.
func (u *upCluster) fail(t testing.TB, format string, args ...any) {
	t.Helper()
	log, _ := os.ReadFile(filepath.Join(u.dir, "up.log"))
	t.Fatalf(format+"\n%s", append(args, log)...)
}

// stop deletes the pods (so their network namespace pins go) and stops
// skiff up; it runs once.
func (u *upCluster) stop(t testing.TB) {
	if u.stopped {
		return
	}
	u.stopped = true
	// Whatever the pods leave mounted goes when the test ends (after the
	// temp dir's own cleanup was registered, so this runs first).
	defer nodetest.UnmountUnder(t, u.dir)
	if u.cs != nil {
		ctx := context.Background()
		_ = u.cs.AppsV1().Deployments("default").DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
		_ = u.cs.CoreV1().Pods("default").DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
		for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			if l, err := u.cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{}); err != nil || len(l.Items) == 0 {
				break
			}
		}
	}
	_ = syscall.Kill(u.pid, syscall.SIGTERM)
	select {
	case <-u.exited:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(u.pid, syscall.SIGKILL)
		<-u.exited
	}
}
