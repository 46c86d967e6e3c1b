package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// inNetNS runs fn on a fresh OS thread switched into ns. The thread is
// locked for the whole call and never returned to the Go scheduler: the
// goroutine exits still locked, so the runtime discards the thread and no
// other goroutine can ever run in ns by accident. Processes fn starts
// (iptables) inherit ns; /proc/sys/net opened by fn is ns's.
func inNetNS(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: the thread dies with the goroutine.
		if err := netns.Set(ns); err != nil {
			errc <- fmt.Errorf("enter network namespace: %w", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// createPinnedNetNS creates a new network namespace and pins it by
// bind-mounting it onto path (created, must not exist). The namespace
// lives until path is unmounted and nothing else holds it.
func createPinnedNetNS(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create netns dir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return fmt.Errorf("create netns pin %s: %w", path, err)
	}
	f.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// The thread goes back to the scheduler only if it is back in its
		// original namespace; otherwise it dies with the goroutine.
		orig, err := netns.Get()
		if err != nil {
			errc <- fmt.Errorf("get current netns: %w", err)
			return
		}
		defer orig.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare netns: %w", err)
			return
		}
		src := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		mountErr := unix.Mount(src, path, "none", unix.MS_BIND, "")
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(mountErr, fmt.Errorf("restore netns: %w", err))
			return
		}
		runtime.UnlockOSThread()
		if mountErr != nil {
			mountErr = fmt.Errorf("bind-mount netns onto %s: %w", path, mountErr)
		}
		errc <- mountErr
	}()
	if err := <-errc; err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

// removePinnedNetNS unmounts and removes a namespace pin. A missing pin or
// a pin that is not mounted is no error.
func removePinnedNetNS(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount netns %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove netns pin %s: %w", path, err)
	}
	return nil
}

// openPinnedNetNS opens a pinned namespace; ok is false when path does not
// exist or is not a mounted network namespace (e.g. a pin left by a crash
// before the mount).
func openPinnedNetNS(path string) (h netns.NsHandle, ok bool, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return netns.None(), false, nil
		}
		return netns.None(), false, fmt.Errorf("stat netns %s: %w", path, err)
	}
	if st.Type != unix.NSFS_MAGIC && st.Type != unix.PROC_SUPER_MAGIC {
		return netns.None(), false, nil
	}
	h, err = netns.GetFromPath(path)
	if err != nil {
		return netns.None(), false, fmt.Errorf("open netns %s: %w", path, err)
	}
	return h, true, nil
}

// DialerIn returns a dial function whose sockets are created in the network
// namespace pinned at nsPath: probes and hooks of a kubelet whose pod
// network lives in another namespace (tests, labs) reach pods from there.
// An empty nsPath dials from the caller's own namespace.
func DialerIn(nsPath string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	if nsPath == "" {
		return d.DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		ns, err := netns.GetFromPath(nsPath)
		if err != nil {
			return nil, fmt.Errorf("dial %s: network namespace %s: %w", addr, nsPath, err)
		}
		defer ns.Close()
		var conn net.Conn
		// The socket belongs to the namespace it was created in; the
		// thread that created it is then discarded.
		err = inNetNS(ns, func() error {
			var derr error
			conn, derr = d.DialContext(ctx, network, addr)
			return derr
		})
		return conn, err
	}
}
