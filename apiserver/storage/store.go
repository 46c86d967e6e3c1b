// Package storage keeps API objects in etcd, one Store per resource, under
// upstream's key layout /registry/<resource>/<namespace>/<name>.
//
// Values are protobuf in upstream's envelope ("k8s\x00" + runtime.Unknown),
// the same bytes kube-apiserver writes: compact, fast to decode, and readable
// with the tools etcd users already have for Kubernetes data. The
// resourceVersion of an object is the etcd revision that last modified it.
//
// Reads of single objects and paginated lists go to etcd; watches and
// unpaginated lists are served by a per-resource watch cache that holds
// one etcd watch, so many watchers cost one etcd watch.
package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
)

// Config configures the Store of one resource.
type Config struct {
	Client *clientv3.Client
	// Prefix is the key prefix of the resource, e.g. "/registry/pods".
	Prefix string
	// Resource names the resource in errors ("pods", "deployments.apps").
	Resource schema.GroupResource
	// GVK is the kind stored; objects are encoded as this kind.
	GVK    schema.GroupVersionKind
	Scheme *runtime.Scheme
	// New returns an empty object of the kind.
	New func() runtime.Object
	// Stored, when set, is the form objects are kept in when it differs
	// from the served kind (events.k8s.io/v1 Events are stored as core/v1
	// Events, as upstream).
	Stored *StoredForm
	// CacheSize is the number of recent events the watch cache keeps for
	// watchers resuming from a resourceVersion. 0 means 1000.
	CacheSize int
	Logger    *slog.Logger
}

// StoredForm converts between the served kind and the stored one.
type StoredForm struct {
	GVK         schema.GroupVersionKind
	New         func() runtime.Object
	ToStorage   func(runtime.Object) runtime.Object
	FromStorage func(runtime.Object) runtime.Object
}

// Store reads and writes the objects of one resource.
type Store struct {
	cfg    Config
	client *clientv3.Client
	prefix string // with trailing "/"
	proto  *protobuf.Serializer
	cache  *watchCache
	log    *slog.Logger
}

// New returns a Store. Call Start before serving watches or cached lists.
func New(cfg Config) *Store {
	if cfg.CacheSize == 0 {
		cfg.CacheSize = 1000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{
		cfg:    cfg,
		client: cfg.Client,
		prefix: strings.TrimSuffix(cfg.Prefix, "/") + "/",
		proto:  protobuf.NewSerializer(cfg.Scheme, cfg.Scheme),
		log:    cfg.Logger.With("resource", cfg.Resource.String()),
	}
	s.cache = newWatchCache(s)
	return s
}

// Start loads the watch cache and keeps it current until ctx is done. It
// returns once the cache holds the current state.
func (s *Store) Start(ctx context.Context) error {
	return s.cache.start(ctx)
}

// Key returns the etcd key of an object. namespace is empty for cluster
// scoped resources.
func (s *Store) Key(namespace, name string) string {
	if namespace == "" {
		return s.prefix + name
	}
	return s.prefix + namespace + "/" + name
}

// KeyPrefix returns the key prefix of all objects in namespace, or of all
// objects when namespace is empty.
func (s *Store) KeyPrefix(namespace string) string {
	if namespace == "" {
		return s.prefix
	}
	return s.prefix + namespace + "/"
}

// Resource returns the resource the store holds.
func (s *Store) Resource() schema.GroupResource { return s.cfg.Resource }

func (s *Store) encode(obj runtime.Object) ([]byte, error) {
	gvk := s.cfg.GVK
	if s.cfg.Stored != nil {
		obj, gvk = s.cfg.Stored.ToStorage(obj), s.cfg.Stored.GVK
	}
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	rv := m.GetResourceVersion()
	m.SetResourceVersion("") // never stored: it is the etcd revision
	var buf bytes.Buffer
	err = s.proto.Encode(obj, &buf)
	m.SetResourceVersion(rv)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", s.cfg.Resource, err)
	}
	return buf.Bytes(), nil
}

func (s *Store) decode(data []byte, rev int64) (runtime.Object, error) {
	into := s.cfg.New()
	if s.cfg.Stored != nil {
		into = s.cfg.Stored.New()
	}
	obj, _, err := s.proto.Decode(data, nil, into)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", s.cfg.Resource, err)
	}
	if s.cfg.Stored != nil {
		obj = s.cfg.Stored.FromStorage(obj)
	}
	obj.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	m.SetResourceVersion(strconv.FormatInt(rev, 10))
	return obj, nil
}

func nameOf(key string) string { return key[strings.LastIndex(key, "/")+1:] }

func (s *Store) notFound(key string) error {
	return apierrors.NewNotFound(s.cfg.Resource, nameOf(key))
}

// getRaw reads the stored bytes of key and their revision.
func (s *Store) getRaw(ctx context.Context, key string) ([]byte, int64, error) {
	resp, err := s.client.Get(ctx, key)
	if err != nil {
		return nil, 0, storageError(err)
	}
	if len(resp.Kvs) == 0 {
		return nil, 0, s.notFound(key)
	}
	return resp.Kvs[0].Value, resp.Kvs[0].ModRevision, nil
}

// Get reads the object at key from etcd (a consistent read).
func (s *Store) Get(ctx context.Context, key string) (runtime.Object, error) {
	data, rev, err := s.getRaw(ctx, key)
	if err != nil {
		return nil, err
	}
	return s.decode(data, rev)
}

// GetAt reads the object at key from etcd at revision rev.
func (s *Store) GetAt(ctx context.Context, key string, rev int64) (runtime.Object, error) {
	resp, err := s.client.Get(ctx, key, clientv3.WithRev(rev))
	if err != nil {
		return nil, storageError(err)
	}
	if len(resp.Kvs) == 0 {
		return nil, s.notFound(key)
	}
	kv := resp.Kvs[0]
	return s.decode(kv.Value, kv.ModRevision)
}

// GetNotOlderThan reads the object at key as of a revision not older than
// rv, from the watch cache when it has caught up ("0": whatever it has),
// else from etcd.
func (s *Store) GetNotOlderThan(ctx context.Context, key, rv string) (runtime.Object, error) {
	n, err := strconv.ParseInt(rv, 10, 64)
	if err != nil || n < 0 {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid resource version: %q", rv))
	}
	if s.cache.waitFresh(ctx, n) {
		obj, ok := s.cache.get(key)
		if !ok {
			return nil, s.notFound(key)
		}
		return obj, nil
	}
	return s.Get(ctx, key)
}

// GetCached returns the object at key from the watch cache, which may lag
// etcd slightly. The result must not be mutated.
func (s *Store) GetCached(key string) (runtime.Object, bool) {
	return s.cache.get(key)
}

// Create writes obj at key if nothing is there, and returns the stored
// object with its resourceVersion. It fails with AlreadyExists otherwise.
func (s *Store) Create(ctx context.Context, key string, obj runtime.Object) (runtime.Object, error) {
	data, err := s.encode(obj)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(data))).
		Commit()
	if err != nil {
		return nil, storageError(err)
	}
	if !resp.Succeeded {
		return nil, apierrors.NewAlreadyExists(s.cfg.Resource, nameOf(key))
	}
	return s.decode(data, resp.Header.Revision)
}

// UpdateFunc computes the new object from the current one. cur is a copy the
// function may mutate and return. Returning an error aborts the update.
type UpdateFunc func(cur runtime.Object) (runtime.Object, error)

// Update reads the object at key, applies fn, and writes the result if the
// object has not changed in between, retrying fn on a race. fn is
// responsible for precondition checks (e.g. a client's resourceVersion). If
// fn returns an object that encodes to the same bytes, nothing is written
// and the current object is returned (a no-op update keeps its
// resourceVersion).
func (s *Store) Update(ctx context.Context, key string, fn UpdateFunc) (runtime.Object, error) {
	curData, curRev, err := s.getRaw(ctx, key)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		cur, err := s.decode(curData, curRev)
		if err != nil {
			return nil, err
		}
		next, err := fn(cur)
		if err != nil {
			return nil, err
		}
		data, err := s.encode(next)
		if err != nil {
			return nil, err
		}
		if bytes.Equal(data, curData) {
			return s.decode(curData, curRev)
		}
		txn, err := s.client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", curRev)).
			Then(clientv3.OpPut(key, string(data))).
			Else(clientv3.OpGet(key)).
			Commit()
		if err != nil {
			return nil, storageError(err)
		}
		if txn.Succeeded {
			return s.decode(data, txn.Header.Revision)
		}
		got := txn.Responses[0].GetResponseRange()
		if len(got.Kvs) == 0 {
			return nil, s.notFound(key)
		}
		curData, curRev = got.Kvs[0].Value, got.Kvs[0].ModRevision
		if attempt > 100 {
			return nil, apierrors.NewConflict(s.cfg.Resource, nameOf(key), errors.New("too many concurrent updates"))
		}
	}
}

// Delete removes the object at key. check, when not nil, sees the current
// object and may refuse the delete (preconditions). Delete returns the
// object as it was last stored.
func (s *Store) Delete(ctx context.Context, key string, check func(cur runtime.Object) error) (runtime.Object, error) {
	curData, curRev, err := s.getRaw(ctx, key)
	if err != nil {
		return nil, err
	}
	for {
		cur, err := s.decode(curData, curRev)
		if err != nil {
			return nil, err
		}
		if check != nil {
			if err := check(cur); err != nil {
				return nil, err
			}
		}
		txn, err := s.client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", curRev)).
			Then(clientv3.OpDelete(key)).
			Else(clientv3.OpGet(key)).
			Commit()
		if err != nil {
			return nil, storageError(err)
		}
		if txn.Succeeded {
			return cur, nil
		}
		got := txn.Responses[0].GetResponseRange()
		if len(got.Kvs) == 0 {
			return nil, s.notFound(key)
		}
		curData, curRev = got.Kvs[0].Value, got.Kvs[0].ModRevision
	}
}

// CurrentRevision returns etcd's current revision.
func (s *Store) CurrentRevision(ctx context.Context) (int64, error) {
	resp, err := s.client.Get(ctx, s.prefix+"\x00", clientv3.WithCountOnly())
	if err != nil {
		return 0, storageError(err)
	}
	return resp.Header.Revision, nil
}

// storageError turns an etcd client error into an API error.
func storageError(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return apierrors.NewTimeoutError(fmt.Sprintf("storage: %v", err), 1)
	}
	// An object larger than etcd takes (its request limit, or gRPC's
	// message limit) is the client's to fix: 413, as upstream.
	if errors.Is(err, rpctypes.ErrRequestTooLarge) || status.Code(err) == codes.ResourceExhausted {
		return apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("the object is too large to store: %v", err))
	}
	return apierrors.NewInternalError(fmt.Errorf("storage: %w", err))
}
