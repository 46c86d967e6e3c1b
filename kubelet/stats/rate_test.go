package stats

import (
	"testing"
	"time"
)

func TestCPURate(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		prev, cur cpuSample
		want      uint64
		ok        bool
	}{
		{"one core busy for ten seconds is 1e9 nanocores", cpuSample{t0, 5e9}, cpuSample{t0.Add(10 * time.Second), 15e9}, 1e9, true},
		{"a quarter core over half a second", cpuSample{t0, 0}, cpuSample{t0.Add(500 * time.Millisecond), 125e6}, 250e6, true},
		{"idle is zero", cpuSample{t0, 7}, cpuSample{t0.Add(time.Second), 7}, 0, true},
		{"same time gives no rate", cpuSample{t0, 1}, cpuSample{t0, 2}, 0, false},
		{"time going backwards gives no rate", cpuSample{t0.Add(time.Second), 1}, cpuSample{t0, 2}, 0, false},
		{"a counter reset gives no rate", cpuSample{t0, 10e9}, cpuSample{t0.Add(time.Second), 1e6}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := cpuRate(tc.prev, tc.cur)
			if got != tc.want || ok != tc.ok {
				t.Errorf("cpuRate = %d, %v; want %d, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestAverageRate(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	// every10s makes samples 10 s apart with the given cumulative usages.
	every10s := func(usages ...uint64) []cpuSample {
		var out []cpuSample
		for i, u := range usages {
			out = append(out, cpuSample{t0.Add(time.Duration(i) * 10 * time.Second), u})
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		samples  []cpuSample
		window   time.Duration
		want     uint64
		wantSpan time.Duration
		ok       bool
	}{
		{name: "the average spans the whole window",
			// 90 s of samples: the last 60 s used 30 core-seconds.
			samples: every10s(0, 0, 0, 0, 5e9, 10e9, 15e9, 20e9, 25e9, 30e9), window: time.Minute,
			want: 5e8, wantSpan: time.Minute, ok: true},
		{name: "a young history averages over what there is",
			samples: every10s(0, 20e9), window: time.Minute, want: 2e9, wantSpan: 10 * time.Second, ok: true},
		{name: "a counter reset starts the average after it",
			samples: every10s(0, 50e9, 1e9, 6e9), window: time.Minute, want: 5e8, wantSpan: 10 * time.Second, ok: true},
		{name: "one sample gives no average", samples: every10s(1), window: time.Minute},
		{name: "a reset at the newest sample gives no average", samples: every10s(5, 10, 1), window: time.Minute},
		{name: "samples older than the window are not used",
			samples: every10s(0, 10e9), window: 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, span, ok := averageRate(tc.samples, tc.window)
			if got != tc.want || span != tc.wantSpan || ok != tc.ok {
				t.Errorf("averageRate = %d over %v, %v; want %d over %v, %v", got, span, ok, tc.want, tc.wantSpan, tc.ok)
			}
		})
	}
}

func TestParsePodCgroup(t *testing.T) {
	for _, tc := range []struct {
		name, cgroup, uid, cid string
		ok                     bool
	}{
		{"a Guaranteed pod", "/kubepods/pod1234-ab", "1234-ab", "", true},
		{"a Burstable pod's container", "/kubepods/burstable/podu1/c0ffee", "u1", "c0ffee", true},
		{"a BestEffort pod", "/kubepods/besteffort/podu2", "u2", "", true},
		{"the QoS parent is not a pod", "/kubepods/burstable", "", "", false},
		{"kubepods itself is not a pod", "/kubepods", "", "", false},
		{"a cgroup inside a container is not reported", "/kubepods/podu1/c/nested", "", "", false},
		{"another tree is not a pod", "/system.slice/podu1", "", "", false},
		{"a pod prefix without a UID is not a pod", "/kubepods/pod", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			uid, cid, ok := parsePodCgroup(tc.cgroup)
			if string(uid) != tc.uid || cid != tc.cid || ok != tc.ok {
				t.Errorf("parsePodCgroup(%q) = %q, %q, %v; want %q, %q, %v", tc.cgroup, uid, cid, ok, tc.uid, tc.cid, tc.ok)
			}
		})
	}
}
