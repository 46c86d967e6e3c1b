package kubelet

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ampleSignals is a node with plenty of memory, disk and PIDs.
func ampleSignals() Signals {
	return Signals{
		SignalMemoryAvailable:  {Available: 6 << 30, Capacity: 8 << 30},
		SignalNodeFSAvailable:  {Available: 80 << 30, Capacity: 100 << 30},
		SignalNodeFSInodesFree: {Available: 900000, Capacity: 1000000},
		SignalPIDAvailable:     {Available: 4000000, Capacity: 4194304},
	}
}

func TestParseThresholds(t *testing.T) {
	got, err := ParseThresholds("memory.available<200Mi, nodefs.available<12.5%,pid.available<1000")
	if err != nil {
		t.Fatal(err)
	}
	if q := got[SignalMemoryAvailable].Quantity; q.Value() != 200<<20 {
		t.Errorf("memory.available threshold %s, want 200Mi", q.String())
	}
	if p := got[SignalNodeFSAvailable].Percent; p != 12.5 {
		t.Errorf("nodefs.available percent %v, want 12.5", p)
	}
	if q := got[SignalPIDAvailable].Quantity; q.Value() != 1000 {
		t.Errorf("pid.available threshold %s, want 1000", q.String())
	}
	if len(got) != 3 {
		t.Errorf("%d thresholds, want 3: %v", len(got), got)
	}
	if empty, err := ParseThresholds(""); err != nil || len(empty) != 0 {
		t.Errorf("empty string: %v, %v; want no thresholds", empty, err)
	}

	for in, want := range map[string]string{
		"memory.available=100Mi":                      `"memory.available=100Mi": want <signal><`,
		"cpu.available<1":                             `unknown signal "cpu.available"`,
		"nodefs.available<120%":                       `percentage "120%" must be between`,
		"memory.available<lots":                       `"memory.available<lots"`,
		"memory.available<1Gi,memory.available<2Gi":   "memory.available given twice",
		"memory.available<-1Gi":                       "must not be negative",
		"memory.available<100Mi,imagefs.available<x%": `"imagefs.available<x%"`,
	} {
		if _, err := ParseThresholds(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseThresholds(%q) error %v, want it to contain %q", in, err, want)
		}
	}
}

func TestJudgeComparesSignalsWithThresholds(t *testing.T) {
	ths := DefaultThresholds()
	if p := ths.Judge(ampleSignals()); p.Memory || p.Disk || p.PID || len(p.Crossed) != 0 {
		t.Errorf("ample node judged under pressure: %+v", p)
	}
	sig := ampleSignals()
	sig[SignalMemoryAvailable] = Usage{Available: 50 << 20, Capacity: 8 << 30}
	p := ths.Judge(sig)
	if !p.Memory || p.Disk || p.PID {
		t.Errorf("50Mi available < 100Mi: %+v, want memory pressure only", p)
	}
	if len(p.Crossed) != 1 || !strings.Contains(p.Crossed[0], "memory.available: available 52428800 < threshold 100Mi") {
		t.Errorf("crossed %q", p.Crossed)
	}

	sig = ampleSignals()
	sig[SignalNodeFSAvailable] = Usage{Available: 9 << 30, Capacity: 100 << 30} // 9% < 10%
	sig[SignalPIDAvailable] = Usage{Available: 100, Capacity: 32768}
	if p := ths.Judge(sig); p.Memory || !p.Disk || !p.PID {
		t.Errorf("nodefs at 9%% and 100 PIDs left: %+v, want disk and PID pressure", p)
	}
	sig = ampleSignals()
	sig[SignalImageFSAvailable] = Usage{Available: 14, Capacity: 100}
	if p := ths.Judge(sig); !p.Disk {
		t.Errorf("imagefs at 14%% < 15%%: %+v, want disk pressure", p)
	}
	// A signal without a threshold is not judged.
	if p := (Thresholds{}).Judge(Signals{SignalMemoryAvailable: {Available: 0, Capacity: 1}}); p.Memory {
		t.Errorf("no thresholds, yet memory pressure: %+v", p)
	}
}

func TestHostSignalsMeasuresThisHost(t *testing.T) {
	sig, err := HostSignals(t.TempDir(), "/nonexistent-image-dir")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{SignalMemoryAvailable, SignalNodeFSAvailable, SignalPIDAvailable} {
		u, ok := sig[name]
		if !ok || u.Capacity <= 0 || u.Available <= 0 || u.Available > u.Capacity {
			t.Errorf("%s = %+v (measured %v), want 0 < available <= capacity", name, u, ok)
		}
	}
	if _, ok := sig[SignalImageFSAvailable]; ok {
		t.Errorf("imagefs measured for a directory that does not exist")
	}
}

func TestAdmitUnderPressure(t *testing.T) {
	bestEffort := simplePod("be", corev1.RestartPolicyAlways, "busybox")
	burstable := simplePod("bu", corev1.RestartPolicyAlways, "busybox")
	burstable.Spec.Containers[0].Resources = requests("100m", "")
	tolerant := bestEffort.DeepCopy()
	tolerant.Spec.Tolerations = []corev1.Toleration{{Key: corev1.TaintNodeMemoryPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
	critical := bestEffort.DeepCopy()
	critical.Spec.PriorityClassName = "system-node-critical"
	for _, tt := range []struct {
		name string
		pod  *corev1.Pod
		p    Pressure
		ok   bool
		msg  string
	}{
		{"no pressure admits BestEffort", bestEffort, Pressure{}, true, ""},
		{"memory pressure rejects BestEffort", bestEffort, Pressure{Memory: true}, false, "Pod was rejected: The node had condition: [MemoryPressure]. "},
		{"memory pressure admits Burstable", burstable, Pressure{Memory: true}, true, ""},
		{"memory pressure admits a pod tolerating it", tolerant, Pressure{Memory: true}, true, ""},
		{"disk pressure rejects Burstable", burstable, Pressure{Disk: true}, false, "Pod was rejected: The node had condition: [DiskPressure]. "},
		{"memory and PID pressure name both", burstable, Pressure{Memory: true, PID: true}, false, "Pod was rejected: The node had condition: [MemoryPressure, PIDPressure]. "},
		{"critical pods are admitted", critical, Pressure{Disk: true, Memory: true}, true, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ok, reason, msg := admitUnderPressure(tt.pod, tt.p)
			if ok != tt.ok || msg != tt.msg || (!ok && reason != "Evicted") {
				t.Errorf("got %v %q %q, want %v Evicted %q", ok, reason, msg, tt.ok, tt.msg)
			}
		})
	}
}

// TestPressureConditionsFollowMeasurements runs a kubelet whose measured
// memory drops below the threshold: MemoryPressure turns True, a
// BestEffort pod is rejected while a Burstable one runs, and the condition
// turns False only after the transition period.
func TestPressureConditionsFollowMeasurements(t *testing.T) {
	var mu sync.Mutex
	sig := ampleSignals()
	h := newHarnessWith(t, func(c *Config) {
		c.NodeStatusUpdateInterval = time.Second
		c.PressureTransitionPeriod = time.Minute
		c.Signals = func() (Signals, error) {
			mu.Lock()
			defer mu.Unlock()
			out := Signals{}
			for k, v := range sig {
				out[k] = v
			}
			return out, nil
		}
	})
	condition := func(typ corev1.NodeConditionType) corev1.NodeCondition {
		n, err := h.srv.Client.CoreV1().Nodes().Get(context.Background(), testNode, metav1.GetOptions{})
		if err != nil {
			return corev1.NodeCondition{}
		}
		for _, c := range n.Status.Conditions {
			if c.Type == typ {
				return c
			}
		}
		return corev1.NodeCondition{}
	}
	h.eventually("MemoryPressure False", time.Second, func() (bool, string) {
		c := condition(corev1.NodeMemoryPressure)
		return c.Status == corev1.ConditionFalse && c.Reason == "KubeletHasSufficientMemory", c.String()
	})

	mu.Lock()
	sig[SignalMemoryAvailable] = Usage{Available: 10 << 20, Capacity: 8 << 30}
	mu.Unlock()
	h.eventually("MemoryPressure True", time.Second, func() (bool, string) {
		c := condition(corev1.NodeMemoryPressure)
		return c.Status == corev1.ConditionTrue && c.Reason == "KubeletHasInsufficientMemory", c.String()
	})
	if c := condition(corev1.NodeDiskPressure); c.Status != corev1.ConditionFalse {
		t.Errorf("DiskPressure %s with ample disk", c.Status)
	}

	h.createPod(simplePod("besteffort", corev1.RestartPolicyAlways, "busybox:1.36"))
	p := h.waitPod("besteffort", "Failed", 0, func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
	if p.Status.Reason != "Evicted" || p.Status.Message != "Pod was rejected: The node had condition: [MemoryPressure]. " {
		t.Errorf("rejected BestEffort pod: reason %q message %q", p.Status.Reason, p.Status.Message)
	}
	burstable := simplePod("burstable", corev1.RestartPolicyAlways, "busybox:1.36")
	burstable.Spec.Containers[0].Resources = requests("100m", "")
	h.createPod(burstable)
	h.waitPod("burstable", "Running", 0, func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })

	// Recovered memory keeps the condition for the transition period.
	mu.Lock()
	sig = ampleSignals()
	mu.Unlock()
	h.clk.Step(2 * time.Second)
	time.Sleep(200 * time.Millisecond)
	if c := condition(corev1.NodeMemoryPressure); c.Status != corev1.ConditionTrue {
		t.Errorf("MemoryPressure %s right after recovery, want True until the transition period ends", c.Status)
	}
	h.eventually("MemoryPressure False after the transition period", 5*time.Second, func() (bool, string) {
		c := condition(corev1.NodeMemoryPressure)
		return c.Status == corev1.ConditionFalse, c.String()
	})
}
