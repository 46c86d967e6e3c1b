package defaultpreemption

import (
	"context"
	"strings"
	"testing"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/skiffk8s/skiff/scheduler/framework"
)

func TestNewArgs(t *testing.T) {
	cases := []struct {
		name                 string
		args                 string
		wantPercent, wantAbs int32
		wantErr              string
	}{
		{name: "no args mean upstream's defaults", wantPercent: 10, wantAbs: 100},
		{name: "given fields override the defaults", args: `{"minCandidateNodesPercentage":50,"minCandidateNodesAbsolute":3}`, wantPercent: 50, wantAbs: 3},
		{name: "apiVersion and kind are accepted", args: `{"apiVersion":"kubescheduler.config.k8s.io/v1","kind":"DefaultPreemptionArgs","minCandidateNodesAbsolute":0}`, wantPercent: 10, wantAbs: 0},
		{name: "an unknown field is an error naming it", args: `{"minCandidateNodes":5}`, wantErr: `unknown field "minCandidateNodes"`},
		{name: "a field in the wrong case is an error", args: `{"MinCandidateNodesAbsolute":5}`, wantErr: `unknown field "MinCandidateNodesAbsolute"`},
		{name: "another kind is an error", args: `{"kind":"InterPodAffinityArgs"}`, wantErr: `kind "InterPodAffinityArgs"`},
		{name: "a percentage above 100 is invalid", args: `{"minCandidateNodesPercentage":101}`,
			wantErr: "minCandidateNodesPercentage: Invalid value: 101: not in valid range [0, 100]"},
		{name: "a negative absolute minimum is invalid", args: `{"minCandidateNodesAbsolute":-1}`,
			wantErr: "minCandidateNodesAbsolute: Invalid value: -1: not in valid range [0, inf)"},
		{name: "both minimums zero is invalid", args: `{"minCandidateNodesPercentage":0,"minCandidateNodesAbsolute":0}`,
			wantErr: "minCandidateNodesPercentage: Invalid value: 0: cannot be zero at the same time as minCandidateNodesAbsolute"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset()
			h := &fakeHandle{snapshot: framework.NewSnapshot(nil, nil), client: client, informers: informers.NewSharedInformerFactory(client, 0)}
			var args []byte
			if tc.args != "" {
				args = []byte(tc.args)
			}
			p, err := New(context.Background(), args, h)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), Name+" args: ") {
					t.Fatalf("got error %v, want one with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			pl := p.(*DefaultPreemption)
			if pl.Name() != "DefaultPreemption" || pl.minPercentage != tc.wantPercent || pl.minAbsolute != tc.wantAbs {
				t.Fatalf("got %s %d%% min %d, want %d%% min %d", pl.Name(), pl.minPercentage, pl.minAbsolute, tc.wantPercent, tc.wantAbs)
			}
		})
	}
}

func TestNumCandidates(t *testing.T) {
	cases := []struct {
		name                      string
		percent, abs, nodes, want int32
	}{
		{"a small cluster is tried in full", 10, 100, 50, 50},
		{"the absolute minimum applies when the percentage is fewer", 10, 100, 500, 100},
		{"the percentage applies when it is more", 10, 100, 5000, 500},
		{"a zero absolute minimum leaves the percentage", 40, 0, 10, 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pl := &DefaultPreemption{minPercentage: tc.percent, minAbsolute: tc.abs}
			if got := pl.numCandidates(tc.nodes); got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
		})
	}
}
