package bench

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiffk8s/skiff/apiserver/apitest"
	"github.com/skiffk8s/skiff/test/nodetest"
)

// BenchmarkSchedulerProcess is the basic workload scheduled by the real
// `skiff scheduler` binary in its own process. Beside pods/s and
// latencies it reports, read from /proc once every pod is bound, the
// scheduler's VmRSS, RssAnon, RssFile (mostly the binary's text) and
// VmHWM (peak) in MiB, its CPU time per
// pod, and its share of the CPU the benchmark used (scheduler ÷
// scheduler + this process, which runs the API server, etcd and the pod
// creators).
func BenchmarkSchedulerProcess(b *testing.B) {
	run(b, subprocess, func(int, *corev1.Pod) {})
}

func subprocess(ctx context.Context, b *testing.B, srv *apitest.Server) func() {
	bin := nodetest.SkiffBinary(b)
	logPath := filepath.Join(b.TempDir(), "scheduler.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "scheduler",
		"--kubeconfig", filepath.Join(srv.DataDir, "admin.kubeconfig"),
		"--leader-elect=false", "--healthz-bind-address", "",
		"--kube-api-qps", "5000", "--kube-api-burst", "5000")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// SKIFF_BENCH_SCHEDULER_ENV adds variables (space-separated k=v) to
	// the scheduler's environment only, e.g. "GOMEMLIMIT=64MiB GOGC=100".
	cmd.Env = append(os.Environ(), strings.Fields(os.Getenv("SKIFF_BENCH_SCHEDULER_ENV"))...)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	selfBefore := selfCPU()
	return func() {
		pid := cmd.Process.Pid
		status, err := nodetest.ProcStatus(pid)
		if err != nil {
			b.Fatalf("reading the scheduler's /proc status: %v", err)
		}
		schedCPU, err := nodetest.ProcCPU(pid)
		if err != nil {
			b.Fatal(err)
		}
		self := selfCPU() - selfBefore
		_, numPods := sizes()
		b.ReportMetric(status["VmRSS"], "sched_rss_MiB")
		b.ReportMetric(status["RssAnon"], "sched_rss_anon_MiB")
		b.ReportMetric(status["RssFile"], "sched_rss_file_MiB")
		b.ReportMetric(status["VmHWM"], "sched_peak_rss_MiB")
		b.ReportMetric(float64(schedCPU.Microseconds())/1000/float64(numPods), "sched_cpu_ms/pod")
		b.ReportMetric(100*schedCPU.Seconds()/(schedCPU+self).Seconds(), "sched_cpu_%")
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logFile.Close()
		if b.Failed() {
			out, _ := os.ReadFile(logPath)
			b.Logf("scheduler log:\n%s", out)
		}
	}
}

// selfCPU is this process's user+system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
