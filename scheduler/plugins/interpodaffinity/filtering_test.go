package interpodaffinity

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiffk8s/skiff/scheduler/framework"
	"github.com/skiffk8s/skiff/scheduler/plugins/plugintest"
)

const (
	zoneKey = "topology.kubernetes.io/zone"
	hostKey = "kubernetes.io/hostname"
)

// node is a node in zone (no zone label for ""), labelled with its
// hostname.
func node(name, zone string) *corev1.Node {
	b := plugintest.MakeNode(name).Label(hostKey, name)
	if zone != "" {
		b.Label(zoneKey, zone)
	}
	return b.Obj()
}

// term is a pod affinity term selecting pods with the label pairs.
func term(topologyKey string, pairs ...string) corev1.PodAffinityTerm {
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{}}
	for i := 0; i+1 < len(pairs); i += 2 {
		sel.MatchLabels[pairs[i]] = pairs[i+1]
	}
	return corev1.PodAffinityTerm{LabelSelector: sel, TopologyKey: topologyKey}
}

func inNamespaces(t corev1.PodAffinityTerm, ns ...string) corev1.PodAffinityTerm {
	t.Namespaces = ns
	return t
}

// nsSelector sets a namespaceSelector matching the label pairs (empty:
// all namespaces).
func nsSelector(t corev1.PodAffinityTerm, pairs ...string) corev1.PodAffinityTerm {
	t.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{}}
	for i := 0; i+1 < len(pairs); i += 2 {
		t.NamespaceSelector.MatchLabels[pairs[i]] = pairs[i+1]
	}
	return t
}

func affinity(b *plugintest.PodBuilder, terms ...corev1.PodAffinityTerm) *plugintest.PodBuilder {
	return b.PodAffinity(&corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: terms})
}

func antiAffinity(b *plugintest.PodBuilder, terms ...corev1.PodAffinityTerm) *plugintest.PodBuilder {
	return b.PodAntiAffinity(&corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: terms})
}

var (
	fits       = (*framework.Status)(nil)
	noAffinity = framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonAffinityRulesNotMatch)
	noAnti     = framework.NewStatus(framework.Unschedulable, ErrReasonAntiAffinityRulesNotMatch)
	noExisting = framework.NewStatus(framework.Unschedulable, ErrReasonExistingAntiAffinityRulesNotMatch)
)

// threeNodes: n1 and n2 in zone a, n3 in zone b.
func threeNodes() []*corev1.Node {
	return []*corev1.Node{node("n1", "a"), node("n2", "a"), node("n3", "b")}
}

func TestFilter(t *testing.T) {
	pod := plugintest.MakePod
	tests := []struct {
		name  string
		nodes []*corev1.Node
		pods  []*corev1.Pod
		objs  []runtime.Object
		pod   *corev1.Pod
		want  map[string]*framework.Status
	}{
		{
			name: "a pod without affinity fits every node",
			pods: []*corev1.Pod{antiAffinity(pod("other").Node("n1"), term(zoneKey, "app", "x")).Obj()},
			pod:  pod("p").Label("app", "web").Obj(),
			want: map[string]*framework.Status{"n1": fits, "n2": fits, "n3": fits},
		},
		{
			name: "a pod with affinity to app=db goes only to the zone that runs app=db",
			pods: []*corev1.Pod{pod("db").Label("app", "db").Node("n1").Obj()},
			pod:  affinity(pod("p"), term(zoneKey, "app", "db")).Obj(),
			want: map[string]*framework.Status{"n1": fits, "n2": fits, "n3": noAffinity},
		},
		{
			name:  "a pod with affinity does not go to a node without the topology key",
			nodes: []*corev1.Node{node("n1", "a"), node("n2", "")},
			pods:  []*corev1.Pod{pod("db").Label("app", "db").Node("n1").Obj()},
			pod:   affinity(pod("p"), term(zoneKey, "app", "db")).Obj(),
			want:  map[string]*framework.Status{"n1": fits, "n2": noAffinity},
		},
		{
			name: "a pod with two affinity terms needs one pod matching both",
			pods: []*corev1.Pod{
				pod("db").Label("app", "db").Node("n1").Obj(),
				pod("fast").Label("disk", "ssd").Node("n1").Obj(),
			},
			pod:  affinity(pod("p"), term(zoneKey, "app", "db"), term(hostKey, "disk", "ssd")).Obj(),
			want: map[string]*framework.Status{"n1": noAffinity, "n2": noAffinity, "n3": noAffinity},
		},
		{
			name:  "the first pod of a group whose affinity matches itself may go to any node with the key",
			nodes: []*corev1.Node{node("n1", "a"), node("n2", "b"), node("n3", "")},
			pod:   affinity(pod("p").Label("app", "web"), term(zoneKey, "app", "web")).Obj(),
			want:  map[string]*framework.Status{"n1": fits, "n2": fits, "n3": noAffinity},
		},
		{
			name: "a pod whose affinity does not match itself waits for a matching pod",
			pod:  affinity(pod("p").Label("app", "web"), term(zoneKey, "app", "db")).Obj(),
			want: map[string]*framework.Status{"n1": noAffinity, "n2": noAffinity, "n3": noAffinity},
		},
		{
			name: "a self-matching pod joins its group's zone once one member runs",
			pods: []*corev1.Pod{pod("web-1").Label("app", "web").Node("n3").Obj()},
			pod:  affinity(pod("p").Label("app", "web"), term(zoneKey, "app", "web")).Obj(),
			want: map[string]*framework.Status{"n1": noAffinity, "n2": noAffinity, "n3": fits},
		},
		{
			name: "a pod with anti-affinity to app=web does not go to a zone that already runs app=web",
			pods: []*corev1.Pod{pod("web").Label("app", "web").Node("n1").Obj()},
			pod:  antiAffinity(pod("p"), term(zoneKey, "app", "web")).Obj(),
			want: map[string]*framework.Status{"n1": noAnti, "n2": noAnti, "n3": fits},
		},
		{
			name: "an existing pod's anti-affinity to app=web keeps app=web pods out of its zone",
			pods: []*corev1.Pod{antiAffinity(pod("lonely").Node("n3"), term(zoneKey, "app", "web")).Obj()},
			pod:  pod("p").Label("app", "web").Obj(),
			want: map[string]*framework.Status{"n1": fits, "n2": fits, "n3": noExisting},
		},
		{
			name: "an existing pod's anti-affinity does not apply to pods in other namespaces",
			pods: []*corev1.Pod{antiAffinity(pod("lonely").Node("n3"), term(zoneKey, "app", "web")).Obj()},
			pod:  pod("p").Namespace("other").Label("app", "web").Obj(),
			want: map[string]*framework.Status{"n1": fits, "n2": fits, "n3": fits},
		},
		{
			name: "affinity is checked before anti-affinity",
			pods: []*corev1.Pod{pod("web").Label("app", "web").Node("n1").Obj()},
			pod:  antiAffinity(affinity(pod("p"), term(zoneKey, "app", "db")), term(zoneKey, "app", "web")).Obj(),
			want: map[string]*framework.Status{"n1": noAffinity, "n2": noAffinity, "n3": noAffinity},
		},
		{
			name: "a term naming namespaces matches pods in those namespaces only",
			pods: []*corev1.Pod{
				pod("db-other").Namespace("other").Label("app", "db").Node("n1").Obj(),
				pod("db-default").Label("app", "db").Node("n3").Obj(),
			},
			pod:  affinity(pod("p"), inNamespaces(term(zoneKey, "app", "db"), "other")).Obj(),
			want: map[string]*framework.Status{"n1": fits, "n2": fits, "n3": noAffinity},
		},
		{
			name: "a namespaceSelector matches pods in the namespaces with those labels",
			objs: []runtime.Object{namespace("team-a", "team", "a"), namespace("team-b", "team", "b")},
			pods: []*corev1.Pod{
				pod("db-a").Namespace("team-a").Label("app", "db").Node("n3").Obj(),
				pod("db-b").Namespace("team-b").Label("app", "db").Node("n1").Obj(),
			},
			pod:  affinity(pod("p"), nsSelector(term(zoneKey, "app", "db"), "team", "a")).Obj(),
			want: map[string]*framework.Status{"n1": noAffinity, "n2": noAffinity, "n3": fits},
		},
		{
			name: "a namespaceSelector adds to the namespaces a term names",
			objs: []runtime.Object{namespace("team-a", "team", "a"), namespace("team-b", "team", "b")},
			pods: []*corev1.Pod{
				pod("web-a").Namespace("team-a").Label("app", "web").Node("n3").Obj(),
				pod("web-b").Namespace("team-b").Label("app", "web").Node("n1").Obj(),
			},
			pod:  antiAffinity(pod("p"), nsSelector(inNamespaces(term(hostKey, "app", "web"), "team-b"), "team", "a")).Obj(),
			want: map[string]*framework.Status{"n1": noAnti, "n2": fits, "n3": noAnti},
		},
		{
			name: "an empty namespaceSelector matches pods in every namespace",
			objs: []runtime.Object{namespace("team-a", "team", "a")},
			pods: []*corev1.Pod{pod("web-a").Namespace("team-a").Label("app", "web").Node("n3").Obj()},
			pod:  antiAffinity(pod("p"), nsSelector(term(zoneKey, "app", "web"))).Obj(),
			want: map[string]*framework.Status{"n1": fits, "n2": fits, "n3": noAnti},
		},
		{
			name: "an existing pod's anti-affinity with a namespaceSelector keeps out pods of selected namespaces",
			objs: []runtime.Object{namespace("team-a", "team", "a")},
			pods: []*corev1.Pod{antiAffinity(pod("lonely").Node("n1"), nsSelector(term(hostKey, "app", "web"), "team", "a")).Obj()},
			pod:  pod("p").Namespace("team-a").Label("app", "web").Obj(),
			want: map[string]*framework.Status{"n1": noExisting, "n2": fits, "n3": fits},
		},
		{
			name: "an existing pod's anti-affinity with a namespaceSelector lets in pods of other namespaces",
			objs: []runtime.Object{namespace("team-a", "team", "a"), namespace("team-b", "team", "b")},
			pods: []*corev1.Pod{antiAffinity(pod("lonely").Node("n1"), nsSelector(term(hostKey, "app", "web"), "team", "a")).Obj()},
			pod:  pod("p").Namespace("team-b").Label("app", "web").Obj(),
			want: map[string]*framework.Status{"n1": fits, "n2": fits, "n3": fits},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nodes := tc.nodes
			if nodes == nil {
				nodes = threeNodes()
			}
			h := newHandle(t, nodes, tc.pods, tc.objs...)
			got := plugintest.FilterAll(t, newPlugin(t, h, ""), framework.NewCycleState(), h, tc.pod)
			plugintest.AssertStatuses(t, got, tc.want)
		})
	}
}

func TestPreFilterExtensions(t *testing.T) {
	ctx := context.Background()
	web := plugintest.MakePod("web").Label("app", "web").Node("n1").Obj()
	db := plugintest.MakePod("db").Label("app", "db").Node("n3").Obj()
	lonely := antiAffinity(plugintest.MakePod("lonely").Node("n2"), term(zoneKey, "app", "web")).Obj()

	t.Run("removing the app=web pod from its zone lets a pod with anti-affinity to app=web in", func(t *testing.T) {
		h := newHandle(t, threeNodes(), []*corev1.Pod{web})
		pl := newPlugin(t, h, "")
		pod := antiAffinity(plugintest.MakePod("p"), term(zoneKey, "app", "web")).Obj()
		cs := framework.NewCycleState()
		plugintest.AssertStatuses(t, plugintest.FilterAll(t, pl, cs, h, pod), map[string]*framework.Status{"n2": noAnti})

		sim := cs.Clone()
		n1, _ := h.Snap.Get("n1")
		if st := pl.RemovePod(ctx, sim, pod, framework.MustPodInfo(web), n1); !st.IsSuccess() {
			t.Fatalf("RemovePod: %v", st)
		}
		n2, _ := h.Snap.Get("n2")
		if st := pl.Filter(ctx, sim, pod, n2); !st.IsSuccess() {
			t.Errorf("after RemovePod: got %v, want success", st)
		}
		if st := pl.Filter(ctx, cs, pod, n2); st.Code() != framework.Unschedulable {
			t.Errorf("the cloned state changed the original: got %v", st)
		}
		if st := pl.AddPod(ctx, sim, pod, framework.MustPodInfo(web), n1); !st.IsSuccess() {
			t.Fatalf("AddPod: %v", st)
		}
		if st := pl.Filter(ctx, sim, pod, n2); st.Code() != framework.Unschedulable {
			t.Errorf("after adding it back: got %v, want Unschedulable", st)
		}
	})

	t.Run("adding an app=db pod to a zone satisfies a pod's affinity to app=db there", func(t *testing.T) {
		h := newHandle(t, threeNodes(), []*corev1.Pod{db})
		pl := newPlugin(t, h, "")
		pod := affinity(plugintest.MakePod("p"), term(zoneKey, "app", "db")).Obj()
		cs := framework.NewCycleState()
		plugintest.AssertStatuses(t, plugintest.FilterAll(t, pl, cs, h, pod), map[string]*framework.Status{"n1": noAffinity, "n3": fits})
		n1, _ := h.Snap.Get("n1")
		db2 := plugintest.MakePod("db2").Label("app", "db").Node("n1").Obj()
		if st := pl.AddPod(ctx, cs, pod, framework.MustPodInfo(db2), n1); !st.IsSuccess() {
			t.Fatalf("AddPod: %v", st)
		}
		if st := pl.Filter(ctx, cs, pod, n1); !st.IsSuccess() {
			t.Errorf("after AddPod: got %v, want success", st)
		}
	})

	t.Run("removing an existing pod with anti-affinity to the pod lets it into that zone", func(t *testing.T) {
		h := newHandle(t, threeNodes(), []*corev1.Pod{lonely})
		pl := newPlugin(t, h, "")
		pod := plugintest.MakePod("p").Label("app", "web").Obj()
		cs := framework.NewCycleState()
		plugintest.AssertStatuses(t, plugintest.FilterAll(t, pl, cs, h, pod), map[string]*framework.Status{"n1": noExisting, "n3": fits})
		n2, _ := h.Snap.Get("n2")
		if st := pl.RemovePod(ctx, cs, pod, framework.MustPodInfo(lonely), n2); !st.IsSuccess() {
			t.Fatalf("RemovePod: %v", st)
		}
		n1, _ := h.Snap.Get("n1")
		if st := pl.Filter(ctx, cs, pod, n1); !st.IsSuccess() {
			t.Errorf("after RemovePod: got %v, want success", st)
		}
	})

	t.Run("a skipped PreFilter makes AddPod and RemovePod no-ops", func(t *testing.T) {
		h := newHandle(t, threeNodes(), nil)
		pl := newPlugin(t, h, "")
		pod := plugintest.MakePod("p").Obj()
		cs := framework.NewCycleState()
		if _, st := pl.PreFilter(ctx, cs, pod, h.Snap.Nodes); !st.IsSkip() {
			t.Fatalf("PreFilter: got %v, want Skip", st)
		}
		cs.SkipFilterPlugins[Name] = true
		n1, _ := h.Snap.Get("n1")
		if st := pl.AddPod(ctx, cs, pod, framework.MustPodInfo(lonely), n1); !st.IsSuccess() {
			t.Errorf("AddPod: %v", st)
		}
	})
}

func TestFilterWithoutPreFilterIsAnError(t *testing.T) {
	h := newHandle(t, threeNodes(), nil)
	pl := newPlugin(t, h, "")
	n1, _ := h.Snap.Get("n1")
	if st := pl.Filter(context.Background(), framework.NewCycleState(), plugintest.MakePod("p").Obj(), n1); st.Code() != framework.Error {
		t.Errorf("got %v, want Error", st)
	}
}
