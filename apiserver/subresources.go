package apiserver

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"reflect"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var scaleGVK = schema.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"}

// serveSubresource handles status, scale, binding, eviction, finalize,
// approval, and the subresources served by kubelets (pods/log, exec,
// attach, portforward; nodes/proxy).
func (s *server) serveSubresource(w http.ResponseWriter, r *http.Request, res *resource, ri requestInfo) {
	sub := ri.Subresource
	switch {
	case (sub == "status" && res.Status) || (sub == "approval" && res.Resource == "certificatesigningrequests"):
		// A CSR's approval, like status, changes only status (conditions).
		switch ri.Verb {
		case "get":
			s.get(w, r, res, ri)
		case "update":
			s.update(w, r, res, ri, "status")
		case "patch":
			s.patch(w, r, res, ri, "status")
		default:
			s.writeError(w, r, apierrors.NewMethodNotSupported(res.GroupResource(), ri.Verb))
		}
	case sub == "scale" && res.Scale:
		s.scale(w, r, res, ri)
	case sub == "token" && res.Resource == "serviceaccounts" && ri.Verb == "create":
		s.createToken(w, r, res, ri)
	case sub == "binding" && res.Resource == "pods" && ri.Verb == "create":
		s.bind(w, r, res, ri)
	case sub == "eviction" && res.Resource == "pods" && ri.Verb == "create":
		s.evict(w, r, res, ri)
	case sub == "finalize" && res.Resource == "namespaces" && ri.Verb == "update":
		s.finalizeNamespace(w, r, res, ri)
	case res.Resource == "pods" && (sub == "log" || sub == "exec" || sub == "attach" || sub == "portforward"):
		s.servePodKubelet(w, r, res, ri)
	case res.Resource == "nodes" && sub == "proxy":
		s.serveNodeProxy(w, r, ri)
	default:
		s.writeError(w, r, apierrors.NewNotFound(schema.GroupResource{Group: res.Group, Resource: res.Resource + "/" + sub}, ri.Name))
	}
}

// readInto reads the request body and decodes it into into (a subresource's
// own kind, named what in errors).
func (s *server) readInto(r *http.Request, into runtime.Object, what string) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	if _, _, err := s.codecs.decodeBody(body, r.Header.Get("Content-Type"), into); err != nil {
		return apierrors.NewBadRequest(fmt.Sprintf("invalid %s: %v", what, err))
	}
	return nil
}

// toScale builds the autoscaling/v1 Scale of a workload.
func toScale(obj runtime.Object) (*autoscalingv1.Scale, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	sc := &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{
		Name: m.GetName(), Namespace: m.GetNamespace(), UID: m.GetUID(),
		ResourceVersion: m.GetResourceVersion(), CreationTimestamp: m.GetCreationTimestamp(),
	}}
	if rep := structField(obj, "Spec").FieldByName("Replicas"); rep.IsValid() && !rep.IsNil() {
		sc.Spec.Replicas = int32(rep.Elem().Int())
	}
	if rep := structField(obj, "Status").FieldByName("Replicas"); rep.IsValid() {
		sc.Status.Replicas = int32(rep.Int())
	}
	if sel := structField(obj, "Spec").FieldByName("Selector"); sel.IsValid() && !sel.IsNil() {
		ls, err := metav1.LabelSelectorAsSelector(sel.Interface().(*metav1.LabelSelector))
		if err == nil {
			sc.Status.Selector = ls.String()
		}
	}
	return sc, nil
}

func (s *server) scale(w http.ResponseWriter, r *http.Request, res *resource, ri requestInfo) {
	switch ri.Verb {
	case "get":
		obj, err := res.store.Get(r.Context(), res.store.Key(ri.Namespace, ri.Name))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		sc, err := toScale(obj)
		if err != nil {
			s.writeError(w, r, apierrors.NewInternalError(err))
			return
		}
		s.writeObject(w, r, http.StatusOK, sc, scaleGVK)
	case "update", "patch":
		body, err := readBody(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		dryRun, err := isDryRun(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		pt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		updated, err := s.updateObject(r.Context(), res, ri, "", writeOpts{manager: managerName(r), dryRun: dryRun}, func(cur runtime.Object) (runtime.Object, error) {
			curScale, err := toScale(cur)
			if err != nil {
				return nil, apierrors.NewInternalError(err)
			}
			want := &autoscalingv1.Scale{}
			if ri.Verb == "update" {
				if _, _, err := s.codecs.decodeBody(body, r.Header.Get("Content-Type"), want); err != nil {
					return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid Scale: %v", err))
				}
			} else {
				curJSON, _ := encodeJSON(curScale, scaleGVK)
				patched, err := applyPatch(types.PatchType(pt), curJSON, body, &autoscalingv1.Scale{}, res.GroupResource(), ri.Name)
				if err != nil {
					return nil, err
				}
				if err := json.Unmarshal(patched, want); err != nil {
					return nil, apierrors.NewBadRequest(err.Error())
				}
			}
			if want.ResourceVersion != "" && want.ResourceVersion != curScale.ResourceVersion {
				return nil, apierrors.NewConflict(res.GroupResource(), ri.Name, fmt.Errorf("the object has been modified; please apply your changes to the latest version and try again"))
			}
			if want.Spec.Replicas < 0 {
				return nil, apierrors.NewInvalid(scaleGVK.GroupKind(), ri.Name, field.ErrorList{
					field.Invalid(field.NewPath("spec", "replicas"), want.Spec.Replicas, "must be greater than or equal to 0")})
			}
			rep := structField(cur, "Spec").FieldByName("Replicas")
			n := want.Spec.Replicas
			rep.Set(reflect.ValueOf(&n))
			return cur, nil
		})
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		sc, _ := toScale(updated)
		s.writeObject(w, r, http.StatusOK, sc, scaleGVK)
	default:
		s.writeError(w, r, apierrors.NewMethodNotSupported(res.GroupResource(), ri.Verb))
	}
}

// bind sets a pod's node (pods/binding), as the scheduler does.
func (s *server) bind(w http.ResponseWriter, r *http.Request, res *resource, ri requestInfo) {
	b := &corev1.Binding{}
	if err := s.readInto(r, b, "Binding"); err != nil {
		s.writeError(w, r, err)
		return
	}
	if b.Target.Name == "" || (b.Target.Kind != "" && b.Target.Kind != "Node") {
		s.writeError(w, r, apierrors.NewInvalid(schema.GroupKind{Kind: "Binding"}, ri.Name, field.ErrorList{
			field.Invalid(field.NewPath("target"), b.Target, "must name a Node")}))
		return
	}
	var err error
	// Binding writes spec.nodeName, which no pod update may change, so it
	// goes to storage directly.
	_, err = res.store.Update(r.Context(), res.store.Key(ri.Namespace, ri.Name), func(cur runtime.Object) (runtime.Object, error) {
		pod := cur.(*corev1.Pod)
		if pod.DeletionTimestamp != nil {
			return nil, apierrors.NewConflict(res.GroupResource(), ri.Name, fmt.Errorf("pod %s is being deleted, cannot be assigned to a host", ri.Name))
		}
		if pod.Spec.NodeName != "" {
			return nil, apierrors.NewConflict(res.GroupResource(), ri.Name, fmt.Errorf("pod %s is already assigned to node %q", ri.Name, pod.Spec.NodeName))
		}
		if b.UID != "" && b.UID != pod.UID {
			return nil, apierrors.NewConflict(res.GroupResource(), ri.Name, fmt.Errorf("precondition failed: UID in precondition: %s, UID in object meta: %s", b.UID, pod.UID))
		}
		pod.Spec.NodeName = b.Target.Name
		for k, v := range b.Annotations {
			if pod.Annotations == nil {
				pod.Annotations = map[string]string{}
			}
			pod.Annotations[k] = v
		}
		setPodCondition(&pod.Status, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(s.now())})
		return pod, nil
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeObject(w, r, http.StatusCreated, &metav1.Status{Status: metav1.StatusSuccess, Code: http.StatusCreated}, statusGVK)
}

func setPodCondition(st *corev1.PodStatus, c corev1.PodCondition) {
	for i := range st.Conditions {
		if st.Conditions[i].Type == c.Type {
			st.Conditions[i] = c
			return
		}
	}
	st.Conditions = append(st.Conditions, c)
}

// evict deletes a pod through the policy/v1 Eviction subresource.
func (s *server) evict(w http.ResponseWriter, r *http.Request, res *resource, ri requestInfo) {
	ev := &policyv1.Eviction{}
	if err := s.readInto(r, ev, "Eviction"); err != nil {
		s.writeError(w, r, err)
		return
	}
	if ev.Name != "" && ev.Name != ri.Name {
		s.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("name in URL does not match name in Eviction object: %s != %s", ri.Name, ev.Name)))
		return
	}
	opts := ev.DeleteOptions
	if opts == nil {
		opts = &metav1.DeleteOptions{}
	}
	if err := s.admitEviction(r.Context(), res, ri, len(opts.DryRun) > 0); err != nil {
		s.writeError(w, r, err)
		return
	}
	if _, _, err := s.deleteObject(r.Context(), res, ri.Namespace, ri.Name, opts); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeObject(w, r, http.StatusCreated, &metav1.Status{Status: metav1.StatusSuccess, Code: http.StatusCreated}, statusGVK)
}

// finalizeNamespace updates spec.finalizers of a namespace (namespaces/
// finalize); a terminating namespace with no finalizers left is deleted.
func (s *server) finalizeNamespace(w http.ResponseWriter, r *http.Request, res *resource, ri requestInfo) {
	want := &corev1.Namespace{}
	if err := s.readInto(r, want, "Namespace"); err != nil {
		s.writeError(w, r, err)
		return
	}
	key := res.store.Key("", ri.Name)
	updated, err := res.store.Update(r.Context(), key, func(cur runtime.Object) (runtime.Object, error) {
		ns := cur.(*corev1.Namespace)
		if want.ResourceVersion != "" && want.ResourceVersion != ns.ResourceVersion {
			return nil, apierrors.NewConflict(res.GroupResource(), ri.Name, fmt.Errorf("the object has been modified; please apply your changes to the latest version and try again"))
		}
		ns.Spec.Finalizers = want.Spec.Finalizers
		return ns, nil
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ns := updated.(*corev1.Namespace)
	if ns.DeletionTimestamp != nil && len(ns.Spec.Finalizers) == 0 && len(ns.Finalizers) == 0 {
		if _, err := res.store.Delete(r.Context(), key, nil); err != nil && !apierrors.IsNotFound(err) {
			s.writeError(w, r, err)
			return
		}
	}
	s.writeObject(w, r, http.StatusOK, ns, res.GVK())
}
