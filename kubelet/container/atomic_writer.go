package container

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// fileProjection is one file of a volume's payload.
type fileProjection struct {
	Data []byte
	Mode int32
}

const (
	dataDirName    = "..data"
	newDataDirName = "..data_tmp"
)

// writeAtomic makes dir hold exactly payload (paths relative to dir), the
// way upstream's AtomicWriter does so that running containers see either
// the old or the new contents, never a mix: the files live in a
// timestamped directory "..<time>", "..data" is a symlink to it, and each
// user-visible top-level name is a symlink through "..data". An update
// writes a new timestamped directory and renames a fresh "..data" over the
// old one. Nothing is written when the payload is unchanged; changed
// reports whether the contents were swapped.
func writeAtomic(dir string, payload map[string]fileProjection, now time.Time) (changed bool, err error) {
	for p := range payload {
		if err := validatePayloadPath(p); err != nil {
			return false, err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, fmt.Errorf("create volume dir: %w", err)
	}
	dataLink := filepath.Join(dir, dataDirName)
	oldTs, err := os.Readlink(dataLink)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("read %s: %w", dataLink, err)
	}
	var oldPaths map[string]bool
	if oldTs != "" {
		oldPaths, err = listPayloadPaths(filepath.Join(dir, oldTs))
		if err != nil {
			return false, err
		}
	}
	if oldTs == "" || !samePayload(filepath.Join(dir, oldTs), payload, oldPaths) {
		tsDir, err := os.MkdirTemp(dir, now.UTC().Format("..2006_01_02_15_04_05."))
		if err != nil {
			return false, fmt.Errorf("create timestamped dir: %w", err)
		}
		if err := writePayload(tsDir, payload); err != nil {
			_ = os.RemoveAll(tsDir)
			return false, err
		}
		tmpLink := filepath.Join(dir, newDataDirName)
		_ = os.Remove(tmpLink)
		if err := os.Symlink(filepath.Base(tsDir), tmpLink); err != nil {
			_ = os.RemoveAll(tsDir)
			return false, fmt.Errorf("symlink %s: %w", tmpLink, err)
		}
		if err := os.Rename(tmpLink, dataLink); err != nil {
			_ = os.Remove(tmpLink)
			_ = os.RemoveAll(tsDir)
			return false, fmt.Errorf("swap %s: %w", dataLink, err)
		}
		changed = true
	}
	// User-visible links for each top-level name.
	tops := map[string]bool{}
	for p := range payload {
		top, _, _ := strings.Cut(p, "/")
		tops[top] = true
	}
	for top := range tops {
		link := filepath.Join(dir, top)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink(filepath.Join(dataDirName, top), link); err != nil {
			return changed, fmt.Errorf("symlink %s: %w", link, err)
		}
	}
	// Names that left the payload.
	for p := range oldPaths {
		top, _, _ := strings.Cut(p, "/")
		if !tops[top] {
			if err := os.Remove(filepath.Join(dir, top)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return changed, fmt.Errorf("remove %s: %w", top, err)
			}
		}
	}
	if changed && oldTs != "" {
		if err := os.RemoveAll(filepath.Join(dir, oldTs)); err != nil {
			return changed, fmt.Errorf("remove old data: %w", err)
		}
	}
	return changed, nil
}

func validatePayloadPath(p string) error {
	if p == "" {
		return errors.New("invalid path: must not be empty")
	}
	if filepath.IsAbs(p) {
		return fmt.Errorf("invalid path %q: must be relative", p)
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return fmt.Errorf("invalid path %q: must not contain '..'", p)
		}
	}
	if strings.HasPrefix(p, "..") {
		return fmt.Errorf("invalid path %q: must not start with '..'", p)
	}
	return nil
}

// listPayloadPaths lists the regular files under dir, relative to it.
func listPayloadPaths(dir string) (map[string]bool, error) {
	out := map[string]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out[filepath.ToSlash(rel)] = true
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	return out, nil
}

func samePayload(dir string, payload map[string]fileProjection, existing map[string]bool) bool {
	if len(existing) != len(payload) {
		return false
	}
	for p, fp := range payload {
		if !existing[p] {
			return false
		}
		full := filepath.Join(dir, p)
		st, err := os.Stat(full)
		if err != nil || st.Mode().Perm() != fs.FileMode(fp.Mode).Perm() {
			return false
		}
		b, err := os.ReadFile(full)
		if err != nil || !bytes.Equal(b, fp.Data) {
			return false
		}
	}
	return true
}

func writePayload(dir string, payload map[string]fileProjection) error {
	paths := make([]string, 0, len(payload))
	for p := range payload {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		fp := payload[p]
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return fmt.Errorf("create dir for %s: %w", p, err)
		}
		mode := fs.FileMode(fp.Mode).Perm()
		if err := os.WriteFile(full, fp.Data, mode); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
		// WriteFile's mode is filtered by the umask.
		if err := os.Chmod(full, mode); err != nil {
			return fmt.Errorf("chmod %s: %w", p, err)
		}
	}
	return nil
}
