package storage

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// ListOptions selects what List returns. The fields mean what they mean in
// metav1.ListOptions.
type ListOptions struct {
	ResourceVersion      string
	ResourceVersionMatch metav1.ResourceVersionMatch
	Limit                int64
	Continue             string
	// Predicate, when not nil, keeps only the objects for which it is true.
	Predicate func(runtime.Object) bool
}

// ListResult is one page of a list.
type ListResult struct {
	// Items must not be mutated: they may be shared with the watch cache.
	Items []runtime.Object
	// Encodings, when not nil, has one memo per item (lists served by the
	// watch cache) for the items' wire encodings.
	Encodings          []*Encodings
	ResourceVersion    int64
	Continue           string
	RemainingItemCount *int64
}

// continueToken is upstream's continue token, so that tokens look familiar.
type continueToken struct {
	APIVersion      string `json:"v"`
	ResourceVersion int64  `json:"rv"`
	StartKey        string `json:"start"`
}

func encodeContinue(rev int64, startKey string) string {
	b, _ := json.Marshal(continueToken{APIVersion: "meta.k8s.io/v1", ResourceVersion: rev, StartKey: startKey})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeContinue(s string) (continueToken, error) {
	var t continueToken
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return t, fmt.Errorf("continue key is not valid: %w", err)
	}
	if err := json.Unmarshal(b, &t); err != nil {
		return t, fmt.Errorf("continue key is not valid: %w", err)
	}
	if t.APIVersion != "meta.k8s.io/v1" || t.ResourceVersion <= 0 || strings.Contains(t.StartKey, "..") {
		return t, fmt.Errorf("continue key is not valid: unsupported form")
	}
	return t, nil
}

// List returns the objects under prefix (see KeyPrefix). Paginated lists,
// lists at an exact resourceVersion and continuations are read from etcd;
// the others are served by the watch cache once it has caught up with the
// requested (or, for a consistent read, the current) revision.
func (s *Store) List(ctx context.Context, prefix string, opts ListOptions) (*ListResult, error) {
	if opts.Continue != "" {
		tok, err := decodeContinue(opts.Continue)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		return s.listEtcd(ctx, prefix, prefix+tok.StartKey, tok.ResourceVersion, opts)
	}
	var rv int64
	if opts.ResourceVersion != "" {
		var err error
		rv, err = strconv.ParseInt(opts.ResourceVersion, 10, 64)
		if err != nil || rv < 0 {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid resource version: %q", opts.ResourceVersion))
		}
	}
	exact := opts.ResourceVersionMatch == metav1.ResourceVersionMatchExact ||
		(opts.ResourceVersionMatch == "" && rv > 0 && opts.Limit > 0)
	switch {
	case exact:
		return s.listEtcd(ctx, prefix, prefix, rv, opts)
	case opts.ResourceVersion == "" && opts.Limit > 0:
		return s.listEtcd(ctx, prefix, prefix, 0, opts)
	case opts.ResourceVersion == "":
		cur, err := s.CurrentRevision(ctx)
		if err != nil {
			return nil, err
		}
		if s.cache.waitFresh(ctx, cur) {
			return s.cache.list(prefix, opts.Predicate), nil
		}
		return s.listEtcd(ctx, prefix, prefix, 0, opts)
	default: // NotOlderThan rv (rv 0: any)
		if s.cache.waitFresh(ctx, rv) {
			return s.cache.list(prefix, opts.Predicate), nil
		}
		if rv > 0 {
			return nil, apierrors.NewTimeoutError(fmt.Sprintf("too large resource version: %d, current: %d", rv, s.cache.revision()), 1)
		}
		return s.listEtcd(ctx, prefix, prefix, 0, opts)
	}
}

// listEtcd reads from etcd at rev (0: current) starting at key from, up to
// opts.Limit matching objects.
func (s *Store) listEtcd(ctx context.Context, prefix, from string, rev int64, opts ListOptions) (*ListResult, error) {
	end := clientv3.GetPrefixRangeEnd(prefix)
	res := &ListResult{}
	batch := opts.Limit
	if batch <= 0 || batch > 10000 {
		batch = 10000
	}
	if opts.Limit <= 0 {
		batch = 0 // everything in one range
	}
	key := from
	for {
		getOpts := []clientv3.OpOption{clientv3.WithRange(end)}
		if batch > 0 {
			getOpts = append(getOpts, clientv3.WithLimit(batch))
		}
		if rev > 0 {
			getOpts = append(getOpts, clientv3.WithRev(rev))
		}
		resp, err := s.client.Get(ctx, key, getOpts...)
		if err != nil {
			if err == rpctypes.ErrCompacted {
				if opts.Continue != "" {
					return nil, apierrors.NewResourceExpired("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.")
				}
				return nil, apierrors.NewResourceExpired(fmt.Sprintf("resourceVersion %d is too old: compacted", rev))
			}
			if err == rpctypes.ErrFutureRev {
				return nil, apierrors.NewTimeoutError(fmt.Sprintf("too large resource version: %d", rev), 1)
			}
			return nil, storageError(err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for i, kv := range resp.Kvs {
			obj, err := s.decode(kv.Value, kv.ModRevision)
			if err != nil {
				return nil, err
			}
			if opts.Predicate != nil && !opts.Predicate(obj) {
				continue
			}
			res.Items = append(res.Items, obj)
			if opts.Limit > 0 && int64(len(res.Items)) == opts.Limit {
				last := string(kv.Key)
				more := resp.More || i < len(resp.Kvs)-1
				if more {
					res.Continue = encodeContinue(rev, strings.TrimPrefix(last, prefix)+"\x00")
					if opts.Predicate == nil {
						n := resp.Count - int64(i) - 1
						res.RemainingItemCount = &n
					}
				}
				res.ResourceVersion = rev
				return res, nil
			}
		}
		if !resp.More || batch == 0 || len(resp.Kvs) == 0 {
			break
		}
		key = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
	res.ResourceVersion = rev
	return res, nil
}
