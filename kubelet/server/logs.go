package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// handleContainerLogs serves /containerLogs/{ns}/{pod}/{container}.
func (s *Server) handleContainerLogs(w http.ResponseWriter, r *http.Request) {
	ns, name, container := r.PathValue("ns"), r.PathValue("pod"), r.PathValue("container")
	opts, herr := parseLogOptions(r.URL.Query(), time.Now())
	if herr != nil {
		http.Error(w, herr.msg, herr.code)
		return
	}
	pod, herr := s.findContainer(ns, name, container)
	if herr != nil {
		http.Error(w, herr.msg, herr.code)
		return
	}
	dir := filepath.Join(s.cfg.PodLogsDir, fmt.Sprintf("%s_%s_%s", ns, name, pod.UID), container)
	restarts := logRestarts(dir)
	var path string
	switch {
	case opts.previous && len(restarts) < 2:
		http.Error(w, fmt.Sprintf("previous terminated container %q in pod %q not found", container, name), http.StatusBadRequest)
		return
	case opts.previous:
		path = filepath.Join(dir, fmt.Sprintf("%d.log", restarts[len(restarts)-2]))
		opts.follow = false // a terminated container's log does not grow
	case len(restarts) == 0:
		http.Error(w, fmt.Sprintf("container %q in pod %q is waiting to start", container, name), http.StatusBadRequest)
		return
	default:
		path = filepath.Join(dir, fmt.Sprintf("%d.log", restarts[len(restarts)-1]))
	}
	current := restarts[len(restarts)-1]
	finished := func() bool {
		if rs := logRestarts(dir); len(rs) > 0 && rs[len(rs)-1] > current {
			return true // a newer restart has its own log
		}
		p, herr := s.findPod(ns, name)
		if herr != nil {
			return true
		}
		info, ok := s.cfg.LookupContainer(p, container)
		return !ok || !info.Running
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	// The headers go out with the first flush, once the existing log has
	// been read (and tailLines applied): a client that has them sees every
	// line written after that.
	flush := func() {
		_ = http.NewResponseController(w).Flush()
	}
	lw := newLogWriter(w, opts)
	err := copyLog(r.Context(), path, lw, opts.follow, s.cfg.LogPollInterval, flush, finished)
	if err != nil && !errors.Is(err, errLimitReached) {
		s.log.Debug("container logs", "pod", ns+"/"+name, "container", container, "err", err)
	}
}

// logRestarts lists the restart numbers that have a log file in dir,
// ascending.
func logRestarts(dir string) []int {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		n, ok := strings.CutSuffix(e.Name(), ".log")
		if !ok {
			continue
		}
		if i, err := strconv.Atoi(n); err == nil && i >= 0 {
			out = append(out, i)
		}
	}
	slices.Sort(out)
	return out
}

// parseLogOptions reads the query of /containerLogs as upstream's
// PodLogOptions; now resolves sinceSeconds.
func parseLogOptions(q url.Values, now time.Time) (logOptions, *httpError) {
	opts := logOptions{tail: -1}
	boolOpt := func(name string, dst *bool) *httpError {
		v := q.Get(name)
		if v == "" {
			return nil
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errorf(http.StatusBadRequest, "invalid %s %q: must be true or false", name, v)
		}
		*dst = b
		return nil
	}
	intOpt := func(name string, min int64) (int64, bool, *httpError) {
		v := q.Get(name)
		if v == "" {
			return 0, false, nil
		}
		i, err := strconv.ParseInt(v, 10, 64)
		if err != nil || i < min {
			return 0, false, errorf(http.StatusBadRequest, "invalid %s %q: must be an integer of at least %d", name, v, min)
		}
		return i, true, nil
	}
	for _, b := range []struct {
		name string
		dst  *bool
	}{{"follow", &opts.follow}, {"timestamps", &opts.timestamps}, {"previous", &opts.previous}} {
		if herr := boolOpt(b.name, b.dst); herr != nil {
			return opts, herr
		}
	}
	if n, ok, herr := intOpt("tailLines", 0); herr != nil {
		return opts, herr
	} else if ok {
		opts.tail = n
	}
	if n, ok, herr := intOpt("limitBytes", 1); herr != nil {
		return opts, herr
	} else if ok {
		opts.limit = n
	}
	secs, hasSecs, herr := intOpt("sinceSeconds", 1)
	if herr != nil {
		return opts, herr
	}
	sinceTime := q.Get("sinceTime")
	if hasSecs && sinceTime != "" {
		return opts, errorf(http.StatusBadRequest, "at most one of sinceTime or sinceSeconds may be specified")
	}
	if hasSecs {
		opts.since = now.Add(-time.Duration(secs) * time.Second)
	}
	if sinceTime != "" {
		t, err := time.Parse(time.RFC3339, sinceTime)
		if err != nil {
			return opts, errorf(http.StatusBadRequest, "invalid sinceTime %q: must be RFC3339", sinceTime)
		}
		opts.since = t
	}
	return opts, nil
}
