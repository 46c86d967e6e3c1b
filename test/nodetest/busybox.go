package nodetest

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"io"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// BusyboxTarballRef is the name the image in BusyboxTarball carries.
const BusyboxTarballRef = "docker.io/library/busybox:skiff-test"

// busyboxApplets are linked to /bin/busybox in the image.
var busyboxApplets = []string{
	"sh", "ash", "echo", "sleep", "cat", "ls", "env", "id", "wget", "httpd",
	"nslookup", "true", "false", "mkdir", "rm", "touch", "ps", "kill", "grep",
	"head", "tail", "wc", "date", "hostname", "ip", "ifconfig", "nc", "test",
	"[", "printf", "pwd", "whoami", "mount", "df", "uname", "stat", "readlink",
	"sed", "awk", "tr", "seq", "timeout", "cut", "dd", "yes", "pidof", "chmod",
	"ln", "cp", "mv", "find", "xargs", "sort", "uniq", "tee", "basename",
	"dirname", "nproc", "free", "top", "netstat", "ping", "route", "vi",
}

// staticBusybox returns the path of a statically linked busybox, installing
// Debian's busybox-static when needed.
func staticBusybox(t testing.TB) string {
	t.Helper()
	const path = "/bin/busybox"
	if !isStatic(path) {
		RequireRoot(t)
		installPackage(t, "busybox-static")
		if !isStatic(path) {
			t.Fatalf("%s is not a static binary even after installing busybox-static", path)
		}
	}
	return path
}

func isStatic(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}

// BusyboxImage builds a one-layer busybox image: /bin/busybox with applet
// symlinks, /etc/passwd and /etc/group with root and nobody, /tmp, /root.
func BusyboxImage(t testing.TB) v1.Image {
	t.Helper()
	bin, err := os.ReadFile(staticBusybox(t))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(0, 0)
	dir := func(name string, mode int64) {
		_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, ModTime: mtime})
	}
	file := func(name string, mode int64, data []byte) {
		_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: mtime})
		_, _ = tw.Write(data)
	}
	for _, d := range []string{"bin", "etc", "root", "home", "var", "proc", "sys", "dev", "usr", "usr/bin", "sbin"} {
		dir(d, 0o755)
	}
	dir("tmp", 0o1777)
	file("bin/busybox", 0o755, bin)
	for _, a := range busyboxApplets {
		_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777, ModTime: mtime})
	}
	file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"))
	file("etc/group", 0o644, []byte("root:x:0:\nnobody:x:65534:\n"))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	layerBytes := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerBytes)), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS = "linux"
	cf.Architecture = goruntime.GOARCH
	cf.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cf.Config.Cmd = []string{"sh"}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// PushBusybox builds the busybox image and pushes it over plain HTTP to
// registry ("127.0.0.1:PORT") as ref ("busybox:latest", or a full
// reference on that registry). It returns the full reference.
func PushBusybox(t testing.TB, registry, ref string) string {
	t.Helper()
	return PushImage(t, registry, ref, BusyboxImage(t))
}

// PushImage pushes img to registry as ref and returns the full reference.
// opts are passed to remote.Write (remote.WithAuth for StartAuthRegistry).
func PushImage(t testing.TB, registry, ref string, img v1.Image, opts ...remote.Option) string {
	t.Helper()
	full := ref
	if !strings.HasPrefix(ref, registry+"/") {
		full = registry + "/" + ref
	}
	r, err := name.ParseReference(full, name.Insecure)
	if err != nil {
		t.Fatalf("reference %q: %v", full, err)
	}
	if err := remote.Write(r, img, opts...); err != nil {
		t.Fatalf("push %s: %v", full, err)
	}
	return full
}

// BusyboxTarball writes the busybox image as a `docker save` archive named
// BusyboxTarballRef and returns its path (in a temp dir of the test).
func BusyboxTarball(t testing.TB) string {
	t.Helper()
	img := BusyboxImage(t)
	tag, err := name.NewTag(BusyboxTarballRef)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "busybox.tar")
	if err := tarball.WriteToFile(path, tag, img); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return path
}
