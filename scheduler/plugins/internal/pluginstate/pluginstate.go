// Package pluginstate reads a plugin's own data back from the cycle
// state, typed.
package pluginstate

import (
	"fmt"

	"github.com/skiffk8s/skiff/scheduler/framework"
)

// Read returns the data stored under key in cs as a T. The errors name
// the key: `reading "<key>" from cycle state: <cause>` when nothing is
// stored there, `"<key>" in cycle state is a <type>` when the data is
// not a T.
func Read[T framework.StateData](cs *framework.CycleState, key framework.StateKey) (T, error) {
	var zero T
	d, err := cs.Read(key)
	if err != nil {
		return zero, fmt.Errorf("reading %q from cycle state: %w", key, err)
	}
	s, ok := d.(T)
	if !ok {
		return zero, fmt.Errorf("%q in cycle state is a %T", key, d)
	}
	return s, nil
}
