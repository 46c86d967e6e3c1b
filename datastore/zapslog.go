package datastore

import (
	"context"
	"log/slog"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// newZapLogger returns a zap logger (the only kind etcd accepts) that
// forwards entries at minLevel and above to logger, with etcd's structured
// fields as slog attributes.
func newZapLogger(logger *slog.Logger, minLevel zapcore.Level) *zap.Logger {
	return zap.New(&slogCore{logger: logger, min: minLevel})
}

// slogCore is a zapcore.Core writing to an slog.Logger.
type slogCore struct {
	logger *slog.Logger
	min    zapcore.Level
	fields []zapcore.Field // from With, encoded on Write
}

var _ zapcore.Core = (*slogCore)(nil)

func (c *slogCore) Enabled(l zapcore.Level) bool {
	return l >= c.min && c.logger.Enabled(context.Background(), slogLevel(l))
}

func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	clone := *c
	clone.fields = append(append([]zapcore.Field(nil), c.fields...), fields...)
	return &clone
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	attrs := make([]slog.Attr, 0, len(c.fields)+len(fields)+1)
	if e.LoggerName != "" {
		attrs = append(attrs, slog.String("logger", e.LoggerName))
	}
	// One encoder per field keeps zap's field order.
	for _, fs := range [][]zapcore.Field{c.fields, fields} {
		for _, f := range fs {
			enc := zapcore.NewMapObjectEncoder()
			f.AddTo(enc)
			for k, v := range enc.Fields {
				attrs = append(attrs, slog.Any(k, v))
			}
		}
	}
	c.logger.LogAttrs(context.Background(), slogLevel(e.Level), e.Message, attrs...)
	return nil
}

func (c *slogCore) Sync() error { return nil }

func slogLevel(l zapcore.Level) slog.Level {
	switch {
	case l <= zapcore.DebugLevel:
		return slog.LevelDebug
	case l == zapcore.InfoLevel:
		return slog.LevelInfo
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}

// ClientLogger returns a logger for an etcd client (clientv3.Config.Logger)
// that forwards only errors to logger: the client warns on every retried
// attempt, including answers callers handle.
func ClientLogger(logger *slog.Logger) *zap.Logger {
	return newZapLogger(logger, zapcore.ErrorLevel)
}
