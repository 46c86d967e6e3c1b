package manager

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/skiffk8s/skiff/controllers"
)

// labeler is a test controller shaped like the real ones: it labels every
// ConfigMap without a handled-by label with handled-by=<Options["id"]>.
type labeler struct {
	c      controllers.Context
	queue  workqueue.TypedRateLimitingInterface[string]
	synced cache.InformerSynced
}

func newLabeler(ctx context.Context, c controllers.Context) (controllers.Controller, error) {
	l := &labeler{c: c, queue: workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "labeler", MetricsProvider: c.Metrics})}
	inf := c.Informers.Core().V1().ConfigMaps().Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    l.enqueue,
		UpdateFunc: func(_, obj any) { l.enqueue(obj) },
	}); err != nil {
		return nil, err
	}
	l.synced = inf.HasSynced
	return l, nil
}

func (l *labeler) enqueue(obj any) {
	if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
		l.queue.Add(key)
	}
}

func (l *labeler) Name() string { return "labeler" }

func (l *labeler) Run(ctx context.Context, workers int) error {
	defer l.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), l.synced) {
		return nil
	}
	for range workers {
		go func() {
			for l.work(ctx) {
			}
		}()
	}
	<-ctx.Done()
	return nil
}

func (l *labeler) work(ctx context.Context) bool {
	key, quit := l.queue.Get()
	if quit {
		return false
	}
	defer l.queue.Done(key)
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	cm, err := l.c.Informers.Core().V1().ConfigMaps().Lister().ConfigMaps(ns).Get(name)
	if err != nil || cm.Labels["handled-by"] != "" {
		l.queue.Forget(key)
		return true
	}
	patch := fmt.Sprintf(`{"metadata":{"labels":{"handled-by":%q}}}`, l.c.Options["id"])
	if _, err := l.c.Client.CoreV1().ConfigMaps(ns).Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		l.queue.AddRateLimited(key)
		return true
	}
	l.queue.Forget(key)
	return true
}

// panicky panics in Run the first `panics` times it runs, then runs
// quietly; runs counts how often it was started.
type panicky struct {
	runs   *atomic.Int32
	panics int32
}

func (p *panicky) Name() string { return "panicky" }

func (p *panicky) Run(ctx context.Context, _ int) error {
	if p.runs.Add(1) <= p.panics {
		panic("panicky: on purpose")
	}
	<-ctx.Done()
	return nil
}

// idle does nothing until ctx ends.
type idle struct{ name string }

func (i idle) Name() string { return i.name }

func (i idle) Run(ctx context.Context, _ int) error {
	select {
	case <-ctx.Done():
	case <-time.After(time.Hour):
	}
	return nil
}
