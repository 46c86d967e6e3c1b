package podtopologyspread

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiffk8s/skiff/scheduler/framework"
	"github.com/skiffk8s/skiff/scheduler/plugins/plugintest"
)

const (
	zoneKey = "zone"
	hostKey = corev1.LabelHostname
)

// node is a node in zone (no zone label for ""), labelled with its
// hostname.
func node(name, zone string) *plugintest.NodeBuilder {
	b := plugintest.MakeNode(name).Label(hostKey, name)
	if zone != "" {
		b.Label(zoneKey, zone)
	}
	return b
}

func nodes(bs ...*plugintest.NodeBuilder) []*corev1.Node {
	var out []*corev1.Node
	for _, b := range bs {
		out = append(out, b.Obj())
	}
	return out
}

// spread is a constraint selecting pods that have the label key
// (upstream's tests' "foo Exists").
func spread(maxSkew int32, key string, when corev1.UnsatisfiableConstraintAction, labelKey string) corev1.TopologySpreadConstraint {
	return corev1.TopologySpreadConstraint{
		MaxSkew: maxSkew, TopologyKey: key, WhenUnsatisfiable: when,
		LabelSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: labelKey, Operator: metav1.LabelSelectorOpExists}}},
	}
}

func withMinDomains(c corev1.TopologySpreadConstraint, n int32) corev1.TopologySpreadConstraint {
	c.MinDomains = &n
	return c
}

func withPolicies(c corev1.TopologySpreadConstraint, affinity, taints corev1.NodeInclusionPolicy) corev1.TopologySpreadConstraint {
	if affinity != "" {
		c.NodeAffinityPolicy = &affinity
	}
	if taints != "" {
		c.NodeTaintsPolicy = &taints
	}
	return c
}

func withMatchLabelKeys(c corev1.TopologySpreadConstraint, keys ...string) corev1.TopologySpreadConstraint {
	c.MatchLabelKeys = keys
	return c
}

// foos are n pods labelled foo on node.
func foos(node string, n int) []*corev1.Pod {
	var out []*corev1.Pod
	for i := range n {
		out = append(out, plugintest.MakePod(node+"-foo-"+string(rune('a'+i))).Label("foo", "").Node(node).Obj())
	}
	return out
}

func pods(groups ...[]*corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

// ownedBy makes pod controlled by a ReplicaSet called name.
func ownedBy(pod *corev1.Pod, kind, name string) *corev1.Pod {
	yes := true
	pod.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: kind, Name: name, Controller: &yes}}
	return pod
}

func replicaSet(name string, matchLabels map[string]string) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec:       appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: matchLabels}},
	}
}

var (
	fits         = (*framework.Status)(nil)
	skewed       = framework.NewStatus(framework.Unschedulable, ErrReasonConstraintsNotMatch)
	missingLabel = framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonNodeLabelNotMatch)
)

func TestFilter(t *testing.T) {
	pod := plugintest.MakePod
	zoneAB := nodes(node("n1", "a"), node("n2", "a"), node("n3", "b"), node("n4", "b"))
	tests := []struct {
		name  string
		args  string
		nodes []*corev1.Node
		pods  []*corev1.Pod
		objs  []runtime.Object
		pod   *corev1.Pod
		want  map[string]*framework.Status
	}{
		{
			name:  "a pod without constraints fits every node (system defaults only score)",
			nodes: zoneAB,
			pods:  foos("n1", 5),
			pod:   pod("p").Label("foo", "").Obj(),
			want:  map[string]*framework.Status{"n1": fits, "n2": fits, "n3": fits, "n4": fits},
		},
		{
			name:  "with no matching pods yet every zone fits",
			nodes: zoneAB,
			pod:   pod("p").Label("foo", "").SpreadConstraint(spread(1, zoneKey, corev1.DoNotSchedule, "foo")).Obj(),
			want:  map[string]*framework.Status{"n1": fits, "n2": fits, "n3": fits, "n4": fits},
		},
		{
			name:  "a pod does not go to a zone that already has maxSkew more matching pods than the emptiest",
			nodes: zoneAB,
			pods:  pods(foos("n1", 2), foos("n2", 1), foos("n3", 2)),
			// zone a 3, zone b 2: a would make 4-2 > 1.
			pod:  pod("p").Label("foo", "").SpreadConstraint(spread(1, zoneKey, corev1.DoNotSchedule, "foo")).Obj(),
			want: map[string]*framework.Status{"n1": skewed, "n2": skewed, "n3": fits, "n4": fits},
		},
		{
			name:  "a pod that does not match its own selector does not count itself",
			nodes: zoneAB,
			pods:  pods(foos("n1", 1)),
			pod:   pod("p").SpreadConstraint(spread(1, zoneKey, corev1.DoNotSchedule, "foo")).Obj(),
			want:  map[string]*framework.Status{"n1": fits, "n3": fits},
		},
		{
			name:  "a node without the topology key is rejected as missing the label",
			nodes: nodes(node("n1", "a"), node("n2", "")),
			pod:   pod("p").Label("foo", "").SpreadConstraint(spread(1, zoneKey, corev1.DoNotSchedule, "foo")).Obj(),
			want:  map[string]*framework.Status{"n1": fits, "n2": missingLabel},
		},
		{
			name:  "two constraints must both hold",
			nodes: zoneAB,
			pods:  pods(foos("n1", 1), foos("n3", 1)),
			// zones 1/1 are even; hostnames 1/0/1/0 reject n1 and n3.
			pod: pod("p").Label("foo", "").
				SpreadConstraint(spread(1, zoneKey, corev1.DoNotSchedule, "foo")).
				SpreadConstraint(spread(1, hostKey, corev1.DoNotSchedule, "foo")).Obj(),
			want: map[string]*framework.Status{"n1": skewed, "n2": fits, "n3": skewed, "n4": fits},
		},
		{
			name:  "pods in other namespaces and terminating pods do not count",
			nodes: zoneAB,
			pods: []*corev1.Pod{
				pod("other-1").Namespace("other").Label("foo", "").Node("n1").Obj(),
				pod("other-2").Namespace("other").Label("foo", "").Node("n1").Obj(),
				terminating(pod("gone").Label("foo", "").Node("n2").Obj()),
			},
			pod:  pod("p").Label("foo", "").SpreadConstraint(spread(1, zoneKey, corev1.DoNotSchedule, "foo")).Obj(),
			want: map[string]*framework.Status{"n1": fits, "n2": fits, "n3": fits, "n4": fits},
		},
		{
			name:  "with fewer zones than minDomains the global minimum is 0",
			nodes: zoneAB,
			pods:  pods(foos("n1", 1), foos("n3", 1)),
			pod:   pod("p").Label("foo", "").SpreadConstraint(withMinDomains(spread(1, zoneKey, corev1.DoNotSchedule, "foo"), 3)).Obj(),
			want:  map[string]*framework.Status{"n1": skewed, "n2": skewed, "n3": skewed, "n4": skewed},
		},
		{
			name:  "with as many zones as minDomains the global minimum is the emptiest zone's",
			nodes: zoneAB,
			pods:  pods(foos("n1", 1), foos("n3", 1)),
			pod:   pod("p").Label("foo", "").SpreadConstraint(withMinDomains(spread(1, zoneKey, corev1.DoNotSchedule, "foo"), 2)).Obj(),
			want:  map[string]*framework.Status{"n1": fits, "n2": fits, "n3": fits, "n4": fits},
		},
		{
			name:  "by default only nodes matching the pod's nodeSelector count (nodeAffinityPolicy Honor)",
			nodes: nodes(node("n1", "a").Label("disk", "ssd"), node("n2", "b").Label("disk", "ssd"), node("n3", "c")),
			pods:  pods(foos("n1", 1), foos("n2", 1)),
			pod:   pod("p").Label("foo", "").NodeSelector("disk", "ssd").SpreadConstraint(spread(1, zoneKey, corev1.DoNotSchedule, "foo")).Obj(),
			want:  map[string]*framework.Status{"n1": fits, "n2": fits},
		},
		{
			name:  "nodeAffinityPolicy Ignore counts nodes outside the pod's nodeSelector",
			nodes: nodes(node("n1", "a").Label("disk", "ssd"), node("n2", "b").Label("disk", "ssd"), node("n3", "c")),
			pods:  pods(foos("n1", 1), foos("n2", 1)),
			pod: pod("p").Label("foo", "").NodeSelector("disk", "ssd").
				SpreadConstraint(withPolicies(spread(1, zoneKey, corev1.DoNotSchedule, "foo"), corev1.NodeInclusionPolicyIgnore, "")).Obj(),
			want: map[string]*framework.Status{"n1": skewed, "n2": skewed},
		},
		{
			name:  "by default tainted nodes count (nodeTaintsPolicy Ignore)",
			nodes: nodes(node("n1", "a"), node("n2", "b"), node("n3", "c").Taint("dedicated", "gpu", corev1.TaintEffectNoSchedule)),
			pods:  pods(foos("n1", 1), foos("n2", 1)),
			pod:   pod("p").Label("foo", "").SpreadConstraint(spread(1, zoneKey, corev1.DoNotSchedule, "foo")).Obj(),
			want:  map[string]*framework.Status{"n1": skewed, "n2": skewed, "n3": fits},
		},
		{
			name:  "nodeTaintsPolicy Honor leaves out nodes with taints the pod does not tolerate",
			nodes: nodes(node("n1", "a"), node("n2", "b"), node("n3", "c").Taint("dedicated", "gpu", corev1.TaintEffectNoSchedule)),
			pods:  pods(foos("n1", 1), foos("n2", 1)),
			pod: pod("p").Label("foo", "").
				SpreadConstraint(withPolicies(spread(1, zoneKey, corev1.DoNotSchedule, "foo"), "", corev1.NodeInclusionPolicyHonor)).Obj(),
			want: map[string]*framework.Status{"n1": fits, "n2": fits},
		},
		{
			name:  "nodeTaintsPolicy Honor counts nodes whose taints the pod tolerates",
			nodes: nodes(node("n1", "a"), node("n2", "b"), node("n3", "c").Taint("dedicated", "gpu", corev1.TaintEffectNoSchedule)),
			pods:  pods(foos("n1", 1), foos("n2", 1)),
			pod: pod("p").Label("foo", "").Toleration("dedicated", corev1.TolerationOpEqual, "gpu", corev1.TaintEffectNoSchedule).
				SpreadConstraint(withPolicies(spread(1, zoneKey, corev1.DoNotSchedule, "foo"), "", corev1.NodeInclusionPolicyHonor)).Obj(),
			want: map[string]*framework.Status{"n1": skewed, "n2": skewed, "n3": fits},
		},
		{
			name:  "matchLabelKeys count only pods with the pod's own value of those labels",
			nodes: zoneAB,
			pods: []*corev1.Pod{
				pod("v1-a").Label("foo", "").Label("version", "v1").Node("n1").Obj(),
				pod("v1-b").Label("foo", "").Label("version", "v1").Node("n1").Obj(),
				pod("v2-a").Label("foo", "").Label("version", "v2").Node("n3").Obj(),
			},
			pod: pod("p").Label("foo", "").Label("version", "v2").
				SpreadConstraint(withMatchLabelKeys(spread(1, zoneKey, corev1.DoNotSchedule, "foo"), "version")).Obj(),
			// v2 pods: zone a 0, zone b 1.
			want: map[string]*framework.Status{"n1": fits, "n3": skewed},
		},
		{
			name:  "List default constraints apply to a pod owned by a ReplicaSet",
			args:  `{"defaultingType": "List", "defaultConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}]}`,
			nodes: zoneAB,
			objs:  []runtime.Object{replicaSet("web", map[string]string{"foo": ""})},
			pods:  pods(foos("n1", 2)),
			pod:   ownedBy(pod("p").Label("foo", "").Obj(), "ReplicaSet", "web"),
			want:  map[string]*framework.Status{"n1": skewed, "n2": skewed, "n3": fits},
		},
		{
			name:  "List default constraints do not apply to a pod that no controller or Service selects",
			args:  `{"defaultingType": "List", "defaultConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}]}`,
			nodes: zoneAB,
			pods:  pods(foos("n1", 2)),
			pod:   pod("p").Label("foo", "").Obj(),
			want:  map[string]*framework.Status{"n1": fits, "n3": fits},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHandle(t, tc.nodes, tc.pods, tc.objs...)
			got := plugintest.FilterAll(t, newPlugin(t, h, tc.args), framework.NewCycleState(), h, tc.pod)
			plugintest.AssertStatuses(t, got, tc.want)
		})
	}
}

func terminating(p *corev1.Pod) *corev1.Pod {
	now := metav1.Now()
	p.DeletionTimestamp = &now
	return p
}

func TestPreFilterExtensions(t *testing.T) {
	ctx := context.Background()
	zoneAB := nodes(node("n1", "a"), node("n2", "a"), node("n3", "b"), node("n4", "b"))
	existing := pods(foos("n1", 2), foos("n3", 1))
	pod := plugintest.MakePod("p").Label("foo", "").SpreadConstraint(spread(1, zoneKey, corev1.DoNotSchedule, "foo")).Obj()

	t.Run("removing a matching pod from the fuller zone lets the pod in there", func(t *testing.T) {
		h := newHandle(t, zoneAB, existing)
		pl := newPlugin(t, h, "")
		cs := framework.NewCycleState()
		plugintest.AssertStatuses(t, plugintest.FilterAll(t, pl, cs, h, pod), map[string]*framework.Status{"n2": skewed, "n4": fits})

		sim := cs.Clone()
		n1, _ := h.Snap.Get("n1")
		if st := pl.RemovePod(ctx, sim, pod, framework.MustPodInfo(existing[0]), n1); !st.IsSuccess() {
			t.Fatalf("RemovePod: %v", st)
		}
		n2, _ := h.Snap.Get("n2")
		if st := pl.Filter(ctx, sim, pod, n2); !st.IsSuccess() {
			t.Errorf("after RemovePod: got %v, want success", st)
		}
		if st := pl.Filter(ctx, cs, pod, n2); st.Code() != framework.Unschedulable {
			t.Errorf("the cloned state changed the original: got %v", st)
		}
	})

	t.Run("removing the only matching pod of the emptier zone lowers the global minimum", func(t *testing.T) {
		h := newHandle(t, zoneAB, pods(foos("n1", 1), foos("n3", 1)))
		pl := newPlugin(t, h, "")
		cs := framework.NewCycleState()
		plugintest.AssertStatuses(t, plugintest.FilterAll(t, pl, cs, h, pod), map[string]*framework.Status{"n1": fits, "n3": fits})
		n3, _ := h.Snap.Get("n3")
		if st := pl.RemovePod(ctx, cs, pod, framework.MustPodInfo(h.Snap.Nodes[2].Pods[0].Pod), n3); !st.IsSuccess() {
			t.Fatalf("RemovePod: %v", st)
		}
		n1, _ := h.Snap.Get("n1")
		if st := pl.Filter(ctx, cs, pod, n1); st.Code() != framework.Unschedulable {
			t.Errorf("after RemovePod: got %v, want Unschedulable", st)
		}
	})

	t.Run("adding a matching pod to the emptier zone lets the pod into the fuller one", func(t *testing.T) {
		h := newHandle(t, zoneAB, existing)
		pl := newPlugin(t, h, "")
		cs := framework.NewCycleState()
		plugintest.FilterAll(t, pl, cs, h, pod)
		n4, _ := h.Snap.Get("n4")
		added := plugintest.MakePod("added").Label("foo", "").Node("n4").Obj()
		if st := pl.AddPod(ctx, cs, pod, framework.MustPodInfo(added), n4); !st.IsSuccess() {
			t.Fatalf("AddPod: %v", st)
		}
		n2, _ := h.Snap.Get("n2")
		if st := pl.Filter(ctx, cs, pod, n2); !st.IsSuccess() {
			t.Errorf("after AddPod: got %v, want success", st)
		}
	})

	t.Run("adding a pod of another namespace changes nothing", func(t *testing.T) {
		h := newHandle(t, zoneAB, existing)
		pl := newPlugin(t, h, "")
		cs := framework.NewCycleState()
		plugintest.FilterAll(t, pl, cs, h, pod)
		n4, _ := h.Snap.Get("n4")
		added := plugintest.MakePod("added").Namespace("other").Label("foo", "").Node("n4").Obj()
		if st := pl.AddPod(ctx, cs, pod, framework.MustPodInfo(added), n4); !st.IsSuccess() {
			t.Fatalf("AddPod: %v", st)
		}
		n2, _ := h.Snap.Get("n2")
		if st := pl.Filter(ctx, cs, pod, n2); st.Code() != framework.Unschedulable {
			t.Errorf("after AddPod: got %v, want Unschedulable", st)
		}
	})
}
