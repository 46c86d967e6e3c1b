package interpodaffinity

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/skiffk8s/skiff/scheduler/plugins/internal/pluginargs"
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
	if err := pluginargs.Decode(Name, "InterPodAffinityArgs", data, &args); err != nil {
		return args, err
	}
	if args.HardPodAffinityWeight == nil {
		w := int32(1)
		args.HardPodAffinityWeight = &w
	}
	if w := *args.HardPodAffinityWeight; w < minHardPodAffinityWeight || w > maxHardPodAffinityWeight {
		err := field.Invalid(field.NewPath("hardPodAffinityWeight"), w,
			fmt.Sprintf("not in valid range [%d, %d]", minHardPodAffinityWeight, maxHardPodAffinityWeight))
		return args, pluginargs.Error(Name, err)
	}
	return args, nil
}
