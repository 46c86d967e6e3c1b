package container

import "golang.org/x/sys/unix"

const (
	cgroupMagic  = unix.CGROUP_SUPER_MAGIC
	cgroup2Magic = unix.CGROUP2_SUPER_MAGIC
	tmpfsMagic   = unix.TMPFS_MAGIC
)

// statfsType returns the filesystem magic of path (0 on error).
func statfsType(path string) int64 {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0
	}
	return int64(st.Type)
}
