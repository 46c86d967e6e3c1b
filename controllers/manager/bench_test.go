package manager_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/skiffk8s/skiff/apiserver/apitest"
	"github.com/skiffk8s/skiff/test/nodetest"
)

// BenchmarkDeploymentTo3000 scales a Deployment from 0 to 3,000 replicas
// on 100 Node objects with the real `skiff controller-manager` and `skiff
// scheduler` processes (their default flags) against an in-process API
// server, and reports the seconds until a watch has seen every pod created
// (created-s) and bound (bound-s), and the controller manager's resident
// memory afterwards (cm-rss-MiB, cm-anon-MiB without the mapped binary).
func BenchmarkDeploymentTo3000(b *testing.B) {
	const replicas, nodes = 3000, 100
	bin := nodetest.SkiffBinary(b)
	srv := apitest.Start(b)
	ctx := context.Background()
	kubeconfig := filepath.Join(srv.DataDir, "admin.kubeconfig")
	for i := range nodes {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("node-%03d", i), Labels: map[string]string{"kubernetes.io/hostname": fmt.Sprintf("node-%03d", i)}}}
		n, err := srv.Client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
		if err != nil {
			b.Fatal(err)
		}
		n.Status.Allocatable = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("64"), corev1.ResourceMemory: resource.MustParse("256Gi"), corev1.ResourcePods: resource.MustParse("110")}
		n.Status.Capacity = n.Status.Allocatable
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Now()}}
		if _, err := srv.Client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	// No kubelets renew these nodes' Leases: node lifecycle stays off.
	cm := startProcess(b, bin, "controller-manager", "--kubeconfig", kubeconfig, "--leader-elect=false",
		"--controllers=*,-nodelifecycle", "--healthz-bind-address=127.0.0.1:0", "--root-ca-file", filepath.Join(srv.DataDir, "pki", "ca.crt"))
	startProcess(b, bin, "scheduler", "--kubeconfig", kubeconfig, "--leader-elect=false", "--healthz-bind-address=127.0.0.1:0")

	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](0),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox"}}}}},
	}
	if _, err := srv.Client.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		rs, err := srv.Client.AppsV1().ReplicaSets("default").List(ctx, metav1.ListOptions{})
		if err == nil && len(rs.Items) == 1 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("no ReplicaSet 30 s after the Deployment was created")
		}
		time.Sleep(50 * time.Millisecond)
	}
	w, err := srv.Client.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	b.ResetTimer()
	start := time.Now()
	if _, err := srv.Client.AppsV1().Deployments("default").Patch(ctx, "web", "application/merge-patch+json",
		[]byte(fmt.Sprintf(`{"spec":{"replicas":%d}}`, replicas)), metav1.PatchOptions{}); err != nil {
		b.Fatal(err)
	}
	created, bound := map[string]bool{}, map[string]bool{}
	var createdAt time.Duration
	timeout := time.After(5 * time.Minute)
	for len(bound) < replicas {
		select {
		case ev := <-w.ResultChan():
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			created[p.Name] = true
			if len(created) == replicas && createdAt == 0 {
				createdAt = time.Since(start)
			}
			if p.Spec.NodeName != "" {
				bound[p.Name] = true
			}
		case <-timeout:
			b.Fatalf("after 5 minutes: %d pods created, %d bound", len(created), len(bound))
		}
	}
	b.StopTimer()
	b.ReportMetric(createdAt.Seconds(), "created-s")
	b.ReportMetric(time.Since(start).Seconds(), "bound-s")
	mem, err := nodetest.ProcStatus(cm.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(mem["VmRSS"], "cm-rss-MiB")
	b.ReportMetric(mem["RssAnon"], "cm-anon-MiB")
}

// startProcess runs `skiff <args>` until the benchmark ends.
func startProcess(b *testing.B, bin string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	logPath := filepath.Join(b.TempDir(), args[0]+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	// Started from a pinned thread: Pdeathsig follows the forking thread.
	exited, err := nodetest.StartPinned(cmd)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-exited
		logf.Close()
		if b.Failed() {
			out, _ := os.ReadFile(logPath)
			b.Logf("skiff %s log:\n%s", args[0], out)
		}
	})
	return cmd
}
