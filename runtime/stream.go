package runtime

// Streaming exec and attach, for the kubelet's exec/attach API (`kubectl
// exec`, `kubectl attach`).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
)

// ErrNoStdin is returned by Attach when stdin is asked for a container
// that was not created with Stdin.
var ErrNoStdin = errors.New("container was not created with stdin")

// TerminalSize is a terminal's size in character cells.
type TerminalSize struct {
	Width, Height uint16
}

// Streams are the standard streams of a process run with ExecStream or
// attached to with Attach.
type Streams struct {
	// Stdin feeds the process; nil means no stdin. Its end (io.EOF)
	// closes the process's stdin.
	Stdin io.Reader
	// Stdout and Stderr receive the output; nil discards it. With TTY
	// there is one stream, written to Stdout.
	Stdout, Stderr io.Writer
	// TTY runs the process on a terminal (ExecStream); for Attach it must
	// match how the container was created.
	TTY bool
	// Resize delivers terminal size changes (TTY only); nil: none.
	Resize <-chan TerminalSize
}

// ExecStream runs cmd in the running container id with s as its streams
// and returns its exit code once it has exited and its output has been
// written. Ending ctx kills the process and returns an error wrapping
// ctx.Err(). A container that is not running gives ErrNotFound.
func (c *Containerd) ExecStream(ctx context.Context, id string, cmd []string, s Streams) (int, error) {
	ctx = c.nsCtx(ctx)
	if len(cmd) == 0 {
		return -1, errors.New("exec: empty command")
	}
	container, err := c.client.LoadContainer(ctx, id)
	if err != nil {
		return -1, notFound(err, "container "+id)
	}
	task, err := container.Task(ctx, nil)
	if err != nil {
		return -1, notFound(err, "task of container "+id)
	}
	spec, err := container.Spec(ctx)
	if err != nil {
		return -1, fmt.Errorf("exec in %s: %w", id, err)
	}
	pspec := *spec.Process
	pspec.Args = cmd
	pspec.Terminal = s.TTY

	var stdin *eofReader
	opts := []cio.Opt{cio.WithFIFODir(c.fifoDir)}
	var in io.Reader
	if s.Stdin != nil {
		stdin = &eofReader{r: s.Stdin, eof: make(chan struct{})}
		in = stdin
	}
	opts = append(opts, cio.WithStreams(in, orDiscard(s.Stdout), orDiscard(s.Stderr)))
	if s.TTY {
		opts = append(opts, cio.WithTerminal)
	}
	execID := "exec-" + newID()[:16]
	p, err := task.Exec(ctx, execID, &pspec, cio.NewCreator(opts...))
	if err != nil {
		return -1, fmt.Errorf("exec in %s: %w", id, err)
	}
	cleanup := context.WithoutCancel(ctx)
	defer func() { _, _ = p.Delete(cleanup, containerd.WithProcessKill) }()
	exitCh, err := p.Wait(cleanup)
	if err != nil {
		return -1, fmt.Errorf("exec in %s: %w", id, err)
	}
	if err := p.Start(ctx); err != nil {
		return -1, fmt.Errorf("exec %v in %s: %w", cmd, id, err)
	}
	if stdin != nil {
		go func() {
			select {
			case <-stdin.eof:
				_ = p.CloseIO(cleanup, containerd.WithStdinCloser)
			case <-exitCh:
			}
		}()
	}
	for {
		select {
		case sz := <-s.Resize:
			if err := p.Resize(ctx, uint32(sz.Width), uint32(sz.Height)); err != nil {
				c.log.Debug("exec resize", "container", id, "err", err)
			}
		case st := <-exitCh:
			if p.IO() != nil {
				p.IO().Wait()
			}
			code, _, err := st.Result()
			if err != nil {
				return -1, fmt.Errorf("exec %v in %s: %w", cmd, id, err)
			}
			return int(code), nil
		case <-ctx.Done():
			_ = p.Kill(cleanup, syscall.SIGKILL)
			waitBriefly(exitCh)
			return -1, fmt.Errorf("exec %v in %s: %w", cmd, id, ctx.Err())
		}
	}
}

// Attach connects s to the main process of the running container id: from
// now on its output goes to s.Stdout/s.Stderr (a client that falls far
// behind loses output rather than stall the container), s.Stdin feeds its
// stdin and s.Resize resizes its terminal. It returns when the container
// exits (its output written) or ctx ends; attaching to a container that is
// not running gives ErrNotFound.
//
// Stdin works only for containers created with Stdin (otherwise
// ErrNoStdin); clients attached at the same time share it. With
// StdinOnce, the end of an attached client's stdin closes the container's
// stdin. The main process's exit code is not reported here: callers read
// it from ContainerStatus.
func (c *Containerd) Attach(ctx context.Context, id string, s Streams) error {
	ctx = c.nsCtx(ctx)
	c.mu.Lock()
	tl := c.running[id]
	c.mu.Unlock()
	if tl == nil {
		return fmt.Errorf("%w: container %s is not running", ErrNotFound, id)
	}
	if s.Stdin != nil && tl.stdin == nil {
		return fmt.Errorf("attach to %s: %w", id, ErrNoStdin)
	}
	container, err := c.client.LoadContainer(ctx, id)
	if err != nil {
		return notFound(err, "container "+id)
	}
	task, err := container.Task(ctx, nil)
	if err != nil {
		return notFound(err, "task of container "+id)
	}
	sub := tl.fan.subscribe()
	defer tl.fan.unsubscribe(sub)
	if s.Stdin != nil {
		go func() {
			if tl.stdin.feed(s.Stdin) {
				_ = task.CloseIO(context.WithoutCancel(ctx), containerd.WithStdinCloser)
			}
		}()
	}
	stdout, stderr := orDiscard(s.Stdout), orDiscard(s.Stderr)
	for {
		select {
		case ch, ok := <-sub.ch:
			if !ok {
				return nil // the task exited
			}
			w := stdout
			if ch.stderr {
				w = stderr
			}
			if _, err := w.Write(ch.data); err != nil {
				return fmt.Errorf("attach to %s: %w", id, err)
			}
		case sz := <-s.Resize:
			if err := task.Resize(ctx, uint32(sz.Width), uint32(sz.Height)); err != nil {
				c.log.Debug("attach resize", "container", id, "err", err)
			}
		case <-ctx.Done():
			return fmt.Errorf("attach to %s: %w", id, ctx.Err())
		}
	}
}

// eofReader closes eof when its reader ends.
type eofReader struct {
	r   io.Reader
	eof chan struct{}
	hit bool
}

func (e *eofReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && !e.hit {
		e.hit = true
		close(e.eof)
	}
	return n, err
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
