package bench

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/skiffk8s/skiff/apiserver/apitest"
)

// clients is the number of concurrent clients of the throughput benchmarks.
const clients = 16

func configMap(name string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "bench"}},
		Data:       map[string]string{"key": "value", "other": "a small value of some bytes"},
	}
}

// latencies collects durations from many goroutines.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d ...time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d...)
	l.mu.Unlock()
}

// report adds p50 and p99 in milliseconds and a per-second rate of n ops.
func (l *latencies) report(b *testing.B, n int, elapsed time.Duration, unit string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return
	}
	sort.Slice(l.d, func(i, j int) bool { return l.d[i] < l.d[j] })
	pct := func(p float64) float64 {
		i := int(float64(len(l.d)-1) * p)
		return float64(l.d[i].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	if unit != "" && elapsed > 0 {
		b.ReportMetric(float64(n)/elapsed.Seconds(), unit)
	}
}

// runClients runs op for i = 1..n spread over 16 concurrent clients (client
// c calls op with its own index c) and returns the latencies and the
// wall time.
func runClients(b *testing.B, n int, op func(c int, i int64) error) (*latencies, time.Duration) {
	b.Helper()
	var next atomic.Int64
	lat := &latencies{}
	var wg sync.WaitGroup
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local []time.Duration
			for {
				i := next.Add(1)
				if i > int64(n) {
					break
				}
				t := time.Now()
				if err := op(c, i); err != nil {
					b.Error(err)
					break
				}
				local = append(local, time.Since(t))
			}
			lat.add(local...)
		}()
	}
	wg.Wait()
	return lat, time.Since(start)
}

// fill creates n ConfigMaps in ns with 16 clients.
func fill(b *testing.B, cs kubernetes.Interface, ns string, n int) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				if _, err := cs.CoreV1().ConfigMaps(ns).Create(context.Background(), configMap(fmt.Sprintf("cm-%05d", i)), metav1.CreateOptions{}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatalf("fill: %v", err)
	}
}

func newNamespace(b *testing.B, cs kubernetes.Interface, name string) {
	b.Helper()
	if _, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkCreate creates ConfigMaps with 16 concurrent clients.
func BenchmarkCreate(b *testing.B) {
	srv := apitest.Start(b)
	newNamespace(b, srv.Client, "bench")
	n := max(b.N, 4000)
	b.ResetTimer()
	lat, elapsed := runClients(b, n, func(_ int, i int64) error {
		_, err := srv.Client.CoreV1().ConfigMaps("bench").Create(context.Background(), configMap(fmt.Sprintf("cm-%06d", i)), metav1.CreateOptions{})
		return err
	})
	b.StopTimer()
	lat.report(b, n, elapsed, "creates/s")
}

// BenchmarkGet reads one ConfigMap with 16 concurrent clients.
func BenchmarkGet(b *testing.B) {
	srv := apitest.Start(b)
	newNamespace(b, srv.Client, "bench")
	fill(b, srv.Client, "bench", 100)
	n := max(b.N, 8000)
	b.ResetTimer()
	lat, elapsed := runClients(b, n, func(_ int, i int64) error {
		_, err := srv.Client.CoreV1().ConfigMaps("bench").Get(context.Background(), fmt.Sprintf("cm-%05d", i%100+1), metav1.GetOptions{})
		return err
	})
	b.StopTimer()
	lat.report(b, n, elapsed, "gets/s")
}

// BenchmarkUpdate updates ConfigMaps (one per client) with 16 concurrent
// clients.
func BenchmarkUpdate(b *testing.B) {
	srv := apitest.Start(b)
	newNamespace(b, srv.Client, "bench")
	fill(b, srv.Client, "bench", clients)
	n := max(b.N, 4000)
	// Each client updates its own ConfigMap, so there are no conflicts.
	mine := make([]*corev1.ConfigMap, clients)
	for c := range mine {
		cm, err := srv.Client.CoreV1().ConfigMaps("bench").Get(context.Background(), fmt.Sprintf("cm-%05d", c+1), metav1.GetOptions{})
		if err != nil {
			b.Fatal(err)
		}
		mine[c] = cm
	}
	b.ResetTimer()
	lat, elapsed := runClients(b, n, func(c int, i int64) error {
		mine[c].Data["key"] = fmt.Sprint(i)
		cm, err := srv.Client.CoreV1().ConfigMaps("bench").Update(context.Background(), mine[c], metav1.UpdateOptions{})
		if err == nil {
			mine[c] = cm
		}
		return err
	})
	b.StopTimer()
	lat.report(b, n, elapsed, "updates/s")
}

// BenchmarkList10k lists 10,000 ConfigMaps, as client-go does by default
// (a consistent read, protobuf). The first list after the writes also
// encodes every object once ("first-ms"); the rest (p50/p99 over at least
// 20 lists) reuse those encodings, as every list does once informers have
// watched the objects.
func BenchmarkList10k(b *testing.B) {
	srv := apitest.Start(b)
	newNamespace(b, srv.Client, "bench")
	fill(b, srv.Client, "bench", 10000)
	list := func() time.Duration {
		t := time.Now()
		l, err := srv.Client.CoreV1().ConfigMaps("bench").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			b.Fatal(err)
		}
		d := time.Since(t)
		if len(l.Items) != 10000 {
			b.Fatalf("listed %d items, want 10000", len(l.Items))
		}
		return d
	}
	b.ResetTimer()
	first := list()
	var lat latencies
	for i := 0; i < max(b.N, 20); i++ {
		lat.add(list())
	}
	b.StopTimer()
	b.ReportMetric(float64(first.Microseconds())/1000, "first-ms")
	lat.report(b, 0, 0, "")
}

// BenchmarkWatchFanout measures the delay from an update's response to its
// arrival at each of 100 watchers.
func BenchmarkWatchFanout(b *testing.B) {
	srv := apitest.Start(b)
	newNamespace(b, srv.Client, "bench")
	fill(b, srv.Client, "bench", 1)
	cm, err := srv.Client.CoreV1().ConfigMaps("bench").Get(context.Background(), "cm-00001", metav1.GetOptions{})
	if err != nil {
		b.Fatal(err)
	}
	const watchers = 100
	type arrival struct {
		rv string
		at time.Time
	}
	arrivals := make(chan arrival, watchers*1024)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var ready sync.WaitGroup
	for w := 0; w < watchers; w++ {
		wi, err := srv.Client.CoreV1().ConfigMaps("bench").Watch(ctx, metav1.ListOptions{ResourceVersion: cm.ResourceVersion})
		if err != nil {
			b.Fatal(err)
		}
		ready.Add(1)
		go func() {
			ready.Done()
			defer wi.Stop()
			for ev := range wi.ResultChan() {
				if ev.Type == watch.Modified {
					arrivals <- arrival{rv: ev.Object.(*corev1.ConfigMap).ResourceVersion, at: time.Now()}
				}
			}
		}()
	}
	ready.Wait()
	updates := max(b.N, 200)
	var lat latencies
	b.ResetTimer()
	for i := 0; i < updates; i++ {
		cm.Data["key"] = fmt.Sprint(i)
		cm, err = srv.Client.CoreV1().ConfigMaps("bench").Update(context.Background(), cm, metav1.UpdateOptions{})
		if err != nil {
			b.Fatal(err)
		}
		sent := time.Now()
		deadline := time.After(10 * time.Second)
		for got := 0; got < watchers; {
			select {
			case a := <-arrivals:
				if a.rv == cm.ResourceVersion {
					lat.add(max(a.at.Sub(sent), 0))
					got++
				}
			case <-deadline:
				b.Fatalf("update %d reached %d of %d watchers in 10s", i, got, watchers)
			}
		}
	}
	b.StopTimer()
	lat.report(b, 0, 0, "")
}
