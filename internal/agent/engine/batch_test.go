package engine_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/agent/agenttest"
	"github.com/gantry-dev/gantry/internal/agent/engine"
	"github.com/gantry-dev/gantry/internal/agent/simrt"
	"github.com/gantry-dev/gantry/internal/agentproto"
	"github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// batchRecorder plays a control plane that takes batches of reports: each
// call takes a little while, so that changes pile up behind it; the first
// call fails as a whole (a broken connection), and one task's changes are
// refused for good.
type batchRecorder struct {
	mu      sync.Mutex
	calls   int
	sizes   []int
	single  int // calls of Report
	changes map[string][]string
	reject  string // task whose changes are refused
}

func (r *batchRecorder) Report(context.Context, *engine.StateChange) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.single++
	return nil
}

func (r *batchRecorder) ReportBatch(ctx context.Context, changes []*engine.StateChange) []error {
	time.Sleep(20 * time.Millisecond)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	errs := make([]error, len(changes))
	seen := map[string]bool{}
	for i, c := range changes {
		if seen[c.Task] {
			panic("two changes of one task in a batch: " + c.Task)
		}
		seen[c.Task] = true
		switch {
		case r.calls == 1:
			errs[i] = errors.New("connection reset")
		case c.Task == r.reject:
			errs[i] = fmt.Errorf("%w: no such task", engine.ErrRejected)
		default:
			r.changes[c.Task] = append(r.changes[c.Task], c.Status)
		}
	}
	if r.calls > 1 {
		r.sizes = append(r.sizes, len(changes))
	}
	return errs
}

func (r *batchRecorder) statuses(task string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.changes[task]...)
}

// With a BatchReporter, the engine sends the changes of many tasks in
// batches: each task's changes arrive in order, a failed batch is sent
// again, a rejected change is dropped, and nothing goes through Report.
func TestBatchReports(t *testing.T) {
	t.Parallel()
	opts := simrt.Default()
	opts.StartDelay = 10 * time.Millisecond
	sim, err := simrt.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	cfg := engine.Default()
	cfg.InstanceArn = "arn:aws:ecs:us-east-1:000000000000:container-instance/test/" + hexID()
	cfg.RetryMin = 50 * time.Millisecond
	cfg.Logger = agenttest.Logger().With("test", t.Name())
	const n = 60
	var payload []agentproto.Assignment
	for range n {
		payload = append(payload, task("batch", ecswire.ContainerDefinition{Name: "app", Image: "sim/app:1"}))
	}
	rec := &batchRecorder{changes: map[string][]string{}, reject: payload[0].TaskArn}
	eng := engine.New(cfg, sim, rec, &agenttest.MemStore{})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); eng.Wait() }()
	eng.Start(ctx, nil)
	eng.Apply(payload)

	// waitAll waits until every task but the rejected one last reported
	// status.
	waitAll := func(status string) {
		t.Helper()
		count := func() int {
			k := 0
			for _, a := range payload[1:] {
				if s := rec.statuses(a.TaskArn); len(s) > 0 && s[len(s)-1] == status {
					k++
				}
			}
			return k
		}
		for deadline := time.Now().Add(20 * time.Second); count() < n-1; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d tasks reported %s after 20s", count(), n-1, status)
			}
		}
	}
	waitAll(agentproto.StatusRunning)
	// Stop them all: each task's STOPPED follows its RUNNING.
	for i := range payload {
		payload[i].DesiredStatus = agentproto.StatusStopped
	}
	eng.Apply(payload)
	waitAll(agentproto.StatusStopped)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	total := 0
	for _, a := range payload[1:] {
		s := rec.changes[a.TaskArn]
		total += len(s)
		for i := 1; i < len(s); i++ {
			if agentproto.StatusRank(s[i]) < agentproto.StatusRank(s[i-1]) {
				t.Fatalf("task %s reported out of order: %v", a.TaskArn, s)
			}
		}
	}
	if got := rec.changes[payload[0].TaskArn]; len(got) != 0 {
		t.Errorf("the rejected task's changes were recorded: %v", got)
	}
	if rec.single != 0 {
		t.Errorf("%d changes went through Report", rec.single)
	}
	if len(rec.sizes) >= total {
		t.Errorf("%d changes took %d calls: no batching", total, len(rec.sizes))
	}
	t.Logf("%d changes of %d tasks in %d batches %v", total, n-1, len(rec.sizes), rec.sizes)
}
