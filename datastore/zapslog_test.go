package datastore

import (
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func TestZapLoggerForwardsWarningsWithFields(t *testing.T) {
	h := &countingHandler{}
	lg := newZapLogger(slog.New(h), zapcore.WarnLevel).With(zap.String("member", "m1"))

	lg.Info("chatter")
	lg.Warn("slow fdatasync", zap.Duration("took", 2e9), zap.Error(errors.New("disk")))
	lg.Error("apply failed", zap.Int64("index", 7))

	got := h.messages()
	want := []string{
		"slow fdatasync member=m1 took=2s error=disk",
		"apply failed member=m1 index=7",
	}
	if len(got) != len(want) {
		t.Fatalf("forwarded %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("record %d = %q, want %q", i, got[i], want[i])
		}
	}
}

func TestDemoteHandlerQuietsKnownNoiseAndShutdown(t *testing.T) {
	h := &countingHandler{}
	stopping := new(atomic.Bool)
	lg := newZapLogger(slog.New(&demoteHandler{Handler: h, demote: harmlessWarning, all: stopping}), zapcore.WarnLevel)

	lg.Warn("simple token is not cryptographically signed")
	lg.Warn("Failed to detect schema version", zap.Error(errors.New("missing term information")))
	lg.Warn("Failed to detect schema version", zap.Error(errors.New("bolt: corrupted")))
	stopping.Store(true)
	lg.Error("setting up serving from embedded etcd failed.", zap.Error(errors.New("http: Server closed")))

	got := h.messages()
	if len(got) != 1 || got[0] != "Failed to detect schema version error=bolt: corrupted" {
		t.Errorf("logged %q, want only the schema warning with a real error", got)
	}
}
