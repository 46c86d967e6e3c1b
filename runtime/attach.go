package runtime

// This file holds what attaching to a container's main process needs: a
// fan-out of the output the log copier reads, and the stdin pipe of
// containers created with Stdin.

import (
	"io"
	"sync"
)

// attachBuffer is how many output chunks an attached client may fall
// behind before it loses output: a slow client never stalls the container
// or its log.
const attachBuffer = 256

// chunk is a piece of output of one stream.
type chunk struct {
	stderr bool
	data   []byte
}

// fanout copies a task's output to the attached clients.
type fanout struct {
	mu   sync.Mutex
	subs map[*subscriber]struct{} // guarded by mu
}

// subscriber is one attached client's output.
type subscriber struct {
	ch   chan chunk
	once sync.Once
}

func (f *fanout) subscribe() *subscriber {
	s := &subscriber{ch: make(chan chunk, attachBuffer)}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.subs == nil {
		f.subs = map[*subscriber]struct{}{}
	}
	f.subs[s] = struct{}{}
	return s
}

// unsubscribe stops delivery to s and closes its channel.
func (f *fanout) unsubscribe(s *subscriber) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.subs, s)
	s.once.Do(func() { close(s.ch) })
}

// closeAll ends every subscription (the task exited).
func (f *fanout) closeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.subs {
		delete(f.subs, s)
		s.once.Do(func() { close(s.ch) })
	}
}

// publish hands a copy of p to every subscriber that has room.
func (f *fanout) publish(stderr bool, p []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.subs) == 0 {
		return
	}
	c := chunk{stderr: stderr, data: append([]byte(nil), p...)}
	for s := range f.subs {
		select {
		case s.ch <- c:
		default: // too far behind: drop rather than block the container
		}
	}
}

// teeWriter publishes what is written to it before passing it on.
type teeWriter struct {
	w      io.Writer
	fan    *fanout
	stderr bool
}

func (t *teeWriter) Write(p []byte) (int, error) {
	t.fan.publish(t.stderr, p)
	return t.w.Write(p)
}

// stdinPipe is the stdin of a container created with Stdin: the task's
// copier reads r; attached clients write w.
type stdinPipe struct {
	r    *io.PipeReader
	w    *io.PipeWriter
	once bool // StdinOnce: the first client's end of input closes stdin

	mu sync.Mutex // serialises writers
}

func newStdinPipe(once bool) *stdinPipe {
	r, w := io.Pipe()
	return &stdinPipe{r: r, w: w, once: once}
}

// feed copies in to the container's stdin until in ends. With once set,
// the end of in closes the pipe and feed reports true: the caller then
// closes the task's stdin (the shim keeps its FIFO open until CloseIO).
func (s *stdinPipe) feed(in io.Reader) (closed bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := in.Read(buf)
		if n > 0 {
			s.mu.Lock()
			_, werr := s.w.Write(buf[:n])
			s.mu.Unlock()
			if werr != nil {
				return false
			}
		}
		if err != nil {
			if err == io.EOF && s.once {
				s.close()
				return true
			}
			return false
		}
	}
}

func (s *stdinPipe) close() {
	s.w.Close()
	s.r.Close()
}
