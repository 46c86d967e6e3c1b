package defaultpreemption

import (
	"k8s.io/apimachinery/pkg/util/validation/field"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/skiffk8s/skiff/scheduler/plugins/internal/pluginargs"
)

// Upstream's defaults of DefaultPreemptionArgs.
const (
	defaultMinCandidateNodesPercentage = 10
	defaultMinCandidateNodesAbsolute   = 100
)

// decodeArgs decodes upstream's DefaultPreemptionArgs strictly (unknown
// or duplicate fields are errors), applies upstream's defaults
// (minCandidateNodesPercentage 10, minCandidateNodesAbsolute 100) and
// validates them as upstream; errors name the field.
func decodeArgs(data []byte) (configv1.DefaultPreemptionArgs, error) {
	var args configv1.DefaultPreemptionArgs
	if err := pluginargs.Decode(Name, "DefaultPreemptionArgs", data, &args); err != nil {
		return args, err
	}
	if args.MinCandidateNodesPercentage == nil {
		v := int32(defaultMinCandidateNodesPercentage)
		args.MinCandidateNodesPercentage = &v
	}
	if args.MinCandidateNodesAbsolute == nil {
		v := int32(defaultMinCandidateNodesAbsolute)
		args.MinCandidateNodesAbsolute = &v
	}
	if err := validateArgs(*args.MinCandidateNodesPercentage, *args.MinCandidateNodesAbsolute).ToAggregate(); err != nil {
		return args, pluginargs.Error(Name, err)
	}
	return args, nil
}

// validateArgs is upstream's ValidateDefaultPreemptionArgs.
func validateArgs(percentage, absolute int32) field.ErrorList {
	percentagePath := field.NewPath("minCandidateNodesPercentage")
	absolutePath := field.NewPath("minCandidateNodesAbsolute")
	var errs field.ErrorList
	if percentage < 0 || percentage > 100 {
		errs = append(errs, field.Invalid(percentagePath, percentage, "not in valid range [0, 100]"))
	}
	if absolute < 0 {
		errs = append(errs, field.Invalid(absolutePath, absolute, "not in valid range [0, inf)"))
	}
	if percentage == 0 && absolute == 0 {
		errs = append(errs,
			field.Invalid(percentagePath, percentage, "cannot be zero at the same time as minCandidateNodesAbsolute"),
			field.Invalid(absolutePath, absolute, "cannot be zero at the same time as minCandidateNodesPercentage"))
	}
	return errs
}
