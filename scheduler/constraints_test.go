package scheduler

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/skiffk8s/skiff/apiserver/apitest"
	"github.com/skiffk8s/skiff/kubelet/stats/nodeusage"
	schedcache "github.com/skiffk8s/skiff/scheduler/cache"
	"github.com/skiffk8s/skiff/scheduler/plugins"
)

// Integration tests of the in-tree registry's default profile: an API
// server on embedded etcd, Node objects and no kubelet. The cases of a
// test share one server and scheduler (starting them is the slow part);
// each case starts from an empty cluster and names its nodes afresh.

const zone = corev1.LabelTopologyZone

// cluster is a server and a default-profile scheduler shared by cases.
type cluster struct {
	srv *apitest.Server
	s   *Scheduler
	ctx context.Context
}

func newCluster(t *testing.T) *cluster {
	srv := apitest.Start(t)
	cfg := testConfig(srv.Client)
	cfg.Registry, cfg.SchedulerConfig = plugins.NewInTreeRegistry(), nil
	c := &cluster{srv: srv, ctx: context.Background()}
	for _, ns := range []string{"team-a"} {
		if _, err := srv.Client.CoreV1().Namespaces().Create(c.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"team": "a"}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	c.s = startScheduler(t, cfg)
	return c
}

// reset deletes every pod and node and waits until the scheduler has
// forgotten the nodes.
func (c *cluster) reset(t *testing.T) {
	t.Helper()
	for _, ns := range []string{"default", "team-a"} {
		if err := c.srv.Client.CoreV1().Pods(ns).DeleteCollection(c.ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, metav1.ListOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.srv.Client.PolicyV1().PodDisruptionBudgets("default").DeleteCollection(c.ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.srv.Client.CoreV1().Nodes().DeleteCollection(c.ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	c.waitCache(t, 0, 0)
}

// waitCache waits until the scheduler's snapshot has nodes nodes holding
// pods pods in all.
func (c *cluster) waitCache(t *testing.T, nodes, pods int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	gotNodes, gotPods := -1, -1
	for time.Now().Before(deadline) {
		snap := schedcache.NewEmptySnapshot()
		c.s.cache.UpdateSnapshot(snap)
		gotNodes, gotPods = snap.NumNodes(), 0
		for _, ni := range snap.Nodes {
			gotPods += len(ni.Pods)
		}
		if gotNodes == nodes && gotPods == pods {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("scheduler cache has %d nodes and %d pods, want %d and %d", gotNodes, gotPods, nodes, pods)
}

// given creates nodes and pods already running on them and waits until
// the scheduler sees them all.
func (c *cluster) given(t *testing.T, nodes []*corev1.Node, running ...*corev1.Pod) {
	t.Helper()
	for _, n := range nodes {
		createNode(t, c.srv, n)
	}
	for _, p := range running {
		createPod(t, c.srv, p)
	}
	c.waitCache(t, len(nodes), len(running))
}

// nodeIn is a 4-cpu node labelled with its hostname, zone z (none for "")
// and labels (key, value pairs).
func nodeIn(name, z string, labels ...string) *corev1.Node {
	n := node(name, "4")
	n.Labels = map[string]string{corev1.LabelHostname: name}
	if z != "" {
		n.Labels[zone] = z
	}
	for i := 0; i+1 < len(labels); i += 2 {
		n.Labels[labels[i]] = labels[i+1]
	}
	return n
}

func withCPU(n *corev1.Node, cpu string) *corev1.Node {
	n.Status.Allocatable[corev1.ResourceCPU] = resource.MustParse(cpu)
	n.Status.Capacity[corev1.ResourceCPU] = resource.MustParse(cpu)
	return n
}

func withTaint(n *corev1.Node, effect corev1.TaintEffect) *corev1.Node {
	n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: "dedicated", Value: "gpu", Effect: effect})
	return n
}

// podWith is a 100m pod named name, changed by opts.
func podWith(name string, opts ...func(*corev1.Pod)) *corev1.Pod {
	p := pod(name, "100m")
	for _, o := range opts {
		o(p)
	}
	return p
}

func on(node string) func(*corev1.Pod) { return func(p *corev1.Pod) { p.Spec.NodeName = node } }

func inNamespace(ns string) func(*corev1.Pod) { return func(p *corev1.Pod) { p.Namespace = ns } }

func labelled(k, v string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		if p.Labels == nil {
			p.Labels = map[string]string{}
		}
		p.Labels[k] = v
	}
}

func cpu(q string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse(q)
	}
}

func hostPort(port int32) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: port, HostPort: port, Protocol: corev1.ProtocolTCP}}
	}
}

func affinity(a *corev1.Affinity) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.Spec.Affinity = a }
}

func selectorOf(k, v string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{k: v}}
}

func spreadBy(when corev1.UnsatisfiableConstraintAction) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: zone, WhenUnsatisfiable: when, LabelSelector: selectorOf("app", "spread"),
		}}
	}
}

// pendingWith waits for PodScheduled=False with reason Unschedulable and
// a message starting with want (the preemption part follows it).
func pendingWith(want string) func(*corev1.Pod) bool {
	return func(p *corev1.Pod) bool {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == "Unschedulable" && strings.HasPrefix(c.Message, want) {
				return true
			}
		}
		return false
	}
}

func (c *cluster) waitPod(t *testing.T, ns, name, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var last *corev1.Pod
	for time.Now().Before(deadline) {
		if p, err := c.srv.Client.CoreV1().Pods(ns).Get(c.ctx, name, metav1.GetOptions{}); err == nil {
			last = p
			if cond(p) {
				return p
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("pod %s/%s: %s did not happen; last: nodeName=%q nominated=%q conditions=%+v", ns, name, what,
		last.Spec.NodeName, last.Status.NominatedNodeName, last.Status.Conditions)
	return nil
}

func TestEachConstraintPlacesPodsAsUpstreamDoes(t *testing.T) {
	c := newCluster(t)
	required := func(key string, values ...string) *corev1.Affinity {
		return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: key, Operator: corev1.NodeSelectorOpIn, Values: values}}}},
		}}}
	}
	usage := func(n *corev1.Node, cpuMillis int64) *corev1.Node {
		n.Annotations = map[string]string{nodeusage.AnnotationKey: nodeusage.Format(nodeusage.Usage{
			CPUMillis: cpuMillis, MemoryBytes: 1 << 30, Window: time.Minute, Time: time.Now(),
		})}
		return n
	}
	for _, tc := range []struct {
		name    string
		nodes   []*corev1.Node
		running []*corev1.Pod
		pod     *corev1.Pod
		// boundTo is the node the pod must be bound to; pending, when
		// set, the start of its PodScheduled=False message instead.
		boundTo, pending string
	}{
		{name: "a nodeSelector picks the node with the label",
			nodes:   []*corev1.Node{nodeIn("sel-hdd", "", "disk", "hdd"), nodeIn("sel-ssd", "", "disk", "ssd")},
			pod:     podWith("p", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} }),
			boundTo: "sel-ssd"},
		{name: "a nodeSelector no node has leaves the pod pending with upstream's message",
			nodes:   []*corev1.Node{nodeIn("sel2-hdd", "", "disk", "hdd"), nodeIn("sel2-nvme", "", "disk", "nvme")},
			pod:     podWith("p", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} }),
			pending: "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector."},
		{name: "required node affinity picks a node of the zone named",
			nodes:   []*corev1.Node{nodeIn("req-a", "a"), nodeIn("req-b", "b"), nodeIn("req-c", "c")},
			pod:     podWith("p", affinity(required(zone, "b"))),
			boundTo: "req-b"},
		{name: "preferred node affinity picks the preferred node among fitting ones",
			nodes: []*corev1.Node{nodeIn("pref-a", "a"), nodeIn("pref-b", "b"), nodeIn("pref-c", "c")},
			pod: podWith("p", affinity(&corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{
				Weight: 100, Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: zone, Operator: corev1.NodeSelectorOpIn, Values: []string{"c"}}}},
			}}}})),
			boundTo: "pref-c"},
		{name: "a NoSchedule taint keeps a pod without the toleration off the node",
			nodes:   []*corev1.Node{withTaint(nodeIn("taint-gpu", ""), corev1.TaintEffectNoSchedule), withCPU(nodeIn("taint-plain", ""), "1")},
			pod:     podWith("p"),
			boundTo: "taint-plain"},
		{name: "a pod tolerating a NoSchedule taint may use the node",
			nodes: []*corev1.Node{withTaint(nodeIn("tol-gpu", ""), corev1.TaintEffectNoSchedule), withCPU(nodeIn("tol-small", ""), "1")},
			pod: podWith("p", cpu("2"), func(p *corev1.Pod) {
				p.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}
			}),
			boundTo: "tol-gpu"},
		{name: "a PreferNoSchedule taint makes the scheduler prefer another node",
			nodes:   []*corev1.Node{withTaint(nodeIn("soft-gpu", ""), corev1.TaintEffectPreferNoSchedule), nodeIn("soft-plain", "")},
			pod:     podWith("p"),
			boundTo: "soft-plain"},
		{name: "a host port in use sends the pod to the node where it is free",
			nodes:   []*corev1.Node{nodeIn("port-a", ""), nodeIn("port-b", "")},
			running: []*corev1.Pod{podWith("web", hostPort(8080), on("port-a"))},
			pod:     podWith("p", hostPort(8080)),
			boundTo: "port-b"},
		{name: "a host port in use on every node leaves the pod pending",
			nodes:   []*corev1.Node{nodeIn("port2-a", "")},
			running: []*corev1.Pod{podWith("web", hostPort(8080), on("port2-a"))},
			pod:     podWith("p", hostPort(8080)),
			pending: "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports."},
		{name: "requests count the largest init container when it exceeds the containers",
			nodes: []*corev1.Node{withCPU(nodeIn("init-small", ""), "2"), withCPU(nodeIn("init-big", ""), "4")},
			pod: podWith("p", cpu("1"), func(p *corev1.Pod) {
				p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox", Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3")}}}}
			}),
			boundTo: "init-big"},
		{name: "requests no node can hold leave the pod pending with Insufficient cpu",
			nodes:   []*corev1.Node{withCPU(nodeIn("req-small", ""), "2"), nodeIn("req-full", "")},
			running: []*corev1.Pod{podWith("hog", cpu("3500m"), on("req-full"))},
			pod:     podWith("p", cpu("3")),
			pending: "0/2 nodes are available: 2 Insufficient cpu."},
		{name: "pod affinity by hostname puts the pod beside the pod it names",
			nodes:   []*corev1.Node{nodeIn("aff-a", "a"), nodeIn("aff-b", "a"), nodeIn("aff-c", "b")},
			running: []*corev1.Pod{podWith("db", labelled("app", "db"), on("aff-b"))},
			pod: podWith("p", affinity(&corev1.Affinity{PodAffinity: &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				TopologyKey: corev1.LabelHostname, LabelSelector: selectorOf("app", "db"),
			}}}})),
			boundTo: "aff-b"},
		{name: "pod anti-affinity by zone keeps the pod out of the zone of the pod it names",
			nodes:   []*corev1.Node{nodeIn("anti-a1", "a"), nodeIn("anti-a2", "a"), nodeIn("anti-b", "b")},
			running: []*corev1.Pod{podWith("web", labelled("app", "web"), on("anti-a1"))},
			pod: podWith("p", affinity(&corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				TopologyKey: zone, LabelSelector: selectorOf("app", "web"),
			}}}})),
			boundTo: "anti-b"},
		{name: "pod anti-affinity no node satisfies leaves the pod pending with upstream's message",
			nodes:   []*corev1.Node{nodeIn("anti2-a1", "a"), nodeIn("anti2-a2", "a")},
			running: []*corev1.Pod{podWith("web", labelled("app", "web"), on("anti2-a1"))},
			pod: podWith("p", affinity(&corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				TopologyKey: zone, LabelSelector: selectorOf("app", "web"),
			}}}})),
			pending: "0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules."},
		{name: "pod affinity with a namespaceSelector finds the pod in the selected namespace",
			nodes:   []*corev1.Node{nodeIn("ns-a", "a"), nodeIn("ns-b", "b")},
			running: []*corev1.Pod{podWith("db", inNamespace("team-a"), labelled("app", "db"), on("ns-b"))},
			pod: podWith("p", affinity(&corev1.Affinity{PodAffinity: &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				TopologyKey: zone, LabelSelector: selectorOf("app", "db"), NamespaceSelector: selectorOf("team", "a"),
			}}}})),
			boundTo: "ns-b"},
		{name: "pod affinity without the namespaceSelector does not see pods of other namespaces",
			nodes:   []*corev1.Node{nodeIn("ns2-a", "a"), nodeIn("ns2-b", "b")},
			running: []*corev1.Pod{podWith("db", inNamespace("team-a"), labelled("app", "db"), on("ns2-b"))},
			pod: podWith("p", affinity(&corev1.Affinity{PodAffinity: &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				TopologyKey: zone, LabelSelector: selectorOf("app", "db"),
			}}}})),
			pending: "0/2 nodes are available: 2 node(s) didn't match pod affinity rules."},
		{name: "topology spread DoNotSchedule sends the pod to the zone with fewer matching pods",
			nodes: []*corev1.Node{nodeIn("ts-a1", "a"), nodeIn("ts-a2", "a"), nodeIn("ts-b", "b")},
			running: []*corev1.Pod{
				podWith("s1", labelled("app", "spread"), on("ts-a1")), podWith("s2", labelled("app", "spread"), on("ts-a2")),
			},
			pod:     podWith("p", labelled("app", "spread"), spreadBy(corev1.DoNotSchedule)),
			boundTo: "ts-b"},
		{name: "topology spread DoNotSchedule leaves the pod pending when only the fuller zone has room",
			nodes: []*corev1.Node{nodeIn("ts2-a1", "a"), nodeIn("ts2-a2", "a"), withCPU(nodeIn("ts2-b", "b"), "100m")},
			running: []*corev1.Pod{
				podWith("s1", labelled("app", "spread"), on("ts2-a1")), podWith("s2", labelled("app", "spread"), on("ts2-a2")),
			},
			pod:     podWith("p", labelled("app", "spread"), cpu("1"), spreadBy(corev1.DoNotSchedule)),
			pending: "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match pod topology spread constraints."},
		{name: "topology spread ScheduleAnyway places the pod in the fuller zone when only it has room",
			nodes: []*corev1.Node{nodeIn("ts3-a1", "a"), nodeIn("ts3-a2", "a"), withCPU(nodeIn("ts3-b", "b"), "100m")},
			running: []*corev1.Pod{
				podWith("s1", labelled("app", "spread"), on("ts3-a1")), podWith("s2", labelled("app", "spread"), on("ts3-a2")),
			},
			pod:     podWith("p", labelled("app", "spread"), cpu("1"), spreadBy(corev1.ScheduleAnyway), func(p *corev1.Pod) { p.Spec.NodeName = "" }),
			boundTo: "ts3-a"},
		{name: "NodeLoad prefers the node whose published usage is lower",
			nodes:   []*corev1.Node{usage(nodeIn("load-busy", ""), 3600), usage(nodeIn("load-idle", ""), 200)},
			pod:     podWith("p"),
			boundTo: "load-idle"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.reset(t)
			c.given(t, tc.nodes, tc.running...)
			createPod(t, c.srv, tc.pod)
			if tc.pending != "" {
				c.waitPod(t, "default", tc.pod.Name, "PodScheduled=False "+tc.pending, pendingWith(tc.pending))
				if p, _ := c.srv.Client.CoreV1().Pods("default").Get(c.ctx, tc.pod.Name, metav1.GetOptions{}); p.Spec.NodeName != "" {
					t.Errorf("pod bound to %s, want pending", p.Spec.NodeName)
				}
				return
			}
			c.waitPod(t, "default", tc.pod.Name, "binding to "+tc.boundTo, func(p *corev1.Pod) bool {
				return p.Spec.NodeName != "" && strings.HasPrefix(p.Spec.NodeName, tc.boundTo)
			})
			if p, _ := c.srv.Client.CoreV1().Pods("default").Get(c.ctx, tc.pod.Name, metav1.GetOptions{}); !strings.HasPrefix(p.Spec.NodeName, tc.boundTo) {
				t.Errorf("pod bound to %s, want %s", p.Spec.NodeName, tc.boundTo)
			}
		})
	}
}

func priorityClass(name string, value int32, never bool) *schedulingv1.PriorityClass {
	pc := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Value: value}
	if never {
		pc.PreemptionPolicy = ptr.To(corev1.PreemptNever)
	}
	return pc
}

func withPriorityClass(name string) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.Spec.PriorityClassName = name }
}

func hasDisruptionTarget(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue && c.Reason == "PreemptionByScheduler" {
			return true
		}
	}
	return false
}

func TestPreemptionEvictsLowerPriorityPodsAsUpstreamDoes(t *testing.T) {
	c := newCluster(t)
	for _, pc := range []*schedulingv1.PriorityClass{priorityClass("low", 10, false), priorityClass("high", 1000, false), priorityClass("high-never", 1000, true)} {
		if _, err := c.srv.Client.SchedulingV1().PriorityClasses().Create(c.ctx, pc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pods := c.srv.Client.CoreV1().Pods("default")

	t.Run("a high-priority pod on a full cluster evicts the lower-priority pod and is bound once it is gone", func(t *testing.T) {
		c.reset(t)
		c.given(t, []*corev1.Node{withCPU(nodeIn("full", ""), "2")}, podWith("victim", cpu("2"), withPriorityClass("low"), on("full")))
		createPod(t, c.srv, podWith("preemptor", cpu("2"), withPriorityClass("high")))
		c.waitPod(t, "default", "preemptor", "nominatedNodeName=full", func(p *corev1.Pod) bool { return p.Status.NominatedNodeName == "full" })
		victim := c.waitPod(t, "default", "victim", "DisruptionTarget and graceful deletion", func(p *corev1.Pod) bool {
			return hasDisruptionTarget(p) && p.DeletionTimestamp != nil
		})
		if p, _ := pods.Get(c.ctx, "preemptor", metav1.GetOptions{}); p.Spec.NodeName != "" {
			t.Fatalf("preemptor bound to %s while the victim is still terminating", p.Spec.NodeName)
		}
		if *victim.Spec.Priority != 10 {
			t.Errorf("victim priority = %d, want 10 from its PriorityClass", *victim.Spec.Priority)
		}
		// No kubelet: the test finishes the victim's termination.
		if err := pods.Delete(c.ctx, "victim", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
			t.Fatal(err)
		}
		p := c.waitPod(t, "default", "preemptor", "binding to full", boundTo("full"))
		waitForEvent(t, c.srv, "victim", "Preempted", fmt.Sprintf("Preempted by pod %s on node full", p.UID))
	})

	t.Run("a pod with preemptionPolicy Never does not preempt", func(t *testing.T) {
		c.reset(t)
		c.given(t, []*corev1.Node{withCPU(nodeIn("never", ""), "2")}, podWith("victim", cpu("2"), withPriorityClass("low"), on("never")))
		createPod(t, c.srv, podWith("polite", cpu("2"), withPriorityClass("high-never")))
		c.waitPod(t, "default", "polite", "pending", pendingWith(
			"0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never."))
		if p, _ := pods.Get(c.ctx, "victim", metav1.GetOptions{}); p.DeletionTimestamp != nil || hasDisruptionTarget(p) {
			t.Errorf("victim was preempted: deletion %v, conditions %+v", p.DeletionTimestamp, p.Status.Conditions)
		}
	})

	t.Run("a PodDisruptionBudget protects a pod when another victim exists", func(t *testing.T) {
		c.reset(t)
		pdb := &policyv1.PodDisruptionBudget{
			ObjectMeta: metav1.ObjectMeta{Name: "protect", Namespace: "default"},
			Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr.To(intstr.FromInt32(1)), Selector: selectorOf("app", "protected")},
		}
		if _, err := c.srv.Client.PolicyV1().PodDisruptionBudgets("default").Create(c.ctx, pdb, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// The protected pod is the cheaper victim by priority: without the
		// budget it would go first.
		c.given(t, []*corev1.Node{withCPU(nodeIn("pdb-a", ""), "2"), withCPU(nodeIn("pdb-b", ""), "2")},
			podWith("protected", cpu("2"), labelled("app", "protected"), on("pdb-a")),
			podWith("unprotected", cpu("2"), withPriorityClass("low"), on("pdb-b")))
		createPod(t, c.srv, podWith("preemptor", cpu("2"), withPriorityClass("high")))
		c.waitPod(t, "default", "preemptor", "nominatedNodeName=pdb-b", func(p *corev1.Pod) bool { return p.Status.NominatedNodeName != "" })
		if p, _ := pods.Get(c.ctx, "preemptor", metav1.GetOptions{}); p.Status.NominatedNodeName != "pdb-b" {
			t.Fatalf("nominated to %s, want pdb-b (the pod on pdb-a has a budget)", p.Status.NominatedNodeName)
		}
		c.waitPod(t, "default", "unprotected", "DisruptionTarget", hasDisruptionTarget)
		if p, _ := pods.Get(c.ctx, "protected", metav1.GetOptions{}); p.DeletionTimestamp != nil {
			t.Errorf("the protected pod was evicted")
		}
		if err := pods.Delete(c.ctx, "unprotected", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
			t.Fatal(err)
		}
		c.waitPod(t, "default", "preemptor", "binding to pdb-b", boundTo("pdb-b"))
	})
}
