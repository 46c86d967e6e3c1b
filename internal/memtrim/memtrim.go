// Package memtrim gives back the pages of the program's own binary that a
// long-running component touched only while starting.
//
// Go runs the init functions of every package linked into the binary, and
// the skiff binary links every component and kubectl, so each process
// faults in most of the binary's code and read-only data once, at start,
// and keeps it mapped. Those pages are clean, file-backed and read-only:
// unmapping them with MADV_DONTNEED loses nothing (a later access maps the
// page again from the page cache, or reads it from the file), and the
// process's resident set then shows what it actually keeps using.
package memtrim

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Binary drops the resident pages of the executable's read-only mappings
// (code and read-only data; never the writable data segment) from this
// process. It returns the bytes of address space advised.
func Binary() (int64, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, fmt.Errorf("memtrim: %w", err)
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, fmt.Errorf("memtrim: %w", err)
	}
	defer f.Close()
	var total int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 00400000-029ea000 r-xp 00000000 fe:00 10257111   /usr/bin/skiff
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[5] != exe || strings.Contains(fields[1], "w") {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		// The raw syscall: the range is an address from /proc/self/maps,
		// not Go memory.
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_DONTNEED); errno != 0 {
			return total, fmt.Errorf("memtrim: madvise %s: %w", fields[0], errno)
		}
		total += int64(end - start)
	}
	return total, sc.Err()
}
