// Package engine is the agent's task engine, shaped like the ECS agent's: one
// goroutine per task drives each container from its known status towards the
// task's desired status (pull, create, start; stop in reverse dependency
// order), honouring dependsOn, essential containers, stop timeouts and
// health checks. Every change is checkpointed (through Store) and reported
// (through Reporter, in order per task, retried until acknowledged). The
// engine sees containers only through rt.Runtime.
package engine

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/agent/rt"
	"github.com/gantry-dev/gantry/internal/agentproto"
)

// Reporter delivers state changes to the control plane.
type Reporter interface {
	// Report sends one state change and returns nil once the control plane
	// has acknowledged it. An error wrapping ErrRejected is permanent (the
	// control plane will never accept it) and the report is dropped; any
	// other error is retried with back-off.
	Report(ctx context.Context, sc *StateChange) error
}

// BatchReporter is a Reporter that also delivers the changes of several
// tasks in one call. With one, the engine sends every task's next change
// from one sender, in batches (a busy instance starting many tasks makes
// one call per batch, not one per task); still in order per task, retried
// with back-off per task.
type BatchReporter interface {
	Reporter
	// ReportBatch sends changes (of distinct tasks) and returns the outcome
	// of each, as Report's: nil once acknowledged, an error wrapping
	// ErrRejected if refused for good, any other error to retry it.
	ReportBatch(ctx context.Context, changes []*StateChange) []error
}

// maxBatch is the most changes a batch carries
// (agentproto.MaxStateChanges).
const maxBatch = agentproto.MaxStateChanges

// ErrRejected marks a report the control plane refused for good.
var ErrRejected = errors.New("engine: report rejected")

// Store persists the engine's checkpoint. Save is called after changes,
// serialized: one call covers every change made since the previous call
// began (changes made while a call runs are group-committed by the next
// one). state returns the complete checkpoint as of the moment it is
// called: a store that writes at once calls it before Save returns, one
// that defers its writes calls it when it writes, so that a burst of
// changes on an instance with many tasks builds the checkpoint once, not
// once per change.
type Store interface {
	Save(state func() *Checkpoint) error
}

// Config tunes an engine; Default gives ECS's values.
type Config struct {
	// InstanceArn labels every container with the instance that runs it.
	InstanceArn string
	// HostIP is the address bridge-mode ports are published on.
	HostIP string
	// PullPolicy decides when images are pulled.
	PullPolicy rt.PullPolicy
	// Credentials gives the credentials of image pulls (nil: anonymous).
	Credentials rt.Credentials
	// StopTimeout is the grace between SIGTERM and SIGKILL when a container
	// definition has no stopTimeout (ECS_CONTAINER_STOP_TIMEOUT).
	StopTimeout time.Duration
	// CleanupWait is how long a stopped task's containers are kept before
	// they and the task's volumes are removed
	// (ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION).
	CleanupWait time.Duration
	// TombstoneTTL is how long a finished task is remembered after the
	// control plane stopped sending it.
	TombstoneTTL time.Duration
	// Resync is how often running containers are re-inspected even without
	// runtime events.
	Resync time.Duration
	// RetryMin and RetryMax bound the back-off of report retries.
	RetryMin, RetryMax time.Duration
	// LogDrivers are the logging drivers the runtime offers (Check).
	LogDrivers []string
	// Policy is what the instance's operator refuses to run.
	Policy Policy
	// MetadataURI returns the task metadata endpoint URI of a container
	// (its ECS_CONTAINER_METADATA_URI_V4), or nil for none.
	MetadataURI func(token string) string
	// AgentURI returns a container's ECS_AGENT_URI (the agent API a task
	// reaches: task scale-in protection), or nil for none.
	AgentURI func(token string) string
	Logger   *slog.Logger
	// Now is the clock (time.Now by default).
	Now func() time.Time
}

// Default returns the engine's defaults, those of the ECS agent.
func Default() Config {
	return Config{
		HostIP:       "127.0.0.1",
		PullPolicy:   rt.PullDefault,
		StopTimeout:  30 * time.Second,
		CleanupWait:  time.Hour,
		TombstoneTTL: time.Hour,
		Resync:       10 * time.Second,
		RetryMin:     500 * time.Millisecond,
		RetryMax:     30 * time.Second,
	}
}

// Engine runs the tasks assigned to one instance.
type Engine struct {
	cfg   Config
	rt    rt.Runtime
	rep   Reporter
	store Store
	log   *slog.Logger
	ctx   context.Context

	// Group commit of the checkpoint (see save). saveMu is never held
	// together with mu.
	saveMu   sync.Mutex
	saveCond *sync.Cond // on saveMu: signalled when a write ends
	writing  bool       // a write is in progress
	next     *saveBatch // callers waiting for the next write; nil: none

	mu     sync.Mutex
	tasks  map[string]*entry
	tombs  map[string]Tombstone
	resent map[string]time.Time // tombstone re-reports, in memory
	wg     sync.WaitGroup

	// With a BatchReporter: the tasks with changes to send, and a wake-up
	// of the sender.
	batch BatchReporter
	ready map[string]bool // on mu
	kick  chan struct{}
}

// entry is the engine's book-keeping for one task.
type entry struct {
	snap      *Task // last published copy of the task
	outbox    []StateChange
	last      StateChange // last queued report
	hasLast   bool
	tm        *taskManager // nil once the task's goroutine has ended
	sending   bool
	inPayload bool
	// With a BatchReporter: when the head of the outbox may be sent again
	// after a failure, and the back-off of the next failure.
	retryAt time.Time
	backoff time.Duration
}

// New returns an engine; Start runs it.
func New(cfg Config, runtime rt.Runtime, rep Reporter, store Store) *Engine {
	d := Default()
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = d.StopTimeout
	}
	if cfg.TombstoneTTL <= 0 {
		cfg.TombstoneTTL = d.TombstoneTTL
	}
	if cfg.Resync <= 0 {
		cfg.Resync = d.Resync
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = d.RetryMin
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = d.RetryMax
	}
	if cfg.PullPolicy == "" {
		cfg.PullPolicy = d.PullPolicy
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{cfg: cfg, rt: runtime, rep: rep, store: store, log: log,
		tasks: map[string]*entry{}, tombs: map[string]Tombstone{}, resent: map[string]time.Time{}}
	e.saveCond = sync.NewCond(&e.saveMu)
	if br, ok := rep.(BatchReporter); ok {
		e.batch, e.ready, e.kick = br, map[string]bool{}, make(chan struct{}, 1)
	}
	return e
}

// Start restores the tasks of a checkpoint (nil for none), re-adopting their
// containers from the runtime, resends what was not acknowledged, and
// watches runtime events until ctx ends.
func (e *Engine) Start(ctx context.Context, cp *Checkpoint) {
	e.ctx = ctx
	if cp != nil {
		e.mu.Lock()
		maps.Copy(e.tombs, cp.Tombstones)
		for _, r := range cp.Tasks {
			if r.Task == nil {
				continue
			}
			en := &entry{snap: r.Task, outbox: r.Outbox, inPayload: true}
			if n := len(r.Outbox); n > 0 {
				en.last = r.Outbox[n-1]
			} else {
				en.last = r.Task.report()
			}
			en.hasLast = true
			e.tasks[r.Task.Assignment.TaskArn] = en
			if !r.Task.CleanedUp {
				en.tm = e.newTaskManager(r.Task.clone())
			}
		}
		e.mu.Unlock()
	}
	if e.batch != nil {
		e.wg.Add(1)
		go e.sendBatches(ctx)
	}
	e.mu.Lock()
	for arn, en := range e.tasks {
		if en.tm != nil {
			e.runTask(en.tm)
		}
		if len(en.outbox) > 0 {
			e.startSending(arn, en)
		}
	}
	e.mu.Unlock()
	e.wg.Add(1)
	go e.watch(ctx)
}

// startSending has the task's outbox sent: by its own goroutine, or by the
// batch sender. Call with e.mu held, when the outbox has just become
// non-empty and nothing sends it.
func (e *Engine) startSending(arn string, en *entry) {
	en.sending = true
	if e.batch == nil {
		e.wg.Add(1)
		go e.send(arn)
		return
	}
	e.ready[arn] = true
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// Wait blocks until every goroutine of the engine has ended (after the
// context given to Start ends).
func (e *Engine) Wait() { e.wg.Wait() }

// Apply takes one payload: the complete set of tasks assigned to the
// instance. It is idempotent: a task already known gets only its desired
// status updated; a task finished and forgotten is reported again instead
// of run again.
func (e *Engine) Apply(assignments []agentproto.Assignment) {
	seen := make(map[string]bool, len(assignments))
	var forget []string
	e.mu.Lock()
	for _, a := range assignments {
		seen[a.TaskArn] = true
		e.apply(a)
	}
	for arn, en := range e.tasks {
		if !seen[arn] {
			en.inPayload = false
			forget = append(forget, arn)
		}
	}
	now := e.cfg.Now()
	for arn, tomb := range e.tombs {
		if !seen[arn] && now.Sub(tomb.At) > e.cfg.TombstoneTTL {
			delete(e.tombs, arn)
			delete(e.resent, arn)
		}
	}
	e.mu.Unlock()
	for _, arn := range forget {
		e.maybeForget(arn)
	}
}

// ApplyChanges takes a payload of changes (agentproto.PollResponse with
// Changes): the assignments written since the last payload, applied as
// Apply applies them, and the tasks no longer assigned. It costs what
// changed, not what the instance runs; tombstones expire at the next full
// payload.
func (e *Engine) ApplyChanges(assignments []agentproto.Assignment, removed []string) {
	var forget []string
	e.mu.Lock()
	for _, a := range assignments {
		e.apply(a)
	}
	for _, arn := range removed {
		if en, ok := e.tasks[arn]; ok {
			en.inPayload = false
			forget = append(forget, arn)
		}
	}
	e.mu.Unlock()
	for _, arn := range forget {
		e.maybeForget(arn)
	}
}

// apply takes one assignment of a payload. Call with e.mu held.
func (e *Engine) apply(a agentproto.Assignment) {
	if en, ok := e.tasks[a.TaskArn]; ok {
		en.inPayload = true
		if en.tm != nil {
			en.tm.update(a)
		}
		return
	}
	if tomb, ok := e.tombs[a.TaskArn]; ok {
		if time.Since(e.resent[a.TaskArn]) > 5*time.Second {
			e.resent[a.TaskArn] = time.Now()
			final := tomb.Final
			e.wg.Add(1)
			go func() {
				defer e.wg.Done()
				if err := e.rep.Report(e.ctx, &final); err != nil {
					e.log.Debug("re-report of a finished task failed", "task", final.Task, "err", err)
				}
			}()
		}
		return
	}
	if len(a.Definition.ContainerDefinitions) == 0 {
		return // a stop for a task this engine does not know: nothing to do
	}
	t := newTask(a)
	en := &entry{inPayload: true, tm: e.newTaskManager(t)}
	e.tasks[a.TaskArn] = en
	e.runTask(en.tm)
}

// newTask makes the initial state of a newly assigned task.
func newTask(a agentproto.Assignment) *Task {
	t := &Task{Assignment: a, Desired: a.DesiredStatus}
	if t.Desired != agentproto.StatusStopped {
		t.Desired = agentproto.StatusRunning
	}
	for _, d := range a.Definition.ContainerDefinitions {
		t.Containers = append(t.Containers, &Container{Name: d.Name})
	}
	return t
}

// Manifest lists every task the engine knows with its known status, for the
// next poll.
func (e *Engine) Manifest() []agentproto.TaskStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]agentproto.TaskStatus, 0, len(e.tasks))
	for arn, en := range e.tasks {
		st := agentproto.StatusPending
		if en.snap != nil {
			st = en.snap.Known.Wire()
		}
		out = append(out, agentproto.TaskStatus{TaskArn: arn, KnownStatus: st})
	}
	return out
}

// Task returns a copy of the last published state of a task.
func (e *Engine) Task(arn string) (*Task, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	en, ok := e.tasks[arn]
	if !ok || en.snap == nil {
		return nil, false
	}
	return en.snap.clone(), true
}

// Lookup finds the task and container a runtime name belongs to (the task
// metadata endpoint's token).
func (e *Engine) Lookup(runtimeName string) (*Task, string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, en := range e.tasks {
		if en.snap == nil {
			continue
		}
		for _, c := range en.snap.Containers {
			if c.RuntimeName == runtimeName {
				return en.snap.clone(), c.Name, true
			}
		}
	}
	return nil, "", false
}

// publish records a new state of a task: checkpoint, and a report queued
// when what ECS would see changed; a state already published changes
// nothing. Only the task's own goroutine publishes it, so its copy is made
// outside the engine's lock.
func (e *Engine) publish(t *Task) {
	arn := t.Assignment.TaskArn
	e.mu.Lock()
	en, ok := e.tasks[arn]
	same := ok && en.snap != nil && sameState(en.snap, t)
	e.mu.Unlock()
	if !ok || same {
		return
	}
	snap := t.clone()
	e.mu.Lock()
	if en, ok = e.tasks[arn]; !ok {
		e.mu.Unlock()
		return
	}
	en.snap = snap
	rep := en.snap.report()
	if !en.snap.Unreported && reportable(rep) && !(en.hasLast && sameReport(en.last, rep)) {
		en.outbox = append(en.outbox, rep)
		en.last, en.hasLast = rep, true
		if !en.sending {
			e.startSending(arn, en)
		}
	}
	e.mu.Unlock()
	e.save()
}

// reportable says whether a report carries news: anything but a PENDING task
// whose containers are all PENDING. As the ECS agent, it does not report the
// end of the pulls on its own: the pull timestamps ride with the next
// report (RUNNING, or STOPPED for a task that never ran).
func reportable(sc StateChange) bool {
	if sc.Status != agentproto.StatusPending {
		return true
	}
	for _, c := range sc.Containers {
		if c.Status != agentproto.StatusPending {
			return true
		}
	}
	return false
}

// saveBatch is the callers of save waiting for the same write.
type saveBatch struct {
	waiters int   // callers in the batch (tests watch it)
	done    bool  // the write has ended
	err     error // its error, once done
}

// save writes the checkpoint and returns once a write that includes every
// change made before the call has ended, with that write's error (also
// logged). It is a group commit: while a write is in progress, callers join
// the batch of the next write; when the write ends, one of them writes the
// latest state for the whole batch. Call without e.mu held.
func (e *Engine) save() error {
	if e.store == nil {
		return nil
	}
	e.saveMu.Lock()
	defer e.saveMu.Unlock()
	b := e.next
	if b == nil {
		b = &saveBatch{}
		e.next = b
	}
	b.waiters++
	for !b.done {
		if !e.writing && e.next == b {
			// No write in progress and nobody has taken this batch:
			// write it. The state is read after the batch is closed to
			// newcomers, so it includes the change of every member.
			e.writing, e.next = true, nil
			e.saveMu.Unlock()
			err := e.write()
			e.saveMu.Lock()
			b.err, b.done = err, true
			e.writing = false
			e.saveCond.Broadcast()
			break
		}
		e.saveCond.Wait()
	}
	return b.err
}

// write hands the state to the store. Only save calls it, one call at a
// time.
func (e *Engine) write() error {
	err := e.store.Save(e.checkpoint)
	if err != nil {
		e.log.Error("checkpoint failed", "err", err)
	}
	return err
}

// checkpoint returns the complete state: every task's last published copy
// with its unsent reports, and the tombstones. The copies are shared, not
// cloned: a published snapshot is never changed, only replaced.
func (e *Engine) checkpoint() *Checkpoint {
	e.mu.Lock()
	defer e.mu.Unlock()
	cp := &Checkpoint{Tombstones: maps.Clone(e.tombs), Tasks: make([]Record, 0, len(e.tasks))}
	for _, en := range e.tasks {
		if en.snap != nil {
			cp.Tasks = append(cp.Tasks, Record{Task: en.snap, Outbox: en.outbox})
		}
	}
	return cp
}

// send delivers a task's outbox in order, retrying with back-off, until it
// is empty; then it checks whether the task can be forgotten.
func (e *Engine) send(arn string) {
	defer e.wg.Done()
	ctx := e.ctx
	backoff := e.cfg.RetryMin
	for {
		e.mu.Lock()
		en := e.tasks[arn]
		if en == nil || len(en.outbox) == 0 {
			if en != nil {
				en.sending = false
			}
			e.mu.Unlock()
			e.maybeForget(arn)
			return
		}
		sc := en.outbox[0]
		e.mu.Unlock()
		err := e.rep.Report(ctx, &sc)
		if err == nil || errors.Is(err, ErrRejected) {
			if err != nil {
				e.log.Warn("state change rejected, dropped", "task", arn, "status", sc.Status, "err", err)
			}
			e.mu.Lock()
			en.outbox = en.outbox[1:]
			e.mu.Unlock()
			e.save()
			backoff = e.cfg.RetryMin
			continue
		}
		if ctx.Err() != nil {
			e.mu.Lock()
			en.sending = false
			e.mu.Unlock()
			return
		}
		e.log.Warn("state change not acknowledged, retrying", "task", arn, "status", sc.Status, "in", backoff, "err", err)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		}
		backoff = min(backoff*2, e.cfg.RetryMax)
	}
}

// sendBatches is the sender of an engine with a BatchReporter: whenever
// tasks have changes to send, it sends the next change of each (up to
// maxBatch at once), drops what was acknowledged or rejected, and puts a
// failed change back for a retry after its task's back-off.
func (e *Engine) sendBatches(ctx context.Context) {
	defer e.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.kick:
		case <-timer.C:
		}
		for ctx.Err() == nil {
			arns, changes, next := e.takeReady()
			if len(arns) == 0 {
				if !next.IsZero() {
					timer.Reset(time.Until(next))
				}
				break
			}
			errs := e.batch.ReportBatch(ctx, changes)
			e.settle(ctx, arns, changes, errs)
		}
	}
}

// takeReady returns the next change of up to maxBatch tasks that have one
// to send and are not waiting out a back-off, and when the first of those
// waiting may be retried (zero if none waits).
func (e *Engine) takeReady() (arns []string, changes []*StateChange, next time.Time) {
	now := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	for arn := range e.ready {
		en := e.tasks[arn]
		if en == nil || len(en.outbox) == 0 {
			delete(e.ready, arn)
			continue
		}
		if en.retryAt.After(now) {
			if next.IsZero() || en.retryAt.Before(next) {
				next = en.retryAt
			}
			continue
		}
		if len(arns) < maxBatch {
			sc := en.outbox[0]
			arns, changes = append(arns, arn), append(changes, &sc)
		}
	}
	return arns, changes, next
}

// settle applies the outcomes of a batch: an acknowledged or rejected
// change leaves its outbox, a failed one waits for its task's back-off.
func (e *Engine) settle(ctx context.Context, arns []string, changes []*StateChange, errs []error) {
	var done []string
	popped := false
	now := time.Now()
	e.mu.Lock()
	for i, arn := range arns {
		en := e.tasks[arn]
		if en == nil || len(en.outbox) == 0 {
			continue
		}
		err := errs[i]
		if err != nil && !errors.Is(err, ErrRejected) {
			if ctx.Err() != nil {
				continue
			}
			en.backoff = min(max(en.backoff*2, e.cfg.RetryMin), e.cfg.RetryMax)
			en.retryAt = now.Add(en.backoff)
			e.log.Warn("state change not acknowledged, retrying", "task", arn, "status", changes[i].Status, "in", en.backoff, "err", err)
			continue
		}
		if err != nil {
			e.log.Warn("state change rejected, dropped", "task", arn, "status", changes[i].Status, "err", err)
		}
		en.outbox = en.outbox[1:]
		en.backoff, en.retryAt = 0, time.Time{}
		popped = true
		if len(en.outbox) == 0 {
			en.sending = false
			delete(e.ready, arn)
			done = append(done, arn)
		}
	}
	e.mu.Unlock()
	if popped {
		e.save()
	}
	for _, arn := range done {
		e.maybeForget(arn)
	}
}

// maybeForget drops a task that is finished, cleaned up, fully reported and
// no longer assigned, leaving a tombstone.
func (e *Engine) maybeForget(arn string) {
	e.mu.Lock()
	en := e.tasks[arn]
	if en == nil || en.inPayload || en.tm != nil || en.sending || len(en.outbox) > 0 ||
		en.snap == nil || en.snap.Known != StatusStopped || !en.snap.CleanedUp {
		e.mu.Unlock()
		return
	}
	delete(e.tasks, arn)
	e.tombs[arn] = Tombstone{Final: en.last, At: e.cfg.Now()}
	e.mu.Unlock()
	e.log.Debug("task forgotten", "task", arn)
	e.save()
}

// runTask starts a task's goroutine. Call with e.mu held.
func (e *Engine) runTask(tm *taskManager) {
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		tm.run(e.ctx)
		arn := tm.t.Assignment.TaskArn
		e.mu.Lock()
		if en := e.tasks[arn]; en != nil && en.tm == tm {
			en.tm = nil
		}
		e.mu.Unlock()
		e.maybeForget(arn)
	}()
}

// watch routes runtime events to the task they concern, re-subscribing when
// the stream breaks (and then asking every task to re-inspect).
func (e *Engine) watch(ctx context.Context) {
	defer e.wg.Done()
	for ctx.Err() == nil {
		ch := e.rt.Events(ctx, agentproto.LabelTaskArn)
		e.pokeAll()
		for ev := range ch {
			arn := ev.Labels[agentproto.LabelTaskArn]
			e.mu.Lock()
			en := e.tasks[arn]
			var tm *taskManager
			if en != nil {
				tm = en.tm
			}
			e.mu.Unlock()
			if tm != nil {
				tm.poke()
			}
		}
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
		}
	}
}

func (e *Engine) pokeAll() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, en := range e.tasks {
		if en.tm != nil {
			en.tm.poke()
		}
	}
}
