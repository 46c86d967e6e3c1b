package framework

import (
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
)

// StateKey names one plugin's data in a CycleState (usually
// "PreFilter" + the plugin's name).
type StateKey string

// StateData is data a plugin keeps for one cycle. Clone is used when the
// cycle is simulated (preemption), so data that AddPod/RemovePod change
// must be deep-copied.
type StateData interface {
	Clone() StateData
}

// CycleState holds plugins' data for one scheduling cycle of one pod.
// It is safe for concurrent use (Filter and Score run in parallel). Reads
// take no lock: the data map is copied on write (writes are a few per
// cycle, in PreFilter and PreScore; reads are one per node and plugin).
type CycleState struct {
	mu   sync.Mutex // serializes writers
	data atomic.Pointer[map[StateKey]StateData]
	// SkipFilterPlugins and SkipScorePlugins are the plugins whose
	// PreFilter or PreScore returned Skip (set by the framework).
	SkipFilterPlugins map[string]bool
	SkipScorePlugins  map[string]bool
}

// NewCycleState returns an empty state.
func NewCycleState() *CycleState {
	return &CycleState{SkipFilterPlugins: map[string]bool{}, SkipScorePlugins: map[string]bool{}}
}

func (c *CycleState) load() map[StateKey]StateData {
	if m := c.data.Load(); m != nil {
		return *m
	}
	return nil
}

// Read returns the data stored under key, or an error naming the key.
func (c *CycleState) Read(key StateKey) (StateData, error) {
	if v, ok := c.load()[key]; ok {
		return v, nil
	}
	return nil, fmt.Errorf("cycle state: %q not found", key)
}

// Write stores data under key.
func (c *CycleState) Write(key StateKey, data StateData) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := maps.Clone(c.load())
	if m == nil {
		m = map[StateKey]StateData{}
	}
	m[key] = data
	c.data.Store(&m)
}

// Delete removes key.
func (c *CycleState) Delete(key StateKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := maps.Clone(c.load())
	delete(m, key)
	c.data.Store(&m)
}

// Clone deep-copies the state (each value with its Clone).
func (c *CycleState) Clone() *CycleState {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := NewCycleState()
	data := make(map[StateKey]StateData, len(c.load()))
	for k, v := range c.load() {
		data[k] = v.Clone()
	}
	out.data.Store(&data)
	for k, v := range c.SkipFilterPlugins {
		out.SkipFilterPlugins[k] = v
	}
	for k, v := range c.SkipScorePlugins {
		out.SkipScorePlugins[k] = v
	}
	return out
}
