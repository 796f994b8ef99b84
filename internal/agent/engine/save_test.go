package engine

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/agentproto"
)

// countStore is a Store that counts its writes, checks that they never
// overlap, and remembers, per task, the highest StoppedReason (a counter in
// these tests) that a finished write carried.
type countStore struct {
	delay    time.Duration
	fail     func(n int) error // the error of the nth write (1-based); nil: none
	block    func(n int)       // called at the start of the nth write; nil: none
	inFlight atomic.Int32
	overlap  atomic.Bool
	mu       sync.Mutex
	writes   int
	written  map[string]int // task -> highest counter a finished write carried
}

func (s *countStore) Save(state func() *Checkpoint) error {
	if s.inFlight.Add(1) > 1 {
		s.overlap.Store(true)
	}
	defer s.inFlight.Add(-1)
	s.mu.Lock()
	s.writes++
	n := s.writes
	s.mu.Unlock()
	if s.block != nil {
		s.block(n)
	}
	vals := map[string]int{}
	for _, r := range state().Tasks {
		v, _ := strconv.Atoi(r.Task.StoppedReason)
		vals[r.Task.Assignment.TaskArn] = v
	}
	time.Sleep(s.delay)
	if s.fail != nil {
		if err := s.fail(n); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for arn, v := range vals {
		if v > s.written[arn] {
			s.written[arn] = v
		}
	}
	return nil
}

func (s *countStore) carried(arn string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.written[arn]
}

func (s *countStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

// change sets a task's published state to carry the counter v, as publish
// does, and returns its ARN.
func change(e *Engine, i, v int) string {
	arn := fmt.Sprintf("arn:task/%d", i)
	t := &Task{Assignment: agentproto.Assignment{TaskArn: arn}, StoppedReason: strconv.Itoa(v)}
	e.mu.Lock()
	en := e.tasks[arn]
	if en == nil {
		en = &entry{}
		e.tasks[arn] = en
	}
	en.snap = t
	e.mu.Unlock()
	return arn
}

// Concurrent saves are group-committed: every caller returns only after a
// finished write that includes its change, writes never overlap, and there
// are far fewer writes than calls.
func TestSaveGroupCommit(t *testing.T) {
	const goroutines, each = 50, 8
	st := &countStore{delay: time.Millisecond, written: map[string]int{}}
	e := New(Config{}, nil, nil, st)
	var wg sync.WaitGroup
	var calls atomic.Int32
	start := make(chan struct{})
	for i := range goroutines {
		wg.Go(func() {
			<-start
			for v := 1; v <= each; v++ {
				arn := change(e, i, v)
				calls.Add(1)
				if err := e.save(); err != nil {
					t.Errorf("save: %v", err)
					return
				}
				if got := st.carried(arn); got < v {
					t.Errorf("%s: save returned before a write carried change %d (last written %d)", arn, v, got)
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	if st.overlap.Load() {
		t.Error("Store.Save calls overlapped")
	}
	n, c := st.count(), int(calls.Load())
	t.Logf("%d saves, %d writes", c, n)
	if c != goroutines*each {
		t.Fatalf("%d saves, want %d", c, goroutines*each)
	}
	if n > c/4 {
		t.Errorf("%d writes for %d saves, want far fewer", n, c)
	}
	e.saveMu.Lock()
	defer e.saveMu.Unlock()
	if e.writing || e.next != nil {
		t.Errorf("save state not idle: writing %v, next %v", e.writing, e.next)
	}
}

// A failed write's error reaches every caller whose change it carried, and
// only them; later writes succeed again.
func TestSaveGroupCommitError(t *testing.T) {
	errDisk := errors.New("disk full")
	release := make(chan struct{})
	st := &countStore{written: map[string]int{}}
	st.block = func(n int) {
		if n == 1 {
			<-release
		}
	}
	st.fail = func(n int) error {
		if n == 2 {
			return errDisk
		}
		return nil
	}
	e := New(Config{}, nil, nil, st)

	// The first save writes, and blocks in the store.
	first := make(chan error, 1)
	change(e, 0, 1)
	go func() { first <- e.save() }()
	waitFor(t, func() bool { return st.count() == 1 })

	// Callers arriving meanwhile wait for the next write, which fails.
	const n = 20
	errs := make(chan error, n)
	for i := 1; i <= n; i++ {
		change(e, i, 1)
		go func() { errs <- e.save() }()
	}
	waitFor(t, func() bool {
		e.saveMu.Lock()
		defer e.saveMu.Unlock()
		return e.next != nil && e.next.waiters == n
	})
	select {
	case err := <-errs:
		t.Fatalf("a queued save returned (%v) before the write in progress ended", err)
	default:
	}
	close(release)
	if err := <-first; err != nil {
		t.Errorf("first save: %v, want nil", err)
	}
	for range n {
		if err := <-errs; !errors.Is(err, errDisk) {
			t.Errorf("queued save: %v, want %v", err, errDisk)
		}
	}
	if got := st.count(); got != 2 {
		t.Errorf("%d writes, want 2", got)
	}

	change(e, 0, 2)
	if err := e.save(); err != nil {
		t.Errorf("save after the failure: %v", err)
	}
	if got := st.carried("arn:task/0"); got != 2 {
		t.Errorf("last write carried %d, want 2", got)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(time.Millisecond)
	}
}
