package server

// Reading the CRI log files the runtime writes, one line per entry:
// "<RFC3339Nano time> <stdout|stderr> <F|P> <text>", P marking a partial
// line continued by the next entry of the same stream.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// logOptions are the query options of /containerLogs, validated.
type logOptions struct {
	follow     bool
	timestamps bool
	previous   bool
	tail       int64     // lines from the end; -1: all
	limit      int64     // bytes of output at most; 0: no limit
	since      time.Time // entries before it are skipped; zero: none
}

// criEntry is one parsed log line.
type criEntry struct {
	time    time.Time
	stream  string
	partial bool
	text    []byte
}

// parseCRILine parses one log line (without its newline).
func parseCRILine(line []byte) (criEntry, error) {
	var e criEntry
	ts, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return e, fmt.Errorf("log line without a stream: %q", line)
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return e, fmt.Errorf("log line timestamp: %w", err)
	}
	stream, rest, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		return e, fmt.Errorf("log line without a tag: %q", line)
	}
	tag, text, _ := bytes.Cut(rest, []byte{' '})
	e.time, e.stream, e.text = t, string(stream), text
	switch string(tag) {
	case "F":
	case "P":
		e.partial = true
	default:
		return e, fmt.Errorf("log line tag %q is neither F nor P", tag)
	}
	return e, nil
}

// logLine is one complete line of output.
type logLine struct {
	time time.Time
	text []byte
}

// errLimitReached ends a log once limitBytes have been written.
var errLimitReached = errors.New("limitBytes reached")

// logWriter turns entries into the text `kubectl logs` shows: partial
// entries joined, since applied, timestamps prefixed, the last tail lines
// held back until the end of what is already in the file, output capped
// at limit bytes.
type logWriter struct {
	opts    logOptions
	w       io.Writer
	written int64
	pending map[string]*logLine // partial line per stream
	ring    []logLine           // the last opts.tail lines, while holding back
	holding bool
}

func newLogWriter(w io.Writer, opts logOptions) *logWriter {
	return &logWriter{opts: opts, w: w, pending: map[string]*logLine{}, holding: opts.tail >= 0}
}

// add takes one entry.
func (lw *logWriter) add(e criEntry) error {
	p := lw.pending[e.stream]
	if p == nil {
		p = &logLine{time: e.time}
	}
	p.text = append(p.text, e.text...)
	if e.partial {
		lw.pending[e.stream] = p
		return nil
	}
	delete(lw.pending, e.stream)
	if !lw.opts.since.IsZero() && p.time.Before(lw.opts.since) {
		return nil
	}
	if lw.holding {
		if lw.opts.tail == 0 {
			return nil
		}
		if int64(len(lw.ring)) == lw.opts.tail {
			lw.ring = lw.ring[1:]
		}
		lw.ring = append(lw.ring, *p)
		return nil
	}
	return lw.write(*p)
}

// release writes the held-back tail lines; later lines are written as
// they come.
func (lw *logWriter) release() error {
	if !lw.holding {
		return nil
	}
	lw.holding = false
	for _, l := range lw.ring {
		if err := lw.write(l); err != nil {
			return err
		}
	}
	lw.ring = nil
	return nil
}

func (lw *logWriter) write(l logLine) error {
	var b []byte
	if lw.opts.timestamps {
		b = append(b, l.time.Format(time.RFC3339Nano)...)
		b = append(b, ' ')
	}
	b = append(b, l.text...)
	b = append(b, '\n')
	if lw.opts.limit > 0 {
		room := lw.opts.limit - lw.written
		if int64(len(b)) >= room {
			_, err := lw.w.Write(b[:room])
			lw.written += room
			if err != nil {
				return err
			}
			return errLimitReached
		}
	}
	n, err := lw.w.Write(b)
	lw.written += int64(n)
	return err
}

// followState says whether a followed log is finished: its container
// stopped or restarted.
type followState func() (done bool)

// copyLog writes the log at path through lw. Without follow it stops at
// the end of the file. With follow it waits for more every poll, calling
// flush after each round of output, until finished() (then it reads what
// is left and stops), ctx ends, or output fails.
func copyLog(ctx context.Context, path string, lw *logWriter, follow bool, poll time.Duration, flush func(), finished followState) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	var partial []byte // a line whose newline is not written yet
	last := false
	for {
		line, err := r.ReadBytes('\n')
		if err == nil {
			if len(partial) > 0 {
				line = append(partial, line...)
				partial = nil
			}
			e, perr := parseCRILine(line[:len(line)-1])
			if perr != nil {
				continue // not a CRI line: skip, as upstream does
			}
			if werr := lw.add(e); werr != nil {
				return werr
			}
			continue
		}
		if err != io.EOF {
			return fmt.Errorf("read %s: %w", path, err)
		}
		partial = append(partial, line...)
		if werr := lw.release(); werr != nil {
			return werr
		}
		if !follow || last {
			return nil
		}
		flush()
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(poll):
		}
		// Read once more after the container is seen finished: its
		// last lines may have been written since the previous read.
		last = finished()
	}
}
