package podtopologyspread

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/skiffk8s/skiff/scheduler/plugins/internal/pluginargs"
)

const (
	systemDefaulting = configv1.SystemDefaulting
	listDefaulting   = configv1.ListDefaulting
)

// systemDefaultConstraints are upstream's system defaults: spread softly
// over hostnames (maxSkew 3) and zones (maxSkew 5).
func systemDefaultConstraints() []corev1.TopologySpreadConstraint {
	return []corev1.TopologySpreadConstraint{
		{TopologyKey: corev1.LabelHostname, WhenUnsatisfiable: corev1.ScheduleAnyway, MaxSkew: 3},
		{TopologyKey: corev1.LabelTopologyZone, WhenUnsatisfiable: corev1.ScheduleAnyway, MaxSkew: 5},
	}
}

// decodeArgs decodes upstream's PodTopologySpreadArgs strictly (unknown
// or duplicate fields are errors), defaults defaultingType to System and
// validates them as upstream; errors name the field.
func decodeArgs(data []byte) (configv1.PodTopologySpreadArgs, error) {
	var args configv1.PodTopologySpreadArgs
	if err := pluginargs.Decode(Name, "PodTopologySpreadArgs", data, &args); err != nil {
		return args, err
	}
	if args.DefaultingType == "" {
		args.DefaultingType = systemDefaulting
	}
	if errs := validateArgs(&args); len(errs) > 0 {
		return args, pluginargs.Error(Name, errs.ToAggregate())
	}
	return args, nil
}

func validateArgs(args *configv1.PodTopologySpreadArgs) field.ErrorList {
	var errs field.ErrorList
	switch p := field.NewPath("defaultingType"); {
	case args.DefaultingType != systemDefaulting && args.DefaultingType != listDefaulting:
		errs = append(errs, field.NotSupported(p, args.DefaultingType, []string{string(systemDefaulting), string(listDefaulting)}))
	case args.DefaultingType == systemDefaulting && len(args.DefaultConstraints) > 0:
		errs = append(errs, field.Invalid(p, args.DefaultingType, "when .defaultConstraints are not empty"))
	}
	path := field.NewPath("defaultConstraints")
	for i, c := range args.DefaultConstraints {
		p := path.Index(i)
		if c.MaxSkew <= 0 {
			errs = append(errs, field.Invalid(p.Child("maxSkew"), c.MaxSkew, "not in valid range (0, inf)"))
		}
		if c.TopologyKey == "" {
			errs = append(errs, field.Required(p.Child("topologyKey"), "can not be empty"))
		} else {
			errs = append(errs, metav1validation.ValidateLabelName(c.TopologyKey, p.Child("topologyKey"))...)
		}
		switch w := c.WhenUnsatisfiable; {
		case w == "":
			errs = append(errs, field.Required(p.Child("whenUnsatisfiable"), "can not be empty"))
		case w != corev1.DoNotSchedule && w != corev1.ScheduleAnyway:
			errs = append(errs, field.NotSupported(p.Child("whenUnsatisfiable"), w, []string{string(corev1.DoNotSchedule), string(corev1.ScheduleAnyway)}))
		}
		if c.LabelSelector != nil {
			errs = append(errs, field.Forbidden(p.Child("labelSelector"), "constraint must not define a selector, as they deduced for each pod"))
		}
		for _, other := range args.DefaultConstraints[:i] {
			if c.TopologyKey == other.TopologyKey && c.WhenUnsatisfiable == other.WhenUnsatisfiable {
				errs = append(errs, field.Duplicate(p, fmt.Sprintf("{%v, %v}", c.TopologyKey, c.WhenUnsatisfiable)))
				break
			}
		}
	}
	return errs
}
