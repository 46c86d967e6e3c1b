package nodeload

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiffk8s/skiff/scheduler/plugins/internal/pluginargs"
)

// Args configure NodeLoad (pluginConfig args, kind NodeLoadArgs).
type Args struct {
	metav1.TypeMeta `json:",inline"`
	// CPUWeight and MemoryWeight weigh the CPU and memory usage fractions
	// in the node's load (a weighted mean). Each in [0, 100], not both 0;
	// default 1 each. 0 leaves the resource out.
	CPUWeight    *int64 `json:"cpuWeight,omitempty"`
	MemoryWeight *int64 `json:"memoryWeight,omitempty"`
	// MaxUsageAge is how old a node's published usage may be and still
	// count (default 2m). Older or missing usage counts as unknown.
	MaxUsageAge *metav1.Duration `json:"maxUsageAge,omitempty"`
}

// DefaultMaxUsageAge is MaxUsageAge's default: twice the kubelet's
// longest refresh interval.
const DefaultMaxUsageAge = 2 * time.Minute

// config is Args with defaults applied.
type config struct {
	cpuWeight, memoryWeight int64
	maxUsageAge             time.Duration
}

// parseArgs decodes JSON args strictly, applies defaults and validates;
// errors name the field.
func parseArgs(data []byte) (config, error) {
	var a Args
	if err := pluginargs.Decode(Name, "", data, &a); err != nil {
		return config{}, err
	}
	c := config{cpuWeight: 1, memoryWeight: 1, maxUsageAge: DefaultMaxUsageAge}
	if a.CPUWeight != nil {
		c.cpuWeight = *a.CPUWeight
	}
	if a.MemoryWeight != nil {
		c.memoryWeight = *a.MemoryWeight
	}
	if a.MaxUsageAge != nil {
		c.maxUsageAge = a.MaxUsageAge.Duration
	}
	var errs field.ErrorList
	for _, w := range []struct {
		name  string
		value int64
	}{{"cpuWeight", c.cpuWeight}, {"memoryWeight", c.memoryWeight}} {
		if w.value < 0 || w.value > 100 {
			errs = append(errs, field.Invalid(field.NewPath(w.name), w.value, "must be in range 0-100"))
		}
	}
	if c.cpuWeight == 0 && c.memoryWeight == 0 {
		errs = append(errs, field.Invalid(field.NewPath("cpuWeight"), c.cpuWeight, "cpuWeight and memoryWeight must not both be 0"))
	}
	if c.maxUsageAge <= 0 {
		errs = append(errs, field.Invalid(field.NewPath("maxUsageAge"), c.maxUsageAge.String(), "must be positive"))
	}
	if len(errs) > 0 {
		return config{}, pluginargs.Error(Name, errs.ToAggregate())
	}
	return c, nil
}
