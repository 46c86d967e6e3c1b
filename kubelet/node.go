package kubelet

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	goruntime "runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/skiffk8s/skiff/internal/version"
)

// Machine is what the node has, measured once at start.
type Machine struct {
	CPUs            int
	MemoryBytes     int64
	EphemeralBytes  int64
	MachineID       string
	SystemUUID      string
	BootID          string
	KernelVersion   string
	OSImage         string
	OperatingSystem string
	Architecture    string
	Hostname        string
}

// measureMachine reads the machine's resources and identity.
func measureMachine(rootDir string) (Machine, error) {
	m := Machine{CPUs: goruntime.NumCPU(), OperatingSystem: goruntime.GOOS, Architecture: goruntime.GOARCH}
	m.Hostname, _ = os.Hostname()
	mem, err := meminfo("/proc/meminfo")
	if err != nil {
		return m, err
	}
	m.MemoryBytes = mem["MemTotal"]
	if err := os.MkdirAll(rootDir, 0o755); err != nil {
		return m, fmt.Errorf("root dir: %w", err)
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(rootDir, &fs); err != nil {
		return m, fmt.Errorf("statfs %s: %w", rootDir, err)
	}
	m.EphemeralBytes = int64(fs.Blocks) * int64(fs.Bsize)
	read := func(p string) string {
		b, _ := os.ReadFile(p)
		return strings.TrimSpace(string(b))
	}
	m.MachineID = read("/etc/machine-id")
	m.SystemUUID = read("/sys/class/dmi/id/product_uuid")
	m.BootID = read("/proc/sys/kernel/random/boot_id")
	m.KernelVersion = read("/proc/sys/kernel/osrelease")
	m.OSImage = "Linux"
	if f, err := os.Open("/etc/os-release"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "PRETTY_NAME="); ok {
				m.OSImage = strings.Trim(v, `"`)
			}
		}
		f.Close()
	}
	return m, nil
}

// capacity is the node's capacity and allocatable.
func (k *kubelet) capacity() (capacity, allocatable corev1.ResourceList) {
	m := k.machine
	capacity = corev1.ResourceList{
		corev1.ResourceCPU:              *resource.NewQuantity(int64(m.CPUs), resource.DecimalSI),
		corev1.ResourceMemory:           *resource.NewQuantity(m.MemoryBytes, resource.BinarySI),
		corev1.ResourcePods:             *resource.NewQuantity(int64(k.cfg.MaxPods), resource.DecimalSI),
		corev1.ResourceEphemeralStorage: *resource.NewQuantity(m.EphemeralBytes, resource.BinarySI),
	}
	allocatable = capacity.DeepCopy()
	sub := func(n corev1.ResourceName, q resource.Quantity) {
		v := allocatable[n]
		v.Sub(q)
		if v.Sign() < 0 {
			v = resource.MustParse("0")
		}
		allocatable[n] = v
	}
	sub(corev1.ResourceCPU, k.cfg.SystemReservedCPU)
	sub(corev1.ResourceMemory, k.cfg.SystemReservedMemory)
	return capacity, allocatable
}

// desiredNode applies the kubelet's view (labels, taints, podCIDR) to
// node, which is a copy of the existing Node or a new one.
func (k *kubelet) desiredNode(node *corev1.Node) {
	node.Name = k.cfg.NodeName
	if node.Labels == nil {
		node.Labels = map[string]string{}
	}
	node.Labels[corev1.LabelHostname] = k.cfg.NodeName
	node.Labels[corev1.LabelOSStable] = k.machine.OperatingSystem
	node.Labels[corev1.LabelArchStable] = k.machine.Architecture
	for key, v := range k.cfg.Labels {
		node.Labels[key] = v
	}
	for _, t := range k.cfg.Taints {
		if !slices.ContainsFunc(node.Spec.Taints, func(o corev1.Taint) bool { return o.Key == t.Key && o.Effect == t.Effect }) {
			node.Spec.Taints = append(node.Spec.Taints, t)
		}
	}
	if node.Spec.PodCIDR == "" && k.cfg.PodCIDR != "" {
		node.Spec.PodCIDR = k.cfg.PodCIDR
		node.Spec.PodCIDRs = []string{k.cfg.PodCIDR}
	}
}

// register creates or updates the Node and returns it.
func (k *kubelet) register(ctx context.Context) (*corev1.Node, error) {
	nodes := k.cfg.Client.CoreV1().Nodes()
	var out *corev1.Node
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		cur, err := nodes.Get(ctx, k.cfg.NodeName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			n := &corev1.Node{}
			k.desiredNode(n)
			out, err = nodes.Create(ctx, n, metav1.CreateOptions{})
			return err
		}
		if err != nil {
			return err
		}
		n := cur.DeepCopy()
		k.desiredNode(n)
		if equality.Semantic.DeepEqual(n, cur) {
			out = cur
			return nil
		}
		out, err = nodes.Update(ctx, n, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("register node %s: %w", k.cfg.NodeName, err)
	}
	return out, nil
}

// nodeStatusInput is what the node status is made from.
type nodeStatusInput struct {
	Machine               Machine
	NodeName              string
	NodeIP                net.IP
	Capacity, Allocatable corev1.ResourceList
	RuntimeVersion        string
	RuntimeErr            error
	NetworkReady          bool
	Images                []corev1.ContainerImage
	Pressure              Pressure
	Port                  int32
}

// computeNodeStatus is the node status to report at now; old gives the
// conditions' transition times.
func computeNodeStatus(old corev1.NodeStatus, in nodeStatusInput, now time.Time) corev1.NodeStatus {
	s := old.DeepCopy()
	s.Capacity, s.Allocatable = in.Capacity, in.Allocatable
	s.Addresses = nil
	if in.NodeIP != nil {
		s.Addresses = append(s.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: in.NodeIP.String()})
	}
	s.Addresses = append(s.Addresses, corev1.NodeAddress{Type: corev1.NodeHostName, Address: in.NodeName})
	s.NodeInfo = corev1.NodeSystemInfo{
		MachineID:               in.Machine.MachineID,
		SystemUUID:              in.Machine.SystemUUID,
		BootID:                  in.Machine.BootID,
		KernelVersion:           in.Machine.KernelVersion,
		OSImage:                 in.Machine.OSImage,
		ContainerRuntimeVersion: in.RuntimeVersion,
		KubeletVersion:          version.Kubernetes,
		OperatingSystem:         in.Machine.OperatingSystem,
		Architecture:            in.Machine.Architecture,
	}
	s.Images = in.Images
	s.DaemonEndpoints.KubeletEndpoint.Port = in.Port
	ready, reason, msg := true, "KubeletReady", "kubelet is posting ready status"
	switch {
	case in.RuntimeErr != nil:
		ready, reason, msg = false, "KubeletNotReady", fmt.Sprintf("container runtime is down: %v", in.RuntimeErr)
	case !in.NetworkReady:
		ready, reason, msg = false, "KubeletNotReady", "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:no pod CIDR assigned to the node"
	}
	type c struct {
		t           corev1.NodeConditionType
		ok          bool
		reason, msg string
	}
	pressure := func(t corev1.NodeConditionType, on bool, okReason, okMsg, badReason, badMsg string) c {
		if !on {
			return c{t, false, okReason, okMsg}
		}
		return c{t, true, badReason, badMsg}
	}
	p := in.Pressure
	want := []c{
		pressure(corev1.NodeMemoryPressure, p.Memory, "KubeletHasSufficientMemory", "kubelet has sufficient memory available",
			"KubeletHasInsufficientMemory", "kubelet has insufficient memory available"),
		pressure(corev1.NodeDiskPressure, p.Disk, "KubeletHasNoDiskPressure", "kubelet has no disk pressure",
			"KubeletHasDiskPressure", "kubelet has disk pressure"),
		pressure(corev1.NodePIDPressure, p.PID, "KubeletHasSufficientPID", "kubelet has sufficient PID available",
			"KubeletHasInsufficientPID", "kubelet has insufficient PID available"),
		{corev1.NodeReady, ready, reason, msg},
	}
	var conds []corev1.NodeCondition
	for _, w := range want {
		st := corev1.ConditionFalse
		if w.ok {
			st = corev1.ConditionTrue
		}
		nc := corev1.NodeCondition{Type: w.t, Status: st, Reason: w.reason, Message: w.msg,
			LastHeartbeatTime: mtime(now), LastTransitionTime: mtime(now)}
		for _, o := range old.Conditions {
			if o.Type == w.t && o.Status == st {
				nc.LastTransitionTime = o.LastTransitionTime
			}
		}
		conds = append(conds, nc)
	}
	s.Conditions = conds
	return *s
}

// nodeStatusChanged compares statuses without heartbeat times.
func nodeStatusChanged(a, b corev1.NodeStatus) bool {
	strip := func(s corev1.NodeStatus) corev1.NodeStatus {
		s = *s.DeepCopy()
		for i := range s.Conditions {
			s.Conditions[i].LastHeartbeatTime = metav1.Time{}
		}
		return s
	}
	return !equality.Semantic.DeepEqual(strip(a), strip(b))
}

// nodeImages turns the runtime's images into node.status.images: the
// 50 largest, names = repo digests then the reference.
func (k *kubelet) nodeImages(ctx context.Context) []corev1.ContainerImage {
	imgs, err := k.cfg.Runtime.ListImages(ctx)
	if err != nil {
		k.log.Warn("list images", "err", err)
		return nil
	}
	sort.Slice(imgs, func(i, j int) bool {
		if imgs[i].Size != imgs[j].Size {
			return imgs[i].Size > imgs[j].Size
		}
		return imgs[i].Ref < imgs[j].Ref
	})
	var out []corev1.ContainerImage
	for _, im := range imgs[:min(50, len(imgs))] {
		names := append([]string{}, im.RepoDigests...)
		if im.Ref != "" {
			names = append(names, im.Ref)
		}
		out = append(out, corev1.ContainerImage{Names: names, SizeBytes: im.Size})
	}
	return out
}

// updateNodeStatus computes the node status and writes it when it changed
// or force is set. It returns whether it wrote.
func (k *kubelet) updateNodeStatus(ctx context.Context, force bool) (bool, error) {
	in := nodeStatusInput{Machine: k.machine, NodeName: k.cfg.NodeName, NodeIP: k.hostIP, Port: k.cfg.Port}
	in.Capacity, in.Allocatable = k.capacity()
	name, v, err := k.cfg.Runtime.Version(ctx)
	if err != nil {
		in.RuntimeErr = err
	} else {
		if name == "" {
			name = "containerd"
		}
		in.RuntimeVersion = name + "://" + v
	}
	k.mu.Lock()
	in.NetworkReady = k.podCIDR != ""
	k.mu.Unlock()
	in.Images = k.nodeImages(ctx)
	in.Pressure = k.measurePressure()
	wrote := false
	nodes := k.cfg.Client.CoreV1().Nodes()
	err = retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		cur, err := nodes.Get(ctx, k.cfg.NodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		s := computeNodeStatus(cur.Status, in, k.clock.Now())
		if !force && !nodeStatusChanged(cur.Status, s) {
			return nil
		}
		n := cur.DeepCopy()
		n.Status = s
		_, err = nodes.UpdateStatus(ctx, n, metav1.UpdateOptions{})
		wrote = err == nil
		return err
	})
	if err != nil {
		return false, fmt.Errorf("update node status: %w", err)
	}
	return wrote, nil
}

// nodeStatusLoop writes the node status when it changes and at least
// every NodeStatusReportInterval.
func (k *kubelet) nodeStatusLoop(ctx context.Context) {
	last := k.clock.Now()
	t := k.clock.NewTicker(k.cfg.NodeStatusUpdateInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		force := k.clock.Since(last) >= k.cfg.NodeStatusReportInterval
		wrote, err := k.updateNodeStatus(ctx, force)
		if err != nil {
			k.log.Warn("node status", "err", err)
			continue
		}
		if wrote {
			last = k.clock.Now()
		}
	}
}

// renewLease creates or renews the node's Lease in kube-node-lease.
func (k *kubelet) renewLease(ctx context.Context, node *corev1.Node) error {
	leases := k.cfg.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(k.clock.Now())
	holder := k.cfg.NodeName
	secs := int32(k.cfg.LeaseDuration / time.Second)
	owner := []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}}
	return retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		cur, err := leases.Get(ctx, k.cfg.NodeName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			l := &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: k.cfg.NodeName, Namespace: corev1.NamespaceNodeLease, OwnerReferences: owner},
				Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &secs, RenewTime: &now},
			}
			_, err = leases.Create(ctx, l, metav1.CreateOptions{})
			return err
		}
		if err != nil {
			return err
		}
		l := cur.DeepCopy()
		l.Spec.HolderIdentity, l.Spec.LeaseDurationSeconds, l.Spec.RenewTime = &holder, &secs, &now
		if len(l.OwnerReferences) == 0 {
			l.OwnerReferences = owner
		}
		_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
		return err
	})
}

func (k *kubelet) leaseLoop(ctx context.Context, node *corev1.Node) {
	t := k.clock.NewTicker(k.cfg.LeaseRenewInterval)
	defer t.Stop()
	for {
		if err := k.renewLease(ctx, node); err != nil && ctx.Err() == nil {
			k.log.Warn("renew lease", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
	}
}
