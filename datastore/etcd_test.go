package datastore

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestStartServesPutAndGet(t *testing.T) {
	e := StartForTest(t)
	ctx := context.Background()

	eps := e.Endpoints()
	if len(eps) != 1 {
		t.Fatalf("Endpoints() = %v, want one", eps)
	}
	u, err := url.Parse(eps[0])
	if err != nil || u.Scheme != "http" || u.Hostname() != "127.0.0.1" || u.Port() == "0" {
		t.Fatalf("Endpoints()[0] = %q, want http://127.0.0.1:<port>", eps[0])
	}

	if _, err := e.Client().Put(ctx, "/registry/pods/default/a", "hello"); err != nil {
		t.Fatalf("put: %v", err)
	}
	resp, err := e.Client().Get(ctx, "/registry/pods/default/a")
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "hello" {
		t.Fatalf("get returned %v, want the value hello", resp.Kvs)
	}

	// The member advertises the port it really listens on.
	members, err := e.Client().MemberList(ctx)
	if err != nil {
		t.Fatalf("member list: %v", err)
	}
	if len(members.Members) != 1 {
		t.Fatalf("members = %v, want one", members.Members)
	}
	m := members.Members[0]
	if m.Name != "test" || len(m.ClientURLs) != 1 || m.ClientURLs[0] != eps[0] {
		t.Errorf("member = name %q client URLs %v, want name test at %s", m.Name, m.ClientURLs, eps[0])
	}
}

func TestRestartKeepsData(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	cfg := Config{DataDir: dir, Logger: testLogger(t)}

	e, err := Start(ctx, cfg)
	if err != nil {
		t.Fatalf("first start: %v", err)
	}
	put, err := e.Client().Put(ctx, "k", "v1")
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	// New free ports on the second start: the stored membership wins.
	e, err = Start(ctx, cfg)
	if err != nil {
		t.Fatalf("second start on the same data dir: %v", err)
	}
	defer e.Close()
	resp, err := e.Client().Get(ctx, "k")
	if err != nil {
		t.Fatalf("get after restart: %v", err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v1" {
		t.Fatalf("after restart got %v, want v1", resp.Kvs)
	}
	if resp.Kvs[0].ModRevision != put.Header.Revision {
		t.Errorf("mod revision after restart = %d, want %d", resp.Kvs[0].ModRevision, put.Header.Revision)
	}
}

func TestStartNamesMemberAfterHost(t *testing.T) {
	e, err := Start(context.Background(), Config{DataDir: t.TempDir(), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	members, err := e.Client().MemberList(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	host := hostnameOr("default")
	if got := members.Members[0].Name; got != host {
		t.Errorf("member name = %q, want the host name %q", got, host)
	}
}

func TestStartFailsOnBusyPort(t *testing.T) {
	first := StartForTest(t)
	u, _ := url.Parse(first.Endpoints()[0])
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = Start(ctx, Config{DataDir: t.TempDir(), ClientPort: port, Logger: testLogger(t)})
	if err == nil {
		t.Fatal("Start on a taken client port succeeded")
	}
	if !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("error = %v, want it to say the address is in use", err)
	}
}

func TestStartTimesOutWithAReasonAndReleasesTheDataDir(t *testing.T) {
	dir := t.TempDir()
	// A member needs at least one 10 ms tick to elect itself.
	_, err := Start(context.Background(), Config{DataDir: dir, StartTimeout: time.Microsecond, Logger: testLogger(t)})
	if err == nil {
		t.Fatal("Start with a 1µs timeout succeeded")
	}
	t.Log(err)
	if !strings.Contains(err.Error(), "not ready after 1µs") {
		t.Errorf("error = %v, want it to say the member was not ready in time and why", err)
	}
	// The failed start left nothing locked: the same dir starts fine.
	e, err := Start(context.Background(), Config{DataDir: dir, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("start after a timed-out start: %v", err)
	}
	e.Close()
}

func TestStartHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Start(ctx, Config{DataDir: t.TempDir(), Logger: testLogger(t)})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Start with a cancelled context: err = %v, want context.Canceled", err)
	}
}

func TestStartRequiresDataDir(t *testing.T) {
	if _, err := Start(context.Background(), Config{}); err == nil {
		t.Fatal("Start without DataDir succeeded")
	}
}

// BenchmarkStart measures the time from Start to a member ready to serve, on
// a fresh data dir and on a restart.
func BenchmarkStart(b *testing.B) {
	b.Run("fresh", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			dir := b.TempDir()
			b.StartTimer()
			e, err := Start(context.Background(), Config{DataDir: dir})
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			e.Close()
			b.StartTimer()
		}
	})
	b.Run("restart", func(b *testing.B) {
		dir := b.TempDir()
		e, err := Start(context.Background(), Config{DataDir: dir})
		if err != nil {
			b.Fatal(err)
		}
		e.Close()
		for b.Loop() {
			e, err := Start(context.Background(), Config{DataDir: dir})
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			e.Close()
			b.StartTimer()
		}
	})
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
