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
	bin := nodetest.SkiffBinary(b)
	for range b.N {
		ctrd := nodetest.StartContainerd(b)
		ctx := context.Background()
		rt, err := runtime.New(ctx, runtime.Config{Address: ctrd.Address, Namespace: "skiff", RegistriesConfig: filepath.Join(b.TempDir(), "none.yaml")})
		if err != nil {
			b.Fatal(err)
		}
		f, err := os.Open(nodetest.BusyboxTarball(b))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := rt.Import(ctx, f); err != nil {
			b.Fatal(err)
		}
		f.Close()
		rt.Close()
		ns := nodetest.NewNetNS(b)
		dir := b.TempDir()

		start := time.Now()
		cmd := exec.Command("nsenter", "--net="+ns, bin, "up", "--data-dir", filepath.Join(dir, "data"), "--bind-address", "127.0.0.1",
			"--node-name", "up", "--node-ip", "127.0.0.1", "--containerd-address", ctrd.Address,
			"--pod-logs-dir", filepath.Join(dir, "logs"), "--netns-dir", filepath.Join(dir, "netns"),
			"--registries-config", filepath.Join(dir, "registries.yaml"))
		logf, err := os.Create(filepath.Join(dir, "up.log"))
		if err != nil {
			b.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		exited, err := nodetest.StartPinned(cmd)
		logf.Close()
		if err != nil {
			b.Fatal(err)
		}
		fail := func(format string, args ...any) {
			b.Helper()
			log, _ := os.ReadFile(filepath.Join(dir, "up.log"))
			b.Fatalf(format+"\n%s", append(args, log)...)
		}

		// The API server writes the admin kubeconfig once it serves.
		kubeconfig := filepath.Join(dir, "data", "admin.kubeconfig")
		var cs kubernetes.Interface
		for cs == nil {
			if rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig); err == nil {
				rc.Dial = network.DialerIn(ns)
				if c, err := kubernetes.NewForConfig(rc); err == nil {
					if _, err := c.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err == nil {
						cs = c
					}
				}
			}
			select {
			case <-exited:
				fail("skiff up exited")
			case <-time.After(10 * time.Millisecond):
			}
			if time.Since(start) > time.Minute {
				fail("the API server did not answer in a minute")
			}
		}
		pod := busyboxPod("first", corev1.RestartPolicyAlways, "sleep 3600")
		pod.Spec.NodeName = "" // through the scheduler
		for {
			if _, err = cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err == nil {
				break
			}
			// The default namespace's service account comes a moment
			// after the API server.
			if time.Since(start) > time.Minute {
				fail("create pod: %v", err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		var ready, running time.Duration
		deadline := start.Add(40 * time.Second)
		for ready == 0 || running == 0 {
			if ready == 0 {
				if n, err := cs.CoreV1().Nodes().Get(ctx, "up", metav1.GetOptions{}); err == nil && lab.NodeReady(n) == corev1.ConditionTrue {
					ready = time.Since(start)
				}
			}
			if running == 0 {
				if p, err := cs.CoreV1().Pods("default").Get(ctx, "first", metav1.GetOptions{}); err == nil && p.Status.Phase == corev1.PodRunning {
					running = time.Since(start)
				}
			}
			if time.Now().After(deadline) {
				p, err := cs.CoreV1().Pods("default").Get(ctx, "first", metav1.GetOptions{})
				fail("node ready after %v, pod running after %v (0: not yet) after 40 s; pod %v: %+v", ready, running, err, p.Status)
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(20 * time.Second)
		st, err := nodetest.ProcStatus(cmd.Process.Pid)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(ready.Seconds(), "up-to-ready-s")
		b.ReportMetric(running.Seconds(), "up-to-pod-s")
		b.ReportMetric(st["VmRSS"], "rss-MiB")
		b.ReportMetric(st["RssAnon"], "anon-MiB")
		// Stop the pod first, so its network namespace pin goes.
		_ = cs.CoreV1().Pods("default").Delete(ctx, "first", metav1.DeleteOptions{})
		for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			if _, err := cs.CoreV1().Pods("default").Get(ctx, "first", metav1.GetOptions{}); err != nil {
				break
			}
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
}
