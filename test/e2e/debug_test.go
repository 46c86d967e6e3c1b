package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/skiffk8s/skiff/test/nodetest"
)

// The debugging tests drive a real node the way users do: the skiff
// binary's embedded kubectl, through the API server, to the kubelet
// server, into containerd.

func TestMain(m *testing.M) {
	code := m.Run()
	nodetest.RemoveSkiffBinary()
	os.Exit(code)
}

// sharedSkiff is the skiff binary, built once per test run.
func sharedSkiff(t testing.TB) string { return nodetest.SkiffBinary(t) }

// kubectl runs `skiff kubectl` against the node's API server with stdin
// and returns stdout, stderr and the exit code.
func (n *node) kubectl(t testing.TB, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sharedSkiff(t), append([]string{"kubectl", "--kubeconfig", n.kubeconfig}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("kubectl %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// mustKubectl runs kubectl and fails the test unless it exits 0.
func (n *node) mustKubectl(t testing.TB, args ...string) string {
	t.Helper()
	out, errOut, code := n.kubectl(t, "", args...)
	if code != 0 {
		t.Fatalf("kubectl %v: exit %d\nstdout: %s\nstderr: %s", args, code, out, errOut)
	}
	return out
}

// kubectlStream starts a long-running kubectl and returns its stdout
// lines; the process is killed when the test ends.
func (n *node) kubectlStream(t testing.TB, args ...string) <-chan string {
	t.Helper()
	lines, _ := n.kubectlStreamErr(t, args...)
	return lines
}

// kubectlStreamErr is kubectlStream that also returns what kubectl wrote
// to stderr so far.
func (n *node) kubectlStreamErr(t testing.TB, args ...string) (<-chan string, func() string) {
	t.Helper()
	cmd := exec.Command(sharedSkiff(t), append([]string{"kubectl", "--kubeconfig", n.kubeconfig}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &lockedBuilder{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("kubectl %v stderr: %s", args, stderr.String())
		}
	})
	return lines, stderr.String
}

// lockedBuilder is a strings.Builder safe for a writer and a reader.
type lockedBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuilder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuilder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitLine reads lines until one matches re, or fails after timeout.
func waitLine(t testing.TB, lines <-chan string, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	var seen []string
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("output ended without a line matching %s; got %q", re, seen)
			}
			seen = append(seen, l)
			if re.MatchString(l) {
				return seen
			}
		case <-deadline:
			t.Fatalf("no line matching %s in %s; got %q", re, timeout, seen)
		}
	}
}

func TestNodeDebugging(t *testing.T) {
	n := startNode(t)
	sharedSkiff(t)

	n.create(t, busyboxPod("talker", corev1.RestartPolicyAlways, "echo line-1; echo line-2 >&2; echo line-3; i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.2; done"))
	n.waitPhase(t, "talker", corev1.PodRunning)
	n.waitLog(t, n.get(t, "talker"), "main", 0, "tick-5")

	group(t, "kubectl", map[string]func(t *testing.T){
		"logs shows the container's output": func(t *testing.T) {
			// stdout keeps its order; stderr is a separate stream whose
			// lines interleave by arrival, as upstream.
			out := n.mustKubectl(t, "logs", "talker")
			stdout := strings.ReplaceAll(out, "line-2\n", "")
			if !strings.HasPrefix(stdout, "line-1\nline-3\ntick-1\ntick-2\n") || !strings.Contains("\n"+out, "\nline-2\n") {
				t.Errorf("kubectl logs:\n%s", out)
			}
		},
		"logs --tail and --timestamps": func(t *testing.T) {
			out := n.mustKubectl(t, "logs", "talker", "--tail=2", "--timestamps")
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 2 {
				t.Fatalf("--tail=2 gave %d lines:\n%s", len(lines), out)
			}
			for _, l := range lines {
				ts, text, _ := strings.Cut(l, " ")
				if _, err := time.Parse(time.RFC3339Nano, ts); err != nil || !strings.HasPrefix(text, "tick-") {
					t.Errorf("line %q: want an RFC3339 timestamp then a tick (%v)", l, err)
				}
			}
		},
		"logs -f streams lines written after it started": func(t *testing.T) {
			before := strings.Count(n.mustKubectl(t, "logs", "talker"), "\n")
			lines := n.kubectlStream(t, "logs", "-f", "talker")
			seen := waitLine(t, lines, regexp.MustCompile(`^tick-`), 20*time.Second)
			// Keep reading until a tick beyond what existed when -f started.
			want := regexp.MustCompile(fmt.Sprintf(`^tick-(\d+)$`))
			deadline := time.After(20 * time.Second)
			for {
				select {
				case l, ok := <-lines:
					if !ok {
						t.Fatalf("logs -f ended; got %q", seen)
					}
					seen = append(seen, l)
					if m := want.FindStringSubmatch(l); m != nil {
						if i, _ := strconv.Atoi(m[1]); i > before+3 {
							return
						}
					}
				case <-deadline:
					t.Fatalf("logs -f did not stream new lines; last %q", seen[max(0, len(seen)-3):])
				}
			}
		},
		"exec propagates the exit code": func(t *testing.T) {
			out, errOut, code := n.kubectl(t, "", "exec", "talker", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
			if code != 3 || out != "out\n" || !strings.Contains(errOut, "err") {
				t.Errorf("exit %d stdout %q stderr %q, want 3, out, err", code, out, errOut)
			}
		},
		"exec -i pipes stdin": func(t *testing.T) {
			out, errOut, code := n.kubectl(t, "hello through stdin\n", "exec", "-i", "talker", "--", "cat")
			if code != 0 || out != "hello through stdin\n" {
				t.Errorf("exit %d stdout %q stderr %q", code, out, errOut)
			}
		},
		"exec -it gives a terminal": func(t *testing.T) {
			// script(1) runs kubectl on a pseudo-terminal, as a user's shell.
			cmdline := fmt.Sprintf("%s kubectl --kubeconfig %s exec -it talker -- sh -c 'tty; stty size'", sharedSkiff(t), n.kubeconfig)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, "script", "-qec", cmdline, "/dev/null")
			cmd.Env = append(os.Environ(), "COLUMNS=120", "LINES=40")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("exec -it: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), "/dev/pts/") {
				t.Errorf("tty in the container: %q, want a /dev/pts terminal", out)
			}
		},
		"attach streams the running container's output": func(t *testing.T) {
			lines := n.kubectlStream(t, "attach", "talker")
			waitLine(t, lines, regexp.MustCompile(`^tick-\d+$`), 20*time.Second)
		},
	})

	t.Run("logs --previous shows the last run before a restart", func(t *testing.T) {
		p := busyboxPod("restarter", corev1.RestartPolicyAlways,
			"n=$(cat /data/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /data/n; echo run-$n; if [ $n -ge 2 ]; then exec sleep 3600; fi; exit 1")
		p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
		n.create(t, p)
		n.waitPod(t, "restarter", "restarted and running", 60*time.Second, func(p *corev1.Pod) bool {
			return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 1 && p.Status.ContainerStatuses[0].State.Running != nil
		})
		n.waitLog(t, n.get(t, "restarter"), "main", 1, "run-2")
		if out := n.mustKubectl(t, "logs", "restarter", "--previous"); out != "run-1\n" {
			t.Errorf("logs --previous: %q, want run-1", out)
		}
		if out := n.mustKubectl(t, "logs", "restarter"); out != "run-2\n" {
			t.Errorf("logs: %q, want run-2", out)
		}
	})

	t.Run("port-forward reaches a server in the pod from loopback", func(t *testing.T) {
		n.create(t, busyboxPod("web", corev1.RestartPolicyAlways, "mkdir -p /www; echo served-from-the-pod > /www/index.html; exec httpd -f -p 8080 -h /www"))
		n.waitPhase(t, "web", corev1.PodRunning)
		// kubectl port-forward ends at the first refused connection, as
		// upstream's does: wait until httpd serves inside the pod.
		n.waitFor(t, "httpd to serve in the pod", func() (bool, error) {
			out, _, code := n.kubectl(t, "", "exec", "web", "--", "sh", "-c", `printf 'GET /index.html HTTP/1.0\r\n\r\n' | nc 127.0.0.1 8080`)
			return code == 0 && strings.Contains(out, "served-from-the-pod"), nil
		})
		lines := n.kubectlStream(t, "port-forward", "pod/web", ":8080")
		seen := waitLine(t, lines, regexp.MustCompile(`^Forwarding from 127\.0\.0\.1:\d+ -> 8080$`), 30*time.Second)
		port := regexp.MustCompile(`127\.0\.0\.1:(\d+)`).FindStringSubmatch(seen[len(seen)-1])[1]
		var body []byte
		var err error
		for range 20 { // httpd may still be starting
			var resp *http.Response
			if resp, err = http.Get("http://127.0.0.1:" + port + "/index.html"); err == nil {
				body, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil && resp.StatusCode == http.StatusOK {
					break
				}
				err = fmt.Errorf("status %s", resp.Status)
			}
			time.Sleep(250 * time.Millisecond)
		}
		if err != nil || string(body) != "served-from-the-pod\n" {
			t.Errorf("GET through port-forward: %q, %v", body, err)
		}
	})

	t.Run("bad input gets clear errors and no hung connections", func(t *testing.T) {
		_, errOut, code := n.kubectl(t, "", "logs", "talker", "-c", "nope")
		if code == 0 || !strings.Contains(errOut, "container nope is not valid for pod talker") {
			t.Errorf("logs of a missing container: exit %d, stderr %q", code, errOut)
		}
		n.create(t, busyboxPod("finished", corev1.RestartPolicyNever, "true"))
		n.waitPhase(t, "finished", corev1.PodSucceeded)
		_, errOut, code = n.kubectl(t, "", "exec", "finished", "--", "true")
		if code == 0 || !strings.Contains(errOut, "completed pod") {
			t.Errorf("exec into a completed pod: exit %d, stderr %q", code, errOut)
		}
		// Port-forward to a port nothing listens on: the local connection
		// ends promptly and kubectl says why.
		lines, stderr := n.kubectlStreamErr(t, "port-forward", "pod/talker", ":9")
		seen := waitLine(t, lines, regexp.MustCompile(`^Forwarding from 127\.0\.0\.1:\d+ -> 9$`), 30*time.Second)
		port := regexp.MustCompile(`127\.0\.0\.1:(\d+)`).FindStringSubmatch(seen[len(seen)-1])[1]
		client := &http.Client{Timeout: 20 * time.Second} // a bound for a hang, not a measurement
		resp, err := client.Get("http://127.0.0.1:" + port + "/")
		if err == nil {
			resp.Body.Close()
			t.Errorf("GET through a port-forward to a closed port answered %s", resp.Status)
		} else if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "Timeout") {
			t.Errorf("GET through a port-forward to a closed port hung: %v", err)
		}
		n.waitFor(t, "kubectl to report the refused connection", func() (bool, error) {
			return strings.Contains(stderr(), "connection refused"), nil
		})
	})

	t.Run("top shows a busy container near one core and a known amount of memory", func(t *testing.T) {
		n.create(t, busyboxPod("busy", corev1.RestartPolicyAlways, "while :; do :; done"))
		// 64 MiB in the container's /dev/shm (tmpfs) is charged to its cgroup.
		n.create(t, busyboxPod("holder", corev1.RestartPolicyAlways, "head -c 67108864 /dev/zero > /dev/shm/fill; exec sleep 3600"))
		n.waitPhase(t, "busy", corev1.PodRunning)
		n.waitPhase(t, "holder", corev1.PodRunning)
		var cpu, mem resource.Quantity
		n.waitFor(t, "kubectl top pods to show the busy loop near one core and the held memory", func() (bool, error) {
			out, _, code := n.kubectl(t, "", "top", "pods", "--containers", "--no-headers")
			if code != 0 {
				return false, nil // metrics not available yet
			}
			for _, l := range strings.Split(out, "\n") {
				f := strings.Fields(l) // POD NAME CPU(cores) MEMORY(bytes)
				if len(f) != 4 {
					continue
				}
				switch f[0] {
				case "busy":
					cpu = resource.MustParse(f[2])
				case "holder":
					mem = resource.MustParse(f[3])
				}
			}
			return cpu.MilliValue() > 500 && mem.Value() > 60<<20, nil // a busy loop gets about one core; other tests share the machine
		})
		if cpu.MilliValue() > 1100 || mem.Value() > 96<<20 {
			t.Errorf("busy uses %s cpu (want near 1000m), holder %s memory (want near 64Mi)", cpu.String(), mem.String())
		}
		out := n.mustKubectl(t, "top", "nodes", "--no-headers")
		if f := strings.Fields(out); len(f) < 5 || f[0] != nodeName {
			t.Errorf("kubectl top nodes: %q, want a row for %s with cpu and memory", out, nodeName)
		}
		out = n.mustKubectl(t, "top", "pods", "--sort-by=cpu", "--no-headers")
		if f := strings.Fields(out); len(f) < 3 || f[0] != "busy" {
			t.Errorf("top pods --sort-by=cpu: first row %q, want busy", out)
		}
		out = n.mustKubectl(t, "top", "pods", "-l", "e2e=holder", "--no-headers")
		if f := strings.Fields(out); len(f) != 3 || f[0] != "holder" {
			t.Errorf("top pods -l e2e=holder: %q, want only holder", out)
		}
	})
}
