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
	"k8s.io/apimachinery/pkg/runtime/schema"
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
		patched, err := applyPatch(types.PatchType(pt), curJSON, body, res.New(), res.GroupResource(), ri.Name)
		if err != nil {
			return nil, err
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

// applyPatch applies a JSON patch, merge patch or strategic merge patch
// (dataStruct is the Go type strategic merge follows) to cur, answering bad
// patches with 400 and patches that cannot apply with 422, as upstream.
func applyPatch(pt types.PatchType, cur, patch []byte, dataStruct runtime.Object, gr schema.GroupResource, name string) ([]byte, error) {
	switch pt {
	case types.JSONPatchType:
		p, err := jsonpatch.DecodePatch(patch)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		out, err := p.Apply(cur)
		if err != nil {
			return nil, apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "patch", gr, name, err.Error(), 0, false)
		}
		return out, nil
	case types.MergePatchType:
		if !json.Valid(patch) {
			return nil, apierrors.NewBadRequest("error decoding patch: invalid JSON")
		}
		out, err := jsonpatch.MergePatch(cur, patch)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		return out, nil
	case types.StrategicMergePatchType:
		var pm map[string]any
		if err := json.Unmarshal(patch, &pm); err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("error decoding patch: %v", err))
		}
		out, err := strategicpatch.StrategicMergePatch(cur, patch, dataStruct)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		return out, nil
	}
	return nil, apierrors.NewBadRequest(fmt.Sprintf("unsupported patch type %q", pt))
}
