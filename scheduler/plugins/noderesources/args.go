package noderesources

import (
	"fmt"
	"strings"

	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/skiffk8s/skiff/scheduler/plugins/internal/pluginargs"
)

// maxCustomPriorityScore is the highest score of a
// RequestedToCapacityRatio shape point (scaled ×10 to MaxNodeScore).
const maxCustomPriorityScore = 10

// defaultResources are cpu and memory with weight 1.
func defaultResources() []configv1.ResourceSpec {
	return []configv1.ResourceSpec{{Name: "cpu", Weight: 1}, {Name: "memory", Weight: 1}}
}

// defaultWeights sets weight 0 to 1, as upstream's defaulting.
func defaultWeights(rs []configv1.ResourceSpec) {
	for i := range rs {
		if rs[i].Weight == 0 {
			rs[i].Weight = 1
		}
	}
}

// fitArgs decodes, defaults and validates NodeResourcesFitArgs.
func fitArgs(data []byte) (*configv1.NodeResourcesFitArgs, error) {
	args := &configv1.NodeResourcesFitArgs{}
	if err := pluginargs.Decode(FitName, "", data, args); err != nil {
		return nil, err
	}
	if args.ScoringStrategy == nil {
		args.ScoringStrategy = &configv1.ScoringStrategy{Type: configv1.LeastAllocated}
	}
	if len(args.ScoringStrategy.Resources) == 0 {
		args.ScoringStrategy.Resources = defaultResources()
	}
	defaultWeights(args.ScoringStrategy.Resources)
	if errs := validateFitArgs(args); len(errs) > 0 {
		return nil, pluginargs.Error(FitName, errs.ToAggregate())
	}
	return args, nil
}

// validateFitArgs checks the args as upstream does; errors name fields
// relative to the args ("scoringStrategy.type").
func validateFitArgs(args *configv1.NodeResourcesFitArgs) field.ErrorList {
	var errs field.ErrorList
	for i, res := range args.IgnoredResources {
		errs = append(errs, metav1validation.ValidateLabelName(res, field.NewPath("ignoredResources").Index(i))...)
	}
	for i, group := range args.IgnoredResourceGroups {
		p := field.NewPath("ignoredResourceGroups").Index(i)
		if strings.Contains(group, "/") {
			errs = append(errs, field.Invalid(p, group, "resource group name can't contain '/'"))
		}
		errs = append(errs, metav1validation.ValidateLabelName(group, p)...)
	}
	s := args.ScoringStrategy
	sp := field.NewPath("scoringStrategy")
	switch s.Type {
	case configv1.LeastAllocated, configv1.MostAllocated:
	case configv1.RequestedToCapacityRatio:
		if s.RequestedToCapacityRatio == nil {
			errs = append(errs, field.Required(sp.Child("requestedToCapacityRatio"), "required for the RequestedToCapacityRatio strategy"))
		}
	default:
		errs = append(errs, field.NotSupported(sp.Child("type"), s.Type,
			[]string{string(configv1.LeastAllocated), string(configv1.MostAllocated), string(configv1.RequestedToCapacityRatio)}))
	}
	for i, r := range s.Resources {
		if r.Weight <= 0 || r.Weight > 100 {
			errs = append(errs, field.Invalid(sp.Child("resources").Index(i).Child("weight"), r.Weight,
				fmt.Sprintf("resource weight of %v should be in range 1-100", r.Name)))
		}
	}
	if s.RequestedToCapacityRatio != nil {
		errs = append(errs, validateShape(s.RequestedToCapacityRatio.Shape, sp.Child("requestedToCapacityRatio", "shape"))...)
	}
	return errs
}

// validateShape checks shape points: at least one, utilization strictly
// increasing in [0, 100], score in [0, 10].
func validateShape(shape []configv1.UtilizationShapePoint, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(shape) == 0 {
		return append(errs, field.Required(p, "at least one point must be specified"))
	}
	for i := 1; i < len(shape); i++ {
		if shape[i-1].Utilization >= shape[i].Utilization {
			errs = append(errs, field.Invalid(p.Index(i).Child("utilization"), shape[i].Utilization, "utilization values must be sorted in increasing order"))
			break
		}
	}
	for i, pt := range shape {
		if pt.Utilization < 0 || pt.Utilization > 100 {
			errs = append(errs, field.Invalid(p.Index(i).Child("utilization"), pt.Utilization, "not in valid range [0, 100]"))
		}
		if pt.Score < 0 || pt.Score > maxCustomPriorityScore {
			errs = append(errs, field.Invalid(p.Index(i).Child("score"), pt.Score, fmt.Sprintf("not in valid range [0, %d]", maxCustomPriorityScore)))
		}
	}
	return errs
}

// balancedArgs decodes, defaults and validates
// NodeResourcesBalancedAllocationArgs: every weight must be 1 and no
// resource may repeat, as upstream.
func balancedArgs(data []byte) (*configv1.NodeResourcesBalancedAllocationArgs, error) {
	args := &configv1.NodeResourcesBalancedAllocationArgs{}
	if err := pluginargs.Decode(BalancedAllocationName, "", data, args); err != nil {
		return nil, err
	}
	if len(args.Resources) == 0 {
		args.Resources = defaultResources()
	}
	defaultWeights(args.Resources)
	var errs field.ErrorList
	seen := map[string]bool{}
	for i, r := range args.Resources {
		p := field.NewPath("resources").Index(i)
		if seen[r.Name] {
			errs = append(errs, field.Duplicate(p.Child("name"), r.Name))
		}
		seen[r.Name] = true
		if r.Weight != 1 {
			errs = append(errs, field.Invalid(p.Child("weight"), r.Weight, "must be 1"))
		}
	}
	if len(errs) > 0 {
		return nil, pluginargs.Error(BalancedAllocationName, errs.ToAggregate())
	}
	return args, nil
}
