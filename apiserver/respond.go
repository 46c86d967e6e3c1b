package apiserver

import (
	"errors"
	"net/http"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var statusGVK = schema.GroupVersionKind{Version: "v1", Kind: "Status"}

// writeObject encodes obj as gvk in the negotiated form.
func (s *server) writeObject(w http.ResponseWriter, r *http.Request, code int, obj runtime.Object, gvk schema.GroupVersionKind) {
	out, ok := negotiate(r.Header.Get("Accept"), isPretty(r))
	if !ok {
		out = output{mediaType: mediaJSON}
	}
	if out.mediaType == mediaProtobuf {
		if _, isProto := obj.(protoMarshaler); !isProto {
			out.mediaType = mediaJSON
		}
	}
	b, err := s.codecs.encode(obj, gvk, out.mediaType, out.pretty)
	if err != nil {
		s.writeError(w, r, apierrors.NewInternalError(err))
		return
	}
	w.Header().Set("Content-Type", out.mediaType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}

func isPretty(r *http.Request) bool {
	p := r.URL.Query().Get("pretty")
	return p == "true" || p == "1"
}

// writeError writes err as a metav1.Status with the error's code. Errors
// that are not API errors become 500 InternalError.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		st = apierrors.NewInternalError(err)
	}
	status := st.Status()
	status.Kind, status.APIVersion = "", ""
	if status.Status == "" {
		status.Status = metav1.StatusFailure
	}
	code := int(status.Code)
	if code == 0 {
		code = http.StatusInternalServerError
		status.Code = int32(code)
	}
	if status.Details != nil && status.Details.RetryAfterSeconds > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(status.Details.RetryAfterSeconds)))
	}
	s.writeObject(w, r, code, &status, statusGVK)
}

// writeStatusSuccess writes a Success status (used by deletes that have no
// object to return).
func (s *server) writeStatusSuccess(w http.ResponseWriter, r *http.Request, details *metav1.StatusDetails) {
	st := &metav1.Status{Status: metav1.StatusSuccess, Code: http.StatusOK, Details: details}
	s.writeObject(w, r, http.StatusOK, st, statusGVK)
}
