package nodeaffinity

import (
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/skiffk8s/skiff/scheduler/plugins/internal/pluginargs"
)

// validateArgs checks the added affinity's terms as upstream does; errors
// name the field, e.g. "addedAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator".
func validateArgs(args *configv1.NodeAffinityArgs) error {
	a := args.AddedAffinity
	if a == nil {
		return nil
	}
	var errs []error
	if ns := a.RequiredDuringSchedulingIgnoredDuringExecution; ns != nil {
		p := field.NewPath("addedAffinity", "requiredDuringSchedulingIgnoredDuringExecution")
		if _, err := nodeaffinity.NewNodeSelector(ns, field.WithPath(p)); err != nil {
			errs = append(errs, err)
		}
	}
	if terms := a.PreferredDuringSchedulingIgnoredDuringExecution; len(terms) > 0 {
		p := field.NewPath("addedAffinity", "preferredDuringSchedulingIgnoredDuringExecution")
		if _, err := nodeaffinity.NewPreferredSchedulingTerms(terms, field.WithPath(p)); err != nil {
			errs = append(errs, err)
		}
	}
	if err := utilerrors.Flatten(utilerrors.NewAggregate(errs)); err != nil {
		return pluginargs.Error(Name, err)
	}
	return nil
}
