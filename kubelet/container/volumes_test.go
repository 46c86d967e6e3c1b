package container

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
)

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mode(t *testing.T, p string) os.FileMode {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

func TestProjectedVolumes(t *testing.T) {
	b := testBuilder(t,
		configMap("cfg", map[string]string{"a.conf": "A", "b.conf": "B"}),
		secret("creds", map[string]string{"user": "admin", "pass": "pw"}))
	v := b.Volumes()
	pod := testPod()
	pod.Spec.Containers[0].Resources = resources(nil, rl{"memory": "64Mi"})
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
		{Name: "cfg-items", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, DefaultMode: ptr(int32(0o600)),
			Items: []corev1.KeyToPath{{Key: "a.conf", Path: "dir/renamed.conf", Mode: ptr(int32(0o400))}, {Key: "b.conf", Path: "b"}}}}},
		{Name: "cfg-optional", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "missing"}, Optional: ptr(true)}}},
		{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: "creds", DefaultMode: ptr(int32(0o400)), Items: []corev1.KeyToPath{{Key: "user", Path: "username"}}}}},
		{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
			{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
			{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}},
			{Path: "mem", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "app", Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}},
		}}}},
		{Name: "all", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Items: []corev1.KeyToPath{{Key: "a.conf", Path: "a.conf"}}}},
			{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "ns", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
		}}}},
		{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
	if err := v.Setup(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	vd := func(plugin, name string) string { return v.VolumeDir(pod.UID, plugin, name) }
	for path, want := range map[string]string{
		filepath.Join(vd(PluginConfigMap, "cfg"), "a.conf"):                 "A",
		filepath.Join(vd(PluginConfigMap, "cfg"), "b.conf"):                 "B",
		filepath.Join(vd(PluginConfigMap, "cfg-items"), "dir/renamed.conf"): "A",
		filepath.Join(vd(PluginConfigMap, "cfg-items"), "b"):                "B",
		filepath.Join(vd(PluginSecret, "creds"), "username"):                "admin",
		filepath.Join(vd(PluginDownwardAPI, "info"), "labels"):              "app=\"web\"\ntier=\"front\"",
		filepath.Join(vd(PluginDownwardAPI, "info"), "name"):                "web",
		filepath.Join(vd(PluginDownwardAPI, "info"), "mem"):                 "64",
		filepath.Join(vd(PluginProjected, "all"), "a.conf"):                 "A",
		filepath.Join(vd(PluginProjected, "all"), "user"):                   "admin",
		filepath.Join(vd(PluginProjected, "all"), "pass"):                   "pw",
		filepath.Join(vd(PluginProjected, "all"), "ns"):                     "shop",
	} {
		if got := readFile(t, path); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	for path, want := range map[string]os.FileMode{
		filepath.Join(vd(PluginConfigMap, "cfg"), "a.conf"):                 0o644,
		filepath.Join(vd(PluginConfigMap, "cfg-items"), "dir/renamed.conf"): 0o400,
		filepath.Join(vd(PluginConfigMap, "cfg-items"), "b"):                0o600,
		filepath.Join(vd(PluginSecret, "creds"), "username"):                0o400,
		vd(PluginEmptyDir, "scratch"):                                       0o777,
	} {
		if got := mode(t, path); got != want {
			t.Errorf("mode of %s = %o, want %o", path, got, want)
		}
	}
	if _, err := os.Stat(filepath.Join(vd(PluginSecret, "creds"), "pass")); !os.IsNotExist(err) {
		t.Errorf("a secret key outside items was written: %v", err)
	}
	entries, _ := os.ReadDir(vd(PluginConfigMap, "cfg-optional"))
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "..") {
			t.Errorf("optional missing configMap volume holds %s", e.Name())
		}
	}
	if err := v.Teardown(pod.UID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(v.PodDir(pod.UID)); !os.IsNotExist(err) {
		t.Fatalf("pod dir left after teardown: %v", err)
	}
}

func TestConfigMapUpdateIsSeenThroughDataSwap(t *testing.T) {
	b := testBuilder(t, configMap("cfg", map[string]string{"color": "blue", "old": "x"}))
	fc := b.Clock.(*clocktesting.FakeClock)
	v := b.Volumes()
	pod := testPod()
	pod.Spec.Volumes = []corev1.Volume{{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}}}
	ctx := context.Background()
	if err := v.Setup(ctx, pod); err != nil {
		t.Fatal(err)
	}
	dir := v.VolumeDir(pod.UID, PluginConfigMap, "cfg")
	// A "container" holds the volume directory open, as a bind mount would.
	f, err := os.Open(filepath.Join(dir, "color"))
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	target1, _ := os.Readlink(filepath.Join(dir, "..data"))
	if link, _ := os.Readlink(filepath.Join(dir, "color")); link != "..data/color" {
		t.Fatalf("color -> %q, want ..data/color", link)
	}
	if !strings.HasPrefix(target1, "..2026_03_01_12_00_00.") {
		t.Fatalf("..data -> %q, want a timestamped dir from the clock", target1)
	}

	if changed, err := v.Sync(ctx, pod); err != nil || len(changed) != 0 {
		t.Fatalf("sync without a change: changed %v, err %v", changed, err)
	}
	cm := configMap("cfg", map[string]string{"color": "green", "new": "y"})
	if _, err := b.Client.CoreV1().ConfigMaps("shop").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	fc.Step(time.Minute)
	changed, err := v.Sync(ctx, pod)
	if err != nil || len(changed) != 1 || changed[0] != "cfg" {
		t.Fatalf("sync after an update: changed %v, err %v", changed, err)
	}
	if got := readFile(t, filepath.Join(dir, "color")); got != "green" {
		t.Fatalf("color = %q after update", got)
	}
	if got := readFile(t, filepath.Join(dir, "new")); got != "y" {
		t.Fatalf("new = %q", got)
	}
	if _, err := os.Lstat(filepath.Join(dir, "old")); !os.IsNotExist(err) {
		t.Fatalf("a removed key is still visible: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, target1)); !os.IsNotExist(err) {
		t.Fatalf("old data dir %s not removed", target1)
	}

	// Deleting a non-optional configMap is a FailedMount error on sync;
	// the old contents stay.
	if err := b.Client.CoreV1().ConfigMaps("shop").Delete(ctx, "cfg", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = v.Sync(ctx, pod)
	if err == nil || err.Error() != `MountVolume.SetUp failed for volume "cfg" : configmap "cfg" not found` || !apierrors.IsNotFound(err) {
		t.Fatalf("err = %v", err)
	}
	if got := readFile(t, filepath.Join(dir, "color")); got != "green" {
		t.Fatalf("color = %q after failed sync", got)
	}
}

func TestVolumeErrors(t *testing.T) {
	b := testBuilder(t, configMap("cfg", map[string]string{"a": "1"}), secret("s", map[string]string{"a": "1"}))
	for _, tc := range []struct {
		name string
		vol  corev1.VolumeSource
		want string
	}{
		{"missing configMap", corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}}},
			`MountVolume.SetUp failed for volume "v" : configmap "nope" not found`},
		{"missing secret", corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "nope"}},
			`MountVolume.SetUp failed for volume "v" : secret "nope" not found`},
		{"missing configMap key", corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"},
			Items: []corev1.KeyToPath{{Key: "zz", Path: "zz"}}}},
			`MountVolume.SetUp failed for volume "v" : configmap references non-existent config key: zz`},
		{"missing secret key", corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s", Items: []corev1.KeyToPath{{Key: "zz", Path: "zz"}}}},
			`MountVolume.SetUp failed for volume "v" : references non-existent secret key: zz`},
		{"escaping item path", corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"},
			Items: []corev1.KeyToPath{{Key: "a", Path: "../evil"}}}},
			`MountVolume.SetUp failed for volume "v" : invalid path "../evil": must not contain '..'`},
		{"unsupported type", corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "x", Path: "/"}},
			`MountVolume.SetUp failed for volume "v" : unsupported volume type`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := testPod()
			pod.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: tc.vol}}
			err := b.Volumes().Setup(context.Background(), pod)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("err = %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestHostPathTypes(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	typ := func(s corev1.HostPathType) *corev1.HostPathType { return &s }
	for _, tc := range []struct {
		name, path string
		typ        *corev1.HostPathType
		wantErr    string
	}{
		{"no type: anything goes", filepath.Join(dir, "absent"), nil, ""},
		{"empty type: anything goes", filepath.Join(dir, "absent"), typ(""), ""},
		{"Directory", dir, typ(corev1.HostPathDirectory), ""},
		{"Directory on a file", file, typ(corev1.HostPathDirectory), "hostPath type check failed: " + file + " is not a directory"},
		{"Directory that is absent", filepath.Join(dir, "absent"), typ(corev1.HostPathDirectory), "hostPath type check failed: " + filepath.Join(dir, "absent") + " is not a directory"},
		{"DirectoryOrCreate creates", filepath.Join(dir, "new/sub"), typ(corev1.HostPathDirectoryOrCreate), ""},
		{"DirectoryOrCreate on a file", file, typ(corev1.HostPathDirectoryOrCreate), "hostPath type check failed: " + file + " is not a directory"},
		{"File", file, typ(corev1.HostPathFile), ""},
		{"File on a directory", dir, typ(corev1.HostPathFile), "hostPath type check failed: " + dir + " is not a file"},
		{"FileOrCreate creates", filepath.Join(dir, "newfile"), typ(corev1.HostPathFileOrCreate), ""},
		{"Socket", sock, typ(corev1.HostPathSocket), ""},
		{"Socket on a file", file, typ(corev1.HostPathSocket), "hostPath type check failed: " + file + " is not a socket file"},
		{"CharDevice", "/dev/null", typ(corev1.HostPathCharDev), ""},
		{"CharDevice on a file", file, typ(corev1.HostPathCharDev), "hostPath type check failed: " + file + " is not a character device"},
		{"BlockDevice on a char device", "/dev/null", typ(corev1.HostPathBlockDev), "hostPath type check failed: /dev/null is not a block device"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := testBuilder(t)
			pod := testPod()
			pod.Spec.Volumes = []corev1.Volume{{Name: "hp", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: tc.path, Type: tc.typ}}}}
			err := b.Volumes().Setup(context.Background(), pod)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			want := `MountVolume.SetUp failed for volume "hp" : ` + tc.wantErr
			if err == nil || err.Error() != want {
				t.Fatalf("err = %v\nwant %s", err, want)
			}
		})
	}
	if st, err := os.Stat(filepath.Join(dir, "new/sub")); err != nil || !st.IsDir() {
		t.Errorf("DirectoryOrCreate did not create the directory: %v", err)
	}
	if st, err := os.Stat(filepath.Join(dir, "newfile")); err != nil || !st.Mode().IsRegular() || st.Mode().Perm() != 0o644 {
		t.Errorf("FileOrCreate did not create a 0644 file: %v", err)
	}
}

func TestMemoryEmptyDirIsTmpfs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting tmpfs needs root (CI runs as root, so it runs there)")
	}
	b := testBuilder(t)
	v := b.Volumes()
	pod := testPod()
	pod.Spec.Volumes = []corev1.Volume{{Name: "mem", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
		Medium: corev1.StorageMediumMemory, SizeLimit: ptr(resource.MustParse("8Mi"))}}}}
	t.Cleanup(func() { _ = v.Teardown(pod.UID) })
	ctx := context.Background()
	for i := 0; i < 2; i++ { // repeating Setup must not stack mounts
		if err := v.Setup(ctx, pod); err != nil {
			t.Fatal(err)
		}
	}
	dir := v.VolumeDir(pod.UID, PluginEmptyDir, "mem")
	if statfsType(dir) != tmpfsMagic {
		t.Fatal("memory emptyDir is not on tmpfs")
	}
	mps, _ := mountPoints()
	n := 0
	for _, mp := range mps {
		if mp == dir {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d mounts on %s, want 1", n, dir)
	}
	// The size limit holds: writing 9 MiB fails with ENOSPC.
	err := os.WriteFile(filepath.Join(dir, "big"), make([]byte, 9<<20), 0o644)
	if err == nil {
		t.Fatal("wrote past the 8Mi sizeLimit")
	}
	if err := v.Teardown(pod.UID); err != nil {
		t.Fatal(err)
	}
	if ok, _ := isMountPoint(filepath.Dir(dir)); ok {
		t.Fatal("still mounted")
	}
	if _, err := os.Stat(v.PodDir(pod.UID)); !os.IsNotExist(err) {
		t.Fatalf("pod dir left: %v", err)
	}
}

func TestFSGroupOwnership(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown to another group needs root (CI runs as root, so it runs there)")
	}
	b := testBuilder(t, configMap("cfg", map[string]string{"a": "1"}))
	v := b.Volumes()
	pod := testPod()
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{FSGroup: ptr(int64(2345))}
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, DefaultMode: ptr(int32(0o400))}}},
		{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
	if err := v.Setup(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(v.VolumeDir(pod.UID, PluginConfigMap, "cfg"), "a"), v.VolumeDir(pod.UID, PluginEmptyDir, "scratch")} {
		gid := fileGID(t, p)
		if gid != 2345 {
			t.Errorf("%s gid = %d, want 2345", p, gid)
		}
	}
	if m := mode(t, filepath.Join(v.VolumeDir(pod.UID, PluginConfigMap, "cfg"), "a")); m != 0o440 {
		t.Errorf("configMap file mode = %o, want 0440 (group-readable)", m)
	}
}
