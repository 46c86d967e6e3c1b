package apiserver

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiffk8s/skiff/apiserver/auth"
)

var tokenRequestGVK = authenticationv1.SchemeGroupVersion.WithKind("TokenRequest")

// createToken serves serviceaccounts/token (TokenRequest): a signed token
// for the service account, optionally bound to a pod, secret or node so it
// dies with that object.
func (s *server) createToken(w http.ResponseWriter, r *http.Request, saRes *resource, ri requestInfo) {
	tr := &authenticationv1.TokenRequest{}
	if err := s.readInto(r, tr, "TokenRequest"); err != nil {
		s.writeError(w, r, err)
		return
	}
	obj, err := saRes.store.Get(r.Context(), saRes.store.Key(ri.Namespace, ri.Name))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	sa := obj.(*corev1.ServiceAccount)
	gk := schema.GroupKind{Group: "authentication.k8s.io", Kind: "TokenRequest"}
	ttl := time.Hour
	if e := tr.Spec.ExpirationSeconds; e != nil {
		switch {
		case *e < 600:
			s.writeError(w, r, apierrors.NewInvalid(gk, ri.Name, field.ErrorList{field.Invalid(field.NewPath("spec", "expirationSeconds"), *e, "may not specify a duration less than 10 minutes")}))
			return
		case *e > math.MaxUint32:
			s.writeError(w, r, apierrors.NewInvalid(gk, ri.Name, field.ErrorList{field.Invalid(field.NewPath("spec", "expirationSeconds"), *e, "may not specify a duration larger than 2^32 seconds")}))
			return
		}
		ttl = time.Duration(*e) * time.Second
	}
	kc := auth.KubernetesClaims{Namespace: sa.Namespace, ServiceAccount: auth.ObjectRef{Name: sa.Name, UID: string(sa.UID)}}
	if ref := tr.Spec.BoundObjectRef; ref != nil {
		if err := s.bindToken(r.Context(), &kc, ref, sa); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	token, exp, err := s.saTokens.Issue(kc, tr.Spec.Audiences, ttl)
	if err != nil {
		s.writeError(w, r, apierrors.NewInternalError(err))
		return
	}
	out := &authenticationv1.TokenRequest{
		ObjectMeta: metav1.ObjectMeta{Name: sa.Name, Namespace: sa.Namespace, CreationTimestamp: metav1.NewTime(s.now())},
		Spec:       tr.Spec,
		Status:     authenticationv1.TokenRequestStatus{Token: token, ExpirationTimestamp: metav1.NewTime(exp)},
	}
	if len(out.Spec.Audiences) == 0 {
		out.Spec.Audiences = []string{s.cfg.ServiceAccountIssuer}
	}
	secs := int64(ttl / time.Second)
	out.Spec.ExpirationSeconds = &secs
	s.writeObject(w, r, http.StatusCreated, out, tokenRequestGVK)
}

// bindToken ties the token to the object ref names: it must exist (with the
// given UID) and, for a pod, run as the service account.
func (s *server) bindToken(ctx context.Context, kc *auth.KubernetesClaims, ref *authenticationv1.BoundObjectReference, sa *corev1.ServiceAccount) error {
	gk := schema.GroupKind{Group: "authentication.k8s.io", Kind: "TokenRequest"}
	path := field.NewPath("spec", "boundObjectRef")
	var res *resource
	ns := sa.Namespace
	switch ref.Kind {
	case "Pod":
		res = s.lookup("", "v1", "pods")
	case "Secret":
		res = s.lookup("", "v1", "secrets")
	case "Node":
		res, ns = s.lookup("", "v1", "nodes"), ""
	default:
		return apierrors.NewInvalid(gk, sa.Name, field.ErrorList{field.NotSupported(path.Child("kind"), ref.Kind, []string{"Pod", "Secret", "Node"})})
	}
	obj, err := res.store.Get(ctx, res.store.Key(ns, ref.Name))
	if err != nil {
		return err
	}
	m := obj.(metav1.Object)
	if ref.UID != "" && ref.UID != m.GetUID() {
		return apierrors.NewConflict(res.GroupResource(), ref.Name, fmt.Errorf("the UID in the bound object reference (%s) does not match the UID in record (%s)", ref.UID, m.GetUID()))
	}
	objRef := &auth.ObjectRef{Name: m.GetName(), UID: string(m.GetUID())}
	switch o := obj.(type) {
	case *corev1.Pod:
		if o.Spec.ServiceAccountName != sa.Name {
			return apierrors.NewBadRequest(fmt.Sprintf("cannot bind token for serviceaccount %q to pod running with different serviceaccount name", sa.Name))
		}
		kc.Pod = objRef
	case *corev1.Secret:
		kc.Secret = objRef
	case *corev1.Node:
		kc.Node = objRef
	}
	return nil
}

// tokenObjectsExist is the check of every service-account token: its
// service account and bound object still exist with the same UIDs.
func (s *server) tokenObjectsExist(ctx context.Context, kc *auth.KubernetesClaims) error {
	check := func(resource, ns string, ref *auth.ObjectRef) error {
		if ref == nil {
			return nil
		}
		res := s.lookup("", "v1", resource)
		key := res.store.Key(ns, ref.Name)
		obj, ok := res.store.GetCached(key)
		if !ok {
			var err error
			if obj, err = res.store.Get(ctx, key); err != nil {
				return fmt.Errorf("%s %s/%s: %w", resource, ns, ref.Name, err)
			}
		}
		m := obj.(metav1.Object)
		if m.GetUID() != types.UID(ref.UID) {
			return fmt.Errorf("%s %s/%s has been deleted (uid changed)", resource, ns, ref.Name)
		}
		// A pod's tokens last through its graceful termination, as
		// upstream: only a deletion past its deadline ends them.
		if dt := m.GetDeletionTimestamp(); resource == "pods" && dt != nil && dt.Time.Before(s.now()) {
			return fmt.Errorf("pod %s/%s has been deleted", ns, ref.Name)
		}
		return nil
	}
	if err := check("serviceaccounts", kc.Namespace, &kc.ServiceAccount); err != nil {
		return err
	}
	if err := check("pods", kc.Namespace, kc.Pod); err != nil {
		return err
	}
	if err := check("secrets", kc.Namespace, kc.Secret); err != nil {
		return err
	}
	return check("nodes", "", kc.Node)
}
