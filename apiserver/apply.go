package apiserver

import (
	"fmt"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

var gvkEmpty = schema.GroupVersionKind{}

// apply is server-side apply: the applied configuration is merged into the
// live object by field ownership (managedFields); conflicts with other
// managers are 409 unless force=true. A missing object is created.
func (s *server) apply(w http.ResponseWriter, r *http.Request, res *resource, ri requestInfo, sub string, body []byte, dryRun bool) {
	q := r.URL.Query()
	manager := q.Get("fieldManager")
	if manager == "" {
		s.writeError(w, r, apierrors.NewBadRequest("PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"))
		return
	}
	force := q.Get("force") == "true"
	if res.fieldManager == nil {
		s.writeError(w, r, apierrors.NewMethodNotSupported(res.GroupResource(), "apply"))
		return
	}
	var content map[string]any
	if err := yaml.Unmarshal(body, &content); err != nil {
		s.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("error decoding YAML: %v", err)))
		return
	}
	applied := &unstructured.Unstructured{Object: content}
	want := res.GVK()
	if applied.GroupVersionKind() != want {
		s.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("the API version in the data (%s) does not match the expected API version (%s)",
			applied.GetAPIVersion(), want.GroupVersion().String())))
		return
	}
	if applied.GetName() != "" && applied.GetName() != ri.Name {
		s.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", applied.GetName(), ri.Name)))
		return
	}
	wo := writeOpts{manager: manager, dryRun: dryRun, applied: true}
	_, err := res.store.Get(r.Context(), res.store.Key(ri.Namespace, ri.Name))
	switch {
	case apierrors.IsNotFound(err) && sub == "":
		obj, err := res.fieldManager.Apply(res.New(), applied, manager, force)
		if err != nil {
			s.writeError(w, r, applyError(err))
			return
		}
		m, _ := meta.Accessor(obj)
		if m.GetName() == "" {
			m.SetName(ri.Name)
		}
		obj.GetObjectKind().SetGroupVersionKind(gvkEmpty)
		created, err := s.createObject(r.Context(), res, ri.Namespace, obj, wo)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.writeResult(w, r, res, http.StatusCreated, created)
		return
	case err != nil:
		s.writeError(w, r, err)
		return
	}
	updated, err := s.updateObject(r.Context(), res, ri, sub, wo, func(cur runtime.Object) (runtime.Object, error) {
		cur.GetObjectKind().SetGroupVersionKind(want)
		obj, err := res.fieldManagerFor(sub).Apply(cur, applied.DeepCopy(), manager, force)
		if err != nil {
			return nil, applyError(err)
		}
		obj.GetObjectKind().SetGroupVersionKind(gvkEmpty)
		return obj, nil
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeResult(w, r, res, http.StatusOK, updated)
}

func applyError(err error) error {
	if _, ok := err.(apierrors.APIStatus); ok {
		return err
	}
	return apierrors.NewBadRequest(err.Error())
}
