package interpodaffinity

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/skiffk8s/skiff/scheduler/framework"
	"github.com/skiffk8s/skiff/scheduler/plugins/plugintest"
)

func TestArgs(t *testing.T) {
	tests := []struct {
		name    string
		args    string
		wantErr string
		want    *InterPodAffinity
	}{
		{name: "no args mean hardPodAffinityWeight 1", want: &InterPodAffinity{hardPodAffinityWeight: 1}},
		{
			name: "both args are taken, with apiVersion and kind",
			args: `{"apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "InterPodAffinityArgs", "hardPodAffinityWeight": 0, "ignorePreferredTermsOfExistingPods": true}`,
			want: &InterPodAffinity{hardPodAffinityWeight: 0, ignorePreferredTermsOfExistingPods: true},
		},
		{name: "a weight above 100 is rejected naming the field", args: `{"hardPodAffinityWeight": 101}`,
			wantErr: "hardPodAffinityWeight: Invalid value: 101: not in valid range [0, 100]"},
		{name: "a negative weight is rejected", args: `{"hardPodAffinityWeight": -1}`,
			wantErr: "hardPodAffinityWeight: Invalid value: -1: not in valid range [0, 100]"},
		{name: "an unknown field is rejected", args: `{"hardPodAffinityWeigth": 2}`, wantErr: `unknown field "hardPodAffinityWeigth"`},
		{name: "a field in the wrong case is rejected", args: `{"HardPodAffinityWeight": 2}`, wantErr: `unknown field "HardPodAffinityWeight"`},
		{name: "a wrong kind is rejected", args: `{"kind": "PodTopologySpreadArgs"}`, wantErr: `kind "PodTopologySpreadArgs"`},
		{name: "a weight of the wrong type is rejected", args: `{"hardPodAffinityWeight": "high"}`, wantErr: "hardPodAffinityWeight"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHandle(t, nil, nil)
			p, err := New(context.Background(), plugintest.Args(tc.args), h)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), Name+" args: ") {
					t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			pl := p.(*InterPodAffinity)
			if pl.hardPodAffinityWeight != tc.want.hardPodAffinityWeight || pl.ignorePreferredTermsOfExistingPods != tc.want.ignorePreferredTermsOfExistingPods {
				t.Errorf("got weight %d ignore %v, want %d %v", pl.hardPodAffinityWeight, pl.ignorePreferredTermsOfExistingPods,
					tc.want.hardPodAffinityWeight, tc.want.ignorePreferredTermsOfExistingPods)
			}
			if pl.Name() != "InterPodAffinity" {
				t.Errorf("Name: %q", pl.Name())
			}
		})
	}
}

func TestEventsToRegister(t *testing.T) {
	pl := newPlugin(t, newHandle(t, nil, nil), "")
	want := []framework.ClusterEvent{
		{Resource: framework.PodResource, ActionType: framework.Add | framework.UpdatePodLabel | framework.Delete, Label: "PodChange"},
		{Resource: framework.NodeResource, ActionType: framework.Add | framework.UpdateNodeLabel, Label: "NodeAddOrLabelChange"},
	}
	if got := pl.EventsToRegister(); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	// A node taint change cannot help; a pod deletion can.
	if matchesAny(want, framework.ClusterEvent{Resource: framework.NodeResource, ActionType: framework.UpdateNodeTaint}) {
		t.Error("a node taint update should not requeue")
	}
	if !matchesAny(want, framework.ClusterEvent{Resource: framework.PodResource, ActionType: framework.Delete}) {
		t.Error("a pod deletion should requeue")
	}
}

func matchesAny(registered []framework.ClusterEvent, e framework.ClusterEvent) bool {
	for _, r := range registered {
		if r.Match(e) {
			return true
		}
	}
	return false
}
