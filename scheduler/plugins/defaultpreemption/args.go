package defaultpreemption

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"
	configv1 "k8s.io/kube-scheduler/config/v1"
	sigsjson "sigs.k8s.io/json"
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
	if len(data) > 0 {
		strict, err := sigsjson.UnmarshalStrict(data, &args)
		if err != nil {
			return args, fmt.Errorf("%s args: %w", Name, err)
		}
		if len(strict) > 0 {
			return args, fmt.Errorf("%s args: %w", Name, errors.Join(strict...))
		}
		if args.Kind != "" && args.Kind != "DefaultPreemptionArgs" {
			return args, fmt.Errorf("%s args: kind %q, want DefaultPreemptionArgs", Name, args.Kind)
		}
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
		return args, fmt.Errorf("%s args: %w", Name, err)
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
