package runtime

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"
	tasktypes "github.com/containerd/containerd/api/types/task"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"golang.org/x/sys/unix"
)

// Labels the runtime keeps on containers besides the caller's; they are
// not reported back in ContainerStatus.Labels.
const (
	labelPrefix     = "io.skiff.runtime/"
	labelName       = labelPrefix + "name"
	labelImageID    = labelPrefix + "image-id"
	labelImageRef   = labelPrefix + "image"
	labelLogPath    = labelPrefix + "log-path"
	labelStopSignal = labelPrefix + "stop-signal"
	labelCgroup     = labelPrefix + "cgroup"
	labelStartedAt  = labelPrefix + "started-at"
	// labelStdin is "true" or "once" for containers created with Stdin
	// (StdinOnce); labelTTY is "true" for containers with a terminal.
	labelStdin = labelPrefix + "stdin"
	labelTTY   = labelPrefix + "tty"
)

// stdinFor returns the stdin pipe a container's labels ask for (nil: none).
func stdinFor(labels map[string]string) *stdinPipe {
	switch labels[labelStdin] {
	case "true":
		return newStdinPipe(false)
	case "once":
		return newStdinPipe(true)
	}
	return nil
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func notFound(err error, what string) error {
	if errdefs.IsNotFound(err) {
		return fmt.Errorf("%w: %s", ErrNotFound, what)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// CreateContainer creates a container (and its snapshot) from cfg.
func (c *Containerd) CreateContainer(ctx context.Context, cfg ContainerConfig) (string, error) {
	ctx = c.nsCtx(ctx)
	ref := cfg.Image.Ref
	if ref == "" {
		ref = cfg.Image.ID
	}
	name, err := normalizeRef(ref)
	if err != nil {
		return "", err
	}
	img, err := c.client.GetImage(ctx, name)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return "", fmt.Errorf("%w: image %s is not present", ErrImageNotFound, name)
		}
		return "", fmt.Errorf("image %s: %w", name, err)
	}
	if cfg.Image.ID == "" {
		if cfg.Image, err = c.toImage(ctx, img); err != nil {
			return "", err
		}
	}
	id := newID()
	opts, err := specOpts(cfg, id, hasCapSysResource())
	if err != nil {
		return "", err
	}
	parent := cfg.CgroupParent
	if parent == "" {
		parent = "/skiff"
	}
	labels := map[string]string{}
	for k, v := range cfg.Labels {
		labels[k] = v
	}
	labels[labelName] = cfg.Name
	labels[labelImageID] = cfg.Image.ID
	labels[labelImageRef] = name
	labels[labelLogPath] = cfg.LogPath
	labels[labelStopSignal] = cfg.Image.StopSignal
	labels[labelCgroup] = strings.TrimSuffix(parent, "/") + "/" + id
	if cfg.Stdin {
		labels[labelStdin] = "true"
		if cfg.StdinOnce {
			labels[labelStdin] = "once"
		}
	}
	if cfg.TTY {
		labels[labelTTY] = "true"
	}
	_, err = c.client.NewContainer(ctx, id,
		containerd.WithImageName(name),
		containerd.WithSnapshotter(c.snapshotter),
		containerd.WithNewSnapshot(id, img),
		containerd.WithContainerLabels(labels),
		containerd.WithNewSpec(opts...),
	)
	if err != nil {
		return "", fmt.Errorf("create container %s: %w", cfg.Name, err)
	}
	return id, nil
}

// StartContainer starts a created container, its output copied to its log.
func (c *Containerd) StartContainer(ctx context.Context, id string) error {
	ctx = c.nsCtx(ctx)
	container, err := c.client.LoadContainer(ctx, id)
	if err != nil {
		return notFound(err, "container "+id)
	}
	labels, err := container.Labels(ctx)
	if err != nil {
		return notFound(err, "container "+id)
	}
	logPath := labels[labelLogPath]
	if logPath == "" {
		logPath = os.DevNull
	}
	tl, err := newTaskLog(logPath, stdinFor(labels), labels[labelTTY] == "true")
	if err != nil {
		return fmt.Errorf("container %s log: %w", id, err)
	}
	task, err := container.NewTask(ctx, tl.creator(c.fifoDir))
	if err != nil {
		tl.finish()
		return fmt.Errorf("start container %s: %w", id, err)
	}
	tl.io = task.IO()
	exitCh, err := task.Wait(c.bg)
	startedAt := time.Now()
	if err == nil {
		err = task.Start(ctx)
	}
	if err != nil {
		_, _ = task.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill)
		tl.finish()
		return fmt.Errorf("start container %s: %w", id, err)
	}
	if _, err := container.SetLabels(ctx, map[string]string{labelStartedAt: startedAt.UTC().Format(time.RFC3339Nano)}); err != nil {
		c.log.Warn("recording start time", "container", id, "err", err)
	}
	c.watch(id, tl, exitCh)
	return nil
}

// watch closes the log of a task when it exits.
func (c *Containerd) watch(id string, tl *taskLog, exitCh <-chan containerd.ExitStatus) {
	c.mu.Lock()
	c.running[id] = tl
	c.mu.Unlock()
	go func() {
		select {
		case <-exitCh:
			tl.finish()
		case <-c.bg.Done():
			return // Close detaches
		}
		c.mu.Lock()
		if c.running[id] == tl {
			delete(c.running, id)
		}
		c.mu.Unlock()
	}()
}

// reattachLogs attaches a log copier to every running task that has a log
// path and no copier in this process (after a restart of the caller).
func (c *Containerd) reattachLogs(ctx context.Context) {
	list, err := c.client.ContainerService().List(ctx)
	if err != nil {
		return
	}
	for _, info := range list {
		path := info.Labels[labelLogPath]
		if path == "" {
			continue
		}
		container, err := c.client.LoadContainer(ctx, info.ID)
		if err != nil {
			continue
		}
		tl, err := newTaskLog(path, stdinFor(info.Labels), info.Labels[labelTTY] == "true")
		if err != nil {
			continue
		}
		task, err := container.Task(ctx, tl.attach())
		if err != nil {
			tl.log.Close()
			continue
		}
		st, err := task.Status(ctx)
		exitCh, werr := task.Wait(c.bg)
		if err != nil || werr != nil || st.Status == containerd.Stopped {
			if io := task.IO(); io != nil {
				io.Cancel()
			}
			tl.log.Close()
			tl.closeAttached()
			continue
		}
		tl.io = task.IO()
		c.watch(info.ID, tl, exitCh)
	}
}

// parseSignal accepts "SIGTERM", "TERM" or "15".
func parseSignal(s string) (syscall.Signal, bool) {
	if s == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(s); err == nil && n > 0 {
		return syscall.Signal(n), true
	}
	s = strings.ToUpper(s)
	if !strings.HasPrefix(s, "SIG") {
		s = "SIG" + s
	}
	sig := unix.SignalNum(s)
	return sig, sig != 0
}

// StopContainer sends the stop signal, waits up to grace, then SIGKILL.
func (c *Containerd) StopContainer(ctx context.Context, id string, grace time.Duration) error {
	ctx = c.nsCtx(ctx)
	container, err := c.client.LoadContainer(ctx, id)
	if err != nil {
		return notFound(err, "container "+id)
	}
	task, err := container.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stop container %s: %w", id, err)
	}
	st, err := task.Status(ctx)
	if err != nil {
		return fmt.Errorf("stop container %s: %w", id, err)
	}
	if st.Status == containerd.Stopped {
		return nil
	}
	exitCh, err := task.Wait(ctx)
	if err != nil {
		return fmt.Errorf("stop container %s: %w", id, err)
	}
	if grace > 0 {
		labels, _ := container.Labels(ctx)
		sig, ok := parseSignal(labels[labelStopSignal])
		if !ok {
			sig = syscall.SIGTERM
		}
		if err := task.Kill(ctx, sig); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("signal container %s: %w", id, err)
		}
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-exitCh:
			return nil
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := task.Kill(ctx, syscall.SIGKILL, containerd.WithKillAll); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("kill container %s: %w", id, err)
	}
	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	select {
	case <-exitCh:
		return nil
	case <-t.C:
		return fmt.Errorf("container %s did not exit 30s after SIGKILL", id)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// RemoveContainer deletes the container's task, the container and its
// snapshot. A running container is killed first. Removing a missing
// container is not an error.
func (c *Containerd) RemoveContainer(ctx context.Context, id string) error {
	ctx = c.nsCtx(ctx)
	container, err := c.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	if task, err := container.Task(ctx, nil); err == nil {
		if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("remove container %s: delete task: %w", id, err)
		}
	} else if !errdefs.IsNotFound(err) {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	c.mu.Lock()
	tl := c.running[id]
	delete(c.running, id)
	c.mu.Unlock()
	if tl != nil {
		tl.finish()
	}
	if err := container.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	return nil
}

// ContainerStatus reports one container.
func (c *Containerd) ContainerStatus(ctx context.Context, id string) (ContainerStatus, error) {
	ctx = c.nsCtx(ctx)
	info, err := c.client.ContainerService().Get(ctx, id)
	if err != nil {
		return ContainerStatus{}, notFound(err, "container "+id)
	}
	var proc *tasktypes.Process
	resp, err := c.client.TaskService().Get(ctx, &tasksapi.GetRequest{ContainerID: id})
	switch {
	case err == nil:
		proc = resp.GetProcess()
	case errdefs.IsNotFound(errgrpc.ToNative(err)):
	default:
		return ContainerStatus{}, fmt.Errorf("container %s task: %w", id, errgrpc.ToNative(err))
	}
	st := status(info, proc)
	c.waitLogDrained(st)
	return st, nil
}

// waitLogDrained waits (briefly) until the log of an exited container has
// all its output, so a caller that sees "exited" also sees the last lines.
func (c *Containerd) waitLogDrained(st ContainerStatus) {
	if st.State != StateExited {
		return
	}
	c.mu.Lock()
	tl := c.running[st.ID]
	c.mu.Unlock()
	if tl == nil {
		return
	}
	select {
	case <-tl.done:
	case <-time.After(2 * time.Second):
	}
}

// ListContainers reports the containers whose labels contain selector.
func (c *Containerd) ListContainers(ctx context.Context, selector map[string]string) ([]ContainerStatus, error) {
	ctx = c.nsCtx(ctx)
	if len(selector) > 0 {
		return c.listSelected(ctx, selector)
	}
	list, err := c.client.ContainerService().List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	resp, err := c.client.TaskService().List(ctx, &tasksapi.ListTasksRequest{})
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", errgrpc.ToNative(err))
	}
	procs := map[string]*tasktypes.Process{}
	for _, p := range resp.GetTasks() {
		procs[p.GetID()] = p
	}
	var out []ContainerStatus
next:
	for _, info := range list {
		for k, v := range selector {
			if got, ok := info.Labels[k]; !ok || got != v {
				continue next
			}
		}
		st := status(info, procs[info.ID])
		c.waitLogDrained(st)
		out = append(out, st)
	}
	return out, nil
}

// listSelected lists the containers whose labels contain selector, asking
// containerd to filter and then only those containers' tasks for their
// state: listing every task asks every shim, which is slow with many pods
// starting at once.
func (c *Containerd) listSelected(ctx context.Context, selector map[string]string) ([]ContainerStatus, error) {
	var terms []string
	for k, v := range selector {
		terms = append(terms, fmt.Sprintf("labels.%s==%s", strconv.Quote(k), strconv.Quote(v)))
	}
	list, err := c.client.ContainerService().List(ctx, strings.Join(terms, ","))
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	out := make([]ContainerStatus, 0, len(list))
	for _, info := range list {
		var proc *tasktypes.Process
		resp, err := c.client.TaskService().Get(ctx, &tasksapi.GetRequest{ContainerID: info.ID})
		switch {
		case err == nil:
			proc = resp.GetProcess()
		case !errdefs.IsNotFound(errgrpc.ToNative(err)):
			return nil, fmt.Errorf("task of %s: %w", info.ID, errgrpc.ToNative(err))
		}
		st := status(info, proc)
		c.waitLogDrained(st)
		out = append(out, st)
	}
	return out, nil
}

// status turns containerd's view of a container and its task into a
// ContainerStatus.
func status(info containers.Container, proc *tasktypes.Process) ContainerStatus {
	s := ContainerStatus{
		ID:        info.ID,
		Name:      info.Labels[labelName],
		Labels:    map[string]string{},
		ImageID:   info.Labels[labelImageID],
		CreatedAt: info.CreatedAt,
		LogPath:   info.Labels[labelLogPath],
		State:     StateCreated,
	}
	for k, v := range info.Labels {
		if !strings.HasPrefix(k, labelPrefix) {
			s.Labels[k] = v
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, info.Labels[labelStartedAt]); err == nil {
		s.StartedAt = t
	}
	if proc == nil {
		if !s.StartedAt.IsZero() {
			// Started, and its task is gone: exited, outcome unknown.
			s.State, s.Reason, s.ExitCode = StateExited, "Error", int32(containerd.UnknownExitStatus)
		}
		return s
	}
	switch proc.GetStatus() {
	case tasktypes.Status_CREATED:
		s.State = StateCreated
	case tasktypes.Status_RUNNING, tasktypes.Status_PAUSED, tasktypes.Status_PAUSING:
		s.State = StateRunning
	case tasktypes.Status_STOPPED:
		s.State = StateExited
		s.ExitCode = int32(proc.GetExitStatus())
		if at := proc.GetExitedAt(); at != nil {
			s.FinishedAt = at.AsTime()
		}
		switch {
		case oomKilled(info.Labels[labelCgroup]):
			s.Reason = "OOMKilled"
		case s.ExitCode == 0:
			s.Reason = "Completed"
		default:
			s.Reason = "Error"
		}
	default:
		s.State = StateUnknown
	}
	return s
}

// oomKilled reports whether the kernel's OOM killer killed a process in
// the cgroup (cgroup v1 memory.oom_control, or v2 memory.events). Best
// effort: false when the files cannot be read.
func oomKilled(cgroup string) bool {
	if cgroup == "" {
		return false
	}
	for _, f := range []string{
		filepath.Join("/sys/fs/cgroup/memory", cgroup, "memory.oom_control"),
		filepath.Join("/sys/fs/cgroup", cgroup, "memory.events"),
	} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
				n, _ := strconv.Atoi(strings.TrimSpace(v))
				return n > 0
			}
		}
	}
	return false
}

// cappedBuffer keeps the first max bytes written to it.
type cappedBuffer struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room > 0 {
		if len(p) > room {
			b.buf.Write(p[:room])
		} else {
			b.buf.Write(p)
		}
	}
	return len(p), nil
}

func (b *cappedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte(nil), b.buf.Bytes()...)
}

// execOutputMax caps Exec's combined output.
const execOutputMax = 10 << 10

// Exec runs cmd in a running container.
func (c *Containerd) Exec(ctx context.Context, id string, cmd []string, timeout time.Duration) (int, []byte, error) {
	ctx = c.nsCtx(ctx)
	if len(cmd) == 0 {
		return -1, nil, errors.New("exec: empty command")
	}
	container, err := c.client.LoadContainer(ctx, id)
	if err != nil {
		return -1, nil, notFound(err, "container "+id)
	}
	task, err := container.Task(ctx, nil)
	if err != nil {
		return -1, nil, notFound(err, "task of container "+id)
	}
	spec, err := container.Spec(ctx)
	if err != nil {
		return -1, nil, fmt.Errorf("exec in %s: %w", id, err)
	}
	pspec := *spec.Process
	pspec.Args = cmd
	pspec.Terminal = false
	out := &cappedBuffer{max: execOutputMax}
	execID := "exec-" + newID()[:16]
	p, err := task.Exec(ctx, execID, &pspec, cio.NewCreator(cio.WithFIFODir(c.fifoDir), cio.WithStreams(nil, out, out)))
	if err != nil {
		return -1, nil, fmt.Errorf("exec in %s: %w", id, err)
	}
	cleanup := context.WithoutCancel(ctx)
	defer func() { _, _ = p.Delete(cleanup, containerd.WithProcessKill) }()
	exitCh, err := p.Wait(cleanup)
	if err != nil {
		return -1, nil, fmt.Errorf("exec in %s: %w", id, err)
	}
	if err := p.Start(ctx); err != nil {
		return -1, nil, fmt.Errorf("exec %v in %s: %w", cmd, id, err)
	}
	if timeout <= 0 {
		timeout = time.Hour
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case st := <-exitCh:
		if p.IO() != nil {
			p.IO().Wait()
		}
		code, _, err := st.Result()
		if err != nil {
			return -1, out.Bytes(), fmt.Errorf("exec %v in %s: %w", cmd, id, err)
		}
		return int(code), out.Bytes(), nil
	case <-t.C:
		_ = p.Kill(cleanup, syscall.SIGKILL)
		waitBriefly(exitCh)
		return -1, out.Bytes(), fmt.Errorf("exec %v in %s: timed out after %s: %w", cmd, id, timeout, context.DeadlineExceeded)
	case <-ctx.Done():
		_ = p.Kill(cleanup, syscall.SIGKILL)
		waitBriefly(exitCh)
		return -1, out.Bytes(), fmt.Errorf("exec %v in %s: %w", cmd, id, ctx.Err())
	}
}

func waitBriefly(ch <-chan containerd.ExitStatus) {
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
	}
}
