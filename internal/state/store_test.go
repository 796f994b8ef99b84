package state

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"
)

// One embedded etcd serves every test of the package; each test works under
// its own prefix.
var shared *Store

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "state-test-")
	if err != nil {
		panic(err)
	}
	shared, err = Open(context.Background(), Config{DataDir: dir}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		panic(err)
	}
	code := m.Run()
	shared.Close()
	os.RemoveAll(dir)
	os.Exit(code)
}

func storeFor(t *testing.T) *Store { return shared.Sub(t.Name()) }

type rec struct {
	N int    `json:"n"`
	S string `json:"s,omitempty"`
}

func TestGetPutAndConflict(t *testing.T) {
	ctx := context.Background()
	s := storeFor(t)
	var r rec
	if _, err := s.Get(ctx, "a", &r); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get missing = %v, want ErrNotFound", err)
	}
	rev, err := s.Txn().Expect("a", 0).Put("a", rec{N: 1}).Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Creating it again with "must not exist" conflicts.
	if _, err := s.Txn().Expect("a", 0).Put("a", rec{N: 9}).Commit(ctx); !errors.Is(err, ErrConflict) {
		t.Fatalf("second create = %v, want ErrConflict", err)
	}
	got, err := s.Get(ctx, "a", &r)
	if err != nil || got != rev || r.N != 1 {
		t.Fatalf("get = %v rev %d (want %d) err %v", r, got, rev, err)
	}
	// A write conditional on a stale revision conflicts and writes nothing,
	// not even its other keys.
	s.Txn().Expect("a", rev).Put("a", rec{N: 2}).Commit(ctx)
	if _, err := s.Txn().Expect("a", rev).Put("a", rec{N: 3}).Put("b", rec{N: 3}).Commit(ctx); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale write = %v, want ErrConflict", err)
	}
	if _, err := s.Get(ctx, "b", &r); !errors.Is(err, ErrNotFound) {
		t.Fatalf("half of a failed transaction was written")
	}
}

func TestListPages(t *testing.T) {
	ctx := context.Background()
	s := storeFor(t)
	for i := range 25 {
		if _, err := s.Txn().Put(fmt.Sprintf("items/%03d", i), rec{N: i}).Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	s.Txn().Put("itemsX", rec{}).Commit(ctx) // shares a string prefix, not the folder
	var seen []int
	after := ""
	for pages := 0; ; pages++ {
		p, err := s.List(ctx, "items/", after, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range p.Items {
			var r rec
			if err := it.Decode(&r); err != nil {
				t.Fatal(err)
			}
			seen = append(seen, r.N)
			after = it.Key
		}
		if !p.More {
			if pages != 2 {
				t.Fatalf("%d pages, want 3", pages+1)
			}
			break
		}
	}
	if len(seen) != 25 || seen[0] != 0 || seen[24] != 24 {
		t.Fatalf("listed %v", seen)
	}
	n, _ := s.Count(ctx, "items/")
	if n != 25 {
		t.Fatalf("count = %d", n)
	}
}

func TestExpectUnchangedSince(t *testing.T) {
	ctx := context.Background()
	s := storeFor(t)
	rev, _ := s.Txn().Put("dir/a", rec{}).Commit(ctx)
	// Nothing under dir/ changed since rev: the guarded write goes through.
	if _, err := s.Txn().ExpectUnchangedSince("dir/", rev).Put("flag", rec{N: 1}).Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// An empty prefix never blocks.
	if _, err := s.Txn().ExpectUnchangedSince("empty/", 1).Put("flag", rec{N: 2}).Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// A key added under dir/ after rev makes it conflict.
	s.Txn().Put("dir/b", rec{}).Commit(ctx)
	if _, err := s.Txn().ExpectUnchangedSince("dir/", rev).Put("flag", rec{N: 3}).Commit(ctx); !errors.Is(err, ErrConflict) {
		t.Fatalf("guarded write after a change = %v, want ErrConflict", err)
	}
}

func TestUpdateConcurrentIncrements(t *testing.T) {
	ctx := context.Background()
	s := storeFor(t)
	const writers, each = 8, 10
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if _, err := Update(ctx, s, "counter", func(r *rec, found bool) (*rec, error) {
					r.N++
					return r, nil
				}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	var r rec
	s.Get(ctx, "counter", &r)
	if r.N != writers*each {
		t.Fatalf("counter = %d, want %d: an update was lost", r.N, writers*each)
	}
}

func TestUpdateAbort(t *testing.T) {
	ctx := context.Background()
	s := storeFor(t)
	stop := errors.New("no")
	if _, err := Update(ctx, s, "x", func(r *rec, found bool) (*rec, error) { return nil, stop }); !errors.Is(err, stop) {
		t.Fatalf("err = %v", err)
	}
	var r rec
	if _, err := s.Get(ctx, "x", &r); !errors.Is(err, ErrNotFound) {
		t.Fatalf("aborted update wrote")
	}
}

func TestWatch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s := storeFor(t)
	rev, _ := s.Txn().Put("w/before", rec{N: 1}).Commit(ctx)
	ch := s.Watch(ctx, "w/", rev)
	s.Txn().Put("w/a", rec{N: 2}).Commit(ctx)
	s.Txn().Delete("w/before").Commit(ctx)
	var got []Event
	for len(got) < 2 {
		select {
		case evs := <-ch:
			got = append(got, evs...)
		case <-ctx.Done():
			t.Fatalf("watch saw %d events, want 2", len(got))
		}
	}
	if got[0].Key != "w/a" || got[0].Deleted || !got[1].Deleted || got[1].Key != "w/before" {
		t.Fatalf("events = %+v", got)
	}
}

func TestSubIsolates(t *testing.T) {
	ctx := context.Background()
	a, b := storeFor(t).Sub("a"), storeFor(t).Sub("b")
	a.Txn().Put("k", rec{N: 1}).Commit(ctx)
	var r rec
	if _, err := b.Get(ctx, "k", &r); !errors.Is(err, ErrNotFound) {
		t.Fatalf("sub stores share keys")
	}
}

func TestReadAll(t *testing.T) {
	ctx := context.Background()
	s := storeFor(t)
	s.Txn().Put("one", rec{N: 1}).Put("many/a", rec{N: 2}).Put("many/b", rec{N: 3}).Commit(ctx)
	pages, err := s.ReadAll(ctx, Read{Key: "one"}, Read{Key: "many/", Prefix: true}, Read{Key: "many/", Prefix: true, CountOnly: true}, Read{Key: "none"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pages[0].Items) != 1 || len(pages[1].Items) != 2 || pages[2].Count != 2 || len(pages[2].Items) != 0 || len(pages[3].Items) != 0 {
		t.Fatalf("pages = %+v", pages)
	}
	if pages[0].Revision != pages[1].Revision {
		t.Fatalf("reads at different revisions")
	}
}
