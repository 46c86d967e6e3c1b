package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"time"

	"github.com/skiffk8s/skiff/apiserver/storage"
)

// deleteOptions reads DeleteOptions from the body (if any) and the query.
func (s *server) deleteOptions(r *http.Request) (*metav1.DeleteOptions, error) {
	opts := &metav1.DeleteOptions{}
	if r.ContentLength != 0 {
		body, err := readBody(r)
		if err != nil {
			if st, ok := err.(apierrors.APIStatus); !ok || st.Status().Message != errNoBody.Error() {
				return nil, err
			}
		}
		if len(body) > 0 {
			if _, _, err := s.codecs.decodeBody(body, r.Header.Get("Content-Type"), opts); err != nil {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid DeleteOptions: %v", err))
			}
		}
	}
	q := r.URL.Query()
	if g := q.Get("gracePeriodSeconds"); g != "" {
		n, err := strconv.ParseInt(g, 10, 64)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid gracePeriodSeconds: %q", g))
		}
		opts.GracePeriodSeconds = &n
	}
	if p := q.Get("propagationPolicy"); p != "" {
		pp := metav1.DeletionPropagation(p)
		opts.PropagationPolicy = &pp
	}
	if o := q.Get("orphanDependents"); o != "" {
		b := o == "true"
		opts.OrphanDependents = &b
	}
	if len(q["dryRun"]) > 0 {
		opts.DryRun = q["dryRun"]
	}
	if opts.PropagationPolicy != nil && !slices.Contains(supportedDeletePolices, string(*opts.PropagationPolicy)) {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("propagationPolicy: Unsupported value: %q: supported values: %v", *opts.PropagationPolicy, supportedDeletePolices))
	}
	for _, d := range opts.DryRun {
		if d != metav1.DryRunAll {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("dryRun: unsupported value %q", d))
		}
	}
	return opts, nil
}

func (s *server) delete(w http.ResponseWriter, r *http.Request, res *resource, ri requestInfo) {
	opts, err := s.deleteOptions(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	obj, deleted, err := s.deleteObject(r.Context(), res, ri.Namespace, ri.Name, opts)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	code := http.StatusOK
	if !deleted && opts.PropagationPolicy != nil && *opts.PropagationPolicy == metav1.DeletePropagationForeground {
		code = http.StatusAccepted // as upstream: dependents are deleted first
	}
	s.writeResult(w, r, res, code, obj)
}

// deleteObject deletes, or starts the graceful deletion of, one object. It
// returns the object and whether it is gone from storage.
func (s *server) deleteObject(ctx context.Context, res *resource, ns, name string, opts *metav1.DeleteOptions) (runtime.Object, bool, error) {
	if res.Group == "" && res.Resource == "namespaces" && slices.Contains(immortalNamespaces, name) {
		return nil, false, apierrors.NewForbidden(res.GroupResource(), name, fmt.Errorf("this namespace may not be deleted"))
	}
	key := res.store.Key(ns, name)
	cur, err := res.store.Get(ctx, key)
	if err != nil {
		return nil, false, err
	}
	if err := checkPreconditions(res, name, cur, opts.Preconditions); err != nil {
		return nil, false, err
	}
	dryRun := len(opts.DryRun) > 0
	cm, _ := meta.Accessor(cur)
	finalizers := cm.GetFinalizers()
	policy := metav1.DeletePropagationBackground
	if opts.PropagationPolicy != nil {
		policy = *opts.PropagationPolicy
	} else if opts.OrphanDependents != nil && *opts.OrphanDependents {
		policy = metav1.DeletePropagationOrphan
	}
	grace := s.gracePeriod(res, cur, opts)
	wantFinalizer := ""
	switch policy {
	case metav1.DeletePropagationForeground:
		wantFinalizer = metav1.FinalizerDeleteDependents
	case metav1.DeletePropagationOrphan:
		wantFinalizer = metav1.FinalizerOrphanDependents
	}
	graceful := len(finalizers) > 0 || wantFinalizer != "" || grace > 0 || res.Resource == "namespaces"
	if !graceful {
		if dryRun {
			return cur, true, nil
		}
		obj, err := res.store.Delete(ctx, key, func(c runtime.Object) error {
			return checkPreconditions(res, name, c, opts.Preconditions)
		})
		if err != nil {
			return nil, false, err
		}
		s.release(ctx, res, obj)
		return obj, true, nil
	}
	// Mark for deletion: deletionTimestamp, grace period, finalizers.
	mark := func(c runtime.Object) (runtime.Object, error) {
		if err := checkPreconditions(res, name, c, opts.Preconditions); err != nil {
			return nil, err
		}
		m, _ := meta.Accessor(c)
		now := metav1.NewTime(s.now())
		if m.GetDeletionTimestamp() == nil {
			m.SetDeletionTimestamp(&metav1.Time{Time: now.Add(secondsDuration(grace))})
			m.SetDeletionGracePeriodSeconds(&grace)
		} else if old := m.GetDeletionGracePeriodSeconds(); old != nil && grace < *old {
			// A shorter grace period shortens a deletion in progress.
			m.SetDeletionTimestamp(&metav1.Time{Time: now.Add(secondsDuration(grace))})
			m.SetDeletionGracePeriodSeconds(&grace)
		}
		if wantFinalizer != "" && !slices.Contains(m.GetFinalizers(), wantFinalizer) && m.GetDeletionTimestamp() != nil {
			fz := m.GetFinalizers()
			fz = slices.DeleteFunc(fz, func(f string) bool {
				return f == metav1.FinalizerOrphanDependents || f == metav1.FinalizerDeleteDependents
			})
			m.SetFinalizers(append(fz, wantFinalizer))
		}
		if ns, ok := c.(*corev1.Namespace); ok {
			ns.Status.Phase = corev1.NamespaceTerminating
		}
		return c, nil
	}
	if dryRun {
		obj, err := mark(cur.DeepCopyObject())
		return obj, false, err
	}
	obj, err := res.store.Update(ctx, key, mark)
	if err != nil {
		return nil, false, err
	}
	m, _ := meta.Accessor(obj)
	if len(m.GetFinalizers()) == 0 && !waitsForKubelet(obj) && res.Resource != "namespaces" {
		rv := m.GetResourceVersion()
		gone, err := res.store.Delete(ctx, key, func(c runtime.Object) error {
			cm, _ := meta.Accessor(c)
			if cm.GetResourceVersion() != rv {
				return errRaced
			}
			return nil
		})
		if err == nil {
			s.release(ctx, res, gone)
			return gone, true, nil
		}
	}
	return obj, false, nil
}

// namespaceFinalizing reports whether obj is a namespace whose
// spec.finalizers (the namespace controller's "kubernetes") are still
// pending: it stays, whatever its metadata.finalizers, until the
// namespaces/finalize subresource empties them.
func namespaceFinalizing(obj runtime.Object) bool {
	ns, ok := obj.(*corev1.Namespace)
	return ok && len(ns.Spec.Finalizers) > 0
}

func secondsDuration(n int64) time.Duration { return time.Duration(n) * time.Second }

// immortalNamespaces may not be deleted, as upstream's NamespaceLifecycle
// admission rules: nothing could be created in them again.
var immortalNamespaces = []string{metav1.NamespaceDefault, metav1.NamespaceSystem, metav1.NamespacePublic}

func checkPreconditions(res *resource, name string, cur runtime.Object, p *metav1.Preconditions) error {
	if p == nil {
		return nil
	}
	m, _ := meta.Accessor(cur)
	if p.UID != nil && *p.UID != "" && *p.UID != m.GetUID() {
		return apierrors.NewConflict(res.GroupResource(), name,
			fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", *p.UID, m.GetUID()))
	}
	if p.ResourceVersion != nil && *p.ResourceVersion != "" && *p.ResourceVersion != m.GetResourceVersion() {
		return apierrors.NewConflict(res.GroupResource(), name,
			fmt.Errorf("Precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *p.ResourceVersion, m.GetResourceVersion()))
	}
	return nil
}

// gracePeriod is the grace period a delete gets: only pods bound to a node
// and not yet finished wait for their kubelet; everything else goes at once.
func (s *server) gracePeriod(res *resource, cur runtime.Object, opts *metav1.DeleteOptions) int64 {
	pod, ok := cur.(*corev1.Pod)
	if !ok {
		return 0
	}
	if pod.Spec.NodeName == "" || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return 0
	}
	if opts.GracePeriodSeconds != nil {
		if *opts.GracePeriodSeconds < 0 {
			return 1
		}
		return *opts.GracePeriodSeconds
	}
	if pod.DeletionGracePeriodSeconds != nil {
		return *pod.DeletionGracePeriodSeconds
	}
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		return *g
	}
	return 30
}

// waitsForKubelet reports whether obj is a pod being deleted gracefully:
// it stays until its kubelet confirms with a delete of grace period 0.
func waitsForKubelet(obj runtime.Object) bool {
	pod, ok := obj.(*corev1.Pod)
	return ok && pod.DeletionGracePeriodSeconds != nil && *pod.DeletionGracePeriodSeconds > 0
}

func (s *server) deleteCollection(w http.ResponseWriter, r *http.Request, res *resource, ri requestInfo) {
	opts, err := s.deleteOptions(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	pred, err := s.predicate(res, r.URL.Query())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	result, err := res.store.List(r.Context(), res.store.KeyPrefix(ri.Namespace), storage.ListOptions{Predicate: pred})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var items []runtime.Object
	for _, it := range result.Items {
		m, _ := meta.Accessor(it)
		obj, _, err := s.deleteObject(r.Context(), res, m.GetNamespace(), m.GetName(), opts)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		items = append(items, obj)
	}
	s.writeList(w, r, res, &storage.ListResult{Items: items, ResourceVersion: result.ResourceVersion})
}
