// Package nodeusage is the format of a node's recent resource usage as the
// kubelet publishes it on its Node object (annotation AnnotationKey), so
// that the scheduler can read usage without calling kubelets. It is a
// leaf package: it imports no kubelet or cadvisor code, and the scheduler
// may import it.
//
// The annotation value is compact JSON:
//
//	{"cpu":"1234m","memory":"2097152Ki","window":"1m0s","time":"2025-01-02T15:04:05Z"}
//
// cpu is the node's average CPU usage over window (cores, as a quantity),
// memory the node's working set at time (bytes, as a quantity; working set
// = usage minus inactive file pages, as upstream's eviction manager
// counts it), window a Go duration, time an RFC 3339 timestamp of the
// measurement. The kubelet refreshes the value at least every minute, so
// a time much older than that means the kubelet stopped reporting.
package nodeusage

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
)

// AnnotationKey is the Node annotation holding the usage.
const AnnotationKey = "skiff.io/usage"

// Usage is a node's recent resource usage.
type Usage struct {
	// CPUMillis is the average CPU usage over Window, in millicores.
	CPUMillis int64
	// MemoryBytes is the working set at Time, in bytes.
	MemoryBytes int64
	// Window is the span CPUMillis is averaged over.
	Window time.Duration
	// Time is when the usage was measured.
	Time time.Time
}

// wire is the JSON form.
type wire struct {
	CPU    string `json:"cpu"`
	Memory string `json:"memory"`
	Window string `json:"window"`
	Time   string `json:"time"`
}

// Format returns the annotation value for u. Time is kept to the second,
// in UTC.
func Format(u Usage) string {
	b, _ := json.Marshal(wire{
		CPU:    resource.NewMilliQuantity(u.CPUMillis, resource.DecimalSI).String(),
		Memory: resource.NewQuantity(u.MemoryBytes, resource.BinarySI).String(),
		Window: u.Window.String(),
		Time:   u.Time.UTC().Format(time.RFC3339),
	})
	return string(b)
}

// ParseUsage parses an annotation value written by Format. All four fields
// are required; unknown fields are ignored so that later kubelets may add
// some. Errors say which field is wrong.
func ParseUsage(annotation string) (Usage, error) {
	if annotation == "" {
		return Usage{}, errors.New("node usage: empty annotation")
	}
	var w wire
	if err := json.Unmarshal([]byte(annotation), &w); err != nil {
		return Usage{}, fmt.Errorf("node usage: %w", err)
	}
	var u Usage
	cpu, err := quantity("cpu", w.CPU)
	if err != nil {
		return Usage{}, err
	}
	u.CPUMillis = cpu.MilliValue()
	mem, err := quantity("memory", w.Memory)
	if err != nil {
		return Usage{}, err
	}
	u.MemoryBytes = mem.Value()
	if w.Window == "" {
		return Usage{}, errors.New("node usage: window missing")
	}
	if u.Window, err = time.ParseDuration(w.Window); err != nil {
		return Usage{}, fmt.Errorf("node usage: window: %w", err)
	}
	if u.Window <= 0 {
		return Usage{}, fmt.Errorf("node usage: window %q must be positive", w.Window)
	}
	if w.Time == "" {
		return Usage{}, errors.New("node usage: time missing")
	}
	if u.Time, err = time.Parse(time.RFC3339, w.Time); err != nil {
		return Usage{}, fmt.Errorf("node usage: time: %w", err)
	}
	return u, nil
}

func quantity(field, s string) (resource.Quantity, error) {
	if s == "" {
		return resource.Quantity{}, fmt.Errorf("node usage: %s missing", field)
	}
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return resource.Quantity{}, fmt.Errorf("node usage: %s %q: %w", field, s, err)
	}
	if q.Sign() < 0 {
		return resource.Quantity{}, fmt.Errorf("node usage: %s %q must not be negative", field, s)
	}
	return q, nil
}
