package podtopologyspread

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
		name       string
		args       string
		wantErr    string
		wantSystem bool
		wantCount  int
	}{
		{name: "no args mean the system defaults", wantSystem: true, wantCount: 2},
		{name: "System defaulting needs no constraints", args: `{"defaultingType": "System"}`, wantSystem: true, wantCount: 2},
		{name: "List defaulting without constraints has none", args: `{"defaultingType": "List"}`},
		{
			name:      "List defaulting takes the given constraints",
			args:      `{"apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "PodTopologySpreadArgs", "defaultingType": "List", "defaultConstraints": [{"maxSkew": 2, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}]}`,
			wantCount: 1,
		},
		{
			name:    "constraints with System defaulting are rejected",
			args:    `{"defaultConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}]}`,
			wantErr: `defaultingType: Invalid value: "System": when .defaultConstraints are not empty`,
		},
		{name: "an unknown defaultingType is rejected", args: `{"defaultingType": "Sometimes"}`, wantErr: `defaultingType: Unsupported value: "Sometimes"`},
		{
			name:    "maxSkew must be positive",
			args:    `{"defaultingType": "List", "defaultConstraints": [{"maxSkew": 0, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}]}`,
			wantErr: "defaultConstraints[0].maxSkew: Invalid value: 0: not in valid range (0, inf)",
		},
		{
			name:    "topologyKey is required",
			args:    `{"defaultingType": "List", "defaultConstraints": [{"maxSkew": 1, "whenUnsatisfiable": "DoNotSchedule"}]}`,
			wantErr: "defaultConstraints[0].topologyKey: Required value: can not be empty",
		},
		{
			name:    "topologyKey must be a label name",
			args:    `{"defaultingType": "List", "defaultConstraints": [{"maxSkew": 1, "topologyKey": "no spaces", "whenUnsatisfiable": "DoNotSchedule"}]}`,
			wantErr: `defaultConstraints[0].topologyKey: Invalid value: "no spaces"`,
		},
		{
			name:    "whenUnsatisfiable must be known",
			args:    `{"defaultingType": "List", "defaultConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "Maybe"}]}`,
			wantErr: `defaultConstraints[0].whenUnsatisfiable: Unsupported value: "Maybe"`,
		},
		{
			name:    "default constraints may not have a labelSelector",
			args:    `{"defaultingType": "List", "defaultConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {}}]}`,
			wantErr: "defaultConstraints[0].labelSelector: Forbidden: constraint must not define a selector, as they deduced for each pod",
		},
		{
			name: "two constraints on the same key and action are rejected",
			args: `{"defaultingType": "List", "defaultConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"},` +
				`{"maxSkew": 2, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}]}`,
			wantErr: `defaultConstraints[1]: Duplicate value: "{zone, DoNotSchedule}"`,
		},
		{name: "an unknown field is rejected", args: `{"defaultingtype": "List"}`, wantErr: `unknown field "defaultingtype"`},
		{name: "a wrong kind is rejected", args: `{"kind": "InterPodAffinityArgs"}`, wantErr: `kind "InterPodAffinityArgs"`},
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
			pl := p.(*PodTopologySpread)
			if pl.systemDefaulted != tc.wantSystem || len(pl.defaultConstraints) != tc.wantCount {
				t.Errorf("got system %v with %d default constraints, want %v with %d", pl.systemDefaulted, len(pl.defaultConstraints), tc.wantSystem, tc.wantCount)
			}
			if (pl.services != nil) != (tc.wantCount > 0) {
				t.Errorf("listers set: %v, want %v", pl.services != nil, tc.wantCount > 0)
			}
		})
	}
}

func TestSystemDefaultConstraints(t *testing.T) {
	pl := newPlugin(t, newHandle(t, nil, nil), "")
	got := pl.defaultConstraints
	if len(got) != 2 ||
		got[0].TopologyKey != "kubernetes.io/hostname" || got[0].MaxSkew != 3 || got[0].WhenUnsatisfiable != "ScheduleAnyway" ||
		got[1].TopologyKey != "topology.kubernetes.io/zone" || got[1].MaxSkew != 5 || got[1].WhenUnsatisfiable != "ScheduleAnyway" {
		t.Errorf("got %+v", got)
	}
}

func TestEventsToRegister(t *testing.T) {
	pl := newPlugin(t, newHandle(t, nil, nil), "")
	want := []framework.ClusterEvent{
		{Resource: framework.PodResource, ActionType: framework.Add | framework.UpdatePodLabel | framework.Delete, Label: "PodChange"},
		{Resource: framework.NodeResource, ActionType: framework.Add | framework.Delete | framework.UpdateNodeLabel | framework.UpdateNodeTaint, Label: "NodeChange"},
	}
	if got := pl.EventsToRegister(); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}
