// Package runtime runs containers through containerd (and runc) for the
// kubelet: images (pull with mirrors, insecure registries and pull secrets;
// import from tarballs; list; remove), containers created from an OCI spec
// built from a ContainerConfig, start, stop with a grace period, exit
// status, container logs in the CRI log format, and streaming exec and
// attach for the kubelet's exec/attach API (stream.go). Everything lives
// in one containerd namespace ("skiff" by default).
//
// The kubelet depends on the Runtime interface, not on containerd, so its
// logic is tested with a fake.
package runtime

import (
	"context"
	"time"
)

// Runtime is what the kubelet needs from a container runtime. Methods are
// safe for concurrent use. Errors wrap the categories below so callers can
// test them with errors.Is.
type Runtime interface {
	// PullImage makes ref present according to policy ("Always",
	// "IfNotPresent", "Never") and returns the image. auth holds the
	// credentials from the pod's imagePullSecrets (tried in order, then
	// anonymous). Errors wrap ErrImageNotFound, ErrImageNeverPull,
	// ErrInvalidImageName or ErrRegistry and carry the registry's message.
	PullImage(ctx context.Context, ref string, policy PullPolicy, auth []AuthConfig) (Image, error)
	// ListImages lists the images in the runtime's namespace.
	ListImages(ctx context.Context) ([]Image, error)
	// RemoveImage removes an image by reference or ID.
	RemoveImage(ctx context.Context, ref string) error

	// CreateContainer creates (does not start) a container. Its ID is
	// returned; cfg.Labels are kept on the container so a restarted kubelet
	// can recover it with ListContainers.
	CreateContainer(ctx context.Context, cfg ContainerConfig) (id string, err error)
	// StartContainer starts a created container; its output goes to
	// cfg.LogPath in the CRI log format.
	StartContainer(ctx context.Context, id string) error
	// StopContainer sends SIGTERM (or the image's stop signal), waits up
	// to grace, then SIGKILL. Stopping a stopped container is not an error.
	StopContainer(ctx context.Context, id string, grace time.Duration) error
	// RemoveContainer deletes a stopped container and its snapshot.
	RemoveContainer(ctx context.Context, id string) error
	// ContainerStatus reports one container; ErrNotFound if it is gone.
	ContainerStatus(ctx context.Context, id string) (ContainerStatus, error)
	// ListContainers reports every container in the namespace whose labels
	// contain all of selector (nil: all).
	ListContainers(ctx context.Context, selector map[string]string) ([]ContainerStatus, error)

	// Exec runs cmd in a running container (exec probes, and later
	// `kubectl exec`) and returns its exit code and combined output
	// (truncated to 10 KiB). A timeout kills the process and returns an
	// error wrapping context.DeadlineExceeded.
	Exec(ctx context.Context, id string, cmd []string, timeout time.Duration) (exitCode int, output []byte, err error)

	// Version names the runtime and its version, e.g. "containerd", "1.6.20".
	Version(ctx context.Context) (name, version string, err error)
}

// PullPolicy is a container's imagePullPolicy.
type PullPolicy string

// Pull policies, as in the pod spec.
const (
	PullAlways       PullPolicy = "Always"
	PullIfNotPresent PullPolicy = "IfNotPresent"
	PullNever        PullPolicy = "Never"
)

// AuthConfig is one registry credential (from a dockerconfigjson secret).
type AuthConfig struct {
	Registry string // host[:port] it applies to, e.g. "127.0.0.1:5000"
	Username string
	Password string
	// Auth is base64(user:password) when Username/Password are not set.
	Auth          string
	IdentityToken string
}

// Image is an image present in the runtime.
type Image struct {
	// Ref is the reference it was pulled or imported as ("docker.io/library/busybox:latest").
	Ref string
	// ID is the image's config digest ("sha256:...") as kubelets report imageID.
	ID string
	// RepoDigests are name@digest forms, as in node.status.images.
	RepoDigests []string
	Size        int64
	// Config from the image: defaults for the container.
	Entrypoint, Cmd, Env []string
	WorkingDir           string
	User                 string
	StopSignal           string
}

// ContainerConfig is everything needed to create one container of a pod.
// The kubelet fills it from the pod spec; the runtime turns it into an OCI
// spec.
type ContainerConfig struct {
	// Name is unique in the namespace: e.g. "<pod-uid>-<container>-<restart>".
	Name   string
	Image  Image
	Labels map[string]string

	// Command and Args override the image's Entrypoint and Cmd as in
	// Kubernetes (Command replaces Entrypoint; Args replaces Cmd).
	Command, Args []string
	Env           []string // KEY=VALUE, after the image's env
	WorkingDir    string
	Hostname      string
	// TTY gives the container a terminal (its output is then one stream,
	// logged as stdout). Stdin gives it a stdin that attached clients
	// (Containerd.Attach) write to; with StdinOnce the first attached
	// client's end of input closes it.
	TTY, Stdin, StdinOnce bool

	// NetNSPath is the pod's pinned network namespace to join; empty
	// means the host's network namespace.
	NetNSPath string
	// ShareIPC/PID namespaces are not supported yet.

	Mounts []Mount
	// CgroupParent is the pod's cgroup (a cgroupfs path such as
	// "/kubepods/burstable/pod<uid>"); the container's cgroup goes under it.
	CgroupParent string
	Resources    Resources
	Security     Security
	// LogPath is where stdout/stderr go, in the CRI log format
	// ("<RFC3339Nano> stdout|stderr F|P <line>").
	LogPath string
}

// Mount is a bind mount (or tmpfs) into the container.
type Mount struct {
	Source      string // host path; ignored for tmpfs
	Destination string
	ReadOnly    bool
	// Type is "bind" (default) or "tmpfs".
	Type string
}

// Resources are a container's cgroup limits.
type Resources struct {
	CPUShares      uint64 // cpu.shares (from requests.cpu; 2 minimum)
	CPUQuota       int64  // cpu.cfs_quota_us (from limits.cpu; 0: none)
	CPUPeriod      uint64 // cpu.cfs_period_us (100000 when CPUQuota is set)
	MemoryLimit    int64  // bytes (from limits.memory; 0: none)
	OOMScoreAdjust int    // best effort: failures to set it are ignored
}

// Security is a container's securityContext, resolved.
type Security struct {
	RunAsUser, RunAsGroup *int64
	SupplementalGroups    []int64
	ReadOnlyRootFS        bool
	Privileged            bool
	CapAdd, CapDrop       []string // "NET_ADMIN" form, "ALL" allowed in CapDrop
	NoNewPrivileges       bool
}

// State is a container's life-cycle state.
type State string

// Container states.
const (
	StateCreated State = "created"
	StateRunning State = "running"
	StateExited  State = "exited"
	StateUnknown State = "unknown"
)

// ContainerStatus is a container as the runtime sees it.
type ContainerStatus struct {
	ID      string
	Name    string
	Labels  map[string]string
	ImageID string
	State   State
	// CreatedAt, StartedAt and FinishedAt are zero when not reached.
	CreatedAt, StartedAt, FinishedAt time.Time
	ExitCode                         int32
	// Reason is "OOMKilled", "Error" or "Completed" for exited containers.
	Reason  string
	LogPath string
}
