package server

import (
	"context"
	"errors"
	"net/http"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiffk8s/skiff/runtime"
)

// handleExec serves /exec/{ns}/{pod}/{container}?command=..: the command
// runs in the container with the streams the client asked for; its exit
// code goes back on the error channel.
func (s *Server) handleExec(w http.ResponseWriter, r *http.Request) {
	cmd := r.URL.Query()["command"]
	if len(cmd) == 0 {
		http.Error(w, "missing command: give at least one command= parameter", http.StatusBadRequest)
		return
	}
	s.serveStreaming(w, r, func(ctx context.Context, id string, st runtime.Streams) error {
		code, err := s.cfg.Streamer.ExecStream(ctx, id, cmd, st)
		if err != nil {
			return err
		}
		if code != 0 {
			return &exitCodeError{cmd: cmd, code: code}
		}
		return nil
	})
}

// handleAttach serves /attach/{ns}/{pod}/{container}: the client sees the
// main process's output from now on and, for containers created with
// stdin, feeds its stdin. Asking stdin of a container without it attaches
// output only. The session ends when the container exits.
func (s *Server) handleAttach(w http.ResponseWriter, r *http.Request) {
	s.serveStreaming(w, r, func(ctx context.Context, id string, st runtime.Streams) error {
		err := s.cfg.Streamer.Attach(ctx, id, st)
		if errors.Is(err, runtime.ErrNoStdin) {
			s.log.Debug("attach: container has no stdin; attaching output only", "container", id)
			st.Stdin = nil
			err = s.cfg.Streamer.Attach(ctx, id, st)
		}
		return err
	})
}

// serveStreaming checks the request, finds the running container,
// upgrades the connection and runs fn with the session's streams; fn's
// error is the session's outcome.
func (s *Server) serveStreaming(w http.ResponseWriter, r *http.Request, fn func(ctx context.Context, id string, st runtime.Streams) error) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		http.Error(w, "method not allowed: use GET or POST", http.StatusMethodNotAllowed)
		return
	}
	if s.cfg.Streamer == nil {
		http.Error(w, "this kubelet has no container runtime for streaming", http.StatusNotImplemented)
		return
	}
	ns, name, container := r.PathValue("ns"), r.PathValue("pod"), r.PathValue("container")
	opts, herr := parseStreamOptions(r)
	if herr != nil {
		http.Error(w, herr.msg, herr.code)
		return
	}
	pod, herr := s.findContainer(ns, name, container)
	if herr != nil {
		http.Error(w, herr.msg, herr.code)
		return
	}
	info, ok := s.cfg.LookupContainer(pod, container)
	if !ok || !info.Running {
		http.Error(w, containerNotRunning(pod, container), http.StatusBadRequest)
		return
	}
	sess, ok := s.upgrade(w, r, opts)
	if !ok {
		return
	}
	defer sess.close()
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	defer cancel()
	go func() {
		select {
		case <-sess.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	st := runtime.Streams{Stdin: sess.stdin, Stdout: sess.stdout, Stderr: sess.stderr, TTY: opts.tty}
	if opts.tty {
		st.Resize = sess.resize
	}
	err := fn(ctx, info.ID, st)
	if ctx.Err() != nil {
		return // the client went away: nobody to tell
	}
	if werr := sess.writeStatus(err); werr != nil {
		s.log.Debug("write stream status", "err", werr)
	}
}

func containerNotRunning(pod *corev1.Pod, container string) string {
	return "container " + quote(container) + " in pod " + quote(pod.Name) + " is not running"
}

func quote(s string) string { return `"` + s + `"` }
