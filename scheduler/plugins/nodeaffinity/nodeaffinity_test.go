package nodeaffinity

import (
	"context"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/skiffk8s/skiff/scheduler/framework"
	pt "github.com/skiffk8s/skiff/scheduler/plugins/plugintest"
)

// required is a required node affinity with one term per slice of
// expressions.
func required(terms ...[]corev1.NodeSelectorRequirement) *corev1.NodeAffinity {
	ns := &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{}}
	for _, exprs := range terms {
		ns.NodeSelectorTerms = append(ns.NodeSelectorTerms, corev1.NodeSelectorTerm{MatchExpressions: exprs})
	}
	return &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: ns}
}

// nameTerm is a term with metadata.name In names.
func nameTerm(names ...string) corev1.NodeSelectorTerm {
	return corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{pt.Expr("metadata.name", corev1.NodeSelectorOpIn, names...)}}
}

func exprs(rs ...corev1.NodeSelectorRequirement) []corev1.NodeSelectorRequirement { return rs }

func mustNew(t *testing.T, args string) *NodeAffinity {
	t.Helper()
	var b []byte
	if args != "" {
		b = []byte(args)
	}
	p, err := New(context.Background(), b, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p.(*NodeAffinity)
}

func TestFilter(t *testing.T) {
	const (
		in, notIn, ex, dne, gt, lt = corev1.NodeSelectorOpIn, corev1.NodeSelectorOpNotIn, corev1.NodeSelectorOpExists,
			corev1.NodeSelectorOpDoesNotExist, corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt
	)
	mismatch := framework.NewStatus(framework.UnschedulableAndUnresolvable, "node(s) didn't match Pod's node affinity/selector")
	enforced := framework.NewStatus(framework.UnschedulableAndUnresolvable, "node(s) didn't match scheduler-enforced node affinity")
	node := pt.MakeNode("n1").Label("zone", "a").Label("disk", "ssd").Label("cores", "8").Obj()
	tests := []struct {
		name string
		args string
		pod  *corev1.Pod
		want *framework.Status
	}{
		{"a pod with no selector fits", "", pt.MakePod("p").Obj(), nil},
		{"a pod whose nodeSelector matches fits", "", pt.MakePod("p").NodeSelector("zone", "a").Obj(), nil},
		{"a pod whose nodeSelector names another value does not fit", "", pt.MakePod("p").NodeSelector("zone", "b").Obj(), mismatch},
		{"every nodeSelector entry must match", "", pt.MakePod("p").NodeSelector("zone", "a").NodeSelector("disk", "hdd").Obj(), mismatch},
		{"In matches one of the values", "", pt.MakePod("p").NodeAffinity(required(exprs(pt.Expr("zone", in, "b", "a")))).Obj(), nil},
		{"In does not match other values", "", pt.MakePod("p").NodeAffinity(required(exprs(pt.Expr("zone", in, "b", "c")))).Obj(), mismatch},
		{"NotIn excludes the values", "", pt.MakePod("p").NodeAffinity(required(exprs(pt.Expr("zone", notIn, "a")))).Obj(), mismatch},
		{"NotIn matches a node without the label", "", pt.MakePod("p").NodeAffinity(required(exprs(pt.Expr("gpu", notIn, "a")))).Obj(), nil},
		{"Exists matches a node with the label", "", pt.MakePod("p").NodeAffinity(required(exprs(pt.Expr("disk", ex)))).Obj(), nil},
		{"DoesNotExist rejects a node with the label", "", pt.MakePod("p").NodeAffinity(required(exprs(pt.Expr("disk", dne)))).Obj(), mismatch},
		{"Gt compares as integers", "", pt.MakePod("p").NodeAffinity(required(exprs(pt.Expr("cores", gt, "4")))).Obj(), nil},
		{"Gt is strict", "", pt.MakePod("p").NodeAffinity(required(exprs(pt.Expr("cores", gt, "8")))).Obj(), mismatch},
		{"Lt compares as integers", "", pt.MakePod("p").NodeAffinity(required(exprs(pt.Expr("cores", lt, "16")))).Obj(), nil},
		{"Gt with a value that is not an integer matches nothing", "", pt.MakePod("p").NodeAffinity(required(exprs(pt.Expr("cores", gt, "x")))).Obj(), mismatch},
		{"expressions in a term are ANDed", "",
			pt.MakePod("p").NodeAffinity(required(exprs(pt.Expr("zone", in, "a"), pt.Expr("disk", in, "hdd")))).Obj(), mismatch},
		{"terms are ORed", "",
			pt.MakePod("p").NodeAffinity(required(exprs(pt.Expr("zone", in, "b")), exprs(pt.Expr("disk", in, "ssd")))).Obj(), nil},
		{"an empty list of terms matches no node", "", pt.MakePod("p").NodeAffinity(required()).Obj(), mismatch},
		{"nodeSelector and required affinity must both match", "",
			pt.MakePod("p").NodeSelector("zone", "b").NodeAffinity(required(exprs(pt.Expr("disk", in, "ssd")))).Obj(), mismatch},
		{"matchFields on metadata.name matches the node's name", "",
			pt.MakePod("p").NodeAffinity(&corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{nameTerm("n1")}}}).Obj(), nil},
		{"matchFields on metadata.name rejects other nodes", "",
			pt.MakePod("p").NodeAffinity(&corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{nameTerm("n2")}}}).Obj(), mismatch},
		{"matchFields with two values in one requirement matches no node, as upstream", "",
			pt.MakePod("p").NodeAffinity(&corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{nameTerm("n1", "n2")}}}).Obj(), mismatch},
		{"a node outside addedAffinity does not fit, whatever the pod asks",
			`{"addedAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"zone","operator":"In","values":["b"]}]}]}}}`,
			pt.MakePod("p").Obj(), enforced},
		{"a node inside addedAffinity fits a pod with no selector",
			`{"addedAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"zone","operator":"In","values":["a"]}]}]}}}`,
			pt.MakePod("p").Obj(), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl := mustNew(t, tt.args)
			state := framework.NewCycleState()
			_, st := pl.PreFilter(context.Background(), state, tt.pod, nil)
			if !st.IsSuccess() && !st.IsSkip() {
				t.Fatalf("PreFilter = %v", st)
			}
			var got *framework.Status
			if !st.IsSkip() {
				got = pl.Filter(context.Background(), state, tt.pod, pt.NodeInfo(node))
			}
			if !pt.SameStatus(got, tt.want) {
				t.Errorf("Filter = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPreFilter(t *testing.T) {
	withTerms := func(terms ...corev1.NodeSelectorTerm) *corev1.Pod {
		return pt.MakePod("p").NodeAffinity(&corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms}}).Obj()
	}
	both := nameTerm("n1", "n2")
	both.MatchFields = append(both.MatchFields, pt.Expr("metadata.name", corev1.NodeSelectorOpIn, "n2", "n3"))
	tests := []struct {
		name       string
		pod        *corev1.Pod
		wantResult *framework.PreFilterResult
		wantStatus *framework.Status
	}{
		{"a pod without node constraints skips the filter", pt.MakePod("p").Obj(), nil, framework.NewStatus(framework.Skip)},
		{"a pod with only a nodeSelector considers every node", pt.MakePod("p").NodeSelector("zone", "a").Obj(), nil, nil},
		{"a term naming nodes narrows the cycle to them", withTerms(nameTerm("n1", "n2")),
			&framework.PreFilterResult{NodeNames: sets.New("n1", "n2")}, nil},
		{"terms naming nodes narrow the cycle to their union", withTerms(nameTerm("n1"), nameTerm("n3")),
			&framework.PreFilterResult{NodeNames: sets.New("n1", "n3")}, nil},
		{"name requirements within a term are intersected", withTerms(both),
			&framework.PreFilterResult{NodeNames: sets.New("n2")}, nil},
		{"a term without a name requirement keeps every node",
			withTerms(nameTerm("n1"), corev1.NodeSelectorTerm{MatchExpressions: exprs(pt.Expr("zone", corev1.NodeSelectorOpExists))}), nil, nil},
		{"name requirements that cannot all hold reject the pod",
			withTerms(corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{
				pt.Expr("metadata.name", corev1.NodeSelectorOpIn, "n1"), pt.Expr("metadata.name", corev1.NodeSelectorOpIn, "n2")}}),
			nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, "pod affinity terms conflict")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, st := mustNew(t, "").PreFilter(context.Background(), framework.NewCycleState(), tt.pod, nil)
			if !pt.SameStatus(st, tt.wantStatus) {
				t.Errorf("PreFilter status = %v, want %v", st, tt.wantStatus)
			}
			if !reflect.DeepEqual(got, tt.wantResult) {
				t.Errorf("PreFilter result = %v, want %v", got, tt.wantResult)
			}
		})
	}
}

func TestScore(t *testing.T) {
	pref := func(weight int32, key string, values ...string) corev1.PreferredSchedulingTerm {
		return corev1.PreferredSchedulingTerm{Weight: weight, Preference: corev1.NodeSelectorTerm{
			MatchExpressions: exprs(pt.Expr(key, corev1.NodeSelectorOpIn, values...))}}
	}
	nodes := []*corev1.Node{
		pt.MakeNode("n1").Label("zone", "a").Obj(),
		pt.MakeNode("n2").Label("zone", "b").Label("disk", "ssd").Obj(),
		pt.MakeNode("n3").Label("zone", "c").Obj(),
	}
	tests := []struct {
		name     string
		args     string
		pod      *corev1.Pod
		wantSkip bool
		want     []int64
	}{
		{"a pod without preferences skips scoring", "", pt.MakePod("p").Obj(), true, nil},
		{"the best matching node gets 100 and the others their share",
			"", pt.MakePod("p").NodeAffinity(&corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{
				pref(2, "zone", "a"), pref(3, "zone", "b"), pref(5, "disk", "ssd")}}).Obj(), false, []int64{25, 100, 0}},
		{"nodes matching no preference all score 0",
			"", pt.MakePod("p").NodeAffinity(&corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{
				pref(2, "zone", "x")}}).Obj(), false, []int64{0, 0, 0}},
		{"addedAffinity's preferences add to the pod's",
			`{"addedAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":4,"preference":{"matchExpressions":[{"key":"zone","operator":"In","values":["c"]}]}}]}}`,
			pt.MakePod("p").NodeAffinity(&corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{
				pref(2, "zone", "a")}}).Obj(), false, []int64{50, 0, 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, pl, state := context.Background(), mustNew(t, tt.args), framework.NewCycleState()
			st := pl.PreScore(ctx, state, tt.pod, nil)
			if st.IsSkip() != tt.wantSkip || (!st.IsSkip() && !st.IsSuccess()) {
				t.Fatalf("PreScore = %v, want skip %v", st, tt.wantSkip)
			}
			if tt.wantSkip {
				return
			}
			var scores framework.NodeScoreList
			for _, n := range nodes {
				s, st := pl.Score(ctx, state, tt.pod, pt.NodeInfo(n))
				if !st.IsSuccess() {
					t.Fatalf("Score = %v", st)
				}
				scores = append(scores, framework.NodeScore{Name: n.Name, Score: s})
			}
			pl.NormalizeScore(ctx, state, tt.pod, scores)
			var got []int64
			for _, s := range scores {
				got = append(got, s.Score)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("scores = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestArgsErrorsNameTheField(t *testing.T) {
	tests := []struct {
		name, args, want string
	}{
		{"an unknown field is an error", `{"addedAffinty":{}}`, `unknown field "addedAffinty"`},
		{"an unknown nested field is an error", `{"addedAffinity":{"foo":1}}`, `unknown field "addedAffinity.foo"`},
		{"an invalid operator names its field",
			`{"addedAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"zone","operator":"Foo","values":["a"]}]}]}}}`,
			`addedAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator: Unsupported value: "Foo": supported values: "In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"`},
		{"an invalid preferred term names its field",
			`{"addedAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":1,"preference":{"matchFields":[{"key":"metadata.name","operator":"In","values":["a","b"]}]}}]}}`,
			`addedAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].matchFields[0].values: Invalid value: ["a","b"]: must have one element`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(context.Background(), []byte(tt.args), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestEventsToRegister(t *testing.T) {
	want := []framework.ClusterEvent{{Resource: framework.NodeResource, ActionType: framework.Add | framework.UpdateNodeLabel | framework.UpdateNodeTaint}}
	if got := mustNew(t, "").EventsToRegister(); !reflect.DeepEqual(got, want) {
		t.Errorf("EventsToRegister = %v, want %v", got, want)
	}
}
