package framework

import (
	"fmt"
	"sync"
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
// It is safe for concurrent use (Filter and Score run in parallel).
type CycleState struct {
	mu   sync.RWMutex
	data map[StateKey]StateData
	// SkipFilterPlugins and SkipScorePlugins are the plugins whose
	// PreFilter or PreScore returned Skip (set by the framework).
	SkipFilterPlugins map[string]bool
	SkipScorePlugins  map[string]bool
}

// NewCycleState returns an empty state.
func NewCycleState() *CycleState {
	return &CycleState{data: map[StateKey]StateData{}, SkipFilterPlugins: map[string]bool{}, SkipScorePlugins: map[string]bool{}}
}

// Read returns the data stored under key, or an error naming the key.
func (c *CycleState) Read(key StateKey) (StateData, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if v, ok := c.data[key]; ok {
		return v, nil
	}
	return nil, fmt.Errorf("cycle state: %q not found", key)
}

// Write stores data under key.
func (c *CycleState) Write(key StateKey, data StateData) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.data[key] = data
}

// Delete removes key.
func (c *CycleState) Delete(key StateKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.data, key)
}

// Clone deep-copies the state (each value with its Clone).
func (c *CycleState) Clone() *CycleState {
	if c == nil {
		return nil
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := NewCycleState()
	for k, v := range c.data {
		out.data[k] = v.Clone()
	}
	for k, v := range c.SkipFilterPlugins {
		out.SkipFilterPlugins[k] = v
	}
	for k, v := range c.SkipScorePlugins {
		out.SkipScorePlugins[k] = v
	}
	return out
}
