package kubelet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/skiffk8s/skiff/kubelet/network"
	"github.com/skiffk8s/skiff/runtime"
)

var everything = labels.Everything()

// HostIPv4 is the first global unicast IPv4 address of the host: the
// default node IP (and the default address skiff init advertises).
func HostIPv4() (net.IP, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("node IP: %w", err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
			return n.IP.To4(), nil
		}
	}
	return nil, errors.New("node IP: no IPv4 address; set --node-ip")
}

func (k *kubelet) run(ctx context.Context) error {
	if k.cfg.machine != nil {
		k.machine = *k.cfg.machine
	} else {
		m, err := measureMachine(k.cfg.RootDir)
		if err != nil {
			return fmt.Errorf("kubelet: %w", err)
		}
		k.machine = m
	}
	if k.hostIP == nil {
		ip, err := HostIPv4()
		if err != nil {
			return fmt.Errorf("kubelet: %w", err)
		}
		k.hostIP = ip
	}
	_, k.allocatable = k.capacity()

	// Register, retrying while the API server is not there yet.
	var node *corev1.Node
	for {
		var err error
		if node, err = k.register(ctx); err == nil {
			break
		}
		k.log.Warn("register node", "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("kubelet: %w", err)
		case <-k.clock.After(2 * time.Second):
		}
	}
	k.log.Info("node registered", "node", node.Name)
	k.applyPodCIDR(node)

	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: k.cfg.Client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	k.recorder = broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: k.cfg.NodeName})
	k.startProber()
	defer k.stopProber()

	podFactory := informers.NewSharedInformerFactoryWithOptions(k.cfg.Client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", k.cfg.NodeName).String()
		}))
	nodeFactory := informers.NewSharedInformerFactory(k.cfg.Client, 0)
	podInformer := podFactory.Core().V1().Pods()
	nodeInformer := nodeFactory.Core().V1().Nodes()
	k.podLister = podInformer.Lister()
	k.nodeLister = nodeInformer.Lister()
	if k.cfg.OnPodLister != nil {
		k.cfg.OnPodLister(k.podLister)
	}

	podCtx, stopPods := context.WithCancel(ctx)
	defer stopPods()
	podHandler := func(obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		if pod, ok := obj.(*corev1.Pod); ok {
			k.dispatch(podCtx, pod)
		}
	}
	podReg, err := podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: podHandler,
		UpdateFunc: func(o, n any) {
			if op, ok := o.(*corev1.Pod); ok {
				if np, ok := n.(*corev1.Pod); ok && onlyStatusChanged(op, np) {
					return // our own status writes
				}
			}
			podHandler(n)
		},
		DeleteFunc: podHandler,
	})
	if err != nil {
		return fmt.Errorf("kubelet: pod informer: %w", err)
	}
	nodeChanged := make(chan struct{}, 1)
	poke := func(any) {
		select {
		case nodeChanged <- struct{}{}:
		default:
		}
	}
	if _, err := nodeInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: poke, UpdateFunc: func(_, n any) { poke(n) }, DeleteFunc: poke,
	}); err != nil {
		return fmt.Errorf("kubelet: node informer: %w", err)
	}
	podFactory.Start(ctx.Done())
	nodeFactory.Start(ctx.Done())
	defer podFactory.Shutdown()
	defer nodeFactory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), podReg.HasSynced, nodeInformer.Informer().HasSynced) {
		stopPods()
		k.wg.Wait()
		return nil // stopped before the caches synced
	}

	if _, err := k.updateNodeStatus(ctx, true); err != nil {
		k.log.Warn("node status", "err", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		bg := []func(context.Context){
			func(ctx context.Context) { k.leaseLoop(ctx, node) },
			k.nodeStatusLoop,
			func(ctx context.Context) { k.nodeLoop(ctx, nodeChanged) },
			k.relistLoop,
		}
		doneOne := make(chan struct{}, len(bg))
		for _, f := range bg {
			go func() { f(ctx); doneOne <- struct{}{} }()
		}
		for range bg {
			<-doneOne
		}
	}()
	<-ctx.Done()
	<-done
	k.mu.Lock()
	k.stopping = true
	k.mu.Unlock()
	stopPods()
	k.wg.Wait()
	return nil
}

// onlyStatusChanged reports whether an update changed nothing the
// kubelet acts on: the status writes it makes itself.
func onlyStatusChanged(old, cur *corev1.Pod) bool {
	return old.UID == cur.UID && old.Generation == cur.Generation &&
		equality.Semantic.DeepEqual(old.Spec, cur.Spec) &&
		equality.Semantic.DeepEqual(old.DeletionTimestamp, cur.DeletionTimestamp) &&
		equality.Semantic.DeepEqual(old.Status.Phase, cur.Status.Phase)
}

// applyPodCIDR hands the node's podCIDR to the network when it changed.
func (k *kubelet) applyPodCIDR(node *corev1.Node) {
	cidr := node.Spec.PodCIDR
	k.mu.Lock()
	same := cidr == k.podCIDR
	k.mu.Unlock()
	if cidr == "" || same {
		return
	}
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		k.log.Warn("node podCIDR", "cidr", cidr, "err", err)
		return
	}
	if err := k.cfg.Network.SetPodCIDR(n); err != nil {
		k.log.Warn("set pod CIDR", "cidr", cidr, "err", err)
		return
	}
	k.mu.Lock()
	k.podCIDR = cidr
	k.mu.Unlock()
	k.log.Info("pod CIDR", "cidr", cidr)
}

// nodeRoutes are the routes to other nodes' pod CIDRs.
func nodeRoutes(self string, nodes []*corev1.Node) []network.NodeRoute {
	var out []network.NodeRoute
	for _, n := range nodes {
		if n.Name == self || n.Spec.PodCIDR == "" {
			continue
		}
		_, cidr, err := net.ParseCIDR(n.Spec.PodCIDR)
		if err != nil {
			continue
		}
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				if ip := net.ParseIP(a.Address); ip != nil {
					out = append(out, network.NodeRoute{PodCIDR: cidr, NodeIP: ip})
				}
				break
			}
		}
	}
	slices.SortFunc(out, func(a, b network.NodeRoute) int {
		if a.PodCIDR.String() < b.PodCIDR.String() {
			return -1
		}
		return 1
	})
	return out
}

// nodeLoop follows Nodes: this node's podCIDR, routes to the others.
func (k *kubelet) nodeLoop(ctx context.Context, changed <-chan struct{}) {
	var last string
	for {
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
		if n, err := k.nodeLister.Get(k.cfg.NodeName); err == nil {
			k.mu.Lock()
			before := k.podCIDR
			k.mu.Unlock()
			k.applyPodCIDR(n)
			if n.Spec.PodCIDR != before {
				if _, err := k.updateNodeStatus(ctx, false); err != nil {
					k.log.Warn("node status", "err", err)
				}
			}
		}
		nodes, _ := k.nodeLister.List(everything)
		routes := nodeRoutes(k.cfg.NodeName, nodes)
		if key := fmt.Sprint(routes); key != last {
			if err := k.cfg.Network.SetNodeRoutes(routes); err != nil {
				k.log.Warn("node routes", "err", err)
				continue
			}
			last = key
		}
	}
}

// relistLoop lists the runtime's containers to notice changes (exits),
// wakes the pods they belong to, and removes containers and networks of
// pods that no longer exist.
func (k *kubelet) relistLoop(ctx context.Context) {
	prev := map[string]runtime.State{}
	t := k.clock.NewTicker(k.cfg.RelistInterval)
	defer t.Stop()
	for {
		prev = k.relist(ctx, prev)
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
	}
}

func (k *kubelet) relist(ctx context.Context, prev map[string]runtime.State) map[string]runtime.State {
	cs, err := k.cfg.Runtime.ListContainers(ctx, nil)
	if err != nil {
		k.log.Warn("relist containers", "err", err)
		return prev
	}
	cur := map[string]runtime.State{}
	orphans := map[types.UID][]runtime.ContainerStatus{}
	for _, c := range cs {
		uid := types.UID(c.Labels[LabelPodUID])
		if uid == "" {
			continue
		}
		cur[c.ID] = c.State
		if prev[c.ID] == c.State {
			if !k.hasWorker(uid) {
				orphans[uid] = append(orphans[uid], c)
			}
			continue
		}
		if !k.wakeUID(uid) {
			orphans[uid] = append(orphans[uid], c)
		}
	}
	for uid, l := range orphans {
		k.log.Info("removing containers of a pod that no longer exists", "uid", uid)
		for _, c := range l {
			if c.State == runtime.StateRunning || c.State == runtime.StateCreated {
				if err := k.cfg.Runtime.StopContainer(ctx, c.ID, 0); err != nil {
					k.log.Warn("stop orphan", "id", c.ID, "err", err)
					continue
				}
			}
			if err := k.cfg.Runtime.RemoveContainer(ctx, c.ID); err != nil && !errors.Is(err, runtime.ErrNotFound) {
				k.log.Warn("remove orphan", "id", c.ID, "err", err)
			}
			delete(cur, c.ID)
		}
	}
	if uids, err := k.cfg.Network.Pods(); err == nil {
		for _, uid := range uids {
			if !k.hasWorker(types.UID(uid)) {
				k.log.Info("removing the network of a pod that no longer exists", "uid", uid)
				if err := k.cfg.Network.TeardownPod(ctx, uid); err != nil {
					k.log.Warn("tear down orphan network", "uid", uid, "err", err)
				}
				if err := k.cfg.PodResources.Teardown(ctx, types.UID(uid)); err != nil {
					k.log.Warn("tear down orphan pod resources", "uid", uid, "err", err)
				}
			}
		}
	}
	return cur
}

func (k *kubelet) hasWorker(uid types.UID) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.workers[uid] != nil
}
