package apiserver

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiffk8s/skiff/apiserver/storage"
)

// admitEviction applies the pod's PodDisruptionBudget to an eviction, as
// upstream: a pod that is pending, finished or already being deleted may
// always go; otherwise the one budget selecting it must allow a disruption,
// which the eviction uses up (status.disruptionsAllowed-1, the pod in
// status.disruptedPods) before the pod is deleted. More than one budget is
// an error; a budget the disruption controller has not processed yet, or
// with no disruptions left, answers 429.
func (s *server) admitEviction(ctx context.Context, podRes *resource, ri requestInfo, dryRun bool) error {
	obj, err := podRes.store.Get(ctx, podRes.store.Key(ri.Namespace, ri.Name))
	if err != nil {
		return err
	}
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodPending ||
		pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return nil
	}
	pdbRes := s.lookup("policy", "v1", "poddisruptionbudgets")
	list, err := pdbRes.store.List(ctx, pdbRes.store.KeyPrefix(pod.Namespace), storage.ListOptions{})
	if err != nil {
		return err
	}
	var matching []*policyv1.PodDisruptionBudget
	for _, it := range list.Items {
		pdb := it.(*policyv1.PodDisruptionBudget)
		if pdb.Spec.Selector == nil {
			continue // a null selector selects no pods
		}
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		matching = append(matching, pdb)
	}
	switch {
	case len(matching) == 0:
		return nil
	case len(matching) > 1:
		return apierrors.NewInternalError(errors.New("This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."))
	}
	pdb := matching[0]
	if !podReady(pod) && (pdb.Spec.UnhealthyPodEvictionPolicy != nil && *pdb.Spec.UnhealthyPodEvictionPolicy == policyv1.AlwaysAllow ||
		pdb.Status.CurrentHealthy >= pdb.Status.DesiredHealthy && pdb.Status.DesiredHealthy > 0) {
		return nil // an unhealthy pod does not count against the budget
	}
	if dryRun {
		return checkBudget(pdb)
	}
	_, err = pdbRes.store.Update(ctx, pdbRes.store.Key(pdb.Namespace, pdb.Name), func(cur runtime.Object) (runtime.Object, error) {
		p := cur.(*policyv1.PodDisruptionBudget)
		if err := checkBudget(p); err != nil {
			return nil, err
		}
		p.Status.DisruptionsAllowed--
		if p.Status.DisruptedPods == nil {
			p.Status.DisruptedPods = map[string]metav1.Time{}
		}
		p.Status.DisruptedPods[pod.Name] = metav1.NewTime(s.now())
		return p, nil
	})
	return err
}

// checkBudget refuses an eviction the budget does not allow (429).
func checkBudget(pdb *policyv1.PodDisruptionBudget) error {
	var why string
	switch {
	case pdb.Status.ObservedGeneration < pdb.Generation:
		why = fmt.Sprintf("The disruption budget %s is still being processed by the server.", pdb.Name)
	case pdb.Status.DisruptionsAllowed <= 0:
		why = fmt.Sprintf("The disruption budget %s needs %d healthy pods and has %d currently", pdb.Name, pdb.Status.DesiredHealthy, pdb.Status.CurrentHealthy)
	default:
		return nil
	}
	err := apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 0)
	err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{Type: policyv1.DisruptionBudgetCause, Message: why})
	return err
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
