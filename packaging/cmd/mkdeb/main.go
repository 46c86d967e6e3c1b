// Command mkdeb builds skiff's Debian package, dist/skiff_<version>_<arch>.deb,
// from a static skiff binary and the repository's systemd/ folder (see
// package packaging). `make deb` runs it.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"github.com/skiffk8s/skiff/packaging"
)

func main() {
	var o packaging.Options
	var version string
	flag.StringVar(&o.RepoRoot, "repo", ".", "the repository's top directory (holds systemd/ and packaging/scripts/)")
	flag.StringVar(&o.Binary, "binary", "bin/skiff", "the static skiff binary to package")
	flag.StringVar(&version, "version", "", "git describe output or a Debian version (default: git describe --tags --always --dirty of -repo)")
	flag.StringVar(&o.Arch, "arch", runtime.GOARCH, "the binary's architecture: amd64 or arm64")
	flag.StringVar(&o.OutDir, "out", "dist", "directory for the .deb")
	flag.Parse()
	if flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "mkdeb: no arguments expected")
		os.Exit(2)
	}
	if err := run(o, version); err != nil {
		fmt.Fprintln(os.Stderr, "mkdeb:", err)
		os.Exit(1)
	}
}

func run(o packaging.Options, version string) error {
	if version == "" {
		out, err := git(o.RepoRoot, "describe", "--tags", "--always", "--dirty")
		if err != nil {
			return fmt.Errorf("no -version and git describe failed: %w", err)
		}
		version = out
	}
	commits := 0
	if out, err := git(o.RepoRoot, "rev-list", "--count", "HEAD"); err == nil {
		commits, _ = strconv.Atoi(out)
	}
	v, err := packaging.DebVersion(version, commits)
	if err != nil {
		return err
	}
	o.Version = v
	path, err := packaging.Build(o)
	if err != nil {
		return err
	}
	fmt.Println(path)
	return nil
}

func git(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), err
}
