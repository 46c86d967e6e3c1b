package memtrim

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

func rssFileKB(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "RssFile:" {
			kb, _ := strconv.Atoi(f[1])
			return kb
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}

// TestBinaryDropsMappedPagesAndKeepsWorking trims this test binary: its
// file-backed resident memory shrinks, and code and read-only data still
// work afterwards (they are mapped again on use).
func TestBinaryDropsMappedPagesAndKeepsWorking(t *testing.T) {
	before := rssFileKB(t)
	n, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	after := rssFileKB(t)
	if n <= 0 || after >= before {
		t.Errorf("advised %d bytes; RssFile %d kB -> %d kB, want it to shrink", n, before, after)
	}
	// Code and read-only data are used again after the trim.
	if got := strings.Repeat(strconv.Itoa(42), 2); got != "4242" {
		t.Errorf("after the trim: %q", got)
	}
	t.Logf("RssFile %d kB -> %d kB (%d MiB of mappings advised)", before, after, n>>20)
}
