// Package history keeps a workload's ControllerRevisions (the DaemonSet
// and StatefulSet controllers' rollout history): the revision hash of a
// pod template, the revision objects holding a template as a strategic
// merge patch as upstream stores them, and their upkeep (create, renumber,
// truncate).
//
// An API server that does not serve controllerrevisions (apps/v1) is
// tolerated: List returns no revisions and writes are skipped, so the
// controllers still roll pods by hash, only without stored history.
package history

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
)

// Hash is the controller-revision-hash of template with collisionCount:
// an FNV-32a hash of its JSON, encoded with rand.SafeEncodeString.
func Hash(template *corev1.PodTemplateSpec, collisionCount *int32) string {
	h := fnv.New32a()
	raw, _ := json.Marshal(template) // a PodTemplateSpec always marshals
	h.Write(raw)
	if collisionCount != nil {
		h.Write([]byte(strconv.Itoa(int(*collisionCount))))
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// Name is the revision's name for parent and hash, as upstream:
// "<parent>-<hash>".
func Name(parent, hash string) string { return parent + "-" + hash }

// Patch is the revision data of template, as upstream stores it:
// {"spec":{"template":{...,"$patch":"replace"}}}.
func Patch(template *corev1.PodTemplateSpec) ([]byte, error) {
	raw, err := json.Marshal(template)
	if err != nil {
		return nil, fmt.Errorf("marshal template: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("template to map: %w", err)
	}
	m["$patch"] = "replace"
	return json.Marshal(map[string]any{"spec": map[string]any{"template": m}})
}

// Template decodes the pod template stored in rev by Patch.
func Template(rev *appsv1.ControllerRevision) (*corev1.PodTemplateSpec, error) {
	var data struct {
		Spec struct {
			Template corev1.PodTemplateSpec `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(rev.Data.Raw, &data); err != nil {
		return nil, fmt.Errorf("revision %s: %w", rev.Name, err)
	}
	return &data.Spec.Template, nil
}

// Store reads and writes ControllerRevisions with a client.
type Store struct {
	Client kubernetes.Interface
}

// List returns the revisions in namespace matching selector and
// controlled by the object with uid, oldest revision first. An API
// server not serving controllerrevisions yields none.
func (s Store) List(ctx context.Context, namespace string, selector labels.Selector, uid string) ([]*appsv1.ControllerRevision, error) {
	list, err := s.Client.AppsV1().ControllerRevisions(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list controllerrevisions: %w", err)
	}
	var out []*appsv1.ControllerRevision
	for i := range list.Items {
		r := &list.Items[i]
		if ref := metav1.GetControllerOf(r); ref != nil && string(ref.UID) == uid {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b *appsv1.ControllerRevision) int { return int(a.Revision - b.Revision) })
	return out, nil
}

// Parent describes the owner of revisions.
type Parent struct {
	Object metav1.Object
	GVK    schema.GroupVersionKind
	// Labels of the revision (the template's labels plus the hash label).
	Labels map[string]string
}

// Ensure makes the revision named Name(parent, hash) holding template the
// newest one: it creates it with revision max+1, or renumbers an existing
// older one (a rollback). It returns the revision number, and 0 with no
// error when the server does not serve controllerrevisions.
func (s Store) Ensure(ctx context.Context, p Parent, revs []*appsv1.ControllerRevision, template *corev1.PodTemplateSpec, hash string) (int64, error) {
	name := Name(p.Object.GetName(), hash)
	var maxRev int64
	var existing *appsv1.ControllerRevision
	for _, r := range revs {
		maxRev = max(maxRev, r.Revision)
		if r.Name == name {
			existing = r
		}
	}
	ns := p.Object.GetNamespace()
	if existing != nil {
		if existing.Revision == maxRev {
			return maxRev, nil
		}
		c := existing.DeepCopy()
		c.Revision = maxRev + 1
		if _, err := s.Client.AppsV1().ControllerRevisions(ns).Update(ctx, c, metav1.UpdateOptions{}); err != nil {
			return 0, fmt.Errorf("renumber controllerrevision %s: %w", name, err)
		}
		return c.Revision, nil
	}
	data, err := Patch(template)
	if err != nil {
		return 0, err
	}
	rev := &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name:            name,
			Namespace:       ns,
			Labels:          p.Labels,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(p.Object, p.GVK)},
		},
		Data:     runtime.RawExtension{Raw: data},
		Revision: maxRev + 1,
	}
	_, err = s.Client.AppsV1().ControllerRevisions(ns).Create(ctx, rev, metav1.CreateOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return 0, nil // not served
	case apierrors.IsAlreadyExists(err):
		return maxRev + 1, nil // created by an earlier sync the list missed
	case err != nil:
		return 0, fmt.Errorf("create controllerrevision %s: %w", name, err)
	}
	return rev.Revision, nil
}

// Truncate deletes the oldest revisions beyond limit among those whose
// names are not in live (revisions in use by pods or named in status).
func (s Store) Truncate(ctx context.Context, revs []*appsv1.ControllerRevision, live map[string]bool, limit int) error {
	var old []*appsv1.ControllerRevision
	for _, r := range revs {
		if !live[r.Name] {
			old = append(old, r)
		}
	}
	for i := 0; i < len(old)-limit; i++ {
		err := s.Client.AppsV1().ControllerRevisions(old[i].Namespace).Delete(ctx, old[i].Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete controllerrevision %s: %w", old[i].Name, err)
		}
	}
	return nil
}
