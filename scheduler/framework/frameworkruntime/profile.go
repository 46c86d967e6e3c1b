// Package frameworkruntime builds a scheduling profile's plugins from a
// framework.Registry and runs them: it implements framework.Handle and
// framework.PluginsRunner, and one scheduling cycle's algorithm
// (SchedulePod: PreFilter, Filter in parallel with percentageOfNodesToScore,
// PreScore, Score with NormalizeScore and weights, host selection), plus
// the steps after it (Reserve/Unreserve, Permit with waiting, PreBind,
// Bind). It does no I/O of its own except what plugins do.
package frameworkruntime

import (
	"k8s.io/apimachinery/pkg/util/sets"
)

// ExtensionPoint names an extension point as the configuration file does.
type ExtensionPoint string

// The extension points a profile configures.
const (
	PreFilter  ExtensionPoint = "preFilter"
	Filter     ExtensionPoint = "filter"
	PostFilter ExtensionPoint = "postFilter"
	PreScore   ExtensionPoint = "preScore"
	Score      ExtensionPoint = "score"
	Reserve    ExtensionPoint = "reserve"
	Permit     ExtensionPoint = "permit"
	PreBind    ExtensionPoint = "preBind"
	Bind       ExtensionPoint = "bind"
)

// ExtensionPoints lists the points in cycle order.
var ExtensionPoints = []ExtensionPoint{PreFilter, Filter, PostFilter, PreScore, Score, Reserve, Permit, PreBind, Bind}

// PluginRef enables a plugin. Path is where it was named in the
// configuration (e.g. "profiles[0].plugins.score.enabled[1]"), used in
// error messages.
type PluginRef struct {
	Name   string
	Weight int32
	Path   string
}

// PluginArgs are a plugin's pluginConfig args (JSON) and where they were
// given.
type PluginArgs struct {
	Raw  []byte
	Path string
}

// Profile is one scheduling profile, already merged with the defaults.
type Profile struct {
	// SchedulerName is the spec.schedulerName the profile serves.
	SchedulerName string
	// PercentageOfNodesToScore: 0 is upstream's adaptive default, 100 all
	// nodes.
	PercentageOfNodesToScore int32
	// MultiPoint plugins are enabled at every extension point they
	// implement, unless Disabled there.
	MultiPoint []PluginRef
	// Enabled are the plugins enabled at one point explicitly; one with a
	// MultiPoint plugin's name replaces it there (its weight wins).
	Enabled map[ExtensionPoint][]PluginRef
	// Disabled are the MultiPoint plugins left out at a point ("*": all).
	Disabled map[ExtensionPoint]sets.Set[string]
	// Args are the plugins' pluginConfig args by plugin name.
	Args map[string]PluginArgs
}

// pointRefs is the ordered, de-duplicated list of plugins of one point.
func (p *Profile) pointRefs(point ExtensionPoint, implements func(name string) bool) []PluginRef {
	var out []PluginRef
	disabled := p.Disabled[point]
	for _, r := range p.MultiPoint {
		if disabled.Has(r.Name) || disabled.Has("*") || !implements(r.Name) {
			continue
		}
		out = append(out, r)
	}
	for _, r := range p.Enabled[point] {
		replaced := false
		for i := range out {
			if out[i].Name == r.Name {
				out[i], replaced = r, true
			}
		}
		if !replaced {
			out = append(out, r)
		}
	}
	return out
}

// names lists every plugin the profile enables anywhere, with the first
// place it is named.
func (p *Profile) names() []PluginRef {
	seen := sets.New[string]()
	var out []PluginRef
	add := func(r PluginRef) {
		if !seen.Has(r.Name) {
			seen.Insert(r.Name)
			out = append(out, r)
		}
	}
	for _, r := range p.MultiPoint {
		add(r)
	}
	for _, pt := range ExtensionPoints {
		for _, r := range p.Enabled[pt] {
			add(r)
		}
	}
	return out
}
