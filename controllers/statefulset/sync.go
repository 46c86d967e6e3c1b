package statefulset

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/skiffk8s/skiff/controllers/internal/controllerutil"
	"github.com/skiffk8s/skiff/controllers/internal/history"
)

// Pod labels set by the controller, as upstream.
const (
	podNameLabel  = appsv1.StatefulSetPodNameLabel // statefulset.kubernetes.io/pod-name
	podIndexLabel = appsv1.PodIndexLabel           // apps.kubernetes.io/pod-index
)

// sync reconciles the set with key, taking at most one ordered step.
func (sc *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	set, err := sc.sets.StatefulSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if set.DeletionTimestamp != nil {
		return nil
	}
	all, err := sc.pods.Pods(ns).List(labels.Everything())
	if err != nil {
		return err
	}
	pods := map[int]*corev1.Pod{}
	for _, p := range all {
		if ref := metav1.GetControllerOf(p); ref != nil && ref.UID == set.UID {
			if ord, ok := ordinalOf(set.Name, p.Name); ok {
				pods[ord] = p
			}
		}
	}
	updateRev := history.Hash(&set.Spec.Template, set.Status.CollisionCount)
	currentRev := set.Status.CurrentRevision
	if currentRev == "" {
		currentRev = updateRev
	}
	currentTemplate, err := sc.syncHistory(ctx, set, updateRev, currentRev, pods)
	if err != nil {
		return err
	}
	stepErr := sc.step(ctx, set, pods, currentRev, updateRev, currentTemplate)
	if err := sc.updateStatus(ctx, set, pods, currentRev, updateRev); err != nil {
		return err
	}
	return stepErr
}

// ordinalOf parses <set>-<ordinal>.
func ordinalOf(set, pod string) (int, bool) {
	s, ok := strings.CutPrefix(pod, set+"-")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0 && strconv.Itoa(n) == s
}

func revisionOf(p *corev1.Pod) string { return p.Labels[appsv1.ControllerRevisionHashLabelKey] }

func runningAndReady(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodRunning && controllerutil.IsPodReady(p) && p.DeletionTimestamp == nil
}

// step creates, deletes or updates pods: with OrderedReady one step at a
// time in ordinal order, waiting for each pod to be Running and Ready.
func (sc *Controller) step(ctx context.Context, set *appsv1.StatefulSet, pods map[int]*corev1.Pod, currentRev, updateRev string, currentTemplate *corev1.PodTemplateSpec) error {
	monotonic := set.Spec.PodManagementPolicy != appsv1.ParallelPodManagement
	start := 0
	if set.Spec.Ordinals != nil {
		start = int(set.Spec.Ordinals.Start)
	}
	end := start + int(ptr.Deref(set.Spec.Replicas, 1))
	rolling := set.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType
	partition := 0
	if ru := set.Spec.UpdateStrategy.RollingUpdate; rolling && ru != nil {
		partition = int(ptr.Deref(ru.Partition, 0))
	}
	healthy := true
	for ord := start; ord < end; ord++ {
		p := pods[ord]
		switch {
		case p == nil:
			rev, tmpl := updateRev, &set.Spec.Template
			if rolling && currentRev != updateRev && ord < partition && currentTemplate != nil {
				rev, tmpl = currentRev, currentTemplate
			}
			if err := sc.create(ctx, set, ord, rev, tmpl); err != nil {
				return err
			}
			if monotonic {
				return nil
			}
			healthy = false
		case p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded:
			if p.DeletionTimestamp == nil {
				if err := sc.delete(ctx, set, p); err != nil {
					return err
				}
			}
			if monotonic {
				return nil
			}
			healthy = false
		case !runningAndReady(p):
			if monotonic {
				return nil
			}
			healthy = false
		}
	}
	// Condemned pods (beyond the replicas), highest ordinal first.
	var condemned []int
	for ord := range pods {
		if ord < start || ord >= end {
			condemned = append(condemned, ord)
		}
	}
	slices.SortFunc(condemned, func(a, b int) int { return b - a })
	for _, ord := range condemned {
		p := pods[ord]
		if p.DeletionTimestamp != nil {
			if monotonic {
				return nil
			}
			continue
		}
		if monotonic && !healthy {
			return nil
		}
		if err := sc.delete(ctx, set, p); err != nil {
			return err
		}
		if monotonic {
			return nil
		}
	}
	if !rolling || !healthy {
		return nil
	}
	// Rolling update: from the highest ordinal down to the partition,
	// one pod at a time, each after the previous is Running and Ready.
	for ord := end - 1; ord >= max(start, partition); ord-- {
		p := pods[ord]
		if p == nil {
			return nil
		}
		if revisionOf(p) != updateRev {
			if p.DeletionTimestamp == nil {
				return sc.delete(ctx, set, p)
			}
			return nil
		}
		if !runningAndReady(p) {
			return nil
		}
	}
	return nil
}

// newPod is the set's pod for ordinal from template at revision.
func newPod(set *appsv1.StatefulSet, ordinal int, revision string, template *corev1.PodTemplateSpec) *corev1.Pod {
	t := template.DeepCopy()
	name := fmt.Sprintf("%s-%d", set.Name, ordinal)
	lbls := maps.Clone(t.Labels)
	if lbls == nil {
		lbls = map[string]string{}
	}
	lbls[podNameLabel] = name
	lbls[podIndexLabel] = strconv.Itoa(ordinal)
	lbls[appsv1.ControllerRevisionHashLabelKey] = revision
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:            name,
			Namespace:       set.Namespace,
			Labels:          lbls,
			Annotations:     maps.Clone(t.Annotations),
			Finalizers:      t.Finalizers,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(set, stsKind)},
		},
		Spec: t.Spec,
	}
	pod.Spec.Hostname = name
	pod.Spec.Subdomain = set.Spec.ServiceName
	return pod
}

func (sc *Controller) create(ctx context.Context, set *appsv1.StatefulSet, ord int, rev string, tmpl *corev1.PodTemplateSpec) error {
	pod := newPod(set, ord, rev, tmpl)
	_, err := sc.client.CoreV1().Pods(set.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil // our cache lags our own create
	}
	if err != nil {
		sc.recorder.Eventf(set, corev1.EventTypeWarning, "FailedCreate", "create Pod %s in StatefulSet %s failed error: %s", pod.Name, set.Name, err)
		return fmt.Errorf("create pod %s: %w", pod.Name, err)
	}
	sc.recorder.Eventf(set, corev1.EventTypeNormal, "SuccessfulCreate", "create Pod %s in StatefulSet %s successful", pod.Name, set.Name)
	return nil
}

func (sc *Controller) delete(ctx context.Context, set *appsv1.StatefulSet, p *corev1.Pod) error {
	err := sc.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	if err != nil {
		sc.recorder.Eventf(set, corev1.EventTypeWarning, "FailedDelete", "delete Pod %s in StatefulSet %s failed error: %s", p.Name, set.Name, err)
		return fmt.Errorf("delete pod %s: %w", p.Name, err)
	}
	sc.recorder.Eventf(set, corev1.EventTypeNormal, "SuccessfulDelete", "delete Pod %s in StatefulSet %s successful", p.Name, set.Name)
	return nil
}

// syncHistory keeps revisions and returns the current revision's
// template (nil when not stored, e.g. controllerrevisions not served).
func (sc *Controller) syncHistory(ctx context.Context, set *appsv1.StatefulSet, updateRev, currentRev string, pods map[int]*corev1.Pod) (*corev1.PodTemplateSpec, error) {
	sel, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("statefulset %s/%s selector: %w", set.Namespace, set.Name, err)
	}
	revs, err := sc.history.List(ctx, set.Namespace, sel, string(set.UID))
	if err != nil {
		return nil, err
	}
	lbls := maps.Clone(set.Spec.Template.Labels)
	if lbls == nil {
		lbls = map[string]string{}
	}
	lbls[appsv1.ControllerRevisionHashLabelKey] = updateRev
	if _, err := sc.history.Ensure(ctx, history.Parent{Object: set, GVK: stsKind, Labels: lbls}, revs, &set.Spec.Template, updateRev); err != nil {
		return nil, err
	}
	var current *corev1.PodTemplateSpec
	live := map[string]bool{history.Name(set.Name, updateRev): true, history.Name(set.Name, currentRev): true}
	for _, r := range revs {
		if r.Name == history.Name(set.Name, currentRev) {
			current, _ = history.Template(r)
		}
	}
	for _, p := range pods {
		live[history.Name(set.Name, revisionOf(p))] = true
	}
	return current, sc.history.Truncate(ctx, revs, live, int(ptr.Deref(set.Spec.RevisionHistoryLimit, 10)))
}

// updateStatus writes upstream's StatefulSet status.
func (sc *Controller) updateStatus(ctx context.Context, set *appsv1.StatefulSet, pods map[int]*corev1.Pod, currentRev, updateRev string) error {
	now := sc.clock.Now()
	st := appsv1.StatefulSetStatus{
		ObservedGeneration: set.Generation,
		CurrentRevision:    currentRev,
		UpdateRevision:     updateRev,
		CollisionCount:     set.Status.CollisionCount,
		Conditions:         set.Status.Conditions,
	}
	for _, p := range pods {
		st.Replicas++
		if controllerutil.IsPodReady(p) && p.DeletionTimestamp == nil {
			st.ReadyReplicas++
			if controllerutil.IsPodAvailable(p, set.Spec.MinReadySeconds, now) {
				st.AvailableReplicas++
			}
		}
		if p.DeletionTimestamp != nil {
			continue
		}
		if revisionOf(p) == currentRev {
			st.CurrentReplicas++
		}
		if revisionOf(p) == updateRev {
			st.UpdatedReplicas++
		}
	}
	replicas := ptr.Deref(set.Spec.Replicas, 1)
	if st.UpdatedReplicas == replicas && st.ReadyReplicas >= replicas && st.Replicas == replicas {
		st.CurrentRevision, st.CurrentReplicas = updateRev, st.UpdatedReplicas
	}
	if equality.Semantic.DeepEqual(st, set.Status) {
		return nil
	}
	c := set.DeepCopy()
	c.Status = st
	if _, err := sc.client.AppsV1().StatefulSets(set.Namespace).UpdateStatus(ctx, c, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update status of statefulset %s/%s: %w", set.Namespace, set.Name, err)
	}
	return nil
}
