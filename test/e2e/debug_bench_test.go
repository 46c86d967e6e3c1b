package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/skiffk8s/skiff/test/nodetest"
)

// BenchmarkKubeletSteady30 runs 30 pods on a `skiff kubelet` process with
// its default intervals (stats every 10 s, node status every 10 s, relist
// every second) and reports the kubelet's CPU, as a percentage of one
// core over a minute, and its memory.
func BenchmarkKubeletSteady30(b *testing.B) {
	n := startNodeWith(b, sharedSkiff(b))
	for i := range 30 {
		n.create(b, busyboxPod(fmt.Sprintf("steady-%02d", i), corev1.RestartPolicyAlways, "sleep 3600"))
	}
	for i := range 30 {
		n.waitPhase(b, fmt.Sprintf("steady-%02d", i), corev1.PodRunning)
	}
	time.Sleep(20 * time.Second) // past start-up and the memory trim
	b.ResetTimer()
	cpu0, t0 := procCPU(b, n.proc.Pid), time.Now()
	time.Sleep(60 * time.Second)
	cpu1, t1 := procCPU(b, n.proc.Pid), time.Now()
	b.StopTimer()
	b.ReportMetric(float64(cpu1-cpu0)/float64(t1.Sub(t0).Milliseconds())*100, "kubelet-cpu-%")
	reportMemory(b, n.proc.Pid)
}

// reportMemory reports a process's resident memory (all of it, and
// without the mapped binary).
func reportMemory(b *testing.B, pid int) {
	mem, err := nodetest.ProcStatus(pid)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(mem["VmRSS"], "kubelet-rss-MiB")
	b.ReportMetric(mem["RssAnon"], "kubelet-anon-MiB")
}

// BenchmarkExec measures `kubectl exec POD -- true` end to end: the
// skiff kubectl process, the API server's proxy, the kubelet server and a
// process started in the container (exec-ms); and the same exec from a
// client-go program over websocket v5, without a process to start
// (client-exec-ms).
func BenchmarkExec(b *testing.B) {
	n := startNodeWith(b, sharedSkiff(b))
	n.create(b, busyboxPod("target", corev1.RestartPolicyAlways, "sleep 3600"))
	n.waitPhase(b, "target", corev1.PodRunning)
	bin := sharedSkiff(b)
	rc, err := clientcmd.BuildConfigFromFlags("", n.kubeconfig)
	if err != nil {
		b.Fatal(err)
	}
	const runs = 30
	var cli, lib []time.Duration
	b.ResetTimer()
	for range runs {
		t0 := time.Now()
		out, err := exec.Command(bin, "kubectl", "--kubeconfig", n.kubeconfig, "exec", "target", "--", "true").CombinedOutput()
		if err != nil {
			b.Fatalf("kubectl exec: %v\n%s", err, out)
		}
		cli = append(cli, time.Since(t0))

		req := n.cs.CoreV1().RESTClient().Post().Resource("pods").Namespace("default").Name("target").SubResource("exec").
			VersionedParams(&corev1.PodExecOptions{Container: "main", Command: []string{"true"}, Stdout: true}, scheme.ParameterCodec)
		t0 = time.Now()
		e, err := remotecommand.NewWebSocketExecutor(rc, "GET", req.URL().String())
		if err != nil {
			b.Fatal(err)
		}
		if err := e.StreamWithContext(context.Background(), remotecommand.StreamOptions{Stdout: &strings.Builder{}}); err != nil {
			b.Fatalf("client-go exec: %v", err)
		}
		lib = append(lib, time.Since(t0))
	}
	b.StopTimer()
	for name, d := range map[string][]time.Duration{"exec": cli, "client-exec": lib} {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, name+"-p50-ms")
		b.ReportMetric(float64(d[len(d)*99/100].Microseconds())/1000, name+"-p99-ms")
	}
}
