package ecs

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/agentproto"
	"github.com/gantry-dev/gantry/internal/state"
	"github.com/gantry-dev/gantry/internal/wire"
)

// Removal of old records: STOPPED tasks stay describable for
// Options.StoppedTaskRetention (an hour, as ECS promises at least), RunTask
// and CreateService client tokens for Options.TokenRetention. The server
// calls Purge every minute on one replica (under an etcd election). Records
// live per account and region; each scope that ever held a task or a
// service is listed under scopesPrefix in the root store, so the purge
// knows where to look.

// scopesPrefix holds, in the root store, one key per account/region that
// holds tasks. Accounts are 12 digits, so it cannot clash with a scope.
const scopesPrefix = "scopes/"

// scopeKey is the key recording that an account and region hold tasks.
func scopeKey(account, region string) string { return scopesPrefix + account + "/" + region }

// purgePageSize is how many records Purge reads at a time.
const purgePageSize = 500

// aged is a record as the purge selection sees it: done (a STOPPED task, a
// token) since at.
type aged struct {
	key  string
	rev  int64
	done bool
	at   time.Time
}

// expired returns the records done for longer than keep at now. A record
// without a time is kept.
func expired(items []aged, now time.Time, keep time.Duration) []aged {
	var out []aged
	cutoff := now.Add(-keep)
	for _, it := range items {
		if it.done && !it.at.IsZero() && it.at.Before(cutoff) {
			out = append(out, it)
		}
	}
	return out
}

// taskAge reads a task record for the purge.
func taskAge(it state.Item) (aged, error) {
	var t struct {
		LastStatus string     `json:"lastStatus"`
		StoppedAt  *wire.Time `json:"stoppedAt"`
	}
	if err := it.Decode(&t); err != nil {
		return aged{}, err
	}
	a := aged{key: it.Key, rev: it.Revision, done: t.LastStatus == agentproto.StatusStopped}
	if t.StoppedAt != nil {
		a.at = t.StoppedAt.Time
	}
	return a, nil
}

// tokenAge reads a client token record for the purge.
func tokenAge(it state.Item) (aged, error) {
	var t runToken
	if err := it.Decode(&t); err != nil {
		return aged{}, err
	}
	return aged{key: it.Key, rev: it.Revision, done: true, at: time.UnixMilli(t.CreatedAt)}, nil
}

// Purge deletes, in every account and region, the tasks that stopped more
// than StoppedTaskRetention before now and the client tokens older than
// TokenRetention. It returns how many records it deleted.
func (s *Service) Purge(ctx context.Context, now time.Time) (int, error) {
	scopes, err := s.store.ListAll(ctx, scopesPrefix)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, sk := range scopes.Items {
		st := s.store.Sub(strings.TrimPrefix(sk.Key, scopesPrefix))
		for _, p := range []struct {
			prefix string
			read   func(state.Item) (aged, error)
			keep   time.Duration
		}{
			{"tasks/", taskAge, s.opts.StoppedTaskRetention},
			{"idempotency/RunTask/", tokenAge, s.opts.TokenRetention},
			{"idempotency/CreateService/", tokenAge, s.opts.TokenRetention},
		} {
			n, err := purgePrefix(ctx, st, p.prefix, p.read, now, p.keep)
			total += n
			if err != nil {
				return total, err
			}
		}
	}
	return total, nil
}

// purgePrefix deletes the expired records under prefix, each only if it did
// not change since it was read.
func purgePrefix(ctx context.Context, st *state.Store, prefix string, read func(state.Item) (aged, error), now time.Time, keep time.Duration) (int, error) {
	n, after := 0, ""
	for {
		page, err := st.List(ctx, prefix, after, purgePageSize)
		if err != nil {
			return n, err
		}
		items := make([]aged, 0, len(page.Items))
		for _, it := range page.Items {
			a, err := read(it)
			if err != nil {
				return n, err
			}
			items = append(items, a)
			after = it.Key
		}
		for _, a := range expired(items, now, keep) {
			_, err := st.Txn().Expect(a.key, a.rev).Delete(a.key).Commit(ctx)
			if errors.Is(err, state.ErrConflict) {
				continue
			}
			if err != nil {
				return n, err
			}
			n++
		}
		if !page.More {
			return n, nil
		}
	}
}
