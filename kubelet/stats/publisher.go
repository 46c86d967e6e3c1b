package stats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/skiffk8s/skiff/kubelet/stats/nodeusage"
)

// PublisherConfig configures a Publisher.
type PublisherConfig struct {
	// Client writes the Node. Required.
	Client kubernetes.Interface
	// NodeName is the Node to annotate. Required.
	NodeName string
	// Usage measures the node, e.g. func() { return r.NodeUsage(time.Minute) }.
	// Required.
	Usage func() (nodeusage.Usage, error)
	// Interval is how often usage is measured and, when it changed,
	// written (default 10s, the heartbeat's cadence).
	Interval time.Duration
	// Refresh is the longest time between writes (default 1m): an
	// unchanged usage is written again so that its time shows the
	// kubelet is alive.
	Refresh time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Clock defaults to the real clock.
	Clock clock.WithTicker
}

// Publisher keeps the nodeusage.AnnotationKey annotation of the Node up
// to date.
type Publisher struct {
	cfg PublisherConfig
	log *slog.Logger

	// Owned by Run's goroutine.
	last      *nodeusage.Usage // the last usage written
	lastWrite time.Time
}

// NewPublisher checks cfg and fills its defaults.
func NewPublisher(cfg PublisherConfig) (*Publisher, error) {
	if cfg.Client == nil || cfg.NodeName == "" || cfg.Usage == nil {
		return nil, errors.New("stats: publisher needs Client, NodeName and Usage")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 10 * time.Second
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	return &Publisher{cfg: cfg, log: cfg.Logger}, nil
}

// Run publishes at once and then every Interval until ctx ends. Failures
// (no usage yet, a failed write) are logged and retried on the next tick.
func (p *Publisher) Run(ctx context.Context) error {
	t := p.cfg.Clock.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		if err := p.publish(ctx); err != nil && ctx.Err() == nil {
			level := slog.LevelWarn
			if errors.Is(err, ErrNoData) {
				level = slog.LevelDebug // the reporter's first samples are due
			}
			p.log.Log(ctx, level, "publish node usage", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
	}
}

// publish measures and, when needed, writes the annotation with a JSON
// merge patch.
func (p *Publisher) publish(ctx context.Context) error {
	u, err := p.cfg.Usage()
	if err != nil {
		return err
	}
	now := p.cfg.Clock.Now()
	if !needsWrite(p.last, p.lastWrite, u, now, p.cfg.Refresh) {
		return nil
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"annotations": map[string]string{nodeusage.AnnotationKey: nodeusage.Format(u)},
	}})
	if err != nil {
		return err
	}
	if _, err := p.cfg.Client.CoreV1().Nodes().Patch(ctx, p.cfg.NodeName, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("annotate node %s: %w", p.cfg.NodeName, err)
	}
	p.last, p.lastWrite = &u, now
	return nil
}

// Changes smaller than these are not worth a write (besides the relative
// 1%): they keep an idle node from writing on every tick.
const (
	minCPUChangeMillis   = 10
	minMemoryChangeBytes = 16 << 20
)

// needsWrite decides whether cur is written: when nothing was written
// yet, when Refresh has passed since the last write, or when CPU or
// memory moved by more than 1% of the last written value and more than
// the minimum changes above.
func needsWrite(last *nodeusage.Usage, lastWrite time.Time, cur nodeusage.Usage, now time.Time, refresh time.Duration) bool {
	if last == nil || now.Sub(lastWrite) >= refresh {
		return true
	}
	moved := func(old, new, floor int64) bool {
		d := new - old
		if d < 0 {
			d = -d
		}
		return d > floor && float64(d) > 0.01*float64(old)
	}
	return moved(last.CPUMillis, cur.CPUMillis, minCPUChangeMillis) || moved(last.MemoryBytes, cur.MemoryBytes, minMemoryChangeBytes)
}
