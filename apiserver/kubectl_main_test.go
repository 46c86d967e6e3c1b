package apiserver_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiffk8s/skiff/apiserver/apitest"
)

// The kubectl tests run the real skiff binary, built once per test run, the
// way users run it: `skiff kubectl --kubeconfig <admin> ...`.

var (
	kcBinDir    string // removed by TestMain when the run ends
	kcBuildOnce sync.Once
	kcSkiffPath string
	kcBuildErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "skiff-apiserver-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "temp dir:", err)
		os.Exit(1)
	}
	kcBinDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// kcKubeVersion is the Makefile's KUBE_VERSION, the version a release binary
// is stamped with.
func kcKubeVersion() string {
	b, err := os.ReadFile(filepath.Join("..", "Makefile"))
	if err == nil {
		if m := regexp.MustCompile(`(?m)^KUBE_VERSION\s*:=\s*(\S+)`).FindSubmatch(b); m != nil {
			return string(m[1])
		}
	}
	return "v1.37.2"
}

// kcLDFlags are the Makefile's version stamps.
func kcLDFlags() string {
	kv := kcKubeVersion()
	minor := "37"
	if parts := strings.SplitN(strings.TrimPrefix(kv, "v"), ".", 3); len(parts) >= 2 {
		minor = parts[1]
	}
	date := time.Now().UTC().Format(time.RFC3339)
	var flags []string
	add := func(k, v string) { flags = append(flags, "-X", k+"="+v) }
	add("github.com/skiffk8s/skiff/internal/version.Skiff", "v0.0.0-test")
	add("github.com/skiffk8s/skiff/internal/version.Kubernetes", kv)
	add("github.com/skiffk8s/skiff/internal/version.Commit", "test")
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		add(pkg+".gitMajor", "1")
		add(pkg+".gitMinor", minor)
		add(pkg+".gitVersion", kv)
		add(pkg+".gitCommit", "test")
		add(pkg+".gitTreeState", "clean")
		add(pkg+".buildDate", date)
	}
	return strings.Join(flags, " ")
}

func kcGoTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

// kcSkiffBinary builds ./cmd/skiff once per test run and returns its path.
func kcSkiffBinary(t testing.TB) string {
	t.Helper()
	kcBuildOnce.Do(func() {
		kcSkiffPath = filepath.Join(kcBinDir, "skiff")
		cmd := exec.Command(kcGoTool(), "build", "-ldflags", kcLDFlags(), "-o", kcSkiffPath, "github.com/skiffk8s/skiff/cmd/skiff")
		out, err := cmd.CombinedOutput()
		if err != nil {
			kcBuildErr = fmt.Errorf("go build ./cmd/skiff: %v\n%s", err, out)
		}
	})
	if kcBuildErr != nil {
		t.Fatal(kcBuildErr)
	}
	return kcSkiffPath
}

// kcCLI runs `skiff kubectl` against one test server.
type kcCLI struct {
	bin        string
	kubeconfig string
	env        []string
}

// kcResult is what one kubectl run printed and how it exited.
type kcResult struct {
	args           []string
	stdout, stderr string
	code           int
}

func (r kcResult) String() string {
	return fmt.Sprintf("kubectl %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// kcNew returns a kubectl for srv with its own HOME (so its discovery
// cache is its own) and no KUBECONFIG from the environment.
func kcNew(t *testing.T, srv *apitest.Server) *kcCLI {
	t.Helper()
	home := t.TempDir()
	var env []string
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); {
		case k == "HOME", k == "KUBECONFIG", k == "EDITOR", k == "KUBE_EDITOR",
			strings.HasPrefix(k, "KUBECTL_"), strings.HasSuffix(strings.ToUpper(k), "_PROXY"):
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "HOME="+home, "NO_COLOR=1")
	return &kcCLI{bin: kcSkiffBinary(t), kubeconfig: srv.Kubeconfig, env: env}
}

func (k *kcCLI) command(ctx context.Context, args ...string) *exec.Cmd {
	full := append([]string{"kubectl", "--kubeconfig", k.kubeconfig}, args...)
	cmd := exec.CommandContext(ctx, k.bin, full...)
	cmd.Env = k.env
	return cmd
}

// runWith runs kubectl with extra environment and stdin.
func (k *kcCLI) runWith(t *testing.T, env []string, stdin string, args ...string) kcResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := k.command(ctx, args...)
	cmd.Env = append(cmd.Env, env...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := kcResult{args: args, stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	default:
		t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		t.Fatalf("kubectl %s: timed out\n%s", strings.Join(args, " "), res)
	}
	return res
}

func (k *kcCLI) run(t *testing.T, args ...string) kcResult {
	t.Helper()
	return k.runWith(t, nil, "", args...)
}

// ok runs kubectl, fails the test unless it exits 0, and returns stdout.
func (k *kcCLI) ok(t *testing.T, args ...string) string {
	t.Helper()
	r := k.run(t, args...)
	if r.code != 0 {
		t.Fatalf("want exit 0, got %s", r)
	}
	return r.stdout
}

// okStdin is ok with stdin.
func (k *kcCLI) okStdin(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	r := k.runWith(t, nil, stdin, args...)
	if r.code != 0 {
		t.Fatalf("want exit 0, got %s", r)
	}
	return r.stdout
}

// fails runs kubectl and fails the test unless it exits non-zero.
func (k *kcCLI) fails(t *testing.T, args ...string) kcResult {
	t.Helper()
	r := k.run(t, args...)
	if r.code == 0 {
		t.Fatalf("want a non-zero exit, got %s", r)
	}
	return r
}

// kcWatcher is a kubectl running in the background (get -w) whose output
// lines are collected as they arrive.
type kcWatcher struct {
	cmd    *exec.Cmd
	cancel context.CancelFunc
	stderr *bytes.Buffer
	done   chan struct{}
	mu     sync.Mutex
	seen   []string // guarded by mu
	next   int      // first line waitFor has not looked at
}

// start runs kubectl in the background until stopped, the test ends, or
// timeout.
func (k *kcCLI) start(t *testing.T, timeout time.Duration, args ...string) *kcWatcher {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	cmd := k.command(ctx, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	w := &kcWatcher{cmd: cmd, cancel: cancel, stderr: &bytes.Buffer{}, done: make(chan struct{})}
	cmd.Stderr = w.stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() {
		defer close(w.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			w.mu.Lock()
			w.seen = append(w.seen, sc.Text())
			w.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	t.Cleanup(w.stop)
	return w
}

func (w *kcWatcher) stop() {
	w.cancel()
	<-w.done
	_ = w.cmd.Wait()
}

// waitFor returns the first line not yet returned that matches re, failing
// the test at the deadline with everything printed so far.
func (w *kcWatcher) waitFor(t *testing.T, re *regexp.Regexp, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		w.mu.Lock()
		lines := w.seen[w.next:]
		for i, l := range lines {
			if re.MatchString(l) {
				w.next += i + 1
				w.mu.Unlock()
				return l
			}
		}
		w.next += len(lines)
		w.mu.Unlock()
		select {
		case <-w.done:
			w.mu.Lock()
			more := len(w.seen) > w.next
			w.mu.Unlock()
			if !more {
				w.stop()
				t.Fatalf("kubectl exited before printing a line matching %q; output:\n%s\nstderr:\n%s", re, w.output(), w.stderr)
			}
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			w.stop()
			t.Fatalf("no line matching %q within %v; output:\n%s\nstderr:\n%s", re, timeout, w.output(), w.stderr)
		}
	}
}

func (w *kcWatcher) output() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.seen, "\n")
}

// kcContains fails unless s contains every want.
func kcContains(t *testing.T, s string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Errorf("output does not contain %q:\n%s", w, s)
		}
	}
}

// kcCells splits a table line into its cells (cells never contain runs of
// spaces in these tests).
func kcCells(line string) []string {
	return regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(line), -1)
}

// kcRow returns the row of a kubectl table whose first cell is name.
func kcRow(t *testing.T, table, name string) []string {
	t.Helper()
	for _, l := range strings.Split(table, "\n") {
		if f := kcCells(l); len(f) > 0 && f[0] == name {
			return f
		}
	}
	t.Fatalf("no row %q in:\n%s", name, table)
	return nil
}

// kcHeader returns a table's header line with runs of spaces collapsed to
// three, the way the brief and upstream docs quote them.
func kcHeader(table string) string {
	first, _, _ := strings.Cut(table, "\n")
	return strings.Join(kcCells(first), "   ")
}
