package server

import (
	"bufio"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// logFixture is a pod "web" with container "app" whose restart 0 and 1
// have CRI logs, and "idle" which has none yet.
type logFixture struct {
	ts      *testServer
	dir     string // the container's log dir
	running atomic.Bool
	times   []time.Time // of restart 1's entries
}

func (f *logFixture) url(query string) string {
	return f.ts.URL + "/containerLogs/default/web/app?" + query
}

func criLine(t time.Time, stream, tag, text string) string {
	return fmt.Sprintf("%s %s %s %s\n", t.Format(time.RFC3339Nano), stream, tag, text)
}

func newLogFixture(t *testing.T) *logFixture {
	f := &logFixture{}
	f.running.Store(true)
	logs := t.TempDir()
	pod := testPod("default", "web", "app", "idle")
	f.dir = filepath.Join(logs, "default_web_web-uid", "app")
	if err := os.MkdirAll(f.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-3 * time.Hour)
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(f.dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("0.log", criLine(old, "stdout", "F", "old one")+criLine(old, "stdout", "F", "old two"))
	now := time.Now()
	f.times = []time.Time{now.Add(-2 * time.Hour), now.Add(-time.Hour), now.Add(-time.Hour + time.Second), now.Add(-time.Second)}
	write("1.log", criLine(f.times[0], "stdout", "F", "first")+
		criLine(f.times[1], "stderr", "P", "par")+
		"not a CRI line\n"+
		criLine(f.times[2], "stderr", "F", "tial")+
		criLine(f.times[3], "stdout", "F", "third"))
	f.ts = startServer(t, Config{
		Pods:       func() []*corev1.Pod { return []*corev1.Pod{pod} },
		PodLogsDir: logs,
		LookupContainer: func(p *corev1.Pod, c string) (ContainerInfo, bool) {
			return ContainerInfo{ID: c + "-id", Running: f.running.Load()}, true
		},
	})
	return f
}

func TestContainerLogsOptions(t *testing.T) {
	f := newLogFixture(t)
	ts := func(i int) string { return f.times[i].Format(time.RFC3339Nano) + " " }
	for _, tc := range []struct{ name, query, want string }{
		{"AllLinesWithPartialsJoined", "", "first\npartial\nthird\n"},
		{"TimestampsPrefixEachLine", "timestamps=true", ts(0) + "first\n" + ts(1) + "partial\n" + ts(3) + "third\n"},
		{"TailLinesKeepsTheLast", "tailLines=2", "partial\nthird\n"},
		{"TailLinesZeroIsNothing", "tailLines=0", ""},
		{"LimitBytesCutsTheOutput", "limitBytes=8", "first\npa"},
		{"PreviousIsTheRestartBefore", "previous=true", "old one\nold two\n"},
		{"SinceTimeSkipsOlderLines", "sinceTime=" + url.QueryEscape(f.times[1].Add(time.Second).Format(time.RFC3339)), "third\n"},
		{"SinceSecondsSkipsOlderLines", "sinceSeconds=60", "third\n"},
		{"FollowOfAStoppedContainerEnds", "follow=true&tailLines=1", "third\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if strings.HasPrefix(tc.name, "Follow") {
				f.running.Store(false)
				defer f.running.Store(true)
			}
			code, body := get(t, f.ts.authed(t), f.url(tc.query))
			if code != 200 || body != tc.want {
				t.Fatalf("GET ?%s = %d %q, want %q", tc.query, code, body, tc.want)
			}
		})
	}
}

func TestContainerLogsRefusesBadRequestsClearly(t *testing.T) {
	f := newLogFixture(t)
	for _, tc := range []struct {
		name, path string
		code       int
		msg        string
	}{
		{"NegativeTail", "/containerLogs/default/web/app?tailLines=-1", 400, `invalid tailLines "-1"`},
		{"BadBool", "/containerLogs/default/web/app?follow=maybe", 400, `invalid follow "maybe"`},
		{"BothSinces", "/containerLogs/default/web/app?sinceSeconds=5&sinceTime=2024-01-01T00:00:00Z", 400, "at most one of sinceTime or sinceSeconds"},
		{"BadSinceTime", "/containerLogs/default/web/app?sinceTime=yesterday", 400, `invalid sinceTime "yesterday"`},
		{"ZeroLimit", "/containerLogs/default/web/app?limitBytes=0", 400, `invalid limitBytes "0"`},
		{"UnknownPod", "/containerLogs/default/nope/app", 404, `pod "nope" not found in namespace "default"`},
		{"UnknownContainer", "/containerLogs/default/web/nope", 404, `container "nope" not found in pod "web"`},
		{"NotStartedYet", "/containerLogs/default/web/idle", 400, `container "idle" in pod "web" is waiting to start`},
		{"NoPreviousRestart", "/containerLogs/default/web/idle?previous=true", 400, `previous terminated container "idle" in pod "web" not found`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(t, f.ts.authed(t), f.ts.URL+tc.path)
			if code != tc.code || !strings.Contains(body, tc.msg) {
				t.Fatalf("%s = %d %q, want %d containing %q", tc.path, code, body, tc.code, tc.msg)
			}
		})
	}
}

// followLines starts a followed log and returns its lines as they come.
func followLines(t *testing.T, f *logFixture, query string) (<-chan string, func()) {
	t.Helper()
	resp, err := f.ts.authed(t).Get(f.url(query))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return lines, func() { resp.Body.Close() }
}

func expectLine(t *testing.T, lines <-chan string, want string) {
	t.Helper()
	select {
	case got, ok := <-lines:
		if !ok || got != want {
			t.Fatalf("line = %q (open %v), want %q", got, ok, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no line %q within 5s", want)
	}
}

func expectEnd(t *testing.T, lines <-chan string) {
	t.Helper()
	select {
	case got, ok := <-lines:
		if ok {
			t.Fatalf("unexpected line %q, want the end", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("followed log did not end within 5s")
	}
}

func appendLog(t *testing.T, path, text string) {
	t.Helper()
	fh, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	if _, err := fh.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

func TestFollowStreamsAppendedLinesUntilTheContainerStops(t *testing.T) {
	f := newLogFixture(t)
	lines, stop := followLines(t, f, "follow=true&tailLines=1")
	defer stop()
	expectLine(t, lines, "third")
	path := filepath.Join(f.dir, "1.log")
	// A line written in two pieces (and a partial entry) arrives whole.
	now := time.Now()
	appendLog(t, path, criLine(now, "stdout", "P", "fo"))
	time.Sleep(50 * time.Millisecond)
	appendLog(t, path, strings.TrimSuffix(criLine(now, "stdout", "F", "urth"), "\n"))
	time.Sleep(50 * time.Millisecond)
	appendLog(t, path, "\n")
	expectLine(t, lines, "fourth")
	// Lines written just before the stop are still delivered.
	appendLog(t, path, criLine(time.Now(), "stdout", "F", "last words"))
	f.running.Store(false)
	expectLine(t, lines, "last words")
	expectEnd(t, lines)
}

func TestFollowEndsWhenANewerRestartLogAppears(t *testing.T) {
	f := newLogFixture(t)
	lines, stop := followLines(t, f, "follow=true&tailLines=0")
	defer stop()
	appendLog(t, filepath.Join(f.dir, "1.log"), criLine(time.Now(), "stdout", "F", "dying"))
	expectLine(t, lines, "dying")
	appendLog(t, filepath.Join(f.dir, "2.log"), criLine(time.Now(), "stdout", "F", "reborn"))
	expectEnd(t, lines)
}
