package deployment_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/skiffk8s/skiff/apiserver/apitest"
)

// BenchmarkScaleTo3000 scales a Deployment from 0 to 3,000 replicas
// against a real API server (no nodes, no scheduler) and measures the time
// until a watch has seen all 3,000 pods of its ReplicaSet. The
// controllers' client has QPS 5000. heap-MB is the heap of the whole test
// process (API server and etcd included) after the run.
func BenchmarkScaleTo3000(b *testing.B) {
	const n = 3000
	srv := apitest.Start(b)
	cfg := *srv.Config
	cfg.QPS, cfg.Burst = 5000, 5000
	startControllers(b, &cfg)
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		ns := fmt.Sprintf("bench-%d", i)
		newNamespace(b, srv.Client, ns)
		if _, err := srv.Client.AppsV1().Deployments(ns).Create(ctx, newDeployment(ns, "web", 0), metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		waitFor(b, 10*time.Second, "the replica set", func() (bool, error) {
			rss, err := srv.Client.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
			return err == nil && len(rss.Items) == 1, err
		})
		w, err := srv.Client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		updateDeployment(b, srv.Client, ns, "web", func(d *appsv1.Deployment) { r := int32(n); d.Spec.Replicas = &r })
		seen := 0
		timeout := time.After(60 * time.Second)
		for seen < n {
			select {
			case ev := <-w.ResultChan():
				if ev.Type == watch.Added {
					seen++
				}
			case <-timeout:
				b.Fatalf("only %d of %d pods after 60s", seen, n)
			}
		}
		elapsed := time.Since(start)
		w.Stop()
		b.ReportMetric(elapsed.Seconds(), "s/3000-pods")
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "heap-MB")
	}
}
