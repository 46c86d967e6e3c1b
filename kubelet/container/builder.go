package container

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/skiffk8s/skiff/runtime"
)

// Labels set on every container, as upstream's kubelet sets them; a
// restarted kubelet finds its containers with them.
const (
	LabelPodName       = "io.kubernetes.pod.name"
	LabelPodNamespace  = "io.kubernetes.pod.namespace"
	LabelPodUID        = "io.kubernetes.pod.uid"
	LabelContainerName = "io.kubernetes.container.name"
	LabelRestartCount  = "io.kubernetes.container.restartCount"
)

// DefaultTerminationMessagePath is where a container writes its
// termination message unless it says otherwise.
const DefaultTerminationMessagePath = "/dev/termination-log"

// PodInfo is what the kubelet knows about a pod and the container being
// built that the pod object does not (or not yet) say.
type PodInfo struct {
	// NetNSPath is the pod's pinned network namespace; empty for
	// hostNetwork pods.
	NetNSPath string
	// PodIP and PodIPs are the pod's addresses (PodIPs wins when both are
	// set); empty: taken from the pod's status.
	PodIP  string
	PodIPs []string
	// HostIP and HostIPs are the node's addresses, as PodIP(s).
	HostIP  string
	HostIPs []string
	// NodeName is this node's name (for spec.nodeName references when the
	// pod does not carry it).
	NodeName string
	// RestartCount is the container's restart count for this attempt; it
	// names the runtime container and its termination-message file.
	RestartCount int32
	// LogPath is the container's log file.
	LogPath string
	// CgroupParent is the pod's cgroup; empty: CgroupParent(pod).
	CgroupParent string
	// Image is the pulled image (its User is checked for runAsNonRoot).
	Image runtime.Image
	// NodeAllocatable is the node's allocatable resources: defaults for
	// resourceFieldRef limits, and the memory total for OOM scores. Nil:
	// Builder.NodeAllocatable.
	NodeAllocatable corev1.ResourceList
	// Name overrides the runtime container name
	// ("<pod-uid>-<container>-<restartCount>" by default).
	Name string
	// Labels are added to the container's labels.
	Labels map[string]string
}

func (i PodInfo) podIPs(pod *corev1.Pod) []string {
	switch {
	case len(i.PodIPs) > 0:
		return i.PodIPs
	case i.PodIP != "":
		return []string{i.PodIP}
	}
	var out []string
	for _, ip := range pod.Status.PodIPs {
		out = append(out, ip.IP)
	}
	if len(out) == 0 && pod.Status.PodIP != "" {
		out = []string{pod.Status.PodIP}
	}
	return out
}

func (i PodInfo) hostIPs(pod *corev1.Pod) []string {
	switch {
	case len(i.HostIPs) > 0:
		return i.HostIPs
	case i.HostIP != "":
		return []string{i.HostIP}
	}
	var out []string
	for _, ip := range pod.Status.HostIPs {
		out = append(out, ip.IP)
	}
	if len(out) == 0 && pod.Status.HostIP != "" {
		out = []string{pod.Status.HostIP}
	}
	return out
}

// Builder turns a pod's container into a runtime.ContainerConfig. Its
// zero value needs only RootDir; fields are read, never written, so one
// Builder serves all pods concurrently.
type Builder struct {
	// RootDir is the kubelet's root directory; each pod's files live in
	// RootDir/pods/<uid>.
	RootDir string
	// Client reads configMaps and secrets (env and volumes).
	Client kubernetes.Interface
	// ClusterDNS is the cluster DNS Service address (e.g. 10.96.0.10);
	// nil makes ClusterFirst pods fall back to the host's resolv.conf.
	ClusterDNS net.IP
	// ClusterDomain is the cluster's DNS domain ("cluster.local").
	ClusterDomain string
	// Clock stamps volume data directories; nil: the real clock.
	Clock clock.PassiveClock
	// Recorder receives warnings about the pod (optional).
	Recorder record.EventRecorder
	// NodeAllocatable supplies the node's allocatable resources when
	// PodInfo carries none (optional).
	NodeAllocatable func() corev1.ResourceList
	// HostResolvConf and HostHostsFile are the node's files
	// (default /etc/resolv.conf and /etc/hosts).
	HostResolvConf, HostHostsFile string
	// Hostname is the node's hostname for hostNetwork pods (default
	// os.Hostname).
	Hostname string
}

// Volumes returns the volume manager sharing the Builder's settings.
func (b *Builder) Volumes() *Volumes {
	return &Volumes{RootDir: b.RootDir, Client: b.Client, Clock: b.Clock,
		NodeAllocatable: b.NodeAllocatable, Recorder: b.Recorder}
}

// PodDir is RootDir/pods/<uid>.
func (b *Builder) PodDir(uid types.UID) string {
	return filepath.Join(b.RootDir, "pods", string(uid))
}

// TerminationMessageFile is the host file mounted at the container's
// terminationMessagePath for one run:
// RootDir/pods/<uid>/containers/<name>/<restartCount>.
func (b *Builder) TerminationMessageFile(uid types.UID, container string, restartCount int32) string {
	return filepath.Join(b.PodDir(uid), "containers", container, strconv.Itoa(int(restartCount)))
}

func (b *Builder) allocatable(info PodInfo) corev1.ResourceList {
	if info.NodeAllocatable != nil {
		return info.NodeAllocatable
	}
	if b.NodeAllocatable != nil {
		return b.NodeAllocatable()
	}
	return nil
}

// Build resolves everything the runtime needs to create container c of
// pod: it is the kubelet's container hook. It expects the pod's volumes
// to be set up (Volumes().Setup) and writes the pod's hosts, hostname and
// resolv.conf files and the container's termination-message file. Its
// errors carry the messages upstream's kubelet reports as
// CreateContainerConfigError (`configmap "x" not found`, `container has
// runAsNonRoot and image will run as root ...`).
func (b *Builder) Build(ctx context.Context, pod *corev1.Pod, c *corev1.Container, info PodInfo) (runtime.ContainerConfig, error) {
	if info.NodeAllocatable == nil {
		info.NodeAllocatable = b.allocatable(info)
	}
	envl, err := b.env(ctx, pod, c, info)
	if err != nil {
		return runtime.ContainerConfig{}, err
	}
	env := envl.strings()
	sec, err := Security(pod, c, info.Image.User)
	if err != nil {
		return runtime.ContainerConfig{}, err
	}
	command, args := ExpandCommandAndArgs(c, env)

	var nodeMem int64
	if m, ok := info.NodeAllocatable[corev1.ResourceMemory]; ok {
		nodeMem = m.Value()
	}
	cfg := runtime.ContainerConfig{
		Name:         info.Name,
		Image:        info.Image,
		Labels:       map[string]string{},
		Command:      command,
		Args:         args,
		Env:          env,
		WorkingDir:   c.WorkingDir,
		TTY:          c.TTY,
		Stdin:        c.Stdin,
		StdinOnce:    c.StdinOnce,
		NetNSPath:    info.NetNSPath,
		CgroupParent: info.CgroupParent,
		Resources:    ContainerResources(pod, c, nodeMem),
		Security:     sec,
		LogPath:      info.LogPath,
	}
	if cfg.Name == "" {
		cfg.Name = fmt.Sprintf("%s-%s-%d", pod.UID, c.Name, info.RestartCount)
	}
	if cfg.CgroupParent == "" {
		cfg.CgroupParent = CgroupParent(pod)
	}
	cfg.Labels[LabelPodName] = pod.Name
	cfg.Labels[LabelPodNamespace] = pod.Namespace
	cfg.Labels[LabelPodUID] = string(pod.UID)
	cfg.Labels[LabelContainerName] = c.Name
	cfg.Labels[LabelRestartCount] = strconv.Itoa(int(info.RestartCount))
	for k, v := range info.Labels {
		cfg.Labels[k] = v
	}

	mounts, err := b.volumeMounts(pod, c, envl.asMap())
	if err != nil {
		return runtime.ContainerConfig{}, err
	}
	hostname, domain := PodHostnameAndDomain(pod, b.ClusterDomain)
	if pod.Spec.HostNetwork {
		hostname = b.nodeHostname()
		domain = ""
	}
	cfg.Hostname = hostname

	etc, err := b.podEtcMounts(pod, hostname, domain, info, mounts)
	if err != nil {
		return runtime.ContainerConfig{}, err
	}
	mounts = append(mounts, etc...)

	if p := c.TerminationMessagePath; p != "" || c.TerminationMessagePolicy != "" {
		if p == "" {
			p = DefaultTerminationMessagePath
		}
		if !hasMountAt(mounts, p) {
			f := b.TerminationMessageFile(pod.UID, c.Name, info.RestartCount)
			if err := createEmptyFile(f, 0o666); err != nil {
				return runtime.ContainerConfig{}, fmt.Errorf("termination message file: %w", err)
			}
			mounts = append(mounts, runtime.Mount{Source: f, Destination: p})
		}
	}
	cfg.Mounts = mounts
	return cfg, nil
}

func (b *Builder) nodeHostname() string {
	if b.Hostname != "" {
		return b.Hostname
	}
	h, err := os.Hostname()
	if err != nil {
		return ""
	}
	return h
}

func hasMountAt(mounts []runtime.Mount, dest string) bool {
	for _, m := range mounts {
		if filepath.Clean(m.Destination) == filepath.Clean(dest) {
			return true
		}
	}
	return false
}

// volumeMounts maps the container's volumeMounts to runtime mounts,
// resolving subPath and subPathExpr (expanded with env); a missing subPath
// directory is created, as upstream does.
func (b *Builder) volumeMounts(pod *corev1.Pod, c *corev1.Container, env map[string]string) ([]runtime.Mount, error) {
	vols := b.Volumes()
	var out []runtime.Mount
	for _, vm := range c.VolumeMounts {
		src, ro, err := vols.Source(pod, vm.Name)
		if err != nil {
			return nil, err
		}
		sub := vm.SubPath
		if vm.SubPathExpr != "" {
			sub = expand(vm.SubPathExpr, mappingFor(env))
		}
		if sub != "" {
			p, err := subPathIn(src, sub)
			if err != nil {
				return nil, fmt.Errorf("volume %q: %w", vm.Name, err)
			}
			if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) && !ro {
				if err := os.MkdirAll(p, 0o755); err != nil {
					return nil, fmt.Errorf("volume %q: create subPath: %w", vm.Name, err)
				}
			}
			src = p
		}
		out = append(out, runtime.Mount{Source: src, Destination: vm.MountPath, ReadOnly: vm.ReadOnly || ro})
	}
	return out, nil
}

// podEtcMounts writes the pod's /etc/hosts, /etc/hostname and
// /etc/resolv.conf into its directory and returns the mounts for those the
// container does not mount itself. Like upstream, /etc/hosts is managed
// only once the pod has an address (always for hostNetwork pods).
func (b *Builder) podEtcMounts(pod *corev1.Pod, hostname, domain string, info PodInfo, have []runtime.Mount) ([]runtime.Mount, error) {
	dir := b.PodDir(pod.UID)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create pod dir: %w", err)
	}
	var out []runtime.Mount
	if !hasMountAt(have, "/etc/hosts") {
		var content []byte
		switch {
		case pod.Spec.HostNetwork:
			content = HostNetworkHostsFileContent(readFileOr(orDefault(b.HostHostsFile, "/etc/hosts")), pod.Spec.HostAliases)
		case len(info.podIPs(pod)) > 0:
			content = HostsFileContent(info.podIPs(pod), hostname, domain, pod.Spec.HostAliases)
		}
		if content != nil {
			p := filepath.Join(dir, "etc-hosts")
			if err := writeFileIfChanged(p, content, 0o644); err != nil {
				return nil, fmt.Errorf("write /etc/hosts: %w", err)
			}
			out = append(out, runtime.Mount{Source: p, Destination: "/etc/hosts"})
		}
	}
	if !hasMountAt(have, "/etc/hostname") {
		p := filepath.Join(dir, "hostname")
		if err := writeFileIfChanged(p, []byte(hostname+"\n"), 0o644); err != nil {
			return nil, fmt.Errorf("write /etc/hostname: %w", err)
		}
		out = append(out, runtime.Mount{Source: p, Destination: "/etc/hostname"})
	}
	if !hasMountAt(have, "/etc/resolv.conf") {
		p := filepath.Join(dir, "resolv.conf")
		if err := writeFileIfChanged(p, b.ResolvConf(pod), 0o644); err != nil {
			return nil, fmt.Errorf("write /etc/resolv.conf: %w", err)
		}
		out = append(out, runtime.Mount{Source: p, Destination: "/etc/resolv.conf"})
	}
	return out, nil
}

// ResolvConf renders the pod's /etc/resolv.conf (see PodDNSConfig).
func (b *Builder) ResolvConf(pod *corev1.Pod) []byte {
	host := ParseResolvConf(readFileOr(orDefault(b.HostResolvConf, "/etc/resolv.conf")))
	var dns []string
	if b.ClusterDNS != nil {
		dns = []string{b.ClusterDNS.String()}
	}
	return PodDNSConfig(pod, host, dns, b.ClusterDomain).Render()
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// writeFileIfChanged replaces path with data (write to a temporary file,
// then rename) unless it already holds exactly data.
func writeFileIfChanged(path string, data []byte, mode fs.FileMode) error {
	if cur, err := os.ReadFile(path); err == nil && bytes.Equal(cur, data) {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("chmod %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// createEmptyFile creates (or truncates) path with mode, ignoring the
// umask.
func createEmptyFile(path string, mode fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	if err := os.WriteFile(path, nil, mode); err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if err := os.Chmod(path, mode); err != nil {
		return fmt.Errorf("chmod %s: %w", path, err)
	}
	return nil
}
