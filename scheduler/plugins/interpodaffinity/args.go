package interpodaffinity

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"
	configv1 "k8s.io/kube-scheduler/config/v1"
	sigsjson "sigs.k8s.io/json"
)

// Bounds of hardPodAffinityWeight, as upstream.
const (
	minHardPodAffinityWeight = 0
	maxHardPodAffinityWeight = 100
)

// decodeArgs decodes upstream's InterPodAffinityArgs strictly (unknown or
// duplicate fields are errors), applies upstream's defaults
// (hardPodAffinityWeight 1) and validates them; errors name the field.
func decodeArgs(data []byte) (configv1.InterPodAffinityArgs, error) {
	var args configv1.InterPodAffinityArgs
	if len(data) > 0 {
		strict, err := sigsjson.UnmarshalStrict(data, &args)
		if err != nil {
			return args, fmt.Errorf("%s args: %w", Name, err)
		}
		if len(strict) > 0 {
			return args, fmt.Errorf("%s args: %w", Name, errors.Join(strict...))
		}
		if args.Kind != "" && args.Kind != "InterPodAffinityArgs" {
			return args, fmt.Errorf("%s args: kind %q, want InterPodAffinityArgs", Name, args.Kind)
		}
	}
	if args.HardPodAffinityWeight == nil {
		w := int32(1)
		args.HardPodAffinityWeight = &w
	}
	if w := *args.HardPodAffinityWeight; w < minHardPodAffinityWeight || w > maxHardPodAffinityWeight {
		err := field.Invalid(field.NewPath("hardPodAffinityWeight"), w,
			fmt.Sprintf("not in valid range [%d, %d]", minHardPodAffinityWeight, maxHardPodAffinityWeight))
		return args, fmt.Errorf("%s args: %w", Name, err)
	}
	return args, nil
}
