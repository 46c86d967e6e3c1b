package imagelocality

import (
	"context"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/events"

	"github.com/skiffk8s/skiff/scheduler/framework"
	pt "github.com/skiffk8s/skiff/scheduler/plugins/plugintest"
)

// handle is a framework.Handle that only has a snapshot.
type handle struct {
	framework.PluginsRunner
	snap *framework.Snapshot
}

func (h handle) SnapshotSharedLister() framework.SharedLister         { return h.snap }
func (handle) ClientSet() kubernetes.Interface                        { return nil }
func (handle) SharedInformerFactory() informers.SharedInformerFactory { return nil }
func (handle) EventRecorder() events.EventRecorder                    { return nil }
func (handle) Parallelizer() framework.Parallelizer                   { return nil }

// snapshot builds NodeInfos of nodes whose ImageStates count on how many
// of the nodes each image name is, as the scheduler's cache does.
func snapshot(nodes ...*corev1.Node) *framework.Snapshot {
	count := map[string]int{}
	for _, n := range nodes {
		for _, img := range n.Status.Images {
			for _, name := range img.Names {
				count[name]++
			}
		}
	}
	var infos []*framework.NodeInfo
	for _, n := range nodes {
		ni := pt.NodeInfo(n)
		for name, st := range ni.ImageStates {
			st.NumNodes = count[name]
		}
		infos = append(infos, ni)
	}
	return framework.NewSnapshotFromInfos(infos)
}

func TestScore(t *testing.T) {
	const mib = 1024 * 1024
	tests := []struct {
		name  string
		pod   *corev1.Pod
		nodes []*corev1.Node
		want  []int64
	}{
		{"a node with the pod's big image scores higher than one without",
			pt.MakePod("p").Container("gcr.io/250:latest").Obj(),
			[]*corev1.Node{
				pt.MakeNode("n1").Image(250*mib, "gcr.io/250:latest").Obj(),
				pt.MakeNode("n2").Obj(),
			},
			// 250 MiB × 1/2 spread = 125 MiB: 100 × (125 − 23) / (1000 − 23) = 10.
			[]int64{10, 0}},
		{"an image on every node scores at full size",
			pt.MakePod("p").Container("gcr.io/250:latest").Obj(),
			[]*corev1.Node{
				pt.MakeNode("n1").Image(250*mib, "gcr.io/250:latest").Obj(),
				pt.MakeNode("n2").Image(250*mib, "gcr.io/250:latest").Obj(),
			},
			// 100 × (250 − 23) / 977 = 23.
			[]int64{23, 23}},
		{"images smaller than 23 MiB score 0",
			pt.MakePod("p").Container("gcr.io/10:v1").Obj(),
			[]*corev1.Node{pt.MakeNode("n1").Image(10*mib, "gcr.io/10:v1").Obj()},
			[]int64{0}},
		{"images beyond 1000 MiB per container score 100",
			pt.MakePod("p").Container("gcr.io/2000:v1").Obj(),
			[]*corev1.Node{pt.MakeNode("n1").Image(2000*mib, "gcr.io/2000:v1").Obj()},
			[]int64{100}},
		{"the threshold grows with the number of containers, init containers included",
			pt.MakePod("p").InitImage("gcr.io/2000:v1").Container("gcr.io/other:v1").Obj(),
			[]*corev1.Node{pt.MakeNode("n1").Image(2000*mib, "gcr.io/2000:v1").Obj()},
			// 100 × (2000 − 23) / (2000 − 23) = 100; one of two containers but the size fills both.
			[]int64{100}},
		{"a short image name matches the runtime's fully qualified name",
			pt.MakePod("p").Container("busybox").Obj(),
			[]*corev1.Node{pt.MakeNode("n1").Image(500*mib, "docker.io/library/busybox:latest").Obj()},
			// 100 × (500 − 23) / 977 = 48.
			[]int64{48}},
		{"an untagged name matches the name with :latest",
			pt.MakePod("p").Container("registry.local/app").Obj(),
			[]*corev1.Node{pt.MakeNode("n1").Image(500*mib, "registry.local/app:latest").Obj()},
			[]int64{48}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap := snapshot(tt.nodes...)
			p, _ := New(context.Background(), nil, handle{snap: snap})
			pl := p.(*ImageLocality)
			// With PreScore (as the default profile runs it) and without
			// (the plugin enabled at score only).
			for _, preScore := range []bool{true, false} {
				state := framework.NewCycleState()
				if preScore {
					if st := pl.PreScore(context.Background(), state, tt.pod, snap.Nodes); !st.IsSuccess() {
						t.Fatalf("PreScore = %v", st)
					}
				}
				var got []int64
				for _, ni := range snap.Nodes {
					s, st := pl.Score(context.Background(), state, tt.pod, ni)
					if !st.IsSuccess() {
						t.Fatalf("Score = %v", st)
					}
					got = append(got, s)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("preScore=%v: scores = %v, want %v", preScore, got, tt.want)
				}
			}
		})
	}
}

func TestNormalizedImageName(t *testing.T) {
	for in, want := range map[string]string{
		"busybox":                    "docker.io/library/busybox:latest",
		"busybox:1.36":               "docker.io/library/busybox:1.36",
		"nginx/nginx":                "docker.io/nginx/nginx:latest",
		"registry.k8s.io/pause:3.10": "registry.k8s.io/pause:3.10",
		"localhost:5000/app":         "localhost:5000/app:latest",
		"Not A Valid Reference!":     "Not A Valid Reference!",
	} {
		if got := NormalizedImageName(in); got != want {
			t.Errorf("NormalizedImageName(%q) = %q, want %q", in, got, want)
		}
	}
}
