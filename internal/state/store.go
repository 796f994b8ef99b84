package state

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
)

var (
	// ErrNotFound is returned by Get for a key that does not exist.
	ErrNotFound = errors.New("state: not found")
	// ErrConflict is returned by Commit when a key changed since it was read.
	ErrConflict = errors.New("state: conflict")
)

// Store is the typed view of etcd. Keys given to it are relative to its prefix.
type Store struct {
	// cli serves reads and transactions; wcli (when set) watches, leases
	// and elections. With the embedded etcd, cli is etcd's in-process
	// client (no gRPC on the hot path) and wcli a loopback gRPC client:
	// the in-process client's watch stream wedges when many watches are
	// cancelled while events flow (etcd-io/etcd#18879, open in v3.6.16),
	// and every agent's long poll opens and cancels one.
	cli, wcli *clientv3.Client
	prefix    string
	embedded  *embed.Etcd
	maxTxnOps int
	// single says the store is a lone member (the embedded etcd alone,
	// or a Sub of it): see readOpts.
	single bool
	// pkiDir holds the embedded etcd's certificate authority.
	pkiDir string
}

// watcher is the client that watches (and holds leases and elections).
func (s *Store) watcher() *clientv3.Client {
	if s.wcli != nil {
		return s.wcli
	}
	return s.cli
}

// MaxTxnOps is how many operations (and, separately, conditions) one
// transaction may hold.
func (s *Store) MaxTxnOps() int { return cmp.Or(s.maxTxnOps, DefaultMaxTxnOps) }

// MaxTxnBytes is about how large one transaction may be: three quarters of
// the embedded etcd's request limit, or 1 MiB under etcd's default limit
// (1.5 MiB), which an external cluster may keep.
func (s *Store) MaxTxnBytes() int {
	if s.MaxTxnOps() >= EmbeddedMaxTxnOps {
		return embeddedMaxRequestBytes / 4 * 3
	}
	return 1 << 20
}

// Close releases the client and stops the embedded etcd, if any.
func (s *Store) Close() error {
	err := s.cli.Close()
	if s.embedded != nil && errors.Is(err, context.Canceled) {
		// The in-process client has no connection to close: its Close
		// always answers the cancel it has just made itself.
		err = nil
	}
	if s.wcli != nil {
		err = errors.Join(err, s.wcli.Close())
	}
	if s.embedded != nil {
		s.embedded.Close()
	}
	return err
}

// ClientURL is the address other processes reach the embedded etcd at
// ("" with an external cluster): a second server can share this one's
// state by it (--etcd-endpoints), presenting a certificate of the
// authority in PKIDir (--etcd-pki-dir).
func (s *Store) ClientURL() string {
	if s.embedded == nil {
		return ""
	}
	u := s.embedded.Config().AdvertiseClientUrls
	if len(u) == 0 {
		return ""
	}
	return u[0].String()
}

// PKIDir is the directory of the embedded etcd's certificate authority
// ("" with an external cluster).
func (s *Store) PKIDir() string { return s.pkiDir }

// Client returns the raw etcd client, for leases and elections.
func (s *Store) Client() *clientv3.Client { return s.watcher() }

// Sub returns a store whose keys live under prefix within this one.
func (s *Store) Sub(prefix string) *Store {
	return &Store{cli: s.cli, wcli: s.wcli, prefix: s.prefix + "/" + strings.Trim(prefix, "/"), maxTxnOps: s.maxTxnOps, single: s.single}
}

func (s *Store) key(k string) string { return s.prefix + "/" + k }

// Item is one record as stored: its key (relative to the store), its JSON
// value and the revision at which it was last modified.
type Item struct {
	Key      string
	Value    []byte
	Revision int64
}

// Decode unmarshals the item's value into v.
func (it Item) Decode(v any) error {
	if err := json.Unmarshal(it.Value, v); err != nil {
		return fmt.Errorf("state: decode %s: %w", it.Key, err)
	}
	return nil
}

// serializable says whether reads may be served from the applied state.
func (s *Store) serializable() bool { return s.single }

// readOpts are the options of every read. A lone embedded etcd is a single
// member: a write is acknowledged only once applied, so a serializable
// read (served from the applied state, without a ReadIndex round through
// raft) already sees every acknowledged write, and does not queue behind
// the writes in flight. An external cluster, or an embedded member of a
// cluster, may answer from a lagging member: its reads stay linearizable.
func (s *Store) readOpts() []clientv3.OpOption {
	if s.serializable() {
		return []clientv3.OpOption{clientv3.WithSerializable()}
	}
	return nil
}

// Get reads key into v and returns its modification revision.
func (s *Store) Get(ctx context.Context, key string, v any) (int64, error) {
	resp, err := readRetry(ctx, func() (*clientv3.GetResponse, error) { return s.cli.Get(ctx, s.key(key), s.readOpts()...) })
	if err != nil {
		return 0, storeErr("get "+key, err)
	}
	if len(resp.Kvs) == 0 {
		return 0, ErrNotFound
	}
	kv := resp.Kvs[0]
	return kv.ModRevision, Item{Key: key, Value: kv.Value}.Decode(v)
}

// Page is one page of a prefix listing.
type Page struct {
	Items []Item
	// More reports whether keys remain after the last item.
	More bool
	// Revision is the store revision the page was read at.
	Revision int64
	// Count is the number of keys in the range (set by ReadAll).
	Count int64
}

// List returns up to limit records whose keys start with prefix and sort
// after the key `after` (relative to the store; "" for the first page), in
// key order. limit <= 0 means no limit.
func (s *Store) List(ctx context.Context, prefix, after string, limit int) (Page, error) {
	full := s.key(prefix)
	start := full
	if after != "" {
		start = s.key(after) + "\x00"
	}
	opts := append([]clientv3.OpOption{clientv3.WithRange(clientv3.GetPrefixRangeEnd(full))}, s.readOpts()...)
	if limit > 0 {
		opts = append(opts, clientv3.WithLimit(int64(limit)))
	}
	resp, err := readRetry(ctx, func() (*clientv3.GetResponse, error) { return s.cli.Get(ctx, start, opts...) })
	if err != nil {
		return Page{}, storeErr("list "+prefix, err)
	}
	p := Page{More: resp.More, Revision: resp.Header.Revision}
	for _, kv := range resp.Kvs {
		p.Items = append(p.Items, Item{Key: strings.TrimPrefix(string(kv.Key), s.prefix+"/"), Value: kv.Value, Revision: kv.ModRevision})
	}
	return p, nil
}

// ListAll returns every record under prefix, read at one revision.
func (s *Store) ListAll(ctx context.Context, prefix string) (Page, error) {
	return s.List(ctx, prefix, "", 0)
}

// Count returns how many keys start with prefix.
func (s *Store) Count(ctx context.Context, prefix string) (int64, error) {
	full := s.key(prefix)
	resp, err := readRetry(ctx, func() (*clientv3.GetResponse, error) {
		return s.cli.Get(ctx, full, append([]clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithCountOnly()}, s.readOpts()...)...)
	})
	if err != nil {
		return 0, storeErr("count "+prefix, err)
	}
	return resp.Count, nil
}

// Txn starts a transaction: conditions on what was read, then writes that
// apply only if every condition still holds.
func (s *Store) Txn() *Txn { return &Txn{s: s} }

// Txn is a multi-key conditional write. Build it with Expect* and Put/Delete,
// then Commit.
type Txn struct {
	s     *Store
	conds []clientv3.Cmp
	ops   []clientv3.Op
	err   error
}

// Expect requires key to be at modification revision rev; rev 0 requires the
// key not to exist.
func (t *Txn) Expect(key string, rev int64) *Txn {
	t.conds = append(t.conds, clientv3.Compare(clientv3.ModRevision(t.s.key(key)), "=", rev))
	return t
}

// ExpectUnchangedSince requires that no key under prefix was created or
// modified after revision rev (deletions are not seen).
func (t *Txn) ExpectUnchangedSince(prefix string, rev int64) *Txn {
	full := t.s.key(prefix)
	t.conds = append(t.conds, clientv3.Compare(clientv3.ModRevision(full), "<", rev+1).WithRange(clientv3.GetPrefixRangeEnd(full)))
	return t
}

// Put writes v as JSON at key.
func (t *Txn) Put(key string, v any) *Txn {
	b, err := json.Marshal(v)
	if err != nil && t.err == nil {
		t.err = fmt.Errorf("state: encode %s: %w", key, err)
	}
	t.ops = append(t.ops, clientv3.OpPut(t.s.key(key), string(b)))
	return t
}

// Delete removes key.
func (t *Txn) Delete(key string) *Txn {
	t.ops = append(t.ops, clientv3.OpDelete(t.s.key(key)))
	return t
}

// DeletePrefix removes every key under prefix.
func (t *Txn) DeletePrefix(prefix string) *Txn {
	t.ops = append(t.ops, clientv3.OpDelete(t.s.key(prefix), clientv3.WithPrefix()))
	return t
}

// Commit applies the writes if every condition holds, and returns the
// revision of the commit; ErrConflict if a condition failed.
func (t *Txn) Commit(ctx context.Context) (int64, error) {
	if t.err != nil {
		return 0, t.err
	}
	if f, ok := FenceOf(ctx); ok {
		return t.commitFenced(ctx, f)
	}
	resp, err := t.s.cli.Txn(ctx).If(t.conds...).Then(t.ops...).Commit()
	if err != nil {
		return 0, storeErr("commit", err)
	}
	if !resp.Succeeded {
		return 0, ErrConflict
	}
	return resp.Header.Revision, nil
}

// commitFenced commits the transaction nested in one conditional on the
// fence (etcd's transactions nest), so that a failed fence (ErrFenced) and
// a failed condition (ErrConflict) are told apart.
func (t *Txn) commitFenced(ctx context.Context, f Fence) (int64, error) {
	resp, err := t.s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(f.Key), "=", f.Rev)).
		Then(clientv3.OpTxn(t.conds, t.ops, nil)).
		Commit()
	if err != nil {
		return 0, storeErr("commit", err)
	}
	if !resp.Succeeded {
		return 0, ErrFenced
	}
	if !resp.Responses[0].GetResponseTxn().Succeeded {
		return 0, ErrConflict
	}
	return resp.Header.Revision, nil
}

// Update reads key into a T, lets fn change it, and writes it back if the key
// did not change meanwhile, retrying on conflict. fn sees found=false for a
// missing key; it returns the value to write, or an error to abort.
func Update[T any](ctx context.Context, s *Store, key string, fn func(cur *T, found bool) (*T, error)) (*T, error) {
	return Retry(ctx, func() (*T, error) {
		cur := new(T)
		rev, err := s.Get(ctx, key, cur)
		found := err == nil
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		next, err := fn(cur, found)
		if err != nil {
			return nil, err
		}
		if _, err := s.Txn().Expect(key, rev).Put(key, next).Commit(ctx); err != nil {
			return nil, err
		}
		return next, nil
	})
}

// Read is one range of a multi-range read: a single key, or every key under
// a prefix (optionally counted rather than returned).
type Read struct {
	Key       string
	Prefix    bool
	CountOnly bool
	// KeysOnly reads keys and revisions without values.
	KeysOnly bool
}

// ReadAll performs several reads at one revision, in one round trip. Each
// Page holds the items of one Read (a missing key gives an empty page), or
// only Count for a CountOnly read.
func (s *Store) ReadAll(ctx context.Context, reads ...Read) ([]Page, error) {
	ops := make([]clientv3.Op, len(reads))
	for i, r := range reads {
		opts := s.readOpts()
		if r.Prefix {
			opts = append(opts, clientv3.WithPrefix())
		}
		if r.CountOnly {
			opts = append(opts, clientv3.WithCountOnly())
		}
		if r.KeysOnly {
			opts = append(opts, clientv3.WithKeysOnly())
		}
		ops[i] = clientv3.OpGet(s.key(r.Key), opts...)
	}
	resp, err := readRetry(ctx, func() (*clientv3.TxnResponse, error) { return s.cli.Txn(ctx).Then(ops...).Commit() })
	if err != nil {
		return nil, storeErr("read", err)
	}
	pages := make([]Page, len(reads))
	for i, r := range resp.Responses {
		rr := r.GetResponseRange()
		p := Page{Revision: resp.Header.Revision, Count: rr.Count, More: rr.More}
		for _, kv := range rr.Kvs {
			p.Items = append(p.Items, Item{Key: strings.TrimPrefix(string(kv.Key), s.prefix+"/"), Value: kv.Value, Revision: kv.ModRevision})
		}
		pages[i] = p
	}
	return pages, nil
}

// Retry runs attempt until it returns something other than ErrConflict: each
// attempt re-reads what it depends on and commits conditionally on it. After
// a few immediate retries it waits a little, growing, so that writers
// contending on one record take turns. It gives up when ctx ends.
func Retry[T any](ctx context.Context, attempt func() (T, error)) (T, error) {
	for i := 0; ; i++ {
		v, err := attempt()
		if !errors.Is(err, ErrConflict) {
			return v, err
		}
		if i >= 3 {
			wait := time.Duration(min(i, 20)) * (time.Millisecond + time.Duration(rand.Int64N(int64(time.Millisecond))))
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return v, ctx.Err()
			}
		} else if ctx.Err() != nil {
			return v, ctx.Err()
		}
	}
}

// readRetry runs a read again when it failed because etcd's leader changed
// under it (a linearizable read of a cluster member, while a member
// fails): the read changed nothing, and the next leader is usually there
// within etcd's election timeout. It gives up after about 2 s, or when ctx
// ends.
func readRetry[T any](ctx context.Context, read func() (T, error)) (T, error) {
	for i := 1; ; i++ {
		v, err := read()
		if !errors.Is(err, rpctypes.ErrLeaderChanged) || i == 8 {
			return v, err
		}
		select {
		case <-time.After(time.Duration(i) * 50 * time.Millisecond):
		case <-ctx.Done():
			return v, err
		}
	}
}
