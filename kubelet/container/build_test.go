package container

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiffk8s/skiff/runtime"
)

func TestBuild(t *testing.T) {
	b := testBuilder(t, configMap("cfg", map[string]string{"app.conf": "x", "MODE": "fast"}))
	b.ClusterDNS = net.ParseIP("10.96.0.10")
	hostResolv := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(hostResolv, []byte("nameserver 192.168.1.1\nsearch lab.example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b.HostResolvConf = hostResolv
	hostDir := t.TempDir()

	pod := testPod()
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
		{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: hostDir}}},
	}
	pod.Spec.Containers[0] = corev1.Container{
		Name:       "app",
		Command:    []string{"/bin/sh", "-c"},
		Args:       []string{"echo $(MODE) $(POD)"},
		WorkingDir: "/work",
		Env: []corev1.EnvVar{
			{Name: "MODE", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: cmKey("cfg", "MODE", nil)}},
			{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		},
		Resources: resources(rl{"cpu": "100m"}, rl{"cpu": "200m", "memory": "32Mi"}),
		VolumeMounts: []corev1.VolumeMount{
			{Name: "cfg", MountPath: "/etc/app"},
			{Name: "data", MountPath: "/data", SubPathExpr: "$(POD)/cache"},
			{Name: "host", MountPath: "/host", ReadOnly: true},
		},
		TerminationMessagePath:   "/dev/termination-log",
		TerminationMessagePolicy: corev1.TerminationMessageReadFile,
		SecurityContext:          &corev1.SecurityContext{RunAsUser: ptr(int64(1000))},
		Stdin:                    true, StdinOnce: true, TTY: true,
	}
	ctx := context.Background()
	if err := b.Volumes().Setup(ctx, pod); err != nil {
		t.Fatal(err)
	}
	info := PodInfo{NetNSPath: "/run/skiff/netns/1234-abcd", RestartCount: 2, LogPath: "/var/log/pods/x/app/2.log",
		Image: runtime.Image{Ref: "busybox:latest", User: ""}}
	cfg, err := b.Build(ctx, pod, &pod.Spec.Containers[0], info)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name != "1234-abcd-app-2" || cfg.Hostname != "web" || cfg.NetNSPath != info.NetNSPath || cfg.LogPath != info.LogPath ||
		cfg.WorkingDir != "/work" || cfg.CgroupParent != "/kubepods/burstable/pod1234-abcd" {
		t.Fatalf("cfg = %+v", cfg)
	}
	if !reflect.DeepEqual(cfg.Args, []string{"echo fast web"}) || !reflect.DeepEqual(cfg.Env, []string{"MODE=fast", "POD=web"}) {
		t.Fatalf("args %q env %q", cfg.Args, cfg.Env)
	}
	if cfg.Labels[LabelPodUID] != "1234-abcd" || cfg.Labels[LabelContainerName] != "app" || cfg.Labels[LabelRestartCount] != "2" {
		t.Fatalf("labels = %v", cfg.Labels)
	}
	if !cfg.Stdin || !cfg.StdinOnce || !cfg.TTY {
		t.Errorf("stdin %v stdinOnce %v tty %v, want all from the container spec", cfg.Stdin, cfg.StdinOnce, cfg.TTY)
	}
	if cfg.Resources.CPUShares != 102 || cfg.Resources.CPUQuota != 20000 || cfg.Resources.MemoryLimit != 32<<20 {
		t.Fatalf("resources = %+v", cfg.Resources)
	}
	if cfg.Security.RunAsUser == nil || *cfg.Security.RunAsUser != 1000 {
		t.Fatalf("security = %+v", cfg.Security)
	}
	podDir := b.PodDir(pod.UID)
	want := []runtime.Mount{
		{Source: filepath.Join(podDir, "volumes", PluginConfigMap, "cfg"), Destination: "/etc/app", ReadOnly: true},
		{Source: filepath.Join(podDir, "volumes", PluginEmptyDir, "data", "web/cache"), Destination: "/data"},
		{Source: hostDir, Destination: "/host", ReadOnly: true},
		{Source: filepath.Join(podDir, "etc-hosts"), Destination: "/etc/hosts"},
		{Source: filepath.Join(podDir, "hostname"), Destination: "/etc/hostname"},
		{Source: filepath.Join(podDir, "resolv.conf"), Destination: "/etc/resolv.conf"},
		{Source: filepath.Join(podDir, "containers", "app", "2"), Destination: "/dev/termination-log"},
	}
	if !reflect.DeepEqual(cfg.Mounts, want) {
		t.Fatalf("mounts:\n%+v\nwant\n%+v", cfg.Mounts, want)
	}
	if st, err := os.Stat(want[1].Source); err != nil || !st.IsDir() {
		t.Fatalf("subPathExpr dir not created: %v", err)
	}
	if got := readFile(t, want[3].Source); !strings.HasSuffix(got, "10.244.0.5\tweb\nfd00::5\tweb\n") {
		t.Fatalf("/etc/hosts:\n%s", got)
	}
	if got := readFile(t, want[5].Source); got != "search shop.svc.cluster.local svc.cluster.local cluster.local lab.example\nnameserver 10.96.0.10\noptions ndots:5\n" {
		t.Fatalf("resolv.conf:\n%s", got)
	}
	if m := mode(t, want[6].Source); m != 0o666 {
		t.Fatalf("termination file mode %o", m)
	}

	// runAsNonRoot against a root image is refused before anything runs.
	pod.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsNonRoot: ptr(true)}
	_, err = b.Build(ctx, pod, &pod.Spec.Containers[0], info)
	if err == nil || !strings.HasPrefix(err.Error(), "container has runAsNonRoot and image will run as root") {
		t.Fatalf("err = %v", err)
	}
}

func TestTerminationMessage(t *testing.T) {
	b := testBuilder(t)
	pod := testPod()
	c := &pod.Spec.Containers[0]
	logPath := filepath.Join(t.TempDir(), "0.log")
	var log strings.Builder
	for i := 0; i < 100; i++ {
		log.WriteString("2026-03-01T12:00:00.000000000Z stdout F line " + string(rune('a'+i%26)) + "\n")
	}
	log.WriteString("2026-03-01T12:00:01.000000000Z stderr P par\n2026-03-01T12:00:01.000000000Z stderr F tial\n")
	if err := os.WriteFile(logPath, []byte(log.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	// ReadFile: the file's content, whatever the exit code.
	f := b.TerminationMessageFile(pod.UID, c.Name, 0)
	if err := createEmptyFile(f, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f, []byte("bye"), 0o666); err != nil {
		t.Fatal(err)
	}
	if msg, err := b.TerminationMessage(pod.UID, c, 0, 1, logPath); err != nil || msg != "bye" {
		t.Fatalf("msg %q err %v", msg, err)
	}
	// FallbackToLogsOnError with an empty file and a failure: the log's end.
	c.TerminationMessagePolicy = corev1.TerminationMessageFallbackToLogsOnError
	if err := os.WriteFile(f, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	msg, err := b.TerminationMessage(pod.UID, c, 0, 1, logPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(msg, "\n"), "\n")
	if len(lines) != 80 || lines[len(lines)-1] != "partial" || lines[0] != "line "+string(rune('a'+21%26)) {
		t.Fatalf("got %d lines, first %q last %q", len(lines), lines[0], lines[len(lines)-1])
	}
	// Success: no fallback.
	if msg, _ := b.TerminationMessage(pod.UID, c, 0, 0, logPath); msg != "" {
		t.Fatalf("fallback on success: %q", msg)
	}
	// The byte cap.
	big := strings.Repeat("2026-03-01T12:00:00.000000000Z stdout F "+strings.Repeat("x", 100)+"\n", 50)
	if err := os.WriteFile(logPath, []byte(big), 0o644); err != nil {
		t.Fatal(err)
	}
	if msg, _ := b.TerminationMessage(pod.UID, c, 0, 2, logPath); len(msg) != MaxTerminationMessageLogBytes {
		t.Fatalf("fallback is %d bytes, want %d", len(msg), MaxTerminationMessageLogBytes)
	}
}

// The kubelet's container hook has this shape.
func TestBuildMatchesTheKubeletHook(t *testing.T) {
	var hook func(context.Context, *corev1.Pod, *corev1.Container, PodInfo) (runtime.ContainerConfig, error)
	hook = (&Builder{}).Build
	if hook == nil {
		t.Fatal("no hook")
	}
}
