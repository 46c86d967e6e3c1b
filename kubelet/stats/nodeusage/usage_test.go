package nodeusage

import (
	"strings"
	"testing"
	"time"
)

func TestFormatParsesBack(t *testing.T) {
	u := Usage{CPUMillis: 1234, MemoryBytes: 2 << 30, Window: time.Minute, Time: time.Date(2025, 1, 2, 15, 4, 5, 0, time.UTC)}
	s := Format(u)
	want := `{"cpu":"1234m","memory":"2Gi","window":"1m0s","time":"2025-01-02T15:04:05Z"}`
	if s != want {
		t.Fatalf("Format = %s, want %s", s, want)
	}
	got, err := ParseUsage(s)
	if err != nil {
		t.Fatal(err)
	}
	if got != u {
		t.Errorf("ParseUsage(Format(u)) = %+v, want %+v", got, u)
	}
}

func TestParseUsage(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     Usage
		err      string // substring of the error; "" means success
	}{
		{name: "whole cores and plain bytes parse", in: `{"cpu":"2","memory":"1048576","window":"60s","time":"2025-01-02T15:04:05+01:00"}`,
			want: Usage{CPUMillis: 2000, MemoryBytes: 1 << 20, Window: time.Minute, Time: time.Date(2025, 1, 2, 14, 4, 5, 0, time.UTC)}},
		{name: "unknown fields are ignored", in: `{"cpu":"5m","memory":"1Ki","window":"10s","time":"2025-01-02T15:04:05Z","gpu":"1"}`,
			want: Usage{CPUMillis: 5, MemoryBytes: 1024, Window: 10 * time.Second, Time: time.Date(2025, 1, 2, 15, 4, 5, 0, time.UTC)}},
		{name: "empty is an error", in: ``, err: "empty annotation"},
		{name: "not JSON is an error", in: `cpu=1`, err: "invalid character"},
		{name: "missing cpu is an error", in: `{"memory":"1Ki","window":"10s","time":"2025-01-02T15:04:05Z"}`, err: "cpu missing"},
		{name: "bad cpu quantity is an error", in: `{"cpu":"lots","memory":"1Ki","window":"10s","time":"2025-01-02T15:04:05Z"}`, err: `cpu "lots"`},
		{name: "negative memory is an error", in: `{"cpu":"1","memory":"-1Ki","window":"10s","time":"2025-01-02T15:04:05Z"}`, err: "must not be negative"},
		{name: "missing window is an error", in: `{"cpu":"1","memory":"1Ki","time":"2025-01-02T15:04:05Z"}`, err: "window missing"},
		{name: "bad window is an error", in: `{"cpu":"1","memory":"1Ki","window":"a minute","time":"2025-01-02T15:04:05Z"}`, err: "window: time: invalid duration"},
		{name: "zero window is an error", in: `{"cpu":"1","memory":"1Ki","window":"0s","time":"2025-01-02T15:04:05Z"}`, err: "must be positive"},
		{name: "missing time is an error", in: `{"cpu":"1","memory":"1Ki","window":"10s"}`, err: "time missing"},
		{name: "time not RFC 3339 is an error", in: `{"cpu":"1","memory":"1Ki","window":"10s","time":"yesterday"}`, err: "time: parsing time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseUsage(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseUsage(%q) error = %v, want one containing %q", tc.in, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseUsage(%q): %v", tc.in, err)
			}
			if !got.Time.Equal(tc.want.Time) {
				t.Errorf("time = %v, want %v", got.Time, tc.want.Time)
			}
			got.Time, tc.want.Time = time.Time{}, time.Time{}
			if got != tc.want {
				t.Errorf("ParseUsage(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}
