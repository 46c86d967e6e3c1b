package scheduler

import (
	"fmt"
	"os"

	"k8s.io/apimachinery/pkg/util/sets"
	configv1 "k8s.io/kube-scheduler/config/v1"
	"sigs.k8s.io/yaml"

	"github.com/skiffk8s/skiff/scheduler/framework"
	"github.com/skiffk8s/skiff/scheduler/framework/frameworkruntime"
)

// DefaultSchedulerName is the profile pods get when they name none.
const DefaultSchedulerName = "default-scheduler"

// DefaultPlugins are the default profile's plugins, enabled at every
// extension point each implements, with upstream's score weights plus
// Skiff's NodeLoad. Plugins missing from the registry are left out.
var DefaultPlugins = []frameworkruntime.PluginRef{
	{Name: "NodeUnschedulable"},
	{Name: "NodeName"},
	{Name: "TaintToleration", Weight: 3},
	{Name: "NodeAffinity", Weight: 2},
	{Name: "NodePorts"},
	{Name: "NodeResourcesFit", Weight: 1},
	{Name: "PodTopologySpread", Weight: 2},
	{Name: "InterPodAffinity", Weight: 2},
	{Name: "DefaultPreemption"},
	{Name: "NodeResourcesBalancedAllocation", Weight: 1},
	{Name: "ImageLocality", Weight: 1},
	{Name: "NodeLoad", Weight: 1},
	{Name: "DefaultBinder"},
}

// builtinNames are upstream plugin names that configurations often list
// and that Skiff's queue does on its own (priority sort, scheduling
// gates): accepted at queueSort/preEnqueue and otherwise ignored.
var builtinNames = sets.New("PrioritySort", "SchedulingGates")

// LoadConfigFile reads a KubeSchedulerConfiguration
// (kubescheduler.config.k8s.io/v1) YAML file strictly: unknown fields are
// errors.
func LoadConfigFile(path string) (*configv1.KubeSchedulerConfiguration, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseConfig(data)
}

// ParseConfig parses a KubeSchedulerConfiguration YAML document strictly.
func ParseConfig(data []byte) (*configv1.KubeSchedulerConfiguration, error) {
	var cfg configv1.KubeSchedulerConfiguration
	if err := yaml.UnmarshalStrict(data, &cfg); err != nil {
		return nil, fmt.Errorf("scheduler config: %w", err)
	}
	if want := configv1.SchemeGroupVersion.String(); cfg.APIVersion != want {
		return nil, fmt.Errorf("apiVersion: %q is not %q", cfg.APIVersion, want)
	}
	if cfg.Kind != "KubeSchedulerConfiguration" {
		return nil, fmt.Errorf("kind: %q is not %q", cfg.Kind, "KubeSchedulerConfiguration")
	}
	return &cfg, nil
}

// Profiles turns the configuration (nil: the default profile) into
// profiles merged with the defaults: each profile starts from
// DefaultPlugins (those in registry) as multiPoint; its multiPoint
// disabled entries remove defaults ("*": all), its multiPoint enabled
// entries add or re-weight plugins, and per-point entries enable or
// disable plugins at one point. Errors name the field.
func Profiles(cfg *configv1.KubeSchedulerConfiguration, registry framework.Registry) ([]frameworkruntime.Profile, error) {
	var defaults []frameworkruntime.PluginRef
	for _, r := range DefaultPlugins {
		if _, ok := registry[r.Name]; ok {
			r.Path = "defaults.multiPoint[" + r.Name + "]"
			defaults = append(defaults, r)
		}
	}
	globalPct := int32(0)
	var kprofiles []configv1.KubeSchedulerProfile
	if cfg != nil {
		if p := cfg.PercentageOfNodesToScore; p != nil {
			if *p < 0 || *p > 100 {
				return nil, fmt.Errorf("percentageOfNodesToScore: %d is not in [0, 100]", *p)
			}
			globalPct = *p
		}
		kprofiles = cfg.Profiles
	}
	if len(kprofiles) == 0 {
		kprofiles = []configv1.KubeSchedulerProfile{{}}
	}
	names := sets.New[string]()
	var out []frameworkruntime.Profile
	for i, kp := range kprofiles {
		path := fmt.Sprintf("profiles[%d]", i)
		p, err := profile(path, kp, defaults, registry, globalPct)
		if err != nil {
			return nil, err
		}
		if names.Has(p.SchedulerName) {
			return nil, fmt.Errorf("%s.schedulerName: duplicate %q", path, p.SchedulerName)
		}
		names.Insert(p.SchedulerName)
		out = append(out, p)
	}
	return out, nil
}

func profile(path string, kp configv1.KubeSchedulerProfile, defaults []frameworkruntime.PluginRef, registry framework.Registry, pct int32) (frameworkruntime.Profile, error) {
	p := frameworkruntime.Profile{
		SchedulerName:            DefaultSchedulerName,
		PercentageOfNodesToScore: pct,
		Enabled:                  map[frameworkruntime.ExtensionPoint][]frameworkruntime.PluginRef{},
		Disabled:                 map[frameworkruntime.ExtensionPoint]sets.Set[string]{},
		Args:                     map[string]frameworkruntime.PluginArgs{},
	}
	if kp.SchedulerName != nil {
		if *kp.SchedulerName == "" {
			return p, fmt.Errorf("%s.schedulerName: must not be empty", path)
		}
		p.SchedulerName = *kp.SchedulerName
	}
	if v := kp.PercentageOfNodesToScore; v != nil {
		if *v < 0 || *v > 100 {
			return p, fmt.Errorf("%s.percentageOfNodesToScore: %d is not in [0, 100]", path, *v)
		}
		p.PercentageOfNodesToScore = *v
	}
	known := func(name string) bool { _, ok := registry[name]; return ok }
	check := func(set configv1.PluginSet, setPath string, builtinOK bool) ([]frameworkruntime.PluginRef, error) {
		var refs []frameworkruntime.PluginRef
		for j, pl := range set.Enabled {
			ref := frameworkruntime.PluginRef{Name: pl.Name, Path: fmt.Sprintf("%s.enabled[%d]", setPath, j)}
			if builtinOK && builtinNames.Has(pl.Name) {
				continue
			}
			if !known(pl.Name) {
				return nil, fmt.Errorf("%s.name: unknown plugin %q", ref.Path, pl.Name)
			}
			if pl.Weight != nil {
				if *pl.Weight <= 0 {
					return nil, fmt.Errorf("%s.weight: %d must be positive", ref.Path, *pl.Weight)
				}
				ref.Weight = *pl.Weight
			}
			refs = append(refs, ref)
		}
		for j, pl := range set.Disabled {
			if pl.Name != "*" && !known(pl.Name) && !builtinNames.Has(pl.Name) {
				return nil, fmt.Errorf("%s.disabled[%d].name: unknown plugin %q", setPath, j, pl.Name)
			}
		}
		return refs, nil
	}
	var plugins configv1.Plugins
	if kp.Plugins != nil {
		plugins = *kp.Plugins
	}
	ppath := path + ".plugins"
	// multiPoint: defaults minus disabled, plus enabled.
	mpDisabled := disabledSet(plugins.MultiPoint)
	for _, r := range defaults {
		if !mpDisabled.Has(r.Name) && !mpDisabled.Has("*") {
			p.MultiPoint = append(p.MultiPoint, r)
		}
	}
	mp, err := check(plugins.MultiPoint, ppath+".multiPoint", false)
	if err != nil {
		return p, err
	}
	for _, r := range mp {
		replaced := false
		for i := range p.MultiPoint {
			if p.MultiPoint[i].Name == r.Name {
				p.MultiPoint[i], replaced = r, true
			}
		}
		if !replaced {
			p.MultiPoint = append(p.MultiPoint, r)
		}
	}
	points := map[frameworkruntime.ExtensionPoint]configv1.PluginSet{
		frameworkruntime.PreFilter: plugins.PreFilter, frameworkruntime.Filter: plugins.Filter,
		frameworkruntime.PostFilter: plugins.PostFilter, frameworkruntime.PreScore: plugins.PreScore,
		frameworkruntime.Score: plugins.Score, frameworkruntime.Reserve: plugins.Reserve,
		frameworkruntime.Permit: plugins.Permit, frameworkruntime.PreBind: plugins.PreBind,
		frameworkruntime.Bind: plugins.Bind,
	}
	for _, point := range frameworkruntime.ExtensionPoints {
		refs, err := check(points[point], ppath+"."+string(point), false)
		if err != nil {
			return p, err
		}
		p.Enabled[point] = refs
		p.Disabled[point] = disabledSet(points[point])
	}
	for name, set := range map[string]configv1.PluginSet{"queueSort": plugins.QueueSort, "preEnqueue": plugins.PreEnqueue, "postBind": plugins.PostBind} {
		if _, err := check(set, ppath+"."+name, true); err != nil {
			return p, err
		}
	}
	for j, pc := range kp.PluginConfig {
		cpath := fmt.Sprintf("%s.pluginConfig[%d]", path, j)
		if !known(pc.Name) {
			return p, fmt.Errorf("%s.name: unknown plugin %q", cpath, pc.Name)
		}
		if _, dup := p.Args[pc.Name]; dup {
			return p, fmt.Errorf("%s.name: duplicate config for plugin %q", cpath, pc.Name)
		}
		p.Args[pc.Name] = frameworkruntime.PluginArgs{Raw: pc.Args.Raw, Path: cpath + ".args"}
	}
	return p, nil
}

func disabledSet(set configv1.PluginSet) sets.Set[string] {
	out := sets.New[string]()
	for _, pl := range set.Disabled {
		out.Insert(pl.Name)
	}
	return out
}
