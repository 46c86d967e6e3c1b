package apiserver

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
)

// patch applies a JSON patch, merge patch, strategic merge patch or
// server-side apply to an object (or to its status with sub "status").
func (s *server) patch(w http.ResponseWriter, r *http.Request, res *resource, ri requestInfo, sub string) {
	body, err := readBody(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	pt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch types.PatchType(pt) {
	case types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType, types.ApplyYAMLPatchType, types.ApplyCBORPatchType:
	default:
		s.writeError(w, r, apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "patch", res.GroupResource(), ri.Name,
			fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: %s, %s, %s, %s",
				types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType, types.ApplyYAMLPatchType), 0, false))
		return
	}
	dryRun, err := isDryRun(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if types.PatchType(pt) == types.ApplyYAMLPatchType {
		s.apply(w, r, res, ri, sub, body, dryRun)
		return
	}
	fv, err := fieldValidation(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	gvk := res.GVK()
	updated, err := s.updateObject(r.Context(), res, ri, sub, writeOpts{manager: managerName(r), dryRun: dryRun}, func(cur runtime.Object) (runtime.Object, error) {
		curJSON, err := encodeJSON(cur, gvk)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		var patched []byte
		switch types.PatchType(pt) {
		case types.JSONPatchType:
			p, err := jsonpatch.DecodePatch(body)
			if err != nil {
				return nil, apierrors.NewBadRequest(err.Error())
			}
			if patched, err = p.Apply(curJSON); err != nil {
				return nil, apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "patch", res.GroupResource(), ri.Name, err.Error(), 0, false)
			}
		case types.MergePatchType:
			if !json.Valid(body) {
				return nil, apierrors.NewBadRequest("error decoding patch: invalid JSON")
			}
			if patched, err = jsonpatch.MergePatch(curJSON, body); err != nil {
				return nil, apierrors.NewBadRequest(err.Error())
			}
		case types.StrategicMergePatchType:
			var pm map[string]any
			if err := json.Unmarshal(body, &pm); err != nil {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("error decoding patch: %v", err))
			}
			if patched, err = strategicpatch.StrategicMergePatch(curJSON, body, res.New()); err != nil {
				return nil, apierrors.NewBadRequest(err.Error())
			}
		}
		obj := res.New()
		_, strictErr, err := s.codecs.decodeBody(patched, mediaJSON, obj)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("the patched object is not valid: %v", err))
		}
		if strictErr != nil {
			switch fv {
			case "Strict":
				return nil, apierrors.NewBadRequest(strictErr.Error())
			case "Warn":
				addWarning(w, strictErr.Error())
			}
		}
		obj.GetObjectKind().SetGroupVersionKind(gvkEmpty)
		// The patch may not carry a resourceVersion precondition unless the
		// client put one in it: compare with the stored one.
		cm, _ := meta.Accessor(cur)
		om, _ := meta.Accessor(obj)
		if om.GetResourceVersion() == "" {
			om.SetResourceVersion(cm.GetResourceVersion())
		}
		return obj, nil
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeResult(w, r, res, http.StatusOK, updated)
}
