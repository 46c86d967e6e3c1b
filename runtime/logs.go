package runtime

import (
	"bytes"
	"io"
	"os"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/pkg/cio"
)

// maxLogLine is the longest line written as one CRI log entry; longer
// lines are split into partial ("P") entries, as the CRI plugin does.
const maxLogLine = 16 << 10

// criLog writes a container's output to one file in the CRI log format:
// "<RFC3339Nano> <stream> <F|P> <text>\n".
type criLog struct {
	mu  sync.Mutex // serialises writes of both streams
	f   *os.File
	now func() time.Time
}

func openCRILog(path string) (*criLog, error) {
	if err := ensureDir(path); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, err
	}
	return &criLog{f: f, now: time.Now}, nil
}

func (l *criLog) entry(stream, tag string, text []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b bytes.Buffer
	b.WriteString(l.now().Format(time.RFC3339Nano))
	b.WriteByte(' ')
	b.WriteString(stream)
	b.WriteByte(' ')
	b.WriteString(tag)
	b.WriteByte(' ')
	b.Write(text)
	b.WriteByte('\n')
	_, _ = l.f.Write(b.Bytes())
}

func (l *criLog) Close() error { return l.f.Close() }

// streamWriter splits one stream into lines. Close flushes a final line
// that has no newline as a full entry.
type streamWriter struct {
	log    *criLog
	stream string
	buf    []byte
}

func (w *streamWriter) Write(p []byte) (int, error) {
	n := len(p)
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		line := w.buf[:i]
		for len(line) > maxLogLine {
			w.log.entry(w.stream, "P", line[:maxLogLine])
			line = line[maxLogLine:]
		}
		w.log.entry(w.stream, "F", line)
		w.buf = w.buf[i+1:]
	}
	for len(w.buf) > maxLogLine {
		w.log.entry(w.stream, "P", w.buf[:maxLogLine])
		w.buf = w.buf[maxLogLine:]
	}
	if len(w.buf) == 0 {
		w.buf = nil
	}
	return n, nil
}

func (w *streamWriter) Close() error {
	if len(w.buf) > 0 {
		w.log.entry(w.stream, "F", w.buf)
		w.buf = nil
	}
	return nil
}

// taskLog is a running task's log copier: the cio IO reading the FIFOs and
// the file it writes. It also hands the output to attached clients (fan)
// and, for containers created with Stdin, owns the stdin pipe.
type taskLog struct {
	log            *criLog
	stdout, stderr *streamWriter
	fan            fanout
	stdin          *stdinPipe // nil unless the container has stdin
	tty            bool       // the task has a terminal (stdout only)
	once           sync.Once
	done           chan struct{} // closed when the file is complete
	io             cio.IO        // set once the task exists
}

// newTaskLog opens the log at path. stdin (nil: none) becomes the task's
// stdin; tty makes the task's IO a terminal.
func newTaskLog(path string, stdin *stdinPipe, tty bool) (*taskLog, error) {
	l, err := openCRILog(path)
	if err != nil {
		return nil, err
	}
	return &taskLog{
		log:    l,
		stdout: &streamWriter{log: l, stream: "stdout"},
		stderr: &streamWriter{log: l, stream: "stderr"},
		stdin:  stdin,
		tty:    tty,
		done:   make(chan struct{}),
	}, nil
}

// streamOpts are the cio options of the task's streams.
func (t *taskLog) streamOpts() []cio.Opt {
	var in io.Reader
	if t.stdin != nil {
		in = t.stdin.r
	}
	opts := []cio.Opt{cio.WithStreams(in,
		&teeWriter{w: t.stdout, fan: &t.fan},
		&teeWriter{w: t.stderr, fan: &t.fan, stderr: true})}
	if t.tty {
		opts = append(opts, cio.WithTerminal)
	}
	return opts
}

// creator returns the cio.Creator for a new task.
func (t *taskLog) creator(fifoDir string) cio.Creator {
	return cio.NewCreator(append(t.streamOpts(), cio.WithFIFODir(fifoDir))...)
}

// attach returns the cio.Attach for an existing task.
func (t *taskLog) attach() cio.Attach {
	return cio.NewAttach(t.streamOpts()...)
}

// closeAttached ends attach sessions and the stdin pipe.
func (t *taskLog) closeAttached() {
	t.fan.closeAll()
	if t.stdin != nil {
		t.stdin.close()
	}
}

// finish waits for the copiers to drain (the task exited), flushes and
// closes the file.
func (t *taskLog) finish() {
	t.once.Do(func() {
		if t.io != nil {
			t.io.Wait()
			t.io.Close()
		}
		t.stdout.Close()
		t.stderr.Close()
		t.log.Close()
		t.closeAttached()
		close(t.done)
	})
}

// detach stops copying without waiting (the task keeps running).
func (t *taskLog) detach() {
	t.once.Do(func() {
		if t.io != nil {
			t.io.Cancel()
			t.io.Wait()
		}
		t.log.Close()
		t.closeAttached()
		close(t.done)
	})
}

var _ io.WriteCloser = (*streamWriter)(nil)
