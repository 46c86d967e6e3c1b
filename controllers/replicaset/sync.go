package replicaset

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/skiffk8s/skiff/controllers/internal/controllerutil"
)

// sync brings one ReplicaSet's pods to spec.replicas (when its
// expectations are met) and writes its status. Safe to repeat.
func (rc *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	rs, err := rc.rsLister.ReplicaSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		rc.exp.Delete(key)
		return nil
	}
	if err != nil {
		return fmt.Errorf("get replica set %s: %w", key, err)
	}
	needsSync := rc.exp.Satisfied(key)
	selector, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil {
		rc.logger.Error("invalid selector", "replicaset", key, "err", err)
		return nil
	}
	all, err := rc.pods.Pods(ns).List(labels.Everything())
	if err != nil {
		return fmt.Errorf("list pods: %w", err)
	}
	pods, err := rc.claimPods(ctx, rs, selector, controllerutil.FilterActivePods(all))
	if err != nil {
		return err
	}
	var manageErr error
	if needsSync && rs.DeletionTimestamp == nil {
		manageErr = rc.manageReplicas(ctx, key, pods, rs)
	}
	rs = rs.DeepCopy()
	status := calculateStatus(rs, pods, manageErr, rc.clock.Now())
	updated, err := rc.updateStatus(ctx, rs, status)
	if err != nil {
		return errors.Join(manageErr, err)
	}
	// Pods that are ready now become available minReadySeconds later.
	if manageErr == nil && updated.Spec.MinReadySeconds > 0 &&
		updated.Status.ReadyReplicas == replicas(updated) &&
		updated.Status.AvailableReplicas != replicas(updated) {
		rc.queue.AddAfter(key, time.Duration(updated.Spec.MinReadySeconds)*time.Second)
	}
	return manageErr
}

func (rc *Controller) claimPods(ctx context.Context, rs *appsv1.ReplicaSet, selector labels.Selector, pods []*corev1.Pod) ([]*corev1.Pod, error) {
	m := &controllerutil.RefManager{
		Owner:    rs,
		OwnerGVK: controllerKind,
		Selector: selector,
		Recheck: func(ctx context.Context) (metav1.Object, error) {
			return rc.client.AppsV1().ReplicaSets(rs.Namespace).Get(ctx, rs.Name, metav1.GetOptions{})
		},
		Patch: func(ctx context.Context, ns, name string, patch []byte) error {
			_, err := rc.client.CoreV1().Pods(ns).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
			return err
		},
	}
	return controllerutil.Claim(ctx, m, pods)
}

// manageReplicas creates or deletes at most rc.burst pods so that pods
// (the active pods rs owns) reaches spec.replicas.
func (rc *Controller) manageReplicas(ctx context.Context, key string, pods []*corev1.Pod, rs *appsv1.ReplicaSet) error {
	diff := len(pods) - int(replicas(rs))
	switch {
	case diff < 0:
		return rc.createPods(ctx, key, rs, min(-diff, rc.burst))
	case diff > 0:
		return rc.deletePods(ctx, key, rs, pods, min(diff, rc.burst))
	}
	return nil
}

func (rc *Controller) createPods(ctx context.Context, key string, rs *appsv1.ReplicaSet, n int) error {
	rc.exp.ExpectCreations(key, n)
	ref := metav1.NewControllerRef(rs, controllerKind)
	created, err := controllerutil.SlowStartBatch(n, 1, rc.maxInFlight, func() error {
		pod, err := controllerutil.PodFromTemplate(&rs.Spec.Template, rs.Namespace, rs.Name, ref)
		if err != nil {
			return err
		}
		got, err := rc.client.CoreV1().Pods(rs.Namespace).Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
				// Every create would fail; nothing to report.
				rc.exp.CreationObserved(key)
				return nil
			}
			if apierrors.IsTimeout(err) {
				// The pod may exist: the informer or expiry settles it.
				return nil
			}
			rc.recorder.Eventf(rs, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
			return err
		}
		rc.recorder.Eventf(rs, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %v", got.Name)
		return nil
	})
	// Creates never attempted (after a failed batch) or failed will never
	// be observed.
	for range n - created {
		rc.exp.CreationObserved(key)
	}
	return err
}

func (rc *Controller) deletePods(ctx context.Context, key string, rs *appsv1.ReplicaSet, pods []*corev1.Pod, n int) error {
	related, err := rc.indirectlyRelatedPods(rs)
	if err != nil {
		return err
	}
	victims := podsToDelete(pods, related, n, rc.clock.Now())
	keys := make([]string, len(victims))
	for i, p := range victims {
		keys[i] = podKey(p)
	}
	rc.exp.ExpectDeletions(key, keys)
	errs := make([]error, len(victims))
	var wg sync.WaitGroup
	for i, p := range victims {
		wg.Go(func() {
			err := rc.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{})
			if err == nil {
				rc.recorder.Eventf(rs, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %v", p.Name)
				return
			}
			// The informer will not observe this deletion.
			rc.exp.DeletionObserved(key, podKey(p))
			if !apierrors.IsNotFound(err) {
				rc.recorder.Eventf(rs, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
				errs[i] = fmt.Errorf("unable to delete pods: %w", err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// indirectlyRelatedPods are the pods of every ReplicaSet with the same
// controller as rs (the Deployment's other ReplicaSets), used to prefer
// deleting pods on crowded nodes.
func (rc *Controller) indirectlyRelatedPods(rs *appsv1.ReplicaSet) ([]*corev1.Pod, error) {
	ref := metav1.GetControllerOfNoCopy(rs)
	if ref == nil {
		return nil, nil
	}
	all, err := rc.rsLister.ReplicaSets(rs.Namespace).List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("list replica sets: %w", err)
	}
	seen := map[types.UID]bool{}
	var out []*corev1.Pod
	for _, other := range all {
		if r := metav1.GetControllerOfNoCopy(other); r == nil || r.UID != ref.UID {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(other.Spec.Selector)
		if err != nil {
			continue
		}
		pods, err := rc.pods.Pods(rs.Namespace).List(sel)
		if err != nil {
			return nil, fmt.Errorf("list pods: %w", err)
		}
		for _, p := range pods {
			if !seen[p.UID] {
				seen[p.UID] = true
				out = append(out, p)
			}
		}
	}
	return out, nil
}

func replicas(rs *appsv1.ReplicaSet) int32 {
	if rs.Spec.Replicas == nil {
		return 1
	}
	return *rs.Spec.Replicas
}
