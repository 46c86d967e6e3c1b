package replicaset

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/skiffk8s/skiff/controllers/internal/controllerutil"
)

// The pod handlers only settle expectations and enqueue ReplicaSet keys.

func (rc *Controller) addPod(obj any) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		// Seen already being deleted (e.g. after a restart): a deletion.
		rc.deletePod(pod)
		return
	}
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		rs := rc.resolveControllerRef(pod.Namespace, ref)
		if rs == nil {
			return
		}
		key := controllerutil.Key(rs)
		rc.exp.CreationObserved(key)
		rc.queue.Add(key)
		return
	}
	for _, rs := range rc.matchingReplicaSets(pod) {
		rc.enqueue(rs)
	}
}

func (rc *Controller) updatePod(old, cur any) {
	oldPod, curPod := old.(*corev1.Pod), cur.(*corev1.Pod)
	if oldPod.ResourceVersion == curPod.ResourceVersion {
		return
	}
	labelsChanged := !labels.Equals(oldPod.Labels, curPod.Labels)
	if curPod.DeletionTimestamp != nil {
		// Graceful deletion started: count it now, as upstream does, so
		// the ReplicaSet replaces the pod without waiting for it to go.
		rc.deletePod(curPod)
		if labelsChanged {
			rc.deletePod(oldPod)
		}
		return
	}
	curRef, oldRef := metav1.GetControllerOfNoCopy(curPod), metav1.GetControllerOfNoCopy(oldPod)
	refChanged := !refEqual(curRef, oldRef)
	if refChanged && oldRef != nil {
		if rs := rc.resolveControllerRef(oldPod.Namespace, oldRef); rs != nil {
			rc.enqueue(rs)
		}
	}
	if curRef != nil {
		rs := rc.resolveControllerRef(curPod.Namespace, curRef)
		if rs == nil {
			return
		}
		rc.enqueue(rs)
		// A pod that became ready becomes available minReadySeconds later.
		if rs.Spec.MinReadySeconds > 0 && !controllerutil.IsPodReady(oldPod) && controllerutil.IsPodReady(curPod) {
			rc.enqueueAfter(rs, time.Duration(rs.Spec.MinReadySeconds)*time.Second+time.Second)
		}
		return
	}
	if labelsChanged || refChanged {
		for _, rs := range rc.matchingReplicaSets(curPod) {
			rc.enqueue(rs)
		}
	}
}

func (rc *Controller) deletePod(obj any) {
	pod, ok := controllerutil.FromEvent[*corev1.Pod](obj)
	if !ok {
		return
	}
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil {
		return
	}
	rs := rc.resolveControllerRef(pod.Namespace, ref)
	if rs == nil {
		return
	}
	key := controllerutil.Key(rs)
	rc.exp.DeletionObserved(key, podKey(pod))
	rc.queue.Add(key)
}

// resolveControllerRef returns the ReplicaSet ref points to, or nil when
// ref is not a ReplicaSet or names one that no longer exists (same name,
// other UID).
func (rc *Controller) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *appsv1.ReplicaSet {
	return controllerutil.ResolveControllerRef(ref, controllerKind, rc.rsLister.ReplicaSets(namespace).Get)
}

// matchingReplicaSets are the ReplicaSets whose selector matches pod's
// labels (candidates to adopt an orphan).
func (rc *Controller) matchingReplicaSets(pod *corev1.Pod) []*appsv1.ReplicaSet {
	all, err := rc.rsLister.ReplicaSets(pod.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	return controllerutil.Selecting(all, func(rs *appsv1.ReplicaSet) *metav1.LabelSelector { return rs.Spec.Selector }, pod.Labels)
}

func refEqual(a, b *metav1.OwnerReference) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.UID == b.UID
}

func podKey(pod *corev1.Pod) string { return pod.Namespace + "/" + pod.Name }
