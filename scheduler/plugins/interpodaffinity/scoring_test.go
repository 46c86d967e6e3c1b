package interpodaffinity

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiffk8s/skiff/scheduler/plugins/plugintest"
)

func preferred(weight int32, t corev1.PodAffinityTerm) corev1.WeightedPodAffinityTerm {
	return corev1.WeightedPodAffinityTerm{Weight: weight, PodAffinityTerm: t}
}

func preferAffinity(b *plugintest.PodBuilder, terms ...corev1.WeightedPodAffinityTerm) *plugintest.PodBuilder {
	if b.Obj().Spec.Affinity != nil && b.Obj().Spec.Affinity.PodAffinity != nil {
		pa := b.Obj().Spec.Affinity.PodAffinity
		pa.PreferredDuringSchedulingIgnoredDuringExecution = append(pa.PreferredDuringSchedulingIgnoredDuringExecution, terms...)
		return b
	}
	return b.PodAffinity(&corev1.PodAffinity{PreferredDuringSchedulingIgnoredDuringExecution: terms})
}

func preferAntiAffinity(b *plugintest.PodBuilder, terms ...corev1.WeightedPodAffinityTerm) *plugintest.PodBuilder {
	return b.PodAntiAffinity(&corev1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: terms})
}

// fourNodes: n1 and n2 in zone a, n3 and n4 in zone b.
func fourNodes() []*corev1.Node {
	return []*corev1.Node{node("n1", "a"), node("n2", "a"), node("n3", "b"), node("n4", "b")}
}

func TestScore(t *testing.T) {
	pod := plugintest.MakePod
	tests := []struct {
		name     string
		args     string
		nodes    []*corev1.Node
		pods     []*corev1.Pod
		pod      *corev1.Pod
		want     map[string]int64
		wantSkip bool
	}{
		{
			name:  "a preferred affinity to app=db favours the zone that runs app=db",
			nodes: threeNodes(),
			pods:  []*corev1.Pod{pod("db").Label("app", "db").Node("n1").Obj()},
			pod:   preferAffinity(pod("p"), preferred(5, term(zoneKey, "app", "db"))).Obj(),
			want:  map[string]int64{"n1": 100, "n2": 100, "n3": 0},
		},
		{
			name:  "a preferred anti-affinity to app=web avoids the zone that runs app=web",
			nodes: threeNodes(),
			pods:  []*corev1.Pod{pod("web").Label("app", "web").Node("n2").Obj()},
			pod:   preferAntiAffinity(pod("p"), preferred(5, term(zoneKey, "app", "web"))).Obj(),
			want:  map[string]int64{"n1": 0, "n2": 0, "n3": 100},
		},
		{
			name: "weights of affinity and anti-affinity terms add up per domain and scale between the lowest and highest node",
			pods: []*corev1.Pod{
				pod("db-1").Label("app", "db").Node("n1").Obj(),
				pod("db-2").Label("app", "db").Node("n2").Obj(),
				pod("cache-2").Label("app", "cache").Node("n2").Obj(),
				pod("db-3").Label("app", "db").Node("n3").Obj(),
				pod("cache-3").Label("app", "cache").Node("n3").Obj(),
			},
			// zone a: +16, zone b: +8; n2 and n3: -3 each.
			pod: preferAntiAffinity(preferAffinity(pod("p"), preferred(8, term(zoneKey, "app", "db"))),
				preferred(3, term(hostKey, "app", "cache"))).Obj(),
			want: map[string]int64{"n1": 100, "n2": 72, "n3": 0, "n4": 27},
		},
		{
			name:  "an existing pod's required affinity to the pod draws it with hardPodAffinityWeight",
			nodes: threeNodes(),
			pods:  []*corev1.Pod{affinity(pod("friend").Node("n1"), term(hostKey, "app", "web")).Obj()},
			pod:   pod("p").Label("app", "web").Obj(),
			want:  map[string]int64{"n1": 100, "n2": 0, "n3": 0},
		},
		{
			name:     "hardPodAffinityWeight 0 ignores existing pods' required affinity",
			args:     `{"hardPodAffinityWeight": 0}`,
			nodes:    threeNodes(),
			pods:     []*corev1.Pod{affinity(pod("friend").Node("n1"), term(hostKey, "app", "web")).Obj()},
			pod:      pod("p").Label("app", "web").Obj(),
			wantSkip: true,
		},
		{
			name:  "an existing pod's preferred anti-affinity to the pod pushes it out of that zone",
			nodes: threeNodes(),
			pods:  []*corev1.Pod{preferAntiAffinity(pod("shy").Node("n3"), preferred(10, term(zoneKey, "app", "web"))).Obj()},
			pod:   pod("p").Label("app", "web").Obj(),
			want:  map[string]int64{"n1": 100, "n2": 100, "n3": 0},
		},
		{
			name:  "an existing pod's preferred affinity to the pod pulls it into that zone",
			nodes: threeNodes(),
			pods:  []*corev1.Pod{preferAffinity(pod("friendly").Node("n3"), preferred(10, term(zoneKey, "app", "web"))).Obj()},
			pod:   pod("p").Label("app", "web").Obj(),
			want:  map[string]int64{"n1": 0, "n2": 0, "n3": 100},
		},
		{
			name:     "ignorePreferredTermsOfExistingPods skips scoring a pod without preferred terms",
			args:     `{"ignorePreferredTermsOfExistingPods": true}`,
			nodes:    threeNodes(),
			pods:     []*corev1.Pod{preferAffinity(pod("friendly").Node("n3"), preferred(10, term(zoneKey, "app", "web"))).Obj()},
			pod:      pod("p").Label("app", "web").Obj(),
			wantSkip: true,
		},
		{
			name:  "ignorePreferredTermsOfExistingPods still scores a pod with preferred terms",
			args:  `{"ignorePreferredTermsOfExistingPods": true}`,
			nodes: threeNodes(),
			pods:  []*corev1.Pod{pod("db").Label("app", "db").Node("n3").Obj()},
			pod:   preferAffinity(pod("p"), preferred(1, term(zoneKey, "app", "db"))).Obj(),
			want:  map[string]int64{"n1": 0, "n2": 0, "n3": 100},
		},
		{
			name:     "nothing links the pod to existing pods: scoring is skipped",
			nodes:    threeNodes(),
			pods:     []*corev1.Pod{pod("db").Label("app", "db").Node("n3").Obj()},
			pod:      pod("p").Label("app", "web").Obj(),
			wantSkip: true,
		},
		{
			name:     "a preferred term on a topology key no node has skips scoring",
			nodes:    threeNodes(),
			pods:     []*corev1.Pod{pod("db").Label("app", "db").Node("n3").Obj()},
			pod:      preferAffinity(pod("p"), preferred(1, term("rack", "app", "db"))).Obj(),
			wantSkip: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nodes := tc.nodes
			if nodes == nil {
				nodes = fourNodes()
			}
			h := newHandle(t, nodes, tc.pods)
			pl := newPlugin(t, h, tc.args)
			got, skipped := plugintest.ScoreAll(t, pl, tc.pod, h.Snap.Nodes)
			if skipped != tc.wantSkip {
				t.Fatalf("PreScore skipped: %v, want %v", skipped, tc.wantSkip)
			}
			if !tc.wantSkip && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("scores: got %v, want %v", got, tc.want)
			}
		})
	}
}
