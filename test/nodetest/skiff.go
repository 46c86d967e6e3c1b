package nodetest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	skiffOnce sync.Once
	skiffDir  string
	skiffBin  string
	skiffErr  error
)

// SkiffBinary builds cmd/skiff once per test process, as the Makefile
// does (static, no cgo, trimmed paths), and returns its path. A TestMain
// that uses it calls RemoveSkiffBinary when the run ends.
func SkiffBinary(t testing.TB) string {
	t.Helper()
	skiffOnce.Do(func() {
		dir, err := os.MkdirTemp("", "skiff-test-bin-")
		if err != nil {
			skiffErr = err
			return
		}
		skiffDir, skiffBin = dir, filepath.Join(dir, "skiff")
		cmd := exec.Command("go", "build", "-trimpath", "-o", skiffBin, "github.com/skiffk8s/skiff/cmd/skiff")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			skiffErr = fmt.Errorf("go build skiff: %v\n%s", err, out)
		}
	})
	if skiffErr != nil {
		t.Fatal(skiffErr)
	}
	return skiffBin
}

// RemoveSkiffBinary deletes what SkiffBinary built (nothing if it was
// never called).
func RemoveSkiffBinary() {
	if skiffDir != "" {
		os.RemoveAll(skiffDir)
	}
}

// ProcStatus reads the kB fields of /proc/<pid>/status (VmRSS, RssAnon,
// RssFile, VmHWM, ...) in MiB.
func ProcStatus(pid int) (map[string]float64, error) {
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

// ProcCPU is the user+system CPU time of pid from /proc/<pid>/stat.
func ProcCPU(pid int) (time.Duration, error) {
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
