package runtime_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiffk8s/skiff/runtime"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestStreaming(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	sleeper := e.start(t, runtime.ContainerConfig{Name: "sleeper", Command: []string{"sleep", "60"}})

	t.Run("ExecStreamSeparatesStreamsAndReturnsTheExitCode", func(t *testing.T) {
		var out, errb syncBuffer
		code, err := e.rt.ExecStream(ctx, sleeper, []string{"sh", "-c", "echo out; echo err >&2; exit 7"},
			runtime.Streams{Stdout: &out, Stderr: &errb})
		if err != nil || code != 7 || out.String() != "out\n" || errb.String() != "err\n" {
			t.Fatalf("code %d err %v stdout %q stderr %q", code, err, out.String(), errb.String())
		}
	})
	t.Run("ExecStreamPipesStdinUntilItEnds", func(t *testing.T) {
		var out syncBuffer
		code, err := e.rt.ExecStream(ctx, sleeper, []string{"cat"},
			runtime.Streams{Stdin: strings.NewReader("hello\nworld\n"), Stdout: &out})
		if err != nil || code != 0 || out.String() != "hello\nworld\n" {
			t.Fatalf("code %d err %v stdout %q", code, err, out.String())
		}
	})
	t.Run("ExecStreamWithTTYAppliesResizes", func(t *testing.T) {
		var out syncBuffer
		resize := make(chan runtime.TerminalSize, 1)
		resize <- runtime.TerminalSize{Width: 91, Height: 17}
		code, err := e.rt.ExecStream(ctx, sleeper, []string{"sh", "-c", "sleep 0.3; tty; stty size"},
			runtime.Streams{Stdout: &out, TTY: true, Resize: resize})
		if err != nil || code != 0 || !strings.Contains(out.String(), "/dev/pts/") || !strings.Contains(out.String(), "17 91") {
			t.Fatalf("code %d err %v output %q", code, err, out.String())
		}
	})
	t.Run("AttachSeesOutputAndFeedsStdin", func(t *testing.T) {
		id := e.start(t, runtime.ContainerConfig{Name: "echoer", Stdin: true, StdinOnce: true,
			Command: []string{"sh", "-c", "while read l; do echo got $l; echo err $l >&2; done; echo bye"}})
		pr, pw := io.Pipe()
		var out, errb syncBuffer
		done := make(chan error, 1)
		go func() { done <- e.rt.Attach(ctx, id, runtime.Streams{Stdin: pr, Stdout: &out, Stderr: &errb}) }()
		time.Sleep(200 * time.Millisecond) // subscribed
		io.WriteString(pw, "one\n")
		pw.Close()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("attach did not end when the container exited")
		}
		if out.String() != "got one\nbye\n" || errb.String() != "err one\n" {
			t.Fatalf("stdout %q stderr %q", out.String(), errb.String())
		}
	})
	t.Run("ATTYContainerRunsOnATerminalAndLogsItsOutput", func(t *testing.T) {
		st, out := e.output(t, runtime.ContainerConfig{Name: "tty", TTY: true}, "tty; echo done")
		if st.ExitCode != 0 || !strings.Contains(out, "/dev/pts/") || !strings.Contains(out, "done") {
			t.Fatalf("exit %d log %q", st.ExitCode, out)
		}
	})
	t.Run("AttachStdinNeedsAContainerCreatedWithStdin", func(t *testing.T) {
		err := e.rt.Attach(ctx, sleeper, runtime.Streams{Stdin: strings.NewReader("x")})
		if !errors.Is(err, runtime.ErrNoStdin) {
			t.Fatalf("err = %v, want ErrNoStdin", err)
		}
	})
}
