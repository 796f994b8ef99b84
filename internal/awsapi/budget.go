package awsapi

import (
	"context"
	"sync"
	"time"
)

// budget bounds the bytes of request bodies the edge holds at once: a body
// is read only once it has room, and its room is given back when its
// request ends. Requests wait for room at most a short while, then are
// throttled, so that neither many large bodies nor many slow ones can take
// the server's memory.
type budget struct {
	mu    sync.Mutex
	max   int64
	used  int64
	freed chan struct{} // closed (and replaced) whenever room is given back
}

func newBudget(max int64) *budget {
	return &budget{max: max, freed: make(chan struct{})}
}

// acquire takes n bytes of room, waiting up to wait (or until ctx ends) for
// them. It reports whether it got them.
func (b *budget) acquire(ctx context.Context, n int64, wait time.Duration) bool {
	var timer <-chan time.Time
	for {
		b.mu.Lock()
		if b.used+n <= b.max {
			b.used += n
			b.mu.Unlock()
			return true
		}
		freed := b.freed
		b.mu.Unlock()
		if timer == nil {
			t := time.NewTimer(wait)
			defer t.Stop()
			timer = t.C
		}
		select {
		case <-freed:
		case <-timer:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// release gives back n bytes of room.
func (b *budget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	close(b.freed)
	b.freed = make(chan struct{})
	b.mu.Unlock()
}
