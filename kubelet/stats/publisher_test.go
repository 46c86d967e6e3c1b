package stats

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffk8s/skiff/apiserver/apitest"
	"github.com/skiffk8s/skiff/kubelet/stats/nodeusage"
	"github.com/skiffk8s/skiff/test/nodetest"
)

func TestNeedsWrite(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	last := &nodeusage.Usage{CPUMillis: 1000, MemoryBytes: 4 << 30}
	with := func(cpu, mem int64) nodeusage.Usage { return nodeusage.Usage{CPUMillis: cpu, MemoryBytes: mem} }
	for _, tc := range []struct {
		name  string
		last  *nodeusage.Usage
		cur   nodeusage.Usage
		after time.Duration
		want  bool
	}{
		{"the first usage is written", nil, with(0, 0), 0, true},
		{"an unchanged usage is not written", last, with(1000, 4<<30), 10 * time.Second, false},
		{"a change under 1% is not written", last, with(1009, 4<<30+40<<20), 10 * time.Second, false},
		{"a cpu change over 1% is written", last, with(1011, 4<<30), 10 * time.Second, true},
		{"a cpu drop over 1% is written", last, with(980, 4<<30), 10 * time.Second, true},
		{"a memory change over 1% is written", last, with(1000, 4<<30+50<<20), 10 * time.Second, true},
		{"a small change on an idle node is not written", &nodeusage.Usage{CPUMillis: 5, MemoryBytes: 100 << 20}, with(12, 110<<20), 10 * time.Second, false},
		{"an unchanged usage is written again after the refresh", last, with(1000, 4<<30), time.Minute, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := needsWrite(tc.last, t0, tc.cur, t0.Add(tc.after), time.Minute); got != tc.want {
				t.Errorf("needsWrite = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestPublisherAnnotatesNode runs a reporter on this host and a publisher
// writing its usage to a Node on a real API server, and checks that the
// annotation parses, is plausible and is refreshed.
func TestPublisherAnnotatesNode(t *testing.T) {
	nodetest.RequireRoot(t)
	srv := apitest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nodes := srv.Client.CoreV1().Nodes()
	if _, err := nodes.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1", Annotations: map[string]string{"keep": "me"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r := startReporter(t, Config{})
	mi, err := r.MachineInfo()
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPublisher(PublisherConfig{
		Client:   srv.Client,
		NodeName: "node-1",
		Usage:    func() (nodeusage.Usage, error) { return r.NodeUsage(time.Minute) },
		Interval: 200 * time.Millisecond,
		Refresh:  time.Second,
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	// read waits for an annotation with a time after `after`.
	read := func(after time.Time) nodeusage.Usage {
		t.Helper()
		var last error
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			n, err := nodes.Get(ctx, "node-1", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if n.Annotations["keep"] != "me" {
				t.Fatalf("the patch lost other annotations: %v", n.Annotations)
			}
			v, ok := n.Annotations[nodeusage.AnnotationKey]
			if !ok {
				last = errors.New("no annotation")
				continue
			}
			u, err := nodeusage.ParseUsage(v)
			if err != nil {
				t.Fatalf("annotation %q: %v", v, err)
			}
			if u.Time.After(after) {
				t.Logf("annotation %s", v)
				return u
			}
			last = errors.New("annotation not refreshed: " + v)
		}
		t.Fatalf("node usage: %v", last)
		return nodeusage.Usage{}
	}
	first := read(time.Time{})
	if first.MemoryBytes <= 0 || first.MemoryBytes >= int64(mi.MemoryCapacity) {
		t.Errorf("memory %d, want in (0, capacity %d)", first.MemoryBytes, mi.MemoryCapacity)
	}
	if first.CPUMillis < 0 || first.CPUMillis > int64(mi.NumCores)*1050 {
		t.Errorf("cpu %dm, want within [0, %d cores]", first.CPUMillis, mi.NumCores)
	}
	if first.Window <= 0 || first.Window > time.Minute {
		t.Errorf("window %v, want in (0, 1m]", first.Window)
	}
	second := read(first.Time)
	if second.Window < first.Window {
		t.Errorf("window shrank from %v to %v while history grows", first.Window, second.Window)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}
