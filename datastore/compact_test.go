package datastore

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestCompactRemovesOldRevisions(t *testing.T) {
	e := StartForTest(t)
	ctx := context.Background()
	c := e.Client()

	first, err := c.Put(ctx, "/registry/configmaps/default/a", "1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(ctx, "/registry/configmaps/default/a", "2"); err != nil {
		t.Fatal(err)
	}

	rev, err := Compact(ctx, c)
	if err != nil {
		t.Fatalf("Compact: %v", err)
	}
	if rev <= first.Header.Revision {
		t.Fatalf("Compact returned revision %d, want past %d", rev, first.Header.Revision)
	}

	_, err = c.Get(ctx, "/registry/configmaps/default/a", clientv3.WithRev(first.Header.Revision))
	if !errors.Is(err, rpctypes.ErrCompacted) {
		t.Fatalf("get at compacted revision %d: err = %v, want ErrCompacted", first.Header.Revision, err)
	}
	resp, err := c.Get(ctx, "/registry/configmaps/default/a")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "2" {
		t.Fatalf("current get = %v, %v; want value 2", resp, err)
	}

	// Compact takes a turn of the protocol: the key records the revision.
	if got := compactRevKeyValue(t, c); got != rev {
		t.Errorf("%s = %d, want %d", CompactRevKey, got, rev)
	}
	// A second compaction right away works (nothing new to compact is fine).
	if _, err := Compact(ctx, c); err != nil {
		t.Errorf("second Compact: %v", err)
	}
}

func TestCompactTurnTakesTurnsThroughTheKey(t *testing.T) {
	e := StartForTest(t)
	ctx := context.Background()
	c := e.Client()

	// Two compactors start from nothing. The first takes the first turn
	// (nothing to compact yet); the second loses and learns the version.
	a, won, compacted, err := compactTurn(ctx, c, compactState{})
	if err != nil || !won || compacted != 0 {
		t.Fatalf("first turn of A: won=%v compacted=%d err=%v; want won, nothing compacted", won, compacted, err)
	}
	b, won, _, err := compactTurn(ctx, c, compactState{})
	if err != nil || won {
		t.Fatalf("first turn of B: won=%v err=%v; want lost", won, err)
	}
	if b.version != a.version {
		t.Fatalf("B learned version %d, want %d", b.version, a.version)
	}

	if _, err := c.Put(ctx, "x", "1"); err != nil {
		t.Fatal(err)
	}
	// Next interval: A compacts to the revision it saw one turn ago.
	target := a.rev
	a, won, compacted, err = compactTurn(ctx, c, a)
	if err != nil || !won || compacted != target {
		t.Fatalf("second turn of A: won=%v compacted=%d err=%v; want compacted to %d", won, compacted, err, target)
	}
	// B comes a little later in the same interval: A already took the turn.
	b, won, _, err = compactTurn(ctx, c, b)
	if err != nil || won {
		t.Fatalf("second turn of B: won=%v err=%v; want lost", won, err)
	}
	// A stops. B takes the next turn and carries on.
	_, won, compacted, err = compactTurn(ctx, c, b)
	if err != nil || !won || compacted != b.rev {
		t.Fatalf("third turn of B: won=%v compacted=%d err=%v; want compacted to %d", won, compacted, err, b.rev)
	}
	if got := compactRevKeyValue(t, c); got != b.rev {
		t.Errorf("%s = %d, want %d", CompactRevKey, got, b.rev)
	}
}

func TestCompactTurnSurvivesDeletedKey(t *testing.T) {
	e := StartForTest(t)
	ctx := context.Background()
	c := e.Client()

	st, _, _, err := compactTurn(ctx, c, compactState{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Delete(ctx, CompactRevKey); err != nil {
		t.Fatal(err)
	}
	st, won, _, err := compactTurn(ctx, c, st)
	if err != nil || won || st.version != 0 {
		t.Fatalf("turn after delete: state=%+v won=%v err=%v; want lost, version 0", st, won, err)
	}
	if _, won, _, err := compactTurn(ctx, c, st); err != nil || !won {
		t.Fatalf("next turn: won=%v err=%v; want won", won, err)
	}
}

func TestTwoCompactorsShareOneEtcd(t *testing.T) {
	e := StartForTest(t)
	c := e.Client()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Keep writing so that every interval has history to compact.
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for i := 0; ctx.Err() == nil; i++ {
			if _, err := c.Put(ctx, "/registry/events/default/e", strconv.Itoa(i)); err != nil && ctx.Err() == nil {
				t.Errorf("put: %v", err)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()

	warnings := &countingHandler{}
	var mu sync.Mutex
	compactions := map[string][]int64{}
	const interval = 100 * time.Millisecond
	errs := make(chan error, 2)
	for _, name := range []string{"a", "b"} {
		go func() {
			errs <- RunCompactor(ctx, CompactorConfig{
				Client:   c,
				Interval: interval,
				Logger:   slog.New(warnings),
				OnCompact: func(rev int64) {
					mu.Lock()
					defer mu.Unlock()
					compactions[name] = append(compactions[name], rev)
				},
			})
		}()
	}

	// Wait for a few compactions, then check the key and the turns.
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(compactions["a"]) + len(compactions["b"])
		mu.Unlock()
		if n >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d compactions after 10s", n)
		}
		time.Sleep(interval / 2)
	}
	cancel()
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("RunCompactor returned %v, want nil after cancel", err)
		}
	}
	<-writerDone

	if n := warnings.count(); n != 0 {
		t.Errorf("compactors logged %d warnings: %v", n, warnings.messages())
	}
	mu.Lock()
	defer mu.Unlock()
	var all []int64
	all = append(all, compactions["a"]...)
	all = append(all, compactions["b"]...)
	seen := map[int64]bool{}
	var last int64
	for _, rev := range all {
		if seen[rev] {
			t.Errorf("revision %d compacted twice (a: %v, b: %v)", rev, compactions["a"], compactions["b"])
		}
		seen[rev] = true
		last = max(last, rev)
	}
	got := compactRevKeyValue(t, c)
	if got < last {
		t.Errorf("%s = %d, want at least the last compaction %d", CompactRevKey, got, last)
	}
	// The etcd itself agrees: reading before the last compaction fails.
	_, err := c.Get(context.Background(), "/registry/events/default/e", clientv3.WithRev(last-1))
	if !errors.Is(err, rpctypes.ErrCompacted) {
		t.Errorf("get at %d: err = %v, want ErrCompacted", last-1, err)
	}
}

func TestRunCompactorNeedsClient(t *testing.T) {
	if err := RunCompactor(context.Background(), CompactorConfig{}); err == nil {
		t.Fatal("RunCompactor without a client succeeded")
	}
}

func compactRevKeyValue(t *testing.T, c *clientv3.Client) int64 {
	t.Helper()
	resp, err := c.Get(context.Background(), CompactRevKey)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 {
		t.Fatalf("%s missing", CompactRevKey)
	}
	rev, err := strconv.ParseInt(string(resp.Kvs[0].Value), 10, 64)
	if err != nil {
		t.Fatalf("%s = %q: %v", CompactRevKey, resp.Kvs[0].Value, err)
	}
	return rev
}

// countingHandler records log records at warn and above.
type countingHandler struct {
	mu   sync.Mutex
	msgs []string
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	msg := r.Message
	r.Attrs(func(a slog.Attr) bool {
		msg += " " + a.String()
		return true
	})
	h.msgs = append(h.msgs, msg)
	return nil
}

func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

func (h *countingHandler) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.msgs)
}

func (h *countingHandler) messages() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.msgs...)
}
