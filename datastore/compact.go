package datastore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// CompactRevKey is the etcd key through which compactors sharing one etcd
// agree on who compacts: its value is the last revision compacted to, its
// version counts compaction turns. Upstream kube-apiserver uses the same key,
// so Skiff and kube-apiserver instances sharing an etcd cooperate.
const CompactRevKey = "compact_rev_key"

// DefaultCompactInterval is kube-apiserver's default compaction interval.
const DefaultCompactInterval = 5 * time.Minute

// CompactorConfig configures RunCompactor.
type CompactorConfig struct {
	// Client reaches the etcd to compact. Required.
	Client *clientv3.Client
	// Interval is the time between compaction turns, and so the length of
	// history kept: each turn compacts to the revision seen one turn
	// earlier. 0 means DefaultCompactInterval.
	Interval time.Duration
	// Logger receives failed turns (at warn) and compactions (at debug).
	// nil discards.
	Logger *slog.Logger
	// OnCompact, if set, is called after this compactor compacted etcd to
	// rev. It is not called for turns another compactor took.
	OnCompact func(rev int64)
}

// compactState is what one compactor knows between turns.
type compactState struct {
	// version is the version of CompactRevKey this compactor expects: if it
	// still holds at the next turn, nobody else compacted meanwhile.
	version int64
	// rev is the revision seen at the last turn: the next compaction target.
	rev int64
}

// RunCompactor compacts etcd history every cfg.Interval until ctx is done,
// then returns nil. Like kube-apiserver, it keeps one interval of history:
// each turn compacts to the revision seen one turn before. Several
// compactors on one etcd (several API servers) take turns through a
// compare-and-swap on CompactRevKey, so the store is compacted once per
// interval, not once per compactor; when the one that compacted stops,
// another takes over within two intervals. A failed turn is logged and
// retried at the next one.
func RunCompactor(ctx context.Context, cfg CompactorConfig) error {
	if cfg.Client == nil {
		return errors.New("datastore: compactor needs a client")
	}
	interval := cfg.Interval
	if interval <= 0 {
		interval = DefaultCompactInterval
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}

	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	var st compactState
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
		// On error st still moves on if the compare-and-swap went through,
		// as upstream does: the turn was taken, the next one is due.
		target := st.rev
		var compacted int64
		var err error
		st, _, compacted, err = compactTurn(ctx, cfg.Client, st)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			logger.Warn("etcd compaction failed", "endpoints", cfg.Client.Endpoints(), "revision", target, "err", err)
			continue
		}
		if compacted != 0 {
			logger.Debug("etcd compacted", "revision", compacted)
			if cfg.OnCompact != nil {
				cfg.OnCompact(compacted)
			}
		}
	}
}

// compactTurn takes one turn of the protocol. If CompactRevKey still has the
// version st expects, this compactor wins the turn: it records st.rev in the
// key and compacts to st.rev (unless st.rev is 0, i.e. its first turn).
// Otherwise another compactor took the turn since, and this one only learns
// the key's version. Either way the new state targets the current revision
// for the next turn. won tells whether this compactor took the turn;
// compacted is the revision compacted to, or 0.
func compactTurn(ctx context.Context, client *clientv3.Client, st compactState) (next compactState, won bool, compacted int64, err error) {
	resp, err := client.Txn(ctx).If(
		clientv3.Compare(clientv3.Version(CompactRevKey), "=", st.version),
	).Then(
		clientv3.OpPut(CompactRevKey, strconv.FormatInt(st.rev, 10)), // bumps the version
	).Else(
		clientv3.OpGet(CompactRevKey),
	).Commit()
	if err != nil {
		return st, false, 0, fmt.Errorf("compare-and-swap %s: %w", CompactRevKey, err)
	}
	next.rev = resp.Header.Revision
	if !resp.Succeeded {
		// Lost the turn. The key may also have been deleted (version 0).
		if kvs := resp.Responses[0].GetResponseRange().GetKvs(); len(kvs) > 0 {
			next.version = kvs[0].Version
		}
		return next, false, 0, nil
	}
	next.version = st.version + 1
	if st.rev == 0 {
		return next, true, 0, nil // first turn: nothing seen an interval ago
	}
	if _, err := client.Compact(ctx, st.rev); err != nil {
		if errors.Is(err, rpctypes.ErrCompacted) {
			// Someone compacted past st.rev by other means: nothing to do.
			return next, true, 0, nil
		}
		return next, true, 0, fmt.Errorf("compact to revision %d: %w", st.rev, err)
	}
	return next, true, st.rev, nil
}

// Compact compacts etcd history up to the current revision now and returns
// that revision. It takes a turn of the RunCompactor protocol, so running
// compactors see that a compaction happened and skip their next turn.
func Compact(ctx context.Context, client *clientv3.Client) (rev int64, err error) {
	// Another compactor may take the turn between reading the key and the
	// compare-and-swap; then read again.
	for attempt := 0; attempt < 5; attempt++ {
		resp, err := client.Get(ctx, CompactRevKey)
		if err != nil {
			return 0, fmt.Errorf("datastore: read %s: %w", CompactRevKey, err)
		}
		st := compactState{rev: resp.Header.Revision}
		if len(resp.Kvs) > 0 {
			st.version = resp.Kvs[0].Version
		}
		_, won, _, err := compactTurn(ctx, client, st)
		if err != nil {
			return 0, fmt.Errorf("datastore: %w", err)
		}
		if won {
			return st.rev, nil
		}
	}
	return 0, errors.New("datastore: compaction kept losing the race with other compactors")
}
