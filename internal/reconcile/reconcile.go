package reconcile

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Reconcile returns what the controller must do now for one service.
func Reconcile(in Input) Plan {
	s := newStep(in)
	s.countDeployments()
	s.completeRollout()
	s.circuitBreaker()
	s.startBackoff()
	s.forcedStops()
	if s.svc.Scheduling == scheduleDaemon {
		s.planDaemon()
	} else {
		s.planReplica()
	}
	s.steadyState()
	s.finishDeletion()
	s.plan.Service = s.svc
	s.plan.Requeue = s.requeue
	return s.plan
}

// step is one run of Reconcile: the snapshot, the service being updated and
// the plan being built.
type step struct {
	now       time.Time
	newID     string
	svc       Service // a copy: its Deployments slice is our own
	desired   int     // the tasks to keep: 0 for a deleted service
	instances map[string]Instance
	tasks     []*task // every task, by id
	plan      Plan
	stopping  map[string]bool // tasks this plan stops
	requeue   time.Duration
	lostAfter time.Duration // Input.AgentLostAfter, or the package's
}

func newStep(in Input) *step {
	s := &step{
		now:       in.Now,
		newID:     in.NewDeploymentID,
		svc:       in.Service,
		instances: make(map[string]Instance, len(in.Instances)),
		stopping:  map[string]bool{},
	}
	s.svc.Deployments = slices.Clone(in.Service.Deployments)
	if c := in.Service.LastCompleted; c != nil {
		cc := *c
		s.svc.LastCompleted = &cc
	}
	s.lostAfter = cmp.Or(in.AgentLostAfter, AgentLostAfter)
	for _, inst := range in.Instances {
		inst.lost = !inst.Connected && inst.DisconnectedFor > s.lostAfter
		s.instances[inst.ID] = inst
	}
	s.tasks = sortedTasks(in.Tasks, s.instances)
	s.desired = s.desiredCount()
	return s
}

// desiredCount: REPLICA keeps DesiredCount tasks; DAEMON keeps one on every
// instance that wants one; a deleted (DRAINING) service keeps none.
func (s *step) desiredCount() int {
	switch {
	case s.svc.Status != statusActive:
		return 0
	case s.svc.Scheduling == scheduleDaemon:
		n := 0
		for _, inst := range s.instances {
			if s.wantsDaemon(inst) {
				n++
			}
		}
		s.svc.DesiredCount = n
		return n
	default:
		return max(s.svc.DesiredCount, 0)
	}
}

// primary is the PRIMARY deployment (the first one if none says so), or nil.
func (s *step) primary() *Deployment {
	for i := range s.svc.Deployments {
		if s.svc.Deployments[i].Status == deploymentPrimary {
			return &s.svc.Deployments[i]
		}
	}
	if len(s.svc.Deployments) > 0 {
		return &s.svc.Deployments[0]
	}
	return nil
}

// countDeployments refreshes each deployment's counts from the snapshot.
// PendingCount: live, not RUNNING. RunningCount: live and RUNNING.
// FailedTasks: failed tasks of the deployment, never going down when failed
// tasks age out of the task list. DesiredCount: the service's for the
// PRIMARY; for older ones, their live tasks (going down).
func (s *step) countDeployments() {
	p := s.primary()
	for i := range s.svc.Deployments {
		d := &s.svc.Deployments[i]
		before := *d
		d.PendingCount, d.RunningCount = 0, 0
		failed := 0
		for _, t := range s.tasks {
			if t.Deployment != d.ID {
				continue
			}
			switch {
			case t.running:
				d.RunningCount++
			case t.live:
				d.PendingCount++
			case t.failed:
				failed++
			}
		}
		d.FailedTasks = max(d.FailedTasks, failed)
		if d == p {
			d.DesiredCount = s.desired
		} else {
			d.DesiredCount = d.PendingCount + d.RunningCount
		}
		if *d != before {
			d.UpdatedAt = s.now
		}
	}
}

// completeRollout: a PRIMARY deployment IN_PROGRESS is COMPLETED once it
// has exactly desiredCount live tasks, all healthy, and no other deployment
// has a live task; the older deployments then become INACTIVE and leave the
// list, and the PRIMARY is what a later circuit breaker rolls back to.
func (s *step) completeRollout() {
	p := s.primary()
	if p == nil || p.RolloutState != rolloutInProgress || s.svc.Status != statusActive {
		return
	}
	live, healthy, others := 0, 0, 0
	var newest time.Time
	for _, t := range s.tasks {
		switch {
		case !t.live:
		case t.Deployment != p.ID:
			others++
		case t.healthy:
			live++
			healthy++
			if t.StartedAt.After(newest) {
				newest = t.StartedAt
			}
		default:
			live++
		}
	}
	if live != s.desired || healthy != s.desired || others != 0 {
		return
	}
	if settled := newest.Add(SettleTime); s.now.Before(settled) {
		s.wakeIn(settled.Sub(s.now))
		return
	}
	p.RolloutState = rolloutCompleted
	p.RolloutStateReason = fmt.Sprintf("ECS deployment %s completed.", p.ID)
	p.UpdatedAt = s.now
	s.svc.LastCompleted = &Completed{ID: p.ID, TaskDefinition: p.TaskDefinition}
	s.svc.Deployments = []Deployment{*p}
	s.event("(deployment %s) deployment completed.", p.ID)
}

// breakerThreshold: ECS's circuit breaker fails a deployment after
// 0.5 × desiredCount failed tasks, at least 3 and at most 200.
func breakerThreshold(desired int) int {
	return min(max(ceilDiv(desired, 2), 3), 200)
}

// circuitBreaker: with the breaker on, a PRIMARY IN_PROGRESS whose failed
// tasks reach the threshold is FAILED and starts no more tasks. With
// rollback on and a last COMPLETED deployment of another task definition, a
// new PRIMARY deployment of that task definition takes over and the failed
// one becomes ACTIVE (its tasks are then shrunk like any old deployment's).
func (s *step) circuitBreaker() {
	p := s.primary()
	if !s.svc.CircuitBreaker || s.svc.Status != statusActive || p == nil ||
		p.RolloutState != rolloutInProgress || p.FailedTasks < breakerThreshold(s.desired) {
		return
	}
	p.RolloutState = rolloutFailed
	p.RolloutStateReason = "ECS deployment circuit breaker: tasks failed to start."
	p.UpdatedAt = s.now
	s.event("(deployment %s) deployment failed: tasks failed to start.", p.ID)

	last := s.svc.LastCompleted
	if !s.svc.Rollback || last == nil || last.TaskDefinition == p.TaskDefinition || s.newID == "" {
		return
	}
	p.Status, p.DesiredCount = deploymentActive, p.PendingCount+p.RunningCount
	rollback := Deployment{
		ID:                 s.newID,
		Status:             deploymentPrimary,
		TaskDefinition:     last.TaskDefinition,
		RolloutState:       rolloutInProgress,
		RolloutStateReason: fmt.Sprintf("ECS deployment circuit breaker: rolling back to deploymentId %s.", last.ID),
		DesiredCount:       s.desired,
		CreatedAt:          s.now,
		UpdatedAt:          s.now,
		RollbackOf:         p.ID,
	}
	s.svc.Deployments = append([]Deployment{rollback}, s.svc.Deployments...)
	s.event("rolling back to deployment %s.", last.ID)
}

// startBackoff derives StartFailures and NextStartAt from the task list, so
// that a failure is counted once however often the service is reconciled.
// StartFailures counts the failed tasks that stopped after the last reset:
// the latest start of a task that reached RUNNING without failing, or the
// creation of the PRIMARY deployment (a new deployment starts afresh). The
// next start waits until the last of those failures plus
// min(BackoffBase × 2^(StartFailures-1), BackoffMax).
func (s *step) startBackoff() {
	var reset time.Time
	if p := s.primary(); p != nil {
		reset = p.CreatedAt
	}
	for _, t := range s.tasks {
		if !t.StartedAt.IsZero() && !t.failed && t.StartedAt.After(reset) {
			reset = t.StartedAt
		}
	}
	n, last := 0, time.Time{}
	for _, t := range s.tasks {
		if t.failed && t.StoppedAt.After(reset) {
			n++
			if t.StoppedAt.After(last) {
				last = t.StoppedAt
			}
		}
	}
	s.svc.StartFailures, s.svc.NextStartAt = n, time.Time{}
	if n > 0 {
		s.svc.NextStartAt = last.Add(backoffDelay(n))
	}
}

// backoffDelay is min(BackoffBase × 2^(n-1), BackoffMax): 1 s, 2 s, 4 s, ...
// up to 5 minutes with the defaults.
func backoffDelay(n int) time.Duration {
	d := BackoffBase
	for i := 1; i < n && d < BackoffMax; i++ {
		d *= 2
	}
	return min(d, BackoffMax)
}

// mayStart says whether tasks may start now; if the back-off holds them,
// it asks to be reconciled when it ends.
func (s *step) mayStart() bool {
	if s.now.Before(s.svc.NextStartAt) {
		s.wakeIn(s.svc.NextStartAt.Sub(s.now))
		return false
	}
	return true
}

// forcedStops stops, whatever minimumHealthyPercent says, the tasks that are
// gone or must go: those on a lost instance (Immediately), those whose
// health check still reports UNHEALTHY once the grace period is over (left
// alone within it), and those not yet RUNNING on a DRAINING instance (ECS
// stops pending tasks of a draining instance at once).
func (s *step) forcedStops() {
	for _, t := range s.tasks {
		switch {
		case t.lost:
			s.stop(t, t.lostReason, true)
		case !t.live:
		case t.draining && !t.running:
			s.stop(t, ReasonDraining, false)
		default:
			past, ok := unhealthyFor(t, s.svc.HealthCheckGrace, s.now)
			switch {
			case !ok:
			case past >= 0:
				s.event("(task %s) failed container health checks.", t.ID)
				s.stop(t, ReasonHealthCheck, false)
			default:
				s.wakeIn(-past)
			}
		}
	}
	s.watchDisconnected()
}

// watchDisconnected asks to be reconciled when an instance holding live
// tasks of the service, silent now, would count as lost.
func (s *step) watchDisconnected() {
	for _, t := range s.tasks {
		inst, ok := s.instances[t.Instance]
		if t.live && ok && !inst.Connected {
			s.wakeIn(s.lostAfter - inst.DisconnectedFor + time.Second)
		}
	}
}

// remaining lists the live tasks that this plan does not stop.
func (s *step) remaining() []*task {
	var out []*task
	for _, t := range s.tasks {
		if t.live && !s.stopping[t.ID] {
			out = append(out, t)
		}
	}
	return out
}

func (s *step) stop(t *task, reason string, immediately bool) {
	if s.stopping[t.ID] {
		return
	}
	s.stopping[t.ID] = true
	s.plan.Stop = append(s.plan.Stop, Stop{Task: t.ID, Reason: reason, Immediately: immediately})
}

// scalingReason is ECS's stoppedReason for the tasks a deployment's
// scheduler stops to roll or scale the service.
func (s *step) scalingReason() string {
	if p := s.primary(); p != nil {
		return fmt.Sprintf("Scaling activity initiated by (deployment %s)", p.ID)
	}
	return "Scaling activity initiated by the service scheduler"
}

// steadyState: the service is steady when it has one deployment, desiredCount
// live tasks all RUNNING and healthy, and nothing to do. The event is written
// once per steady period: SteadySince is set when it begins and cleared when
// it ends.
func (s *step) steadyState() {
	if !s.isSteady() {
		s.svc.SteadySince = time.Time{}
		return
	}
	if s.svc.SteadySince.IsZero() {
		s.svc.SteadySince = s.now
		s.event("has reached a steady state.")
	}
}

func (s *step) isSteady() bool {
	if s.svc.Status != statusActive || len(s.svc.Deployments) != 1 ||
		len(s.plan.Start)+len(s.plan.Stop)+len(s.plan.Shrink) > 0 {
		return false
	}
	d := s.svc.Deployments[0]
	healthy := countIf(s.tasks, func(t *task) bool { return t.healthy && t.Deployment == d.ID })
	live := countIf(s.tasks, func(t *task) bool { return t.live })
	return d.RunningCount == s.desired && healthy == s.desired && live == s.desired
}

// finishDeletion: a DRAINING (deleted) service becomes INACTIVE once every
// one of its tasks is STOPPED.
func (s *step) finishDeletion() {
	if s.svc.Status != statusDraining {
		return
	}
	for _, t := range s.tasks {
		if t.LastStatus != taskStopped {
			return
		}
	}
	s.svc.Status = statusInactive
}

// event appends "(service <name>) <message>".
func (s *step) event(format string, args ...any) {
	s.plan.Events = append(s.plan.Events, fmt.Sprintf("(service %s) ", s.svc.Name)+fmt.Sprintf(format, args...))
}

// wakeIn asks to be reconciled again after d at the latest.
func (s *step) wakeIn(d time.Duration) {
	if d <= 0 {
		d = time.Millisecond
	}
	if s.requeue == 0 || d < s.requeue {
		s.requeue = d
	}
}

// ceilDiv is ⌈a/b⌉ for a ≥ 0, b > 0.
func ceilDiv(a, b int) int { return (a + b - 1) / b }

// proven says whether a task counts towards minimumHealthyPercent, that is
// whether an older healthy task may stop in its place: it is healthy and
// either has health checks (it reported HEALTHY) or has been RUNNING for
// SettleTime. ECS waits 40 seconds after RUNNING before it counts a task
// without health checks; without such a wait, a revision whose container
// starts and crashes at once would have the old tasks stopped in exchange
// for tasks that are about to die. It asks to look again when a healthy
// task will be proven.
func (s *step) proven(t *task) bool {
	if !t.healthy || t.HealthChecked || t.StartedAt.IsZero() {
		return t.healthy
	}
	if settled := t.StartedAt.Add(SettleTime); s.now.Before(settled) {
		s.wakeIn(settled.Sub(s.now))
		return false
	}
	return true
}

// bounds returns the most live tasks maximumPercent allows and the fewest
// healthy tasks minimumHealthyPercent requires, for the desired count.
func (s *step) bounds() (maxLive, minHealthy int) {
	return s.desired * s.svc.MaxPercent / 100, ceilDiv(s.desired*s.svc.MinHealthyPercent, 100)
}
