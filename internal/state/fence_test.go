package state

import (
	"context"
	"errors"
	"testing"

	"go.etcd.io/etcd/client/v3/concurrency"
)

// A leader that lost its election (its session expired while it was
// paused) cannot write with the fence of its term, even a write whose own
// conditions hold; the new leader can. Nothing of the old leader's write
// is applied.
func TestFenceStopsAnOldLeader(t *testing.T) {
	ctx := context.Background()
	s := storeFor(t)
	election := "/test-elections/" + t.Name()
	campaign := func(name string) (*concurrency.Session, Fence) {
		sess, err := concurrency.NewSession(shared.Client(), concurrency.WithTTL(5))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sess.Close() })
		el := concurrency.NewElection(sess, election)
		if err := el.Campaign(ctx, name); err != nil {
			t.Fatal(err)
		}
		return sess, Fence{Key: el.Key(), Rev: el.Rev()}
	}
	oldSess, oldFence := campaign("old")
	old := WithFence(ctx, oldFence)
	if _, err := s.Txn().Expect("k", 0).Put("k", rec{N: 1}).Commit(old); err != nil {
		t.Fatalf("the leader's fenced write: %v", err)
	}
	// A conflict under a valid fence is still a conflict.
	if _, err := s.Txn().Expect("k", 0).Put("k", rec{N: 9}).Commit(old); !errors.Is(err, ErrConflict) {
		t.Fatalf("a stale write of the leader = %v, want ErrConflict", err)
	}
	// The old leader's lease ends (as when it stops answering for its TTL)
	// and another wins.
	rev, err := s.Get(ctx, "k", new(rec))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := shared.Client().Revoke(ctx, oldSess.Lease()); err != nil {
		t.Fatal(err)
	}
	_, newFence := campaign("new")
	if _, err := s.Txn().Expect("k", rev).Put("k", rec{N: 2}).Put("other", rec{N: 2}).Commit(old); !errors.Is(err, ErrFenced) {
		t.Fatalf("the old leader's write after losing = %v, want ErrFenced", err)
	}
	var r rec
	if _, err := s.Get(ctx, "k", &r); err != nil || r.N != 1 {
		t.Fatalf("after the old leader's fenced write: k = %+v, %v; want it unchanged", r, err)
	}
	if _, err := s.Get(ctx, "other", &r); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the old leader's fenced write created a key: %v", err)
	}
	if _, err := s.Txn().Expect("k", rev).Put("k", rec{N: 3}).Commit(WithFence(ctx, newFence)); err != nil {
		t.Fatalf("the new leader's write: %v", err)
	}
	// An unfenced write (an API request) is not concerned by elections.
	if _, err := s.Txn().Put("free", rec{N: 4}).Commit(ctx); err != nil {
		t.Fatal(err)
	}
}
