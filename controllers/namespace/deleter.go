package namespace

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/util/retry"
)

// ResourcesRemainingError says content is still being deleted; the
// namespace is looked at again after about Estimate seconds.
type ResourcesRemainingError struct {
	// Estimate is the longest grace period (seconds) of what remains.
	Estimate int64
}

func (e *ResourcesRemainingError) Error() string {
	return fmt.Sprintf("some content remains in the namespace, estimate %d seconds before it is removed", e.Estimate)
}

// finalizerEstimateSeconds is how long content held by finalizers is
// given before the next look (upstream's).
const finalizerEstimateSeconds = 5

// sync empties the named namespace if it is being deleted and, when
// nothing is left, removes the kubernetes finalizer. It is idempotent.
func (nc *Controller) sync(ctx context.Context, name string) error {
	cached, err := nc.lister.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if cached.DeletionTimestamp == nil {
		return nil
	}
	// The cache may lag: act on the latest namespace.
	ns, err := nc.client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ns.DeletionTimestamp == nil || !slices.Contains(ns.Spec.Finalizers, corev1.FinalizerKubernetes) {
		return nil
	}
	if ns, err = nc.ensureTerminating(ctx, ns); err != nil {
		return err
	}
	estimate, err := nc.deleteAllContent(ctx, ns)
	if err != nil {
		return err
	}
	if estimate > 0 {
		return &ResourcesRemainingError{Estimate: estimate}
	}
	return nc.finalize(ctx, name)
}

// ensureTerminating sets status.phase Terminating if it is not yet.
func (nc *Controller) ensureTerminating(ctx context.Context, ns *corev1.Namespace) (*corev1.Namespace, error) {
	if ns.Status.Phase == corev1.NamespaceTerminating {
		return ns, nil
	}
	ns = ns.DeepCopy()
	ns.Status.Phase = corev1.NamespaceTerminating
	return nc.client.CoreV1().Namespaces().UpdateStatus(ctx, ns, metav1.UpdateOptions{})
}

// finalize removes the kubernetes finalizer through namespaces/finalize.
func (nc *Controller) finalize(ctx context.Context, name string) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		ns, err := nc.client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if !slices.Contains(ns.Spec.Finalizers, corev1.FinalizerKubernetes) {
			return nil
		}
		ns = ns.DeepCopy()
		ns.Spec.Finalizers = slices.DeleteFunc(ns.Spec.Finalizers, func(f corev1.FinalizerName) bool {
			return f == corev1.FinalizerKubernetes
		})
		_, err = nc.client.CoreV1().Namespaces().Finalize(ctx, ns, metav1.UpdateOptions{})
		return err
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("finalize namespace %s: %w", name, err)
	}
	nc.log.Info("namespace emptied and finalized", "namespace", name)
	return nil
}

// deleteAllContent deletes every namespaced resource in ns and records
// the outcome in its conditions. It returns an estimate in seconds (> 0
// while content remains) or an error when deleting some content failed.
func (nc *Controller) deleteAllContent(ctx context.Context, ns *corev1.Namespace) (int64, error) {
	var cond conditions
	resources, discoveryErr := namespacedDeletableResources(nc.client.Discovery())
	if discoveryErr != nil {
		cond.discoveryFailure = discoveryErr.Error()
		if len(resources) == 0 {
			nc.updateConditions(ctx, ns, cond)
			return 0, discoveryErr
		}
	}
	var (
		estimate   int64
		errs       []string
		remaining  = map[schema.GroupVersionResource]int{}
		finalizers = map[string]int{}
	)
	for _, gvr := range resources {
		r, err := nc.deleteResource(ctx, gvr, ns.Name)
		if err != nil {
			errs = append(errs, err.Error())
		}
		if r.items > 0 {
			remaining[gvr] = r.items
		}
		for f, n := range r.finalizers {
			finalizers[f] += n
		}
		estimate = max(estimate, r.estimate)
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		cond.contentFailure = fmt.Sprintf("Failed to delete all resource types, %d remaining: %v", len(errs), strings.Join(errs, ", "))
	}
	cond.contentRemaining = remainingMessage(remaining)
	cond.finalizersRemaining = finalizersMessage(finalizers)
	nc.updateConditions(ctx, ns, cond)
	if len(errs) > 0 {
		return 0, fmt.Errorf("namespace %s: %s", ns.Name, cond.contentFailure)
	}
	if discoveryErr != nil {
		return 0, fmt.Errorf("namespace %s: %w", ns.Name, discoveryErr)
	}
	return estimate, nil
}

// namespacedDeletableResources lists, from discovery, the preferred
// version of every namespaced resource supporting list and delete. With
// a partial discovery failure it returns what it found and the error.
func namespacedDeletableResources(dc discovery.DiscoveryInterface) ([]schema.GroupVersionResource, error) {
	lists, err := dc.ServerPreferredNamespacedResources()
	var out []schema.GroupVersionResource
	for _, rl := range discovery.FilteredBy(discovery.SupportsAllVerbs{Verbs: []string{"list", "delete"}}, lists) {
		gv, perr := schema.ParseGroupVersion(rl.GroupVersion)
		if perr != nil {
			continue
		}
		for _, r := range rl.APIResources {
			if strings.Contains(r.Name, "/") {
				continue
			}
			out = append(out, gv.WithResource(r.Name))
		}
	}
	if err != nil {
		if derr, ok := err.(*discovery.ErrGroupDiscoveryFailed); ok {
			var failed []string
			for gv, e := range derr.Groups {
				failed = append(failed, fmt.Sprintf("%s: %v", gv, e))
			}
			sort.Strings(failed)
			return out, fmt.Errorf("Discovery failed for some groups, %d failing: %s", len(failed), strings.Join(failed, ", "))
		}
		return out, fmt.Errorf("discovery: %w", err)
	}
	return out, nil
}

// resourceResult is what remains of one resource after its deletion.
type resourceResult struct {
	items      int
	finalizers map[string]int
	estimate   int64
}

// deleteResource deletes every gvr in namespace ns (deletecollection,
// or one by one where that is not supported), then counts what remains.
func (nc *Controller) deleteResource(ctx context.Context, gvr schema.GroupVersionResource, ns string) (resourceResult, error) {
	estimate, err := nc.estimate(ctx, gvr, ns)
	if err != nil {
		return resourceResult{}, err
	}
	client := nc.metadata.Resource(gvr).Namespace(ns)
	background := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{PropagationPolicy: &background}
	err = client.DeleteCollection(ctx, opts, metav1.ListOptions{})
	if apierrors.IsMethodNotSupported(err) || apierrors.IsNotFound(err) {
		list, lerr := client.List(ctx, metav1.ListOptions{})
		if lerr != nil {
			return resourceResult{}, fmt.Errorf("%s: %w", gvr.Resource, lerr)
		}
		for _, it := range list.Items {
			if derr := client.Delete(ctx, it.Name, opts); derr != nil && !apierrors.IsNotFound(derr) {
				err = derr
				break
			}
			err = nil
		}
		if len(list.Items) == 0 {
			err = nil
		}
	}
	if err != nil {
		return resourceResult{}, fmt.Errorf("%s: %w", gvr.Resource, err)
	}
	list, err := client.List(ctx, metav1.ListOptions{})
	if err != nil {
		return resourceResult{}, fmt.Errorf("%s: %w", gvr.Resource, err)
	}
	r := resourceResult{items: len(list.Items), finalizers: map[string]int{}}
	if r.items == 0 {
		return r, nil
	}
	for _, it := range list.Items {
		for _, f := range it.Finalizers {
			r.finalizers[f]++
		}
	}
	switch {
	case estimate > 0:
		r.estimate = estimate
	case len(r.finalizers) > 0:
		r.estimate = finalizerEstimateSeconds
	default:
		// Nothing holds them: look again soon (as upstream, an error).
		return r, fmt.Errorf("unexpected items still remain in namespace: %s for gvr: %v", ns, gvr)
	}
	return r, nil
}

// estimate is how long deleting gvr in ns may take: for pods the longest
// terminationGracePeriodSeconds of a pod not yet finished, else 0.
func (nc *Controller) estimate(ctx context.Context, gvr schema.GroupVersionResource, ns string) (int64, error) {
	if gvr.Group != "" || gvr.Resource != "pods" {
		return 0, nil
	}
	pods, err := nc.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, fmt.Errorf("pods: %w", err)
	}
	var est int64
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		if g := p.Spec.TerminationGracePeriodSeconds; g != nil && *g > est {
			est = *g
		}
	}
	return est, nil
}

func remainingMessage(remaining map[schema.GroupVersionResource]int) string {
	if len(remaining) == 0 {
		return ""
	}
	var parts []string
	for gvr, n := range remaining {
		parts = append(parts, fmt.Sprintf("%s.%s has %d resource instances", gvr.Resource, gvr.Group, n))
	}
	sort.Strings(parts)
	return "Some resources are remaining: " + strings.Join(parts, ", ")
}

func finalizersMessage(finalizers map[string]int) string {
	if len(finalizers) == 0 {
		return ""
	}
	var parts []string
	for f, n := range finalizers {
		parts = append(parts, fmt.Sprintf("%s in %d resource instances", f, n))
	}
	sort.Strings(parts)
	return "Some content in the namespace has finalizers remaining: " + strings.Join(parts, ", ")
}
