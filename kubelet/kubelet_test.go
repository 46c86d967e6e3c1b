package kubelet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/skiffk8s/skiff/apiserver/apitest"
	"github.com/skiffk8s/skiff/runtime"
)

const testNode = "node-1"

type harness struct {
	t   *testing.T
	srv *apitest.Server
	rt  *fakeRuntime
	nw  *fakeNetwork
	clk *testingclock.FakeClock
	// stop stops the running kubelet and waits for Run to return.
	stop func()
	// tune adjusts the kubelet's config before it starts (optional).
	tune func(*Config)
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessWith(t, nil)
}

// newHarnessWith starts a kubelet whose config tune adjusts.
func newHarnessWith(t *testing.T, tune func(*Config)) *harness {
	t.Helper()
	srv := apitest.Start(t)
	clk := testingclock.NewFakeClock(time.Now())
	h := &harness{t: t, srv: srv, clk: clk, rt: newFakeRuntime(clk), nw: newFakeNetwork(), tune: tune}
	h.start()
	return h
}

// start runs a kubelet on the harness's runtime and network.
func (h *harness) start() {
	h.t.Helper()
	cfg := Config{
		NodeName:          testNode,
		NodeIP:            net.IPv4(192, 168, 50, 10),
		PodCIDR:           "10.244.1.0/24",
		RootDir:           h.t.TempDir(),
		Labels:            map[string]string{"node-role.kubernetes.io/worker": ""},
		Taints:            []corev1.Taint{{Key: "skiff.io/test", Value: "yes", Effect: corev1.TaintEffectPreferNoSchedule}},
		SystemReservedCPU: resource.MustParse("500m"),
		Port:              10250,
		Clock:             h.clk,
		Client:            h.srv.Client,
		Runtime:           h.rt,
		Network:           h.nw,
		// Plenty of everything, unless a test measures otherwise.
		Signals: func() (Signals, error) { return ampleSignals(), nil },
		machine: &Machine{CPUs: 4, MemoryBytes: 8 << 30, EphemeralBytes: 100 << 30, OperatingSystem: "linux",
			Architecture: "amd64", KernelVersion: "6.1.0-test", OSImage: "Debian GNU/Linux 12 (bookworm)", MachineID: "abc123"},
	}
	if h.tune != nil {
		h.tune(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	stopped := false
	h.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				h.t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			h.t.Errorf("Run did not return after cancel")
		}
	}
	h.t.Cleanup(h.stop)
}

// eventually polls cond every 10ms for up to 20s, moving the fake clock
// by step before each poll.
func (h *harness) eventually(what string, step time.Duration, cond func() (bool, string)) {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		if step > 0 {
			h.clk.Step(step)
		}
		ok, msg := cond()
		if ok {
			return
		}
		last = msg
		time.Sleep(10 * time.Millisecond)
	}
	h.t.Fatalf("timed out waiting for %s; last: %s", what, last)
}

func (h *harness) createPod(pod *corev1.Pod) *corev1.Pod {
	h.t.Helper()
	pod.Spec.NodeName = testNode
	out, err := h.srv.Client.CoreV1().Pods("default").Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		h.t.Fatalf("create pod: %v", err)
	}
	return out
}

func (h *harness) getPod(name string) (*corev1.Pod, error) {
	return h.srv.Client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
}

// waitPod waits until cond holds for the pod's status.
func (h *harness) waitPod(name, what string, step time.Duration, cond func(p *corev1.Pod) bool) *corev1.Pod {
	h.t.Helper()
	var pod *corev1.Pod
	h.eventually(name+": "+what, step, func() (bool, string) {
		p, err := h.getPod(name)
		if err != nil {
			return false, err.Error()
		}
		pod = p
		return cond(p), fmt.Sprintf("%+v", p.Status)
	})
	return pod
}

func simplePod(name string, policy corev1.RestartPolicy, image string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{RestartPolicy: policy, Containers: []corev1.Container{{Name: "main", Image: image, Command: []string{"sleep", "3600"}}}}}
}

func running(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodRunning && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Running != nil
}

func TestNodeIsRegisteredWithCapacityLabelsAndAddresses(t *testing.T) {
	h := newHarness(t)
	var node *corev1.Node
	h.eventually("node Ready", 0, func() (bool, string) {
		n, err := h.srv.Client.CoreV1().Nodes().Get(context.Background(), testNode, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		node = n
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", n.Status.Conditions)
	})
	for k, v := range map[string]string{"kubernetes.io/hostname": testNode, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "node-role.kubernetes.io/worker": ""} {
		if got, ok := node.Labels[k]; !ok || got != v {
			t.Errorf("label %s = %q, want %q", k, got, v)
		}
	}
	wantAddr := []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.168.50.10"}, {Type: corev1.NodeHostName, Address: testNode}}
	if fmt.Sprint(node.Status.Addresses) != fmt.Sprint(wantAddr) {
		t.Errorf("addresses %v, want %v", node.Status.Addresses, wantAddr)
	}
	if p := node.Status.DaemonEndpoints.KubeletEndpoint.Port; p != 10250 {
		t.Errorf("daemonEndpoints.kubeletEndpoint.port %d, want 10250 (where the API server reaches the kubelet)", p)
	}
	check := func(l corev1.ResourceList, n corev1.ResourceName, want string) {
		t.Helper()
		if q := l[n]; q.Cmp(resource.MustParse(want)) != 0 {
			t.Errorf("%s = %s, want %s", n, q.String(), want)
		}
	}
	check(node.Status.Capacity, corev1.ResourceCPU, "4")
	check(node.Status.Allocatable, corev1.ResourceCPU, "3500m")
	check(node.Status.Capacity, corev1.ResourceMemory, "8Gi")
	check(node.Status.Capacity, corev1.ResourcePods, "110")
	check(node.Status.Capacity, corev1.ResourceEphemeralStorage, "100Gi")
	if node.Spec.PodCIDR != "10.244.1.0/24" {
		t.Errorf("podCIDR %q", node.Spec.PodCIDR)
	}
	if len(node.Spec.Taints) != 1 || node.Spec.Taints[0].Key != "skiff.io/test" {
		t.Errorf("taints %v", node.Spec.Taints)
	}
	info := node.Status.NodeInfo
	if info.ContainerRuntimeVersion != "containerd://1.6.20" || info.KubeletVersion == "" || info.KernelVersion != "6.1.0-test" || info.MachineID != "abc123" {
		t.Errorf("nodeInfo %+v", info)
	}
	types := map[corev1.NodeConditionType]corev1.ConditionStatus{}
	for _, c := range node.Status.Conditions {
		types[c.Type] = c.Status
	}
	for _, c := range []corev1.NodeConditionType{corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure} {
		if types[c] != corev1.ConditionFalse {
			t.Errorf("condition %s = %q, want False", c, types[c])
		}
	}
	h.nw.mu.Lock()
	cidr := h.nw.cidr
	h.nw.mu.Unlock()
	if cidr == nil || cidr.String() != "10.244.1.0/24" {
		t.Errorf("network pod CIDR %v, want 10.244.1.0/24", cidr)
	}
}

func TestLeaseIsRenewed(t *testing.T) {
	h := newHarness(t)
	leases := h.srv.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	var first time.Time
	h.eventually("lease created", 0, func() (bool, string) {
		l, err := leases.Get(context.Background(), testNode, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		if *l.Spec.HolderIdentity != testNode || *l.Spec.LeaseDurationSeconds != 40 || len(l.OwnerReferences) != 1 || l.OwnerReferences[0].Kind != "Node" {
			t.Fatalf("lease %+v", l)
		}
		first = l.Spec.RenewTime.Time
		return true, ""
	})
	h.eventually("lease renewed", time.Second, func() (bool, string) {
		l, err := leases.Get(context.Background(), testNode, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return l.Spec.RenewTime.Time.Sub(first) >= 10*time.Second, l.Spec.RenewTime.String()
	})
}

func TestPodRunsAndDeletionStopsIt(t *testing.T) {
	h := newHarness(t)
	h.createPod(simplePod("web", corev1.RestartPolicyAlways, "busybox:1.36"))
	p := h.waitPod("web", "Running", 0, running)
	cs := p.Status.ContainerStatuses[0]
	if !strings.HasPrefix(cs.ContainerID, "containerd://") || cs.ImageID == "" || cs.Image != "busybox:1.36" || !cs.Ready || cs.Started == nil || !*cs.Started {
		t.Errorf("container status %+v", cs)
	}
	if p.Status.PodIP != "10.244.1.2" || p.Status.HostIP != "192.168.50.10" || p.Status.StartTime == nil || p.Status.QOSClass != corev1.PodQOSBestEffort {
		t.Errorf("status %+v", p.Status)
	}
	for _, c := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
		if got := condStatus(p.Status, c); got != "True/" {
			t.Errorf("condition %s = %s", c, got)
		}
	}
	id := strings.TrimPrefix(cs.ContainerID, "containerd://")
	cfg := h.rt.configs[id]
	if cfg.NetNSPath != "/run/skiff/netns/"+string(p.UID) || !strings.HasSuffix(cfg.LogPath, "default_web_"+string(p.UID)+"/main/0.log") ||
		cfg.Labels[LabelPodName] != "web" || fmt.Sprint(cfg.Command) != "[sleep 3600]" {
		t.Errorf("container config %+v", cfg)
	}
	// Events users look for.
	h.eventually("events", 0, func() (bool, string) {
		evs, err := h.srv.Client.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		seen := map[string]bool{}
		for _, e := range evs.Items {
			seen[e.Reason] = true
		}
		return seen["Pulling"] && seen["Pulled"] && seen["Created"] && seen["Started"], fmt.Sprint(seen)
	})

	grace := int64(7)
	if err := h.srv.Client.CoreV1().Pods("default").Delete(context.Background(), "web", metav1.DeleteOptions{GracePeriodSeconds: &grace}); err != nil {
		t.Fatal(err)
	}
	h.eventually("pod object removed", 0, func() (bool, string) {
		_, err := h.getPod("web")
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	h.rt.mu.Lock()
	g, stopped := h.rt.stops[id]
	_, left := h.rt.containers[id]
	h.rt.mu.Unlock()
	if !stopped || g != 7*time.Second || left {
		t.Errorf("container stopped=%v grace=%v still there=%v; want stopped with 7s and removed", stopped, g, left)
	}
	if h.nw.has(string(p.UID)) {
		t.Errorf("pod network not torn down")
	}
}

func TestOnFailureRestartsWithBackOff(t *testing.T) {
	h := newHarness(t)
	h.createPod(simplePod("crash", corev1.RestartPolicyOnFailure, "busybox:1.36"))
	h.waitPod("crash", "Running", 0, running)
	// First crash: restarted at once.
	h.rt.exit(h.rt.byName("main")[0].ID, 1)
	p := h.waitPod("crash", "restartCount 1", time.Second, func(p *corev1.Pod) bool {
		return running(p) && p.Status.ContainerStatuses[0].RestartCount == 1
	})
	if lt := p.Status.ContainerStatuses[0].LastTerminationState.Terminated; lt == nil || lt.ExitCode != 1 {
		t.Errorf("lastState %+v, want terminated with exit code 1", p.Status.ContainerStatuses[0].LastTerminationState)
	}
	// Second crash: CrashLoopBackOff, then a restart no sooner than 10s later.
	second := h.rt.byName("main")[1]
	h.rt.exit(second.ID, 2)
	h.waitPod("crash", "CrashLoopBackOff", 0, func(p *corev1.Pod) bool {
		if len(p.Status.ContainerStatuses) == 0 {
			return false
		}
		h.clk.Step(100 * time.Millisecond) // let the relist notice the exit
		w := p.Status.ContainerStatuses[0].State.Waiting
		return w != nil && w.Reason == "CrashLoopBackOff" && p.Status.ContainerStatuses[0].RestartCount == 1
	})
	h.waitPod("crash", "restartCount 2", time.Second, func(p *corev1.Pod) bool {
		return running(p) && p.Status.ContainerStatuses[0].RestartCount == 2
	})
	all := h.rt.byName("main")
	third := all[len(all)-1]
	finished, _ := h.rt.ContainerStatus(context.Background(), second.ID)
	if gap := third.StartedAt.Sub(finished.FinishedAt); gap < 10*time.Second {
		t.Errorf("restarted %v after the second crash, want at least the 10s back-off", gap)
	}
	// The oldest exited instance is removed by a sync after the restart.
	h.eventually("the newest 2 instances kept", 100*time.Millisecond, func() (bool, string) {
		n := len(h.rt.byName("main"))
		return n <= 2, fmt.Sprintf("%d instances", n)
	})
}

func TestKubeletRestartAdoptsRunningContainers(t *testing.T) {
	h := newHarness(t)
	h.createPod(simplePod("keep", corev1.RestartPolicyAlways, "busybox:1.36"))
	before := h.waitPod("keep", "Running", 0, running).Status.ContainerStatuses[0]
	h.stop()
	// A container of a pod deleted while the kubelet was down, and its network.
	orphan, _ := h.rt.CreateContainer(context.Background(), runtime.ContainerConfig{Name: "gone", Labels: map[string]string{LabelPodUID: "gone-uid", LabelContainerName: "x"}})
	_ = h.rt.StartContainer(context.Background(), orphan)
	h.nw.mu.Lock()
	h.nw.pods["gone-uid"] = h.nw.pods[string(h.mustPod("keep").UID)]
	h.nw.mu.Unlock()

	h.start()
	h.eventually("orphans removed", 100*time.Millisecond, func() (bool, string) {
		_, err := h.rt.ContainerStatus(context.Background(), orphan)
		return errors.Is(err, runtime.ErrNotFound) && !h.nw.has("gone-uid"), fmt.Sprint(err)
	})
	// Several syncs later the same container still runs.
	for range 20 {
		h.clk.Step(time.Second)
		time.Sleep(5 * time.Millisecond)
	}
	after := h.waitPod("keep", "Running", 0, running).Status.ContainerStatuses[0]
	if after.ContainerID != before.ContainerID || after.RestartCount != 0 {
		t.Errorf("after restart: %s restartCount %d, want %s restartCount 0", after.ContainerID, after.RestartCount, before.ContainerID)
	}
	if n := len(h.rt.byName("main")); n != 1 {
		t.Errorf("%d containers, want 1", n)
	}
}

func (h *harness) mustPod(name string) *corev1.Pod {
	h.t.Helper()
	p, err := h.getPod(name)
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}

func TestImagePullFailureShowsErrImagePullThenImagePullBackOff(t *testing.T) {
	h := newHarness(t)
	h.rt.pullErr["nope:1"] = fmt.Errorf("pull nope:1: %w: 127.0.0.1:5000: manifest unknown", runtime.ErrImageNotFound)
	h.createPod(simplePod("nope", corev1.RestartPolicyAlways, "nope:1"))
	p := h.waitPod("nope", "ErrImagePull", 0, func(p *corev1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Waiting != nil &&
			p.Status.ContainerStatuses[0].State.Waiting.Reason == "ErrImagePull"
	})
	if msg := p.Status.ContainerStatuses[0].State.Waiting.Message; !strings.Contains(msg, `"nope:1"`) || !strings.Contains(msg, "manifest unknown") {
		t.Errorf("ErrImagePull message %q does not name the image and the registry's error", msg)
	}
	if p.Status.Phase != corev1.PodPending {
		t.Errorf("phase %s, want Pending", p.Status.Phase)
	}
	p = h.waitPod("nope", "ImagePullBackOff", 100*time.Millisecond, func(p *corev1.Pod) bool {
		w := p.Status.ContainerStatuses[0].State.Waiting
		return w != nil && w.Reason == "ImagePullBackOff"
	})
	if msg := p.Status.ContainerStatuses[0].State.Waiting.Message; !strings.Contains(msg, `Back-off pulling image "nope:1"`) {
		t.Errorf("ImagePullBackOff message %q", msg)
	}
	// Once the image exists the pod runs.
	h.rt.mu.Lock()
	delete(h.rt.pullErr, "nope:1")
	h.rt.mu.Unlock()
	h.waitPod("nope", "Running", time.Second, running)
}

func TestPodThatDoesNotFitIsRejected(t *testing.T) {
	h := newHarness(t)
	pod := simplePod("big", corev1.RestartPolicyAlways, "busybox:1.36")
	pod.Spec.Containers[0].Resources = requests("", "64Gi")
	h.createPod(pod)
	p := h.waitPod("big", "Failed", 0, func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
	if p.Status.Reason != "OutOfmemory" || !strings.HasPrefix(p.Status.Message, "Pod was rejected: Node didn't have enough resource: memory, requested: 68719476736, used: 0, capacity: 8589934592") {
		t.Errorf("reason %q message %q", p.Status.Reason, p.Status.Message)
	}
	if n := len(h.rt.byName("main")); n != 0 {
		t.Errorf("%d containers created for a rejected pod", n)
	}
}
