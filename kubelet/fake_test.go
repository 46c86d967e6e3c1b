package kubelet

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/skiffk8s/skiff/kubelet/network"
	"github.com/skiffk8s/skiff/runtime"
)

// fakeRuntime is an in-memory runtime.Runtime: containers run until the
// test exits them (or they are stopped).
type fakeRuntime struct {
	clock clock.Clock

	mu         sync.Mutex
	pullErr    map[string]error // by image ref
	images     map[string]runtime.Image
	containers map[string]*runtime.ContainerStatus
	configs    map[string]runtime.ContainerConfig
	next       int
	stops      map[string]time.Duration // grace used, by ID
	// execFn answers Exec (nil: exit 0); execs records the commands run.
	execFn func(id string, cmd []string) (int, []byte, error)
	execs  []string
}

var _ runtime.Runtime = (*fakeRuntime)(nil)

func newFakeRuntime(c clock.Clock) *fakeRuntime {
	return &fakeRuntime{clock: c, pullErr: map[string]error{}, images: map[string]runtime.Image{},
		containers: map[string]*runtime.ContainerStatus{}, configs: map[string]runtime.ContainerConfig{},
		stops: map[string]time.Duration{}}
}

func (f *fakeRuntime) PullImage(_ context.Context, ref string, _ runtime.PullPolicy, _ []runtime.AuthConfig) (runtime.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.pullErr[ref]; err != nil {
		return runtime.Image{}, err
	}
	img := runtime.Image{Ref: ref, ID: "sha256:" + fmt.Sprintf("%064x", len(ref)), Size: int64(1000 + len(ref)),
		RepoDigests: []string{ref + "@sha256:" + fmt.Sprintf("%064x", len(ref))}}
	f.images[ref] = img
	return img, nil
}

func (f *fakeRuntime) ListImages(context.Context) ([]runtime.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []runtime.Image
	for _, im := range f.images {
		out = append(out, im)
	}
	return out, nil
}

func (f *fakeRuntime) RemoveImage(_ context.Context, ref string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.images, ref)
	return nil
}

func (f *fakeRuntime) CreateContainer(_ context.Context, cfg runtime.ContainerConfig) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.containers {
		if c.Name == cfg.Name {
			return "", fmt.Errorf("container name %q in use", cfg.Name)
		}
	}
	f.next++
	id := fmt.Sprintf("c%04d", f.next)
	labels := map[string]string{}
	for k, v := range cfg.Labels {
		labels[k] = v
	}
	f.containers[id] = &runtime.ContainerStatus{ID: id, Name: cfg.Name, Labels: labels, ImageID: cfg.Image.ID,
		State: runtime.StateCreated, CreatedAt: f.clock.Now(), LogPath: cfg.LogPath}
	f.configs[id] = cfg
	return id, nil
}

func (f *fakeRuntime) StartContainer(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return fmt.Errorf("container %s: %w", id, runtime.ErrNotFound)
	}
	c.State, c.StartedAt = runtime.StateRunning, f.clock.Now()
	return nil
}

func (f *fakeRuntime) StopContainer(_ context.Context, id string, grace time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return fmt.Errorf("container %s: %w", id, runtime.ErrNotFound)
	}
	f.stops[id] = grace
	if c.State == runtime.StateRunning {
		c.State, c.FinishedAt, c.ExitCode, c.Reason = runtime.StateExited, f.clock.Now(), 143, "Error"
	} else if c.State == runtime.StateCreated {
		c.State = runtime.StateExited
	}
	return nil
}

func (f *fakeRuntime) RemoveContainer(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return fmt.Errorf("container %s: %w", id, runtime.ErrNotFound)
	}
	if c.State == runtime.StateRunning {
		return fmt.Errorf("container %s is running", id)
	}
	delete(f.containers, id)
	return nil
}

func (f *fakeRuntime) ContainerStatus(_ context.Context, id string) (runtime.ContainerStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return runtime.ContainerStatus{}, fmt.Errorf("container %s: %w", id, runtime.ErrNotFound)
	}
	return *c, nil
}

func (f *fakeRuntime) ListContainers(_ context.Context, selector map[string]string) ([]runtime.ContainerStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []runtime.ContainerStatus
next:
	for _, c := range f.containers {
		for k, v := range selector {
			if c.Labels[k] != v {
				continue next
			}
		}
		cc := *c
		out = append(out, cc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (f *fakeRuntime) Exec(_ context.Context, id string, cmd []string, _ time.Duration) (int, []byte, error) {
	f.mu.Lock()
	fn := f.execFn
	f.execs = append(f.execs, strings.Join(cmd, " "))
	f.mu.Unlock()
	if fn == nil {
		return 0, nil, nil
	}
	return fn(id, cmd)
}

// setExec sets the Exec answer.
func (f *fakeRuntime) setExec(fn func(id string, cmd []string) (int, []byte, error)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.execFn = fn
}

// execsRun returns the commands Exec ran.
func (f *fakeRuntime) execsRun() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.execs...)
}

func (f *fakeRuntime) Version(context.Context) (string, string, error) {
	return "containerd", "1.6.20", nil
}

// exit makes a running container exit with code.
func (f *fakeRuntime) exit(id string, code int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.containers[id]
	c.State, c.FinishedAt, c.ExitCode = runtime.StateExited, f.clock.Now(), code
	c.Reason = "Completed"
	if code != 0 {
		c.Reason = "Error"
	}
}

// byName returns the containers of a container name, oldest first.
func (f *fakeRuntime) byName(container string) []runtime.ContainerStatus {
	all, _ := f.ListContainers(context.Background(), map[string]string{LabelContainerName: container})
	return all
}

// fakeNetwork is an in-memory network.Manager.
type fakeNetwork struct {
	mu      sync.Mutex
	cidr    *net.IPNet
	pods    map[string]network.Attachment
	next    byte
	routes  []network.NodeRoute
	removed []string
}

var _ network.Manager = (*fakeNetwork)(nil)

func newFakeNetwork() *fakeNetwork {
	return &fakeNetwork{pods: map[string]network.Attachment{}, next: 2}
}

func (n *fakeNetwork) SetPodCIDR(cidr *net.IPNet) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cidr = cidr
	return nil
}

func (n *fakeNetwork) SetupPod(_ context.Context, pod network.PodRef) (network.Attachment, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cidr == nil {
		return network.Attachment{}, fmt.Errorf("no pod CIDR")
	}
	if a, ok := n.pods[pod.UID]; ok {
		return a, nil
	}
	ip := append(net.IP{}, n.cidr.IP.To4()...)
	ip[3] = n.next
	n.next++
	a := network.Attachment{NetNSPath: "/run/skiff/netns/" + pod.UID, IP: ip}
	n.pods[pod.UID] = a
	return a, nil
}

func (n *fakeNetwork) TeardownPod(_ context.Context, uid string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.pods[uid]; ok {
		n.removed = append(n.removed, uid)
	}
	delete(n.pods, uid)
	return nil
}

func (n *fakeNetwork) Pods() ([]string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for uid := range n.pods {
		out = append(out, uid)
	}
	return out, nil
}

func (n *fakeNetwork) SetNodeRoutes(routes []network.NodeRoute) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.routes = routes
	return nil
}

func (n *fakeNetwork) has(uid string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, ok := n.pods[uid]
	return ok
}
