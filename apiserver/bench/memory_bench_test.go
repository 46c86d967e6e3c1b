package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// BenchmarkMemory10k runs the real `skiff apiserver` (API server and
// embedded etcd in one process), stores 10,000 small ConfigMaps, lists
// them once, and reports the process's resident memory idle and loaded.
func BenchmarkMemory10k(b *testing.B) {
	dir := b.TempDir()
	bin := filepath.Join(dir, "skiff")
	build := exec.Command("go", "build", "-o", bin, "github.com/skiffk8s/skiff/cmd/skiff")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		b.Fatalf("build skiff: %v", err)
	}
	data := filepath.Join(dir, "data")
	cmd := exec.Command(bin, "apiserver", "--data-dir", data, "--bind-address", "127.0.0.1", "--secure-port", "0",
		"--etcd-client-port", "0", "--etcd-peer-port", "0")
	if g := os.Getenv("BENCH_GOGC"); g != "" {
		cmd.Env = append(os.Environ(), "GOGC="+g)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}()
	ready := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`kubeconfig=(\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				ready <- m[1]
			}
		}
	}()
	var kubeconfig string
	select {
	case kubeconfig = <-ready:
	case <-time.After(time.Minute):
		b.Fatal("skiff apiserver did not become ready in a minute")
	}
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		b.Fatal(err)
	}
	rc.QPS, rc.Burst = -1, 0
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		b.Fatal(err)
	}
	idle := rssMiB(b, cmd.Process.Pid)
	newNamespace(b, cs, "bench")
	fill(b, cs, "bench", 10000)
	l, err := cs.CoreV1().ConfigMaps("bench").List(context.Background(), metav1.ListOptions{})
	if err != nil || len(l.Items) != 10000 {
		b.Fatalf("list: %d items, %v", len(l.Items), err)
	}
	time.Sleep(2 * time.Second) // let the server's GC settle before reading RSS
	loaded := rssMiB(b, cmd.Process.Pid)
	b.ReportMetric(idle, "idle-RSS-MiB")
	b.ReportMetric(loaded, "10k-RSS-MiB")
	b.ReportMetric(statusMiB(b, cmd.Process.Pid, "RssAnon:"), "10k-anon-MiB")
	b.ReportMetric(statusMiB(b, cmd.Process.Pid, "RssFile:"), "10k-file-MiB")
}

// rssMiB reads VmRSS of pid from /proc.
func rssMiB(b *testing.B, pid int) float64 {
	b.Helper()
	return statusMiB(b, pid, "VmRSS:")
}

// statusMiB reads a kB field of /proc/pid/status in MiB.
func statusMiB(b *testing.B, pid int, field string) float64 {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, field) {
			f := strings.Fields(line)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	b.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}
