// Package kubelet is Skiff's node agent: it registers its Node, keeps a
// Lease and the node status fresh, and turns the pods bound to the node into
// containers through a runtime.Runtime, networked by a network.Manager.
//
// The shape follows the rest of Skiff: informers feed one worker per pod;
// each worker reads the pod and the runtime's view of its containers, asks
// the pure computePodActions what to do, carries the actions out (network,
// pulls, create/start/stop), and writes the status computePodStatus derives,
// only when it changed. Decisions take the clock as an argument; the
// executor is thin. Everything the kubelet needs to recover after a restart
// lives on the containers' labels (see the Label* keys).
//
// Around that loop: a Prober (NewProber) whose results set containers'
// ready and started and whose liveness and startup failures become kills
// (probes.go); postStart and preStop hooks around starts and stops
// (lifecycle.go); PodResources set up before containers, synced on each
// pod sync when they can be (PodResourcesSyncer), torn down at the end.
package kubelet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	goruntime "runtime"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/skiffk8s/skiff/kubelet/network"
	"github.com/skiffk8s/skiff/kubelet/prober"
	"github.com/skiffk8s/skiff/runtime"
)

// PodInfo is what a ContainerConfigFunc knows about the pod around the
// container it builds.
type PodInfo struct {
	// NetNSPath is the pod's network namespace (Config.HostNetNSPath for
	// hostNetwork pods).
	NetNSPath string
	PodIP     net.IP
	HostIP    net.IP
	NodeName  string
	// RestartCount is the restart index of the container being created
	// (0 for the first instance).
	RestartCount int
	// LogPath is /var/log/pods/<ns>_<pod>_<uid>/<container>/<restart>.log.
	LogPath string
	// CgroupParent is the pod's cgroup, e.g. /kubepods/burstable/pod<uid>.
	CgroupParent string
	QOSClass     corev1.PodQOSClass
	// PodDir is the pod's directory under the kubelet's root dir
	// (<root>/pods/<uid>) for volumes.
	PodDir string
	// Image is the pulled image (its config gives defaults).
	Image runtime.Image
}

// ContainerConfigFunc builds the runtime configuration of one container:
// command, env, mounts, resources, security. The kubelet then sets Name,
// Image and its own Labels (labels the func set are kept), and fills
// NetNSPath, LogPath and CgroupParent from PodInfo when they are empty.
type ContainerConfigFunc func(ctx context.Context, pod *corev1.Pod, c *corev1.Container, podInfo PodInfo) (runtime.ContainerConfig, error)

// ReadinessSource reports container readiness (from readiness probes).
// Methods are safe for concurrent use.
type ReadinessSource interface {
	// Ready reports whether the running container containerID of the pod
	// is ready. Containers without a readiness probe are ready when running.
	Ready(pod *corev1.Pod, containerName, containerID string) bool
}

// PodResources prepares what a pod needs on the node besides its network
// and containers (volumes, its cgroup, /etc files) and removes it when the
// pod goes.
type PodResources interface {
	// Setup is idempotent; it runs before containers of the pod are
	// created. An error is reported as a FailedMount event and the pod's
	// containers wait.
	Setup(ctx context.Context, pod *corev1.Pod) error
	// Teardown removes everything Setup made for the pod; a pod never set
	// up is not an error.
	Teardown(ctx context.Context, uid types.UID) error
}

// PodResourcesSyncer is implemented by PodResources that keep what they
// made current (configMap, secret, downwardAPI and token volumes follow
// the API). Sync is called on every sync of a pod whose resources are set
// up; it must be cheap when nothing changed and safe to repeat.
type PodResourcesSyncer interface {
	Sync(ctx context.Context, pod *corev1.Pod) error
}

// Prober runs the pods' liveness, readiness and startup probes
// (prober.Manager implements it). Methods are safe for concurrent use.
type Prober interface {
	// UpdatePod hands the prober the pod's running containers after each
	// sync; podIP is where network probes go.
	UpdatePod(pod *corev1.Pod, podIP string, containers []prober.ContainerState)
	// RemovePod stops the pod's probes.
	RemovePod(uid types.UID)
	// Readiness, Started and Alive report the current results of the
	// container's probes (true when it has no such probe).
	Readiness(uid types.UID, container string) bool
	Started(uid types.UID, container string) bool
	Alive(uid types.UID, container string) bool
}

var _ Prober = (*prober.Manager)(nil)

// ProberDeps is what the kubelet hands its NewProber hook.
type ProberDeps struct {
	Clock    clock.WithTicker
	Recorder record.EventRecorder
	// OnUpdate must be called with every change of a probe result: it
	// wakes the pod's worker, and a Liveness or Startup Failure makes the
	// kubelet kill the container (the restart policy restarts it).
	OnUpdate func(prober.Update)
	// Dial is Config.Dial.
	Dial prober.DialFunc
}

// noPodResources is the default PodResources: nothing to prepare.
type noPodResources struct{}

func (noPodResources) Setup(context.Context, *corev1.Pod) error  { return nil }
func (noPodResources) Teardown(context.Context, types.UID) error { return nil }

// AlwaysReady is the default ReadinessSource: a running container is ready.
type AlwaysReady struct{}

// Ready implements ReadinessSource.
func (AlwaysReady) Ready(*corev1.Pod, string, string) bool { return true }

// Config configures a kubelet.
type Config struct {
	// NodeName is the Node's name (default: the host name).
	NodeName string
	// NodeIP is the node's InternalIP address.
	NodeIP net.IP
	// PodCIDR is used when the Node has no spec.podCIDR yet ("" none).
	PodCIDR string
	// RootDir holds the kubelet's state (pods/<uid> directories); its
	// file system's size is the node's ephemeral-storage capacity.
	RootDir string
	// PodLogsDir is where container logs go (default /var/log/pods).
	PodLogsDir string
	// Labels and Taints are added to the Node.
	Labels map[string]string
	Taints []corev1.Taint
	// SystemReservedCPU and SystemReservedMemory are subtracted from
	// capacity to give allocatable.
	SystemReservedCPU    resource.Quantity
	SystemReservedMemory resource.Quantity
	// MaxPods is the node's pod capacity (default 110).
	MaxPods int

	// Clock drives every timer and every decision (default: real clock).
	Clock clock.WithTicker
	// Logger (default: discard).
	Logger *slog.Logger

	Client  kubernetes.Interface
	Runtime runtime.Runtime
	Network network.Manager
	// ContainerConfig builds containers' runtime configs (default:
	// BasicContainerConfig: command, args, literal env, workingDir).
	ContainerConfig ContainerConfigFunc
	// Dial opens the connections of httpGet and tcpSocket probes and hooks
	// to pods; nil dials from the kubelet's own network namespace.
	Dial prober.DialFunc
	// Port is the kubelet server's port, published in the Node's
	// status.daemonEndpoints for the API server (0: none).
	Port int32
	// OnPodLister, when set, is handed the lister of the pods bound to
	// this node once the kubelet's informer runs (the kubelet server and
	// the resource reporter read it).
	OnPodLister func(corelisters.PodLister)
	// HostNetNSPath is the network namespace hostNetwork pods join; ""
	// means the runtime's own (the host's).
	HostNetNSPath string
	// TerminationMessage, when set, reads an exited container's
	// termination message (its terminationMessagePath file, or the end of
	// its log with FallbackToLogsOnError). It is asked once per container.
	TerminationMessage func(pod *corev1.Pod, c *corev1.Container, restart int, exitCode int32, logPath string) string
	// Readiness reports container readiness (default: the prober's
	// readiness when NewProber is set, else AlwaysReady).
	Readiness ReadinessSource
	// NewProber, when set, builds the prober once the kubelet has its
	// event recorder; the prober's results drive containers' ready and
	// started, and liveness and startup failures restart containers
	// (default: no probes).
	NewProber func(ProberDeps) Prober
	// PodResources prepares and removes what a pod needs besides its
	// network and containers: volumes, its cgroup, its files (default:
	// nothing).
	PodResources PodResources

	// LeaseDuration is the Lease's leaseDurationSeconds (default 40s) and
	// LeaseRenewInterval how often it is renewed (default 10s).
	LeaseDuration      time.Duration
	LeaseRenewInterval time.Duration
	// NodeStatusUpdateInterval is how often node status is computed and
	// patched when it changed (default 10s); NodeStatusReportInterval is
	// the longest time between two patches (default 5m).
	NodeStatusUpdateInterval time.Duration
	NodeStatusReportInterval time.Duration
	// RelistInterval is how often the runtime's containers are listed to
	// notice exits (default 1s); PodResyncInterval how often each pod is
	// synced anyway (default 10s).
	RelistInterval    time.Duration
	PodResyncInterval time.Duration

	// EvictionHard are the thresholds that turn the node's MemoryPressure,
	// DiskPressure and PIDPressure conditions True (nil:
	// DefaultThresholds; empty: never). PressureTransitionPeriod is how
	// long a condition stays True after its signal recovered (default 5m,
	// upstream's --eviction-pressure-transition-period).
	EvictionHard             Thresholds
	PressureTransitionPeriod time.Duration
	// ImageFSDir is the container runtime's root, measured for the
	// imagefs signals ("" none).
	ImageFSDir string
	// Signals measures the node's eviction signals (default
	// HostSignals(RootDir, ImageFSDir)).
	Signals func() (Signals, error)

	// machine overrides the measured machine (tests).
	machine *Machine
}

func (c *Config) setDefaults() error {
	if c.Client == nil || c.Runtime == nil || c.Network == nil {
		return errors.New("kubelet: Client, Runtime and Network are required")
	}
	if c.NodeName == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("kubelet: node name: %w", err)
		}
		c.NodeName = h
	}
	if c.RootDir == "" {
		c.RootDir = "/var/lib/skiff/kubelet"
	}
	if c.PodLogsDir == "" {
		c.PodLogsDir = "/var/log/pods"
	}
	if c.MaxPods == 0 {
		c.MaxPods = 110
	}
	if c.EvictionHard == nil {
		c.EvictionHard = DefaultThresholds()
	}
	if c.PressureTransitionPeriod == 0 {
		c.PressureTransitionPeriod = 5 * time.Minute
	}
	if c.Signals == nil {
		root, image := c.RootDir, c.ImageFSDir
		c.Signals = func() (Signals, error) { return HostSignals(root, image) }
	}
	if c.PodResources == nil {
		c.PodResources = noPodResources{}
	}
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.ContainerConfig == nil {
		c.ContainerConfig = BasicContainerConfig
	}
	if c.Readiness == nil && c.NewProber == nil {
		c.Readiness = AlwaysReady{}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.LeaseDuration, 40*time.Second)
	def(&c.LeaseRenewInterval, 10*time.Second)
	def(&c.NodeStatusUpdateInterval, 10*time.Second)
	def(&c.NodeStatusReportInterval, 5*time.Minute)
	def(&c.RelistInterval, time.Second)
	def(&c.PodResyncInterval, 10*time.Second)
	return nil
}

// BasicContainerConfig is the default ContainerConfigFunc: command, args,
// literal env values and workingDir; no volumes, resources or security.
func BasicContainerConfig(_ context.Context, _ *corev1.Pod, c *corev1.Container, info PodInfo) (runtime.ContainerConfig, error) {
	cfg := runtime.ContainerConfig{
		Command:    c.Command,
		Args:       c.Args,
		WorkingDir: c.WorkingDir,
		TTY:        c.TTY,
		Stdin:      c.Stdin,
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			cfg.Env = append(cfg.Env, e.Name+"="+e.Value)
		}
	}
	return cfg, nil
}

// Run runs the kubelet until ctx is done.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.setDefaults(); err != nil {
		return err
	}
	k := newKubelet(cfg)
	return k.run(ctx)
}

// kubelet is one running kubelet.
type kubelet struct {
	cfg     Config
	log     *slog.Logger
	clock   clock.WithTicker
	machine Machine

	mu sync.Mutex
	// allocatable of the node, set at registration; guarded by mu.
	allocatable corev1.ResourceList
	// admitted pods (uid), guarded by mu.
	admitted map[types.UID]bool
	// podCIDR set on the network, guarded by mu.
	podCIDR string
	// pressure is the node's current pressure as its conditions show it
	// (after the transition period), guarded by mu; pressureSeen is when
	// each kind (memory, disk, pid) was last measured under pressure.
	pressure     Pressure
	pressureSeen map[string]time.Time
	// hostIP is the node's InternalIP.
	hostIP net.IP
	// workers by pod UID, guarded by mu; stopping, guarded by mu, is set
	// when no new workers may start.
	workers  map[types.UID]*podWorker
	stopping bool
	wg       sync.WaitGroup

	podLister  corelisters.PodLister
	nodeLister corelisters.NodeLister
	recorder   record.EventRecorder
	// prober runs probes (nil: none); set before pod workers start.
	prober Prober
	// unhealthy are running containers whose liveness or startup probe
	// failed, by pod UID and container ID; guarded by mu.
	unhealthy map[types.UID]map[string]prober.Update

	// starts bounds concurrent container starts (twice the CPUs): a start
	// is mostly CPU (shim, runc), so starting 30 at once makes every pod
	// wait for the last; a bound lets the first ones finish first (30 pods:
	// p50 1.15 s -> 0.7-0.8 s, p99 unchanged at ~1.3 s).
	starts chan struct{}
}

func newKubelet(cfg Config) *kubelet {
	return &kubelet{
		cfg:          cfg,
		log:          cfg.Logger,
		clock:        cfg.Clock,
		admitted:     map[types.UID]bool{},
		pressureSeen: map[string]time.Time{},
		workers:      map[types.UID]*podWorker{},
		unhealthy:    map[types.UID]map[string]prober.Update{},
		hostIP:       cfg.NodeIP,
		starts:       make(chan struct{}, 2*max(2, goruntime.NumCPU())),
	}
}
