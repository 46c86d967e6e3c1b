package nodetest

import (
	"os/exec"
	"runtime"
)

// StartPinned starts cmd from an OS thread that stays locked to one
// goroutine until cmd exits, and returns a channel closed once it has
// exited (cmd.Wait has returned). Use it for commands with
// SysProcAttr.Pdeathsig: the kernel sends that signal when the *thread*
// that forked the child ends, and Go ends threads whose goroutine exits
// while locked (the kubelet's network code does so on purpose to throw
// away threads left in another network namespace). Started from an
// ordinary goroutine, a daemon could be killed at any moment of a test.
func StartPinned(cmd *exec.Cmd) (<-chan struct{}, error) {
	errc := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			errc <- err
			return
		}
		errc <- nil
		_ = cmd.Wait()
		close(exited)
	}()
	if err := <-errc; err != nil {
		return nil, err
	}
	return exited, nil
}
