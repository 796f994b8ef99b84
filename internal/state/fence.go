package state

import (
	"context"
	"errors"
)

// ErrFenced is returned by Commit when the write carries the fence of a
// leadership term that has ended: another server leads now.
var ErrFenced = errors.New("state: fenced: this server's leadership term has ended")

// Fence identifies one term of leadership: the election's leader key and
// the revision it was created at (concurrency.Election's Key and Rev). A
// write under a fence commits only while that key still exists at that
// revision, so a leader paused past the end of its term (its lease
// expired, another server elected) cannot write when it wakes up.
type Fence struct {
	Key string
	Rev int64
}

type fenceKey struct{}

// WithFence returns a context whose transactions (Txn.Commit) commit only
// while f's term lasts.
func WithFence(ctx context.Context, f Fence) context.Context {
	return context.WithValue(ctx, fenceKey{}, f)
}

// FenceOf returns the fence ctx carries, if any.
func FenceOf(ctx context.Context) (Fence, bool) {
	f, ok := ctx.Value(fenceKey{}).(Fence)
	return f, ok && f.Key != ""
}
