package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiffk8s/skiff/apiserver/apitest"
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

var (
	skiffOnce sync.Once
	skiffBin  string
	skiffErr  error
)

// skiffBinary builds cmd/skiff once per run (static, no cgo, as the
// Makefile does).
func skiffBinary(b *testing.B) string {
	skiffOnce.Do(func() {
		dir, err := os.MkdirTemp("", "skiff-bench-bin-")
		if err != nil {
			skiffErr = err
			return
		}
		skiffBin = filepath.Join(dir, "skiff")
		cmd := exec.Command("go", "build", "-trimpath", "-o", skiffBin, "github.com/skiffk8s/skiff/cmd/skiff")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			skiffErr = fmt.Errorf("go build skiff: %v\n%s", err, out)
		}
	})
	if skiffErr != nil {
		b.Fatal(skiffErr)
	}
	return skiffBin
}

func subprocess(ctx context.Context, b *testing.B, srv *apitest.Server) func() {
	bin := skiffBinary(b)
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
		status, err := procStatus(pid)
		if err != nil {
			b.Fatalf("reading the scheduler's /proc status: %v", err)
		}
		schedCPU, err := procCPU(pid)
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

// procStatus reads the kB fields of /proc/pid/status, in MiB.
func procStatus(pid int) (map[string]float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		fields := strings.Fields(rest)
		if !ok || len(fields) != 2 || fields[1] != "kB" {
			continue
		}
		if kb, err := strconv.ParseFloat(fields[0], 64); err == nil {
			out[name] = kb / 1024
		}
	}
	return out, sc.Err()
}

// procCPU is the user+system CPU time of pid from /proc/pid/stat.
func procCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command (which may hold spaces) in parentheses.
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad utime/stime", pid)
	}
	const clockTicks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// selfCPU is this process's user+system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
