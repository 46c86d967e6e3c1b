package apiserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/skiffk8s/skiff/apiserver/printers"
	"github.com/skiffk8s/skiff/apiserver/registry"
	"github.com/skiffk8s/skiff/apiserver/storage"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/yaml"
)

// resource is a served resource with its store.
type resource struct {
	*resourceDef
	store        *storage.Store
	fieldManager *managedfields.FieldManager // nil when the type is unknown to the type converter
	// statusFieldManager records writes to /status (managedFields entries
	// with subresource "status"); nil without a status subresource.
	statusFieldManager *managedfields.FieldManager
}

// fieldManagerFor returns the field manager of writes to subresource sub.
func (r *resource) fieldManagerFor(sub string) *managedfields.FieldManager {
	if sub == "status" && r.statusFieldManager != nil {
		return r.statusFieldManager
	}
	return r.fieldManager
}

// resourceDef is an alias so that the embedded field is not named Resource.
type resourceDef = registry.Resource

// maxBodyBytes is the largest request body accepted (upstream's limit).
const maxBodyBytes = 3 << 20

var (
	tableGVK               = schema.GroupVersionKind{Group: "meta.k8s.io", Version: "v1", Kind: "Table"}
	partialMetaGVK         = schema.GroupVersionKind{Group: "meta.k8s.io", Version: "v1", Kind: "PartialObjectMetadata"}
	partialMetaListGVK     = schema.GroupVersionKind{Group: "meta.k8s.io", Version: "v1", Kind: "PartialObjectMetadataList"}
	watchEventGVK          = schema.GroupVersionKind{Group: "meta.k8s.io", Version: "v1", Kind: "WatchEvent"}
	errNoBody              = errors.New("request body is empty")
	supportedDeletePolices = []string{string(metav1.DeletePropagationOrphan), string(metav1.DeletePropagationBackground), string(metav1.DeletePropagationForeground)}
)

// serveResource handles a request on a resource URL.
func (s *server) serveResource(w http.ResponseWriter, r *http.Request, ri requestInfo) {
	res := s.lookup(ri.Group, ri.Version, ri.Resource)
	if res == nil {
		s.writeError(w, r, errNoSuchPath())
		return
	}
	if res.Namespaced && ri.Namespace == "" && ri.Name != "" {
		s.writeError(w, r, apierrors.NewNotFound(res.GroupResource(), ri.Name))
		return
	}
	if !res.Namespaced && ri.Namespace != "" {
		s.writeError(w, r, errNoSuchPath())
		return
	}
	if ri.Subresource != "" {
		s.serveSubresource(w, r, res, ri)
		return
	}
	if _, ok := negotiate(r.Header.Get("Accept"), false); !ok {
		s.writeError(w, r, apierrors.NewGenericServerResponse(http.StatusNotAcceptable, "", schema.GroupResource{}, "",
			"only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf", 0, false))
		return
	}
	switch ri.Verb {
	case "get":
		s.get(w, r, res, ri)
	case "list":
		s.list(w, r, res, ri)
	case "watch":
		s.watch(w, r, res, ri)
	case "create":
		if ri.Name != "" {
			s.writeError(w, r, apierrors.NewMethodNotSupported(res.GroupResource(), "create on a named object"))
			return
		}
		s.create(w, r, res, ri)
	case "update", "patch":
		if ri.Name == "" { // a collection is never updated or patched
			s.writeError(w, r, apierrors.NewGenericServerResponse(http.StatusMethodNotAllowed, "", schema.GroupResource{}, "", "", 0, false))
			return
		}
		if ri.Verb == "update" {
			s.update(w, r, res, ri, "")
		} else {
			s.patch(w, r, res, ri, "")
		}
	case "delete":
		s.delete(w, r, res, ri)
	case "deletecollection":
		s.deleteCollection(w, r, res, ri)
	default:
		s.writeError(w, r, apierrors.NewMethodNotSupported(res.GroupResource(), ri.Verb))
	}
}

// errNoSuchPath is upstream's 404 for a URL that names no resource (an
// unknown resource, or a cluster-scoped one under a namespace).
func errNoSuchPath() error {
	return apierrors.NewGenericServerResponse(http.StatusNotFound, "", schema.GroupResource{}, "", "", 0, false)
}

// readBody reads the request body, answering 413 past maxBodyBytes.
func readBody(r *http.Request) ([]byte, error) {
	if r.ContentLength > maxBodyBytes {
		return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d", maxBodyBytes))
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("reading request body: %v", err))
	}
	if len(b) > maxBodyBytes {
		return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d", maxBodyBytes))
	}
	if len(b) == 0 {
		return nil, apierrors.NewBadRequest(errNoBody.Error())
	}
	return b, nil
}

// fieldValidation returns the request's fieldValidation directive.
func fieldValidation(r *http.Request) (string, error) {
	v := r.URL.Query().Get("fieldValidation")
	switch v {
	case "", "Warn":
		return "Warn", nil
	case "Ignore", "Strict":
		return v, nil
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("fieldValidation must be one of Ignore, Warn, Strict, got %q", v))
}

// decodeObject decodes the body into a new object of res, checking that the
// body's kind and apiVersion (when given) are res's, and applying the
// fieldValidation directive to unknown and duplicate fields.
func (s *server) decodeObject(w http.ResponseWriter, r *http.Request, res *resource, body []byte) (runtime.Object, error) {
	fv, err := fieldValidation(r)
	if err != nil {
		return nil, err
	}
	obj := res.New()
	gvk, strictErr, err := s.codecs.decodeBody(body, r.Header.Get("Content-Type"), obj)
	if err != nil {
		if strings.Contains(err.Error(), "unsupported media type") {
			return nil, apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "", res.GroupResource(), "", err.Error(), 0, false)
		}
		return nil, decodeError(res.GVK(), gvk, err)
	}
	want := res.GVK()
	if gvk != nil && (gvk.Kind != want.Kind || gvk.GroupVersion() != want.GroupVersion()) {
		got := obj.GetObjectKind().GroupVersionKind()
		if got.Empty() {
			got = *gvk
		}
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the object provided is unrecognized: expected %s, %s; got %s, %s",
			want.GroupVersion(), want.Kind, got.GroupVersion(), got.Kind))
	}
	if strictErr != nil {
		switch fv {
		case "Strict":
			return nil, apierrors.NewBadRequest(fmt.Sprintf("strict decoding error: %s", strings.TrimPrefix(strictErr.Error(), "strict decoding error: ")))
		case "Warn":
			if sde, ok := runtime.AsStrictDecodingError(strictErr); ok {
				for _, e := range sde.Errors() {
					addWarning(w, e.Error())
				}
			}
		}
	}
	obj.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
	return obj, nil
}

// decodeError words a body that could not be decoded as upstream does:
// naming the kind sent and the kind expected, never Go types.
func decodeError(want schema.GroupVersionKind, got *schema.GroupVersionKind, err error) error {
	switch {
	case got == nil || got.Kind == "":
		return apierrors.NewBadRequest(fmt.Sprintf("the object provided is unrecognized (must be of type %s): %v", want.Kind, err))
	case got.GroupVersion() != want.GroupVersion():
		return apierrors.NewBadRequest(fmt.Sprintf("the API version in the data (%s) does not match the expected API version (%s)", got.GroupVersion(), want.GroupVersion()))
	case got.Kind != want.Kind:
		return apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: the kind in the data does not match the URL", got.Kind, got.Version, want.Kind))
	}
	return apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: %v", got.Kind, got.Version, want.Kind, err))
}

func addWarning(w http.ResponseWriter, msg string) {
	w.Header().Add("Warning", fmt.Sprintf("299 - %s", strconv.Quote(msg)))
}

func isDryRun(r *http.Request) (bool, error) {
	vals := r.URL.Query()["dryRun"]
	for _, v := range vals {
		if v != "All" {
			return false, apierrors.NewBadRequest(fmt.Sprintf("dryRun: unsupported value %q, supported values: \"All\"", v))
		}
	}
	return len(vals) > 0, nil
}

// managerName is the field manager of a write: the fieldManager parameter,
// or the user agent's program name as upstream derives it.
func managerName(r *http.Request) string {
	if m := r.URL.Query().Get("fieldManager"); m != "" {
		return m
	}
	ua := r.UserAgent()
	if i := strings.Index(ua, "/"); i > 0 {
		ua = ua[:i]
	}
	if ua == "" {
		ua = "unknown"
	}
	return ua
}

func (s *server) get(w http.ResponseWriter, r *http.Request, res *resource, ri requestInfo) {
	key := res.store.Key(ri.Namespace, ri.Name)
	var (
		obj runtime.Object
		err error
	)
	if rv := r.URL.Query().Get("resourceVersion"); rv != "" {
		// Not older than rv ("0": any): served by the watch cache once it
		// has seen rv.
		obj, err = res.store.GetNotOlderThan(r.Context(), key, rv)
	} else {
		obj, err = res.store.Get(r.Context(), key)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeResult(w, r, res, http.StatusOK, obj)
}

// writeResult writes one object of res, as a Table or PartialObjectMetadata
// when the client asked for that.
func (s *server) writeResult(w http.ResponseWriter, r *http.Request, res *resource, code int, obj runtime.Object) {
	out, _ := negotiate(r.Header.Get("Accept"), false)
	switch out.as {
	case "Table":
		t, err := printers.Print(res.GroupResource(), []runtime.Object{obj}, s.printOptions(r))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if m, err := meta.Accessor(obj); err == nil {
			t.ResourceVersion = m.GetResourceVersion()
		}
		s.writeObject(w, r, code, t, tableGVK)
	case "PartialObjectMetadata", "PartialObjectMetadataList":
		s.writeObject(w, r, code, partialMeta(obj), partialMetaGVK)
	default:
		s.writeObject(w, r, code, obj, res.GVK())
	}
}

func partialMeta(obj runtime.Object) *metav1.PartialObjectMetadata {
	pm := &metav1.PartialObjectMetadata{}
	// Typed objects embed ObjectMeta: GetObjectMeta returns it.
	if a, ok := obj.(metav1.ObjectMetaAccessor); ok {
		if om, ok := a.GetObjectMeta().(*metav1.ObjectMeta); ok {
			pm.ObjectMeta = *om
		}
	}
	return pm
}

func (s *server) printOptions(r *http.Request) printers.Options {
	q := r.URL.Query()
	return printers.Options{
		Now:           s.now(),
		IncludeObject: metav1.IncludeObjectPolicy(q.Get("includeObject")),
	}
}

// predicate builds the label and field selector filter of a list or watch.
func (s *server) predicate(res *resource, q map[string][]string) (func(runtime.Object) bool, error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	lsel, err := labels.Parse(get("labelSelector"))
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error()) // "unable to parse requirement: ..."
	}
	fsel, err := fields.ParseSelector(get("fieldSelector"))
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error()) // "invalid field selector: ..." or "invalid selector: ..."
	}
	if !fsel.Empty() {
		// Every field in the selector must be one the kind supports.
		supported := res.Strategy.FieldSet(res.New())
		for _, req := range fsel.Requirements() {
			if _, ok := supported[req.Field]; !ok {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s", req.Field))
			}
		}
	}
	if lsel.Empty() && fsel.Empty() {
		return nil, nil
	}
	return func(obj runtime.Object) bool {
		m, err := meta.Accessor(obj)
		if err != nil {
			return false
		}
		if !lsel.Matches(labels.Set(m.GetLabels())) {
			return false
		}
		return fsel.Empty() || fsel.Matches(res.Strategy.FieldSet(obj))
	}, nil
}

func (s *server) list(w http.ResponseWriter, r *http.Request, res *resource, ri requestInfo) {
	q := r.URL.Query()
	pred, err := s.predicate(res, q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	opts := storage.ListOptions{
		ResourceVersion:      q.Get("resourceVersion"),
		ResourceVersionMatch: metav1.ResourceVersionMatch(q.Get("resourceVersionMatch")),
		Continue:             q.Get("continue"),
		Predicate:            pred,
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.ParseInt(l, 10, 64)
		if err != nil || n < 0 {
			s.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("invalid limit: %q", l)))
			return
		}
		opts.Limit = n
	}
	if err := validateListRV(opts); err != nil {
		s.writeError(w, r, err)
		return
	}
	result, err := res.store.List(r.Context(), res.store.KeyPrefix(ri.Namespace), opts)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeList(w, r, res, result)
}

func validateListRV(opts storage.ListOptions) error {
	switch opts.ResourceVersionMatch {
	case "":
	case metav1.ResourceVersionMatchExact, metav1.ResourceVersionMatchNotOlderThan:
		if opts.ResourceVersion == "" {
			return apierrors.NewBadRequest("resourceVersionMatch is forbidden unless resourceVersion is provided")
		}
		if opts.ResourceVersionMatch == metav1.ResourceVersionMatchExact && opts.ResourceVersion == "0" {
			return apierrors.NewBadRequest("resourceVersionMatch \"Exact\" is forbidden for resourceVersion \"0\"")
		}
	default:
		return apierrors.NewBadRequest(fmt.Sprintf("resourceVersionMatch: unsupported value %q", opts.ResourceVersionMatch))
	}
	if opts.Continue != "" && opts.ResourceVersion != "" && opts.ResourceVersion != "0" {
		return apierrors.NewBadRequest("specifying resource version is not allowed when using continue")
	}
	return nil
}

func (s *server) writeList(w http.ResponseWriter, r *http.Request, res *resource, result *storage.ListResult) {
	out, _ := negotiate(r.Header.Get("Accept"), isPretty(r))
	rv := strconv.FormatInt(result.ResourceVersion, 10)
	switch out.as {
	case "Table":
		t, err := printers.Print(res.GroupResource(), result.Items, s.printOptions(r))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		t.ResourceVersion, t.Continue, t.RemainingItemCount = rv, result.Continue, result.RemainingItemCount
		s.writeObject(w, r, http.StatusOK, t, tableGVK)
		return
	case "PartialObjectMetadata", "PartialObjectMetadataList":
		l := &metav1.PartialObjectMetadataList{}
		l.ResourceVersion, l.Continue, l.RemainingItemCount = rv, result.Continue, result.RemainingItemCount
		l.Items = make([]metav1.PartialObjectMetadata, 0, len(result.Items))
		for _, it := range result.Items {
			l.Items = append(l.Items, *partialMeta(it))
		}
		s.writeObject(w, r, http.StatusOK, l, partialMetaListGVK)
		return
	}
	if result.Encodings != nil && !out.pretty && (out.mediaType == mediaJSON || out.mediaType == mediaProtobuf) {
		lm := metav1.ListMeta{ResourceVersion: rv, Continue: result.Continue, RemainingItemCount: result.RemainingItemCount}
		b, err := s.encodeListFast(res, result, lm, out.mediaType)
		if err != nil {
			s.writeError(w, r, apierrors.NewInternalError(err))
			return
		}
		w.Header().Set("Content-Type", out.mediaType)
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write(b)
		}
		return
	}
	list := res.NewList()
	if err := meta.SetList(list, result.Items); err != nil {
		s.writeError(w, r, apierrors.NewInternalError(err))
		return
	}
	lm, err := meta.ListAccessor(list)
	if err != nil {
		s.writeError(w, r, apierrors.NewInternalError(err))
		return
	}
	lm.SetResourceVersion(rv)
	lm.SetContinue(result.Continue)
	lm.SetRemainingItemCount(result.RemainingItemCount)
	s.writeObject(w, r, http.StatusOK, list, res.GVK().GroupVersion().WithKind(res.Kind+"List"))
}

// checkNamespace refuses writes into a missing or terminating namespace.
func (s *server) checkNamespace(ctx context.Context, ns string) error {
	nsRes := s.lookup("", "v1", "namespaces")
	key := nsRes.store.Key("", ns)
	obj, ok := nsRes.store.GetCached(key)
	if !ok || obj.(*corev1.Namespace).DeletionTimestamp == nil {
		// The cache may lag a delete that just happened: only a namespace
		// already being deleted is certain, so check the others in etcd.
		var err error
		if obj, err = nsRes.store.Get(ctx, key); err != nil {
			return err
		}
	}
	n := obj.(*corev1.Namespace)
	if n.Status.Phase == corev1.NamespaceTerminating || n.DeletionTimestamp != nil {
		err := apierrors.NewForbidden(schema.GroupResource{Resource: "namespaces"}, ns,
			fmt.Errorf("unable to create new content in namespace %s because it is being terminated", ns))
		err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{
			Type: "NamespaceTerminating", Message: fmt.Sprintf("namespace %s is being terminated", ns), Field: "metadata.namespace"})
		return err
	}
	return nil
}

// readObject reads and decodes the request's object of res and its dryRun
// parameter.
func (s *server) readObject(w http.ResponseWriter, r *http.Request, res *resource) (obj runtime.Object, dryRun bool, err error) {
	body, err := readBody(r)
	if err != nil {
		return nil, false, err
	}
	if obj, err = s.decodeObject(w, r, res, body); err != nil {
		return nil, false, err
	}
	if dryRun, err = isDryRun(r); err != nil {
		return nil, false, err
	}
	return obj, dryRun, nil
}

func (s *server) create(w http.ResponseWriter, r *http.Request, res *resource, ri requestInfo) {
	obj, dryRun, err := s.readObject(w, r, res)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	created, err := s.createObject(r.Context(), res, ri.Namespace, obj, writeOpts{manager: managerName(r), dryRun: dryRun})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeResult(w, r, res, http.StatusCreated, created)
}

// createObject runs the create path for obj in namespace ns: metadata,
// defaulting, validation, admission, allocation, storage.
func (s *server) createObject(ctx context.Context, res *resource, ns string, obj runtime.Object, wo writeOpts) (runtime.Object, error) {
	dryRun := wo.dryRun
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	if res.Namespaced {
		if m.GetNamespace() == "" {
			m.SetNamespace(ns)
		} else if m.GetNamespace() != ns {
			return nil, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
		}
	} else {
		m.SetNamespace("")
	}
	if m.GetResourceVersion() != "" {
		return nil, apierrors.NewBadRequest("resourceVersion should not be set on objects to be created")
	}
	if m.GetName() == "" && m.GetGenerateName() != "" {
		m.SetName(m.GetGenerateName() + utilrand.String(5))
	}
	now := metav1.NewTime(s.now().Truncate(time.Second))
	m.SetUID(uuid.NewUUID())
	m.SetCreationTimestamp(now)
	m.SetDeletionTimestamp(nil)
	m.SetDeletionGracePeriodSeconds(nil)
	m.SetGeneration(0)
	if res.Generation {
		m.SetGeneration(1)
	}
	if res.Status && res.Resource != "nodes" { // a kubelet registers its node with status
		clearField(obj, "Status")
	}
	res.Strategy.Default(obj)
	s.prepareForCreate(res, obj)
	if csr, ok := obj.(*certificatesv1.CertificateSigningRequest); ok {
		setRequester(ctx, csr)
	}
	if err := s.admitServiceAccount(ctx, res, obj); err != nil {
		return nil, err
	}
	if err := s.admitPriority(ctx, res, obj, nil); err != nil {
		return nil, err
	}
	if errs := res.Strategy.Validate(obj); len(errs) > 0 && !wo.system {
		return nil, apierrors.NewInvalid(res.GVK().GroupKind(), m.GetName(), errs)
	}
	if res.fieldManager != nil && !wo.applied {
		obj = res.fieldManager.UpdateNoErrors(res.New(), obj, wo.manager)
	}
	if res.Namespaced {
		if err := s.checkNamespace(ctx, m.GetNamespace()); err != nil {
			return nil, err
		}
	}
	release, err := s.allocate(ctx, res, obj, nil, dryRun)
	if err != nil {
		return nil, err
	}
	if dryRun {
		return obj, nil
	}
	created, err := res.store.Create(ctx, res.store.Key(m.GetNamespace(), m.GetName()), obj)
	if err != nil {
		release()
		return nil, err
	}
	return created, nil
}

func (s *server) update(w http.ResponseWriter, r *http.Request, res *resource, ri requestInfo, sub string) {
	obj, dryRun, err := s.readObject(w, r, res)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		s.writeError(w, r, apierrors.NewBadRequest(err.Error()))
		return
	}
	if m.GetName() != ri.Name {
		s.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", m.GetName(), ri.Name)))
		return
	}
	if res.Namespaced && m.GetNamespace() != "" && m.GetNamespace() != ri.Namespace {
		s.writeError(w, r, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request"))
		return
	}
	wo := writeOpts{manager: managerName(r), dryRun: dryRun}
	updated, err := s.updateObject(r.Context(), res, ri, sub, wo, func(cur runtime.Object) (runtime.Object, error) {
		return obj.DeepCopyObject(), nil
	})
	if apierrors.IsNotFound(err) && res.CreateOnUpdate && sub == "" && m.GetResourceVersion() == "" {
		// As upstream, a PUT of a missing object of these kinds creates it.
		created, err := s.createObject(r.Context(), res, ri.Namespace, obj, wo)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.writeResult(w, r, res, http.StatusCreated, created)
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeResult(w, r, res, http.StatusOK, updated)
}

// writeOpts are the options of a create or update.
type writeOpts struct {
	manager string // field manager
	dryRun  bool
	// applied means managedFields were already computed by server-side
	// apply.
	applied bool
	// system marks the server's own bookkeeping writes (the kubernetes
	// Endpoints may hold a loopback address on a single-host cluster),
	// which skip validation.
	system bool
}

// newObjectFunc computes the object a client wants from the stored one.
type newObjectFunc func(cur runtime.Object) (runtime.Object, error)

// updateObject runs the update path: the client's object from fn, checked
// against the stored one (resourceVersion, uid), metadata kept, spec/status
// split by subresource, generation, defaulting, validation, storage; an
// object being deleted whose last finalizer goes is deleted.
func (s *server) updateObject(ctx context.Context, res *resource, ri requestInfo, sub string, wo writeOpts, fn newObjectFunc) (runtime.Object, error) {
	dryRun := wo.dryRun
	key := res.store.Key(ri.Namespace, ri.Name)
	var deleteNow bool
	// claimed gives back what the latest attempt allocated: storage runs
	// tryUpdate again when the object changed underneath, and the new
	// attempt must not find its own claims taken.
	claimed := func() {}
	defer func() { claimed() }()
	tryUpdate := func(cur runtime.Object) (runtime.Object, error) {
		claimed()
		claimed = func() {}
		obj, err := fn(cur.DeepCopyObject())
		if err != nil {
			return nil, err
		}
		m, err := meta.Accessor(obj)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		cm, _ := meta.Accessor(cur)
		if rv := m.GetResourceVersion(); rv != "" && rv != cm.GetResourceVersion() {
			return nil, apierrors.NewConflict(res.GroupResource(), ri.Name,
				errors.New("the object has been modified; please apply your changes to the latest version and try again"))
		}
		if uid := m.GetUID(); uid != "" && uid != cm.GetUID() {
			return nil, apierrors.NewConflict(res.GroupResource(), ri.Name,
				fmt.Errorf("Precondition failed: UID in precondition: %s, UID in object meta: %s", uid, cm.GetUID()))
		}
		// Fields clients may not change.
		m.SetName(cm.GetName())
		m.SetNamespace(cm.GetNamespace())
		m.SetUID(cm.GetUID())
		m.SetCreationTimestamp(cm.GetCreationTimestamp())
		m.SetDeletionTimestamp(cm.GetDeletionTimestamp())
		m.SetDeletionGracePeriodSeconds(cm.GetDeletionGracePeriodSeconds())
		m.SetGeneration(cm.GetGeneration())
		m.SetResourceVersion(cm.GetResourceVersion())
		if m.GetGenerateName() == "" {
			m.SetGenerateName(cm.GetGenerateName())
		}
		switch sub {
		case "status":
			// Only status changes; metadata except managedFields is kept.
			managed := m.GetManagedFields()
			status := structField(obj, "Status")
			next := cur.DeepCopyObject()
			if status.IsValid() {
				structField(next, "Status").Set(status)
			}
			nm, _ := meta.Accessor(next)
			nm.SetManagedFields(managed)
			obj, m = next, nm
		default:
			if res.Status {
				copyField(obj, cur, "Status")
			}
		}
		res.Strategy.Default(obj)
		if sub == "" && res.Generation && specChanged(obj, cur) {
			m.SetGeneration(cm.GetGeneration() + 1)
		}
		s.prepareForUpdate(res, obj, cur)
		if err := s.admitPriority(ctx, res, obj, cur); err != nil {
			return nil, err
		}
		if errs := res.Strategy.ValidateUpdate(obj, cur); len(errs) > 0 {
			return nil, apierrors.NewInvalid(res.GVK().GroupKind(), ri.Name, errs)
		}
		if cm.GetDeletionTimestamp() != nil && len(m.GetFinalizers()) > len(cm.GetFinalizers()) {
			return nil, apierrors.NewInvalid(res.GVK().GroupKind(), ri.Name, field.ErrorList{field.Forbidden(
				field.NewPath("metadata", "finalizers"), "no new finalizers can be added if the object is being deleted")})
		}
		if fm := res.fieldManagerFor(sub); fm != nil && !wo.applied {
			obj = fm.UpdateNoErrors(cur, obj, wo.manager)
		}
		release, err := s.allocate(ctx, res, obj, cur, dryRun)
		if err != nil {
			return nil, err
		}
		claimed = release
		deleteNow = cm.GetDeletionTimestamp() != nil && len(m.GetFinalizers()) == 0 && !waitsForKubelet(obj) && !namespaceFinalizing(obj)
		if dryRun {
			return nil, errDryRun{obj}
		}
		return obj, nil
	}
	updated, err := res.store.Update(ctx, key, tryUpdate)
	if err == nil {
		claimed = func() {} // stored: the claims are the object's now
	}
	var dr errDryRun
	if errors.As(err, &dr) {
		return dr.obj, nil
	}
	if err != nil {
		return nil, err
	}
	if deleteNow {
		um, _ := meta.Accessor(updated)
		rv := um.GetResourceVersion()
		if _, err := res.store.Delete(ctx, key, func(cur runtime.Object) error {
			cm, _ := meta.Accessor(cur)
			if cm.GetResourceVersion() != rv {
				return errRaced
			}
			return nil
		}); err == nil {
			s.release(ctx, res, updated)
		}
	}
	return updated, nil
}

var errRaced = errors.New("object changed")

// errDryRun carries a dry-run result out of a storage update without
// writing it.
type errDryRun struct{ obj runtime.Object }

func (e errDryRun) Error() string { return "dry run" }

func (s *server) now() time.Time { return s.clock() }

// watch streams events for a list URL.
func (s *server) watch(w http.ResponseWriter, r *http.Request, res *resource, ri requestInfo) {
	q := r.URL.Query()
	pred, err := s.predicate(res, q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	prefix := res.store.KeyPrefix(ri.Namespace)
	if ri.Name != "" { // /watch/namespaces/ns/pods/name
		prefix = res.store.Key(ri.Namespace, ri.Name)
		inner := pred
		name := ri.Name
		pred = func(obj runtime.Object) bool {
			m, err := meta.Accessor(obj)
			return err == nil && m.GetName() == name && (inner == nil || inner(obj))
		}
	}
	if fsel, err := fields.ParseSelector(q.Get("fieldSelector")); err == nil && ri.Name == "" && (ri.Namespace != "" || !res.Namespaced) {
		if name, ok := fsel.RequiresExactMatch("metadata.name"); ok {
			// A single-object watch, as client-go's Get-based watchers do.
			prefix = res.store.Key(ri.Namespace, name)
		}
	}
	opts := storage.WatchOptions{
		ResourceVersion:   q.Get("resourceVersion"),
		SendInitialEvents: q.Get("sendInitialEvents") == "true",
		Bookmarks:         q.Get("allowWatchBookmarks") == "true",
		Predicate:         pred,
		Memoized:          true,
	}
	if opts.SendInitialEvents && q.Get("resourceVersionMatch") != string(metav1.ResourceVersionMatchNotOlderThan) {
		s.writeError(w, r, apierrors.NewInvalid(schema.GroupKind{Group: "meta.k8s.io", Kind: "ListOptions"}, "", field.ErrorList{
			field.Forbidden(field.NewPath("resourceVersionMatch"), "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan")}))
		return
	}
	timeout := s.cfg.MinRequestTimeout + time.Duration(utilrand.Int63nRange(0, int64(s.cfg.MinRequestTimeout)))
	if ts := q.Get("timeoutSeconds"); ts != "" {
		n, err := strconv.ParseInt(ts, 10, 64)
		if err != nil || n < 0 {
			s.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("invalid timeoutSeconds: %q", ts)))
			return
		}
		if n > 0 {
			timeout = time.Duration(n) * time.Second
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	wi, err := res.store.Watch(ctx, prefix, opts)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer wi.Stop()
	s.serveWatch(ctx, w, r, res, wi)
}

// serveWatch writes events as a stream in the negotiated form: newline
// separated JSON (or YAML documents), or length-prefixed protobuf frames.
func (s *server) serveWatch(ctx context.Context, w http.ResponseWriter, r *http.Request, res *resource, wi watch.Interface) {
	out, ok := negotiate(r.Header.Get("Accept"), false)
	if !ok {
		s.writeError(w, r, apierrors.NewGenericServerResponse(http.StatusNotAcceptable, "watch", res.GroupResource(), "", "no acceptable media type", 0, false))
		return
	}
	flusher, _ := w.(http.Flusher)
	ct := out.mediaType
	if ct == mediaProtobuf {
		ct = mediaProtobuf + ";stream=watch"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Transfer-Encoding", "chunked")
	w.WriteHeader(http.StatusOK)
	if flusher != nil {
		flusher.Flush()
	}
	printOpts := s.printOptions(r)
	firstTable := true
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-wi.ResultChan():
			if !ok {
				return
			}
			obj, gvk := ev.Object, res.GVK()
			var enc *storage.Encodings
			if m, ok := obj.(*storage.Memo); ok {
				obj, enc = m.Object, m.Enc
			}
			if out.as == "Table" && ev.Type != watch.Bookmark {
				// As upstream, only the first event's table carries the
				// column definitions.
				t, err := printers.Print(res.GroupResource(), []runtime.Object{obj}, printers.Options{Now: s.now(), IncludeObject: printOpts.IncludeObject, NoHeaders: !firstTable})
				if err != nil {
					return
				}
				firstTable = false
				obj, gvk = t, tableGVK
			} else if out.as != "" && out.as != "Table" {
				obj, gvk = partialMeta(obj), partialMetaGVK
			} else if enc != nil && !out.pretty {
				obj = memoized{obj, enc}
			}
			frame, err := s.encodeWatchEvent(ev.Type, obj, gvk, out.mediaType)
			if err != nil {
				s.log.Error("watch: encode", "err", err)
				return
			}
			if _, err := w.Write(frame); err != nil {
				return
			}
			if flusher != nil && len(wi.ResultChan()) == 0 {
				flusher.Flush()
			}
		}
	}
}

// memoized is a cached object whose encodings are shared by every watcher.
type memoized struct {
	runtime.Object
	enc *storage.Encodings
}

func (s *server) encodeWatchEvent(typ watch.EventType, obj runtime.Object, gvk schema.GroupVersionKind, mediaType string) ([]byte, error) {
	var raw []byte
	var err error
	if m, ok := obj.(memoized); ok {
		obj = m.Object
		raw, err = s.codecs.encodeMemoized(m.Object, m.enc, gvk, mediaType)
	} else {
		raw, err = s.codecs.encode(obj, gvk, mediaType, false)
	}
	if err != nil {
		return nil, err
	}
	switch mediaType {
	case mediaProtobuf:
		ev := &metav1.WatchEvent{Type: string(typ), Object: runtime.RawExtension{Raw: raw}}
		b, err := ev.Marshal()
		if err != nil {
			return nil, err
		}
		frame := make([]byte, 4+len(b))
		frame[0], frame[1], frame[2], frame[3] = byte(len(b)>>24), byte(len(b)>>16), byte(len(b)>>8), byte(len(b))
		copy(frame[4:], b)
		return frame, nil
	case mediaYAML:
		j, err := encodeJSON(obj, gvk)
		if err != nil {
			return nil, err
		}
		ev := fmt.Appendf(nil, `{"type":%q,"object":%s}`, typ, j)
		y, err := yaml.JSONToYAML(ev)
		if err != nil {
			return nil, err
		}
		return append([]byte("---\n"), y...), nil
	default:
		raw = trimNewline(raw)
		out := make([]byte, 0, len(raw)+32)
		out = fmt.Appendf(out, `{"type":%q,"object":`, typ)
		out = append(out, raw...)
		return append(out, "}\n"...), nil
	}
}

func trimNewline(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == '\n' {
		b = b[:len(b)-1]
	}
	return b
}
