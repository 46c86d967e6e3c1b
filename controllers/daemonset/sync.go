package daemonset

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/skiffk8s/skiff/controllers/internal/controllerutil"
	"github.com/skiffk8s/skiff/controllers/internal/ctrlutil"
	"github.com/skiffk8s/skiff/controllers/internal/history"
)

// sync runs one daemon pod of the set with key on each eligible node.
func (dc *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	ds, err := dc.sets.DaemonSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		dc.expect.Delete(key)
		return nil
	}
	if err != nil {
		return err
	}
	if ds.DeletionTimestamp != nil {
		return nil
	}
	nodes, err := dc.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	all, err := dc.pods.Pods(ns).List(labels.Everything())
	if err != nil {
		return err
	}
	byNode := map[string][]*corev1.Pod{}
	for _, p := range all {
		if ref := metav1.GetControllerOf(p); ref != nil && ref.UID == ds.UID && p.DeletionTimestamp == nil {
			byNode[targetNode(p)] = append(byNode[targetNode(p)], p)
		}
	}

	hash := history.Hash(&ds.Spec.Template, ds.Status.CollisionCount)
	if err := dc.syncHistory(ctx, ds, hash, byNode); err != nil {
		return err
	}

	var creates []string
	var deletes []*corev1.Pod
	if dc.expect.Satisfied(key) {
		creates, deletes = dc.plan(ds, nodes, byNode, hash)
	}
	err = dc.apply(ctx, key, ds, hash, creates, deletes)
	if serr := dc.updateStatus(ctx, ds, nodes, byNode, hash); serr != nil {
		return errors.Join(err, serr)
	}
	return err
}

// plan decides which nodes get a new pod and which pods go.
func (dc *Controller) plan(ds *appsv1.DaemonSet, nodes []*corev1.Node, byNode map[string][]*corev1.Pod, hash string) ([]string, []*corev1.Pod) {
	var creates []string
	var deletes []*corev1.Pod
	known := map[string]bool{}
	now := dc.clock.Now()
	rolling := ds.Spec.UpdateStrategy.Type != appsv1.OnDeleteDaemonSetStrategyType
	desired := 0
	for _, n := range nodes {
		if run, _ := shouldRun(ds, n); run {
			desired++
		}
	}
	maxUnavailable, maxSurge := 1, 0
	if ru := ds.Spec.UpdateStrategy.RollingUpdate; ru != nil {
		maxUnavailable = scaled(ru.MaxUnavailable, desired, true, 1)
		maxSurge = scaled(ru.MaxSurge, desired, true, 0)
		if maxSurge == 0 && maxUnavailable == 0 {
			maxUnavailable = 1
		}
	}
	unavailable := 0
	type oldOnNode struct {
		node string
		old  *corev1.Pod
		new  *corev1.Pod
	}
	var olds []oldOnNode
	for _, n := range nodes {
		known[n.Name] = true
		run, keep := shouldRun(ds, n)
		pods := slices.Clone(byNode[n.Name])
		// Failed pods are deleted; a replacement follows.
		for _, p := range pods {
			if p.Status.Phase == corev1.PodFailed {
				dc.recorder.Eventf(ds, corev1.EventTypeWarning, "FailedDaemonPod", "Found failed daemon pod %s/%s on node %s, will try to kill it", p.Namespace, p.Name, n.Name)
				deletes = append(deletes, p)
			}
		}
		pods = slices.DeleteFunc(pods, func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
		switch {
		case !keep:
			deletes = append(deletes, pods...)
		case run && len(pods) == 0:
			creates = append(creates, n.Name)
			unavailable++
		case run:
			var cur, old []*corev1.Pod
			for _, p := range pods {
				if p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == hash {
					cur = append(cur, p)
				} else {
					old = append(old, p)
				}
			}
			slices.SortFunc(cur, func(a, b *corev1.Pod) int { return a.CreationTimestamp.Compare(b.CreationTimestamp.Time) })
			if len(cur) > 1 {
				deletes = append(deletes, cur[1:]...) // keep the oldest
				cur = cur[:1]
			}
			anyAvailable := slices.ContainsFunc(pods, func(p *corev1.Pod) bool { return controllerutil.IsPodAvailable(p, ds.Spec.MinReadySeconds, now) })
			if !anyAvailable {
				unavailable++
			}
			switch {
			case len(old) == 0:
			case !rolling:
			case len(cur) == 1:
				// A surge pod replaces the old ones once available.
				if controllerutil.IsPodAvailable(cur[0], ds.Spec.MinReadySeconds, now) {
					deletes = append(deletes, old...)
				}
			default:
				olds = append(olds, oldOnNode{node: n.Name, old: old[0]})
				deletes = append(deletes, old[1:]...)
			}
		}
	}
	// Pods on deleted nodes (or none) go.
	for node, pods := range byNode {
		if !known[node] {
			deletes = append(deletes, pods...)
		}
	}
	// Rolling update of nodes still running only an old pod.
	budget := maxUnavailable - unavailable
	surge := maxSurge
	for _, o := range olds {
		available := controllerutil.IsPodAvailable(o.old, ds.Spec.MinReadySeconds, now)
		switch {
		case !available:
			deletes = append(deletes, o.old) // already unavailable: free to replace
		case maxSurge > 0 && surge > 0:
			creates = append(creates, o.node)
			surge--
		case maxSurge == 0 && budget > 0:
			deletes = append(deletes, o.old)
			budget--
		}
	}
	return creates, deletes
}

// scaled resolves an int-or-percent against total (percentages rounded
// up), or def when unset.
func scaled(v *intstr.IntOrString, total int, roundUp bool, def int) int {
	if v == nil {
		return def
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(v, total, roundUp)
	if err != nil {
		return def
	}
	return n
}

// apply creates and deletes pods, recording upstream's events.
func (dc *Controller) apply(ctx context.Context, key string, ds *appsv1.DaemonSet, hash string, creates []string, deletes []*corev1.Pod) error {
	if len(creates)+len(deletes) == 0 {
		return nil
	}
	dc.expect.Expect(key, len(creates), len(deletes))
	var errs []error
	for _, node := range creates {
		pod, err := dc.client.CoreV1().Pods(ds.Namespace).Create(ctx, newPod(ds, node, hash), metav1.CreateOptions{})
		if err != nil {
			dc.expect.Observed(key, 1, 0)
			dc.recorder.Eventf(ds, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
			errs = append(errs, fmt.Errorf("create daemon pod for node %s: %w", node, err))
			continue
		}
		dc.recorder.Eventf(ds, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %v", pod.Name)
	}
	for _, p := range deletes {
		err := dc.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{})
		if err != nil {
			dc.expect.Observed(key, 0, 1)
			if !apierrors.IsNotFound(err) {
				dc.recorder.Eventf(ds, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
				errs = append(errs, fmt.Errorf("delete daemon pod %s: %w", p.Name, err))
			}
			continue
		}
		dc.recorder.Eventf(ds, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %v", p.Name)
	}
	return errors.Join(errs...)
}

// syncHistory keeps a ControllerRevision for the current template and at
// most revisionHistoryLimit unused old ones.
func (dc *Controller) syncHistory(ctx context.Context, ds *appsv1.DaemonSet, hash string, byNode map[string][]*corev1.Pod) error {
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		return fmt.Errorf("daemonset %s/%s selector: %w", ds.Namespace, ds.Name, err)
	}
	revs, err := dc.history.List(ctx, ds.Namespace, sel, string(ds.UID))
	if err != nil {
		return err
	}
	lbls := map[string]string{appsv1.DefaultDaemonSetUniqueLabelKey: hash}
	for k, v := range ds.Spec.Template.Labels {
		lbls[k] = v
	}
	if _, err := dc.history.Ensure(ctx, history.Parent{Object: ds, GVK: dsKind, Labels: lbls}, revs, &ds.Spec.Template, hash); err != nil {
		return err
	}
	live := map[string]bool{history.Name(ds.Name, hash): true}
	for _, pods := range byNode {
		for _, p := range pods {
			live[history.Name(ds.Name, p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey])] = true
		}
	}
	return dc.history.Truncate(ctx, revs, live, int(ptr.Deref(ds.Spec.RevisionHistoryLimit, 10)))
}

// updateStatus writes upstream's DaemonSet status counts.
func (dc *Controller) updateStatus(ctx context.Context, ds *appsv1.DaemonSet, nodes []*corev1.Node, byNode map[string][]*corev1.Pod, hash string) error {
	now := dc.clock.Now()
	var st appsv1.DaemonSetStatus
	for _, n := range nodes {
		run, _ := shouldRun(ds, n)
		pods := byNode[n.Name]
		switch {
		case run:
			st.DesiredNumberScheduled++
			if len(pods) == 0 {
				break
			}
			st.CurrentNumberScheduled++
			sorted := slices.Clone(pods)
			slices.SortFunc(sorted, func(a, b *corev1.Pod) int { return a.CreationTimestamp.Compare(b.CreationTimestamp.Time) })
			p := sorted[0]
			if controllerutil.IsPodReady(p) {
				st.NumberReady++
				if controllerutil.IsPodAvailable(p, ds.Spec.MinReadySeconds, now) {
					st.NumberAvailable++
				}
			}
			if p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == hash {
				st.UpdatedNumberScheduled++
			}
		case len(pods) > 0:
			st.NumberMisscheduled++
		}
	}
	st.NumberUnavailable = st.DesiredNumberScheduled - st.NumberAvailable
	st.ObservedGeneration = ds.Generation
	st.CollisionCount = ds.Status.CollisionCount
	st.Conditions = ds.Status.Conditions
	if equality.Semantic.DeepEqual(st, ds.Status) {
		return nil
	}
	c := ds.DeepCopy()
	c.Status = st
	if _, err := dc.client.AppsV1().DaemonSets(ds.Namespace).UpdateStatus(ctx, c, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update status of daemonset %s/%s: %w", ds.Namespace, ds.Name, err)
	}
	if ds.Spec.MinReadySeconds > 0 && st.NumberAvailable < st.NumberReady {
		ctrlutil.AddAfter(dc.clock, dc.queue, ds.Namespace+"/"+ds.Name, time.Duration(ds.Spec.MinReadySeconds)*time.Second)
	}
	return nil
}
