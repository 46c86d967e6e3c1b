package datastore

import (
	"context"
	"log/slog"
	"testing"
)

// StartForTest starts an embedded etcd member in a temporary directory on
// free loopback ports for a test, and stops it when the test ends. etcd's
// warnings and errors go to the test log. It fails the test if the member
// does not start.
func StartForTest(t testing.TB) *Etcd {
	t.Helper()
	e, err := Start(context.Background(), Config{
		DataDir: t.TempDir(),
		Name:    "test",
		Logger:  slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("stop etcd: %v", err)
		}
	})
	return e
}

// testWriter writes log lines to a test's log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}
