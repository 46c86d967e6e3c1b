// Package bench measures the scheduler's throughput and latency against
// an in-process API server on embedded etcd, with fake Node objects and
// no kubelet:
//
//	go test ./scheduler/bench -run - -bench . -benchtime 1x
//	SKIFF_BENCH_NODES=1000 SKIFF_BENCH_PODS=10000 go test ./scheduler/bench -run - -bench Basic -benchtime 1x
//	SKIFF_BENCH_HEAPPROFILE=heap.out go test ./scheduler/bench -run - -bench Basic -benchtime 1x
//
// Each workload reports pods/s from the first create until a watch has
// seen every pod bound, per-pod create→bound p50/p99, and the process
// heap growth while it ran (the API server and etcd share the process,
// so it bounds the scheduler's memory from above).
//
// BenchmarkSchedulerProcess runs the basic workload against the real
// `skiff scheduler` binary as a subprocess (built once, static, as the
// Makefile does) and reports the scheduler's own resident memory and CPU
// time (see process_test.go).
package bench

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/skiffk8s/skiff/apiserver/apitest"
	"github.com/skiffk8s/skiff/scheduler"
	"github.com/skiffk8s/skiff/scheduler/plugins"
)

const zoneKey = "topology.kubernetes.io/zone"

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func BenchmarkBasic(b *testing.B) { run(b, inProcess, func(int, *corev1.Pod) {}) }

func BenchmarkNodeAffinity(b *testing.B) {
	run(b, inProcess, func(_ int, p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: zoneKey, Operator: corev1.NodeSelectorOpIn, Values: []string{"zone-0", "zone-1"}}},
			}}},
		}}
	})
}

func BenchmarkTopologySpread(b *testing.B) {
	run(b, inProcess, func(_ int, p *corev1.Pod) {
		p.Labels = map[string]string{"app": "spread"}
		p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: zoneKey, WhenUnsatisfiable: corev1.DoNotSchedule,
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "spread"}},
		}}
	})
}

// BenchmarkPodAntiAffinity: pods of one group never share a node; there
// are enough groups for every pod to fit.
func BenchmarkPodAntiAffinity(b *testing.B) {
	nodes, pods := sizes()
	groups := 2 * ((pods + nodes - 1) / nodes)
	run(b, inProcess, func(i int, p *corev1.Pod) {
		g := fmt.Sprint("g", i%groups)
		p.Labels = map[string]string{"group": g}
		p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				TopologyKey:   corev1.LabelHostname,
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"group": g}},
			}},
		}}
	})
}

func sizes() (nodes, pods int) {
	return envInt("SKIFF_BENCH_NODES", 100), envInt("SKIFF_BENCH_PODS", 1000)
}

func benchNode(i int) *corev1.Node {
	name := fmt.Sprintf("node-%04d", i)
	alloc := corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("32Gi"),
		corev1.ResourcePods: resource.MustParse("110"),
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			corev1.LabelHostname: name, zoneKey: fmt.Sprint("zone-", i%3),
		}},
		Status: corev1.NodeStatus{
			Capacity: alloc, Allocatable: alloc,
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
		},
	}
}

func benchPod(i int) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%05d", i), Namespace: "default"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "c", Image: "busybox",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi"),
			}},
		}}},
	}
}

// parallel runs do(i) for i in [0, n) on workers goroutines.
func parallel(n, workers int, do func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				do(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// starter starts a scheduler against srv; stop stops it after reporting
// its own metrics.
type starter func(ctx context.Context, b *testing.B, srv *apitest.Server) (stop func())

// inProcess runs the scheduler in the benchmark's process (beside the
// API server and etcd) and reports the process heap growth while it ran.
func inProcess(ctx context.Context, b *testing.B, srv *apitest.Server) func() {
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	ctx, cancel := context.WithCancel(ctx)
	s, err := scheduler.New(ctx, scheduler.Config{Client: srv.Client, Registry: plugins.NewInTreeRegistry(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(ctx) }()
	return func() {
		if path := os.Getenv("SKIFF_BENCH_HEAPPROFILE"); path != "" {
			writeHeapProfile(b, path)
		}
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/(1<<20), "heap_growth_MiB")
		cancel()
		<-done
	}
}

// writeHeapProfile writes the heap profile (after a GC) to path: with
// SKIFF_BENCH_HEAPPROFILE set, the in-process workloads write one once
// every pod is bound.
func writeHeapProfile(b *testing.B, path string) {
	runtime.GC()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		b.Fatal(err)
	}
}

func run(b *testing.B, start starter, shape func(i int, p *corev1.Pod)) {
	numNodes, numPods := sizes()
	for range b.N {
		b.StopTimer()
		srv := apitest.Start(b)
		ctx, cancel := context.WithCancel(context.Background())
		client := srv.Client
		parallel(numNodes, 16, func(i int) {
			if _, err := client.CoreV1().Nodes().Create(ctx, benchNode(i), metav1.CreateOptions{}); err != nil {
				b.Fatal(err)
			}
		})
		w, err := client.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{})
		if err != nil {
			b.Fatal(err)
		}
		stop := start(ctx, b, srv)

		created := make([]time.Time, numPods)
		bound := map[string]time.Time{}
		allBound := make(chan struct{})
		go func() {
			for ev := range w.ResultChan() {
				if ev.Type != watch.Modified && ev.Type != watch.Added {
					continue
				}
				p := ev.Object.(*corev1.Pod)
				if _, seen := bound[p.Name]; p.Spec.NodeName != "" && !seen {
					bound[p.Name] = time.Now()
					if len(bound) == numPods {
						close(allBound)
						return
					}
				}
			}
		}()
		b.StartTimer()
		begin := time.Now()
		parallel(numPods, 32, func(i int) {
			p := benchPod(i)
			shape(i, p)
			created[i] = time.Now()
			if _, err := client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
				b.Error(err)
			}
		})
		createdAll := time.Since(begin)
		select {
		case <-allBound:
		case <-time.After(10 * time.Minute):
			b.Fatalf("only %d of %d pods bound", len(bound), numPods)
		}
		elapsed := time.Since(begin)
		b.StopTimer()
		lat := make([]time.Duration, 0, numPods)
		for i := range numPods {
			lat = append(lat, bound[fmt.Sprintf("pod-%05d", i)].Sub(created[i]))
		}
		slices.Sort(lat)
		b.ReportMetric(float64(numPods)/elapsed.Seconds(), "pods/s")
		// How fast the API server took the pods: a ceiling on pods/s.
		b.ReportMetric(float64(numPods)/createdAll.Seconds(), "created_pods/s")
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
		b.ReportMetric(0, "ns/op")
		stop()
		cancel()
		w.Stop()
	}
}
