package ecs

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/state"
	"github.com/gantry-dev/gantry/internal/wire"
	w "github.com/gantry-dev/gantry/internal/wire/ecswire"
)

func TestExpired(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	items := []aged{
		{key: "old", done: true, at: now.Add(-61 * time.Minute)},
		{key: "young", done: true, at: now.Add(-59 * time.Minute)},
		{key: "running", done: false, at: now.Add(-5 * time.Hour)},
		{key: "no time", done: true},
		{key: "exactly", done: true, at: now.Add(-time.Hour)},
	}
	var got []string
	for _, a := range expired(items, now, time.Hour) {
		got = append(got, a.key)
	}
	if !slices.Equal(got, []string{"old"}) {
		t.Fatalf("expired = %v, want [old]", got)
	}
}

// Purge removes, in every scope that holds tasks, the tasks stopped before
// the retention and the old client tokens, and nothing else.
func TestPurge(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := state.Open(ctx, state.Config{DataDir: t.TempDir()}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s := NewWithOptions(st, log, Options{StoppedTaskRetention: time.Hour, TokenRetention: 24 * time.Hour})
	now := time.Now()
	task := func(status string, stoppedAgo time.Duration) *model.Task {
		t := &model.Task{Task: w.Task{LastStatus: status}}
		if stoppedAgo > 0 {
			t.StoppedAt = wire.At(now.Add(-stoppedAgo))
		}
		return t
	}
	for _, scope := range []string{"111111111111/r1", "222222222222/r2"} {
		sub := st.Sub(scope)
		txn := st.Txn().Put(scopesPrefix+scope, struct{}{})
		if _, err := txn.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		_, err := sub.Txn().
			Put(model.TaskKey("a", "old"), task("STOPPED", 2*time.Hour)).
			Put(model.TaskKey("b", "recent"), task("STOPPED", 10*time.Minute)).
			Put(model.TaskKey("b", "running"), task("RUNNING", 0)).
			Put(model.IdempotencyKey("RunTask", "old"), runToken{CreatedAt: now.Add(-25 * time.Hour).UnixMilli()}).
			Put(model.IdempotencyKey("RunTask", "new"), runToken{CreatedAt: now.Add(-time.Hour).UnixMilli()}).
			Put(model.IdempotencyKey("CreateService", "old"), serviceToken{CreatedAt: now.Add(-25 * time.Hour).UnixMilli()}).
			Put(model.IdempotencyKey("CreateService", "new"), serviceToken{CreatedAt: now.Add(-time.Hour).UnixMilli()}).
			Commit(ctx)
		if err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.Purge(ctx, now)
	if err != nil || n != 6 {
		t.Fatalf("purge = %d, %v; want 6 records", n, err)
	}
	for _, scope := range []string{"111111111111/r1", "222222222222/r2"} {
		var left []string
		for _, p := range []string{"tasks/", "idempotency/"} {
			page, err := st.Sub(scope).ListAll(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range page.Items {
				left = append(left, it.Key)
			}
		}
		want := []string{"tasks/b/recent", "tasks/b/running", "idempotency/CreateService/new", "idempotency/RunTask/new"}
		if !slices.Equal(left, want) {
			t.Fatalf("%s after the purge: %v, want %v", scope, left, want)
		}
	}
	if n, err := s.Purge(ctx, now); err != nil || n != 0 {
		t.Fatalf("second purge = %d, %v", n, err)
	}
}
