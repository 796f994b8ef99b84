package ecs

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/placement"
	"github.com/gantry-dev/gantry/internal/state"
	w "github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// The committer. Concurrent RunTask and StartTask calls on one cluster do
// not each read the instances and race to reserve on them: when many
// writers retry optimistically on the same instance records, etcd commits
// collapse into conflicts. Instead every placement of a cluster joins that
// cluster's queue; one goroutine at a time takes everything queued, reads
// the cluster once, places each request in turn on one snapshot (so they
// see each other) and commits them all in one transaction, as Nomad's plan
// applier does. The transaction is still conditional on the revisions of
// the instance records it changes, which keeps two servers on one etcd (or
// a task stopping meanwhile) from over-committing: on a conflict the whole
// batch is placed again on fresh numbers.

// placeJob is one request's tasks, waiting in its cluster's queue.
type placeJob struct {
	sc   scope
	spec *runSpec
	req  placement.Request
	// only lists the instance ids of a StartTask, one task on each; empty
	// for RunTask, whose tasks the scheduler places.
	only []string
	tok  *tokenClaim
	// fence is the leadership term of the service controller that placed
	// the job (zero for an API request): its batch commits only while
	// that term lasts.
	fence state.Fence
	done  chan placeOutcome
}

// placeOutcome is what a job gets back.
type placeOutcome struct {
	tasks    []*model.Task
	failures []w.Failure
	err      error
}

// ops is the most writes the job can add to a transaction: a task, an
// assignment, an instance and its load per task, and the token.
func (j *placeJob) ops() int {
	n := j.req.Count
	if len(j.only) > 0 {
		n = len(j.only)
	}
	return 4*n + 1
}

// bytes is about how much the job can add to a transaction: per task, its
// assignment (which carries the task definition) and its task record.
func (j *placeJob) bytes() int {
	n := j.req.Count
	if len(j.only) > 0 {
		n = len(j.only)
	}
	return n * (j.spec.size + taskRecordBytes)
}

// taskRecordBytes is a generous estimate of a task record and the other
// writes of one placement, besides its task definition.
const taskRecordBytes = 8 << 10

// A placement transaction's estimated size stays under the store's
// MaxTxnBytes (1 MiB with an external etcd, which may keep etcd's default
// request limit of 1.5 MiB); a batch always holds at least one job, and one
// job of the largest runnable definition fits.

// committers holds the queue of each cluster that has placements waiting.
type committers struct {
	mu sync.Mutex
	m  map[string]*committerQueue
}

type committerQueue struct {
	jobs    []*placeJob
	running bool
	// Used only by the goroutine draining the queue (or, once it is idle,
	// under committers.mu): the random source of ties, the cluster as of
	// the last batch it committed (nil after a failure), which the next
	// batch refreshes instead of reading whole, and the watches that keep
	// that view current (placewatch.go).
	rnd      *rand.Rand
	view     *placementView
	watch    *viewWatch
	lastUsed time.Time
	idle     *time.Timer // runs forgetIdleView
}

// place queues job behind its cluster's other placements and waits for
// its outcome. The goroutine that drains a queue exists only while it has
// jobs.
func (s *Service) place(ctx context.Context, job *placeJob) ([]*model.Task, []w.Failure, error) {
	key := job.sc.Account + "/" + job.sc.Region + "/" + job.spec.cluster
	job.done = make(chan placeOutcome, 1)
	job.fence, _ = state.FenceOf(ctx)
	s.placers.mu.Lock()
	if s.placers.m == nil {
		s.placers.m = map[string]*committerQueue{}
	}
	q, ok := s.placers.m[key]
	if !ok {
		q = &committerQueue{rnd: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
		s.placers.m[key] = q
	}
	q.jobs = append(q.jobs, job)
	start := !q.running
	q.running = true
	s.placers.mu.Unlock()
	if start {
		go s.drain(q, job.sc.st.MaxTxnOps(), job.sc.st.MaxTxnBytes())
	}
	select {
	case o := <-job.done:
		if o.err == nil && len(o.tasks) > 0 && s.opts.OnPlaced != nil {
			s.opts.OnPlaced(len(o.tasks))
		}
		return o.tasks, o.failures, o.err
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
}

// drain commits the queue's jobs, batch after batch, until it is empty.
// A batch holds as many jobs as fit in one transaction of at most maxOps
// operations and about maxBytes (always at least one job). The queue stays in the map, with
// its view of the cluster, for the next placements.
func (s *Service) drain(q *committerQueue, maxOps, maxBytes int) {
	maxOps = max(maxOps-8, 1) // room for the cluster's condition and a token
	for {
		s.placers.mu.Lock()
		if len(q.jobs) == 0 {
			q.running = false
			q.lastUsed = time.Now()
			if q.idle == nil {
				q.idle = time.AfterFunc(viewIdle, func() { s.forgetIdleView(q) })
			} else {
				q.idle.Reset(viewIdle)
			}
			s.placers.mu.Unlock()
			return
		}
		n, ops, size := 0, 0, 0
		// A batch holds the jobs of one fence: a fenced batch that fails
		// fails only the old leader's jobs.
		for n < len(q.jobs) && (n == 0 || ops+q.jobs[n].ops() <= maxOps && size+q.jobs[n].bytes() <= maxBytes &&
			q.jobs[n].fence == q.jobs[0].fence) {
			ops += q.jobs[n].ops()
			size += q.jobs[n].bytes()
			n++
		}
		batch := q.jobs[:n:n]
		q.jobs = q.jobs[n:]
		s.placers.mu.Unlock()
		s.commitBatch(batch, q)
	}
}

// forgetIdleView drops the view of a queue that has placed nothing for
// viewIdle, with its watches.
func (s *Service) forgetIdleView(q *committerQueue) {
	s.placers.mu.Lock()
	defer s.placers.mu.Unlock()
	if q.running || time.Since(q.lastUsed) < viewIdle {
		return
	}
	q.watch.stop()
	q.view, q.watch = nil, nil
}

// commitBatch places and commits a batch, retrying it whole on a conflict,
// and tells each job its outcome.
func (s *Service) commitBatch(jobs []*placeJob, q *committerQueue) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if f := jobs[0].fence; f.Key != "" {
		ctx = state.WithFence(ctx, f)
	}
	attempt := 0
	outs, err := state.Retry(ctx, func() ([]placeOutcome, error) {
		attempt++
		return s.tryBatch(ctx, jobs, q, attempt > 1)
	})
	for k, j := range jobs {
		if err != nil {
			j.done <- placeOutcome{err: err}
			continue
		}
		j.done <- outs[k]
	}
}

// currentView returns the queue's view of the cluster, brought up to date
// by its watches, or read (and watched from then on) when there is none or
// the watches stopped. The queue no longer holds the view: tryBatch gives
// it back once its batch commits.
// read says whether the view was read now, rather than kept by watches.
func (s *Service) currentView(ctx context.Context, st *state.Store, cluster string, q *committerQueue) (v *placementView, read bool, err error) {
	v = q.view
	q.view = nil
	if v != nil && q.watch != nil {
		ok, err := s.refreshView(ctx, st, cluster, v, q.watch)
		if err != nil {
			q.watch.stop()
			q.watch = nil
			return nil, false, err
		}
		if ok {
			return v, false, nil
		}
	}
	q.watch.stop()
	q.watch = nil
	v, err = s.readPlacementView(ctx, st, cluster, v)
	if err != nil {
		return nil, false, err
	}
	q.watch = s.watchView(st, cluster, v)
	return v, true, nil
}

// tryBatch is one attempt at a batch: read, place, commit. The queue
// keeps the view it committed; any failure drops it, since the scheduler
// has changed it in place.
// A client token is read again only on a retry: the first attempt expects
// it as its request found it, and the transaction's check on it catches a
// request that took it meanwhile.
func (s *Service) tryBatch(ctx context.Context, jobs []*placeJob, q *committerQueue, retry bool) ([]placeOutcome, error) {
	sc, cluster, rnd := jobs[0].sc, jobs[0].spec.cluster, q.rnd
	outs := make([]placeOutcome, len(jobs))
	v, read, err := s.currentView(ctx, sc.st, cluster, q)
	if err != nil {
		return nil, err
	}
	now := s.now()
	snap := v.snapshot(s, now)
	txn := sc.st.Txn().Expect(model.ClusterKey(cluster), v.clusterRev)
	touched := map[int]bool{}
	tokens := map[*placeJob]runToken{}
	for k, j := range jobs {
		if j.tok != nil && retry {
			if err := j.tok.refresh(ctx); err != nil {
				outs[k].err = err
				continue
			}
		}
		var placed []int
		switch {
		case len(j.only) > 0:
			for _, id := range j.only {
				i, ok := v.index[id]
				if !ok {
					outs[k].failures = append(outs[k].failures, w.Failure{Arn: sc.instanceARN(cluster, id), Reason: "MISSING"})
					continue
				}
				if r := snap.Reason(i, &j.req); r != "" {
					outs[k].failures = append(outs[k].failures, w.Failure{Arn: snap.Instances[i].ARN, Reason: r})
					continue
				}
				snap.Reserve(i, &j.req)
				placed = append(placed, i)
			}
		case len(v.instances) == 0:
			outs[k].err = withHint(InvalidParameter.Errorf("No Container Instances were found in your cluster."), "start an agent (gantry agent) registered in cluster %s", cluster)
			continue
		default:
			res := snap.Place(&j.req, rnd)
			placed = res.Placed
			for _, f := range res.Failures {
				outs[k].failures = append(outs[k].failures, w.Failure{Arn: snap.Instances[f.Instance].ARN, Reason: f.Reason})
			}
		}
		var arns []string
		for _, i := range placed {
			pi := &v.instances[i]
			if !touched[i] {
				touched[i] = true
				next := *pi.ci
				next.RemainingResources = slices.Clone(next.RemainingResources)
				next.Version++
				pi.ci = &next
			}
			reserved := reserve(pi.ci, j.spec.need)
			pi.load.Add(j.req.Group, 1)
			t, a := sc.newTask(j.spec, instanceView{ci: pi.ci, id: pi.id, rev: pi.rev}, reserved, now)
			id := lastSegment(t.TaskArn)
			txn.Put(model.TaskKey(cluster, id), t).Put(model.AssignmentKey(cluster, pi.id, id), a)
			outs[k].tasks = append(outs[k].tasks, t)
			arns = append(arns, t.TaskArn)
		}
		if j.tok != nil && len(arns) > 0 {
			tokens[j] = j.tok.record(txn, arns, outs[k].failures)
		}
	}
	if !read && slices.ContainsFunc(outs, func(o placeOutcome) bool { return len(o.failures) > 0 }) {
		// A task that did not fit may fit on what the watches have not
		// delivered yet (a task stopped just before): a failure is
		// answered only from a view read now. (q.view stays nil: the next
		// attempt reads.)
		return nil, state.ErrConflict
	}
	if len(touched) == 0 {
		q.view = v
		return outs, nil
	}
	for i := range touched {
		pi := &v.instances[i]
		txn.Expect(model.InstanceKey(cluster, pi.id), pi.rev).Put(model.InstanceKey(cluster, pi.id), pi.ci).
			Expect(model.LoadKey(cluster, pi.id), pi.loadRev).Put(model.LoadKey(cluster, pi.id), &pi.load)
	}
	rev, err := txn.Commit(ctx)
	if err != nil {
		return nil, err
	}
	for j, rec := range tokens {
		j.tok.rec = rec
	}
	for i := range touched {
		pi := &v.instances[i]
		pi.rev, pi.loadRev, pi.sched = rev, rev, snap.Instances[i]
	}
	q.view = v
	return outs, nil
}
