package reconcile

import (
	"cmp"
	"slices"
	"time"
)

// Statuses, as ECS names them.
const (
	statusActive   = "ACTIVE"
	statusDraining = "DRAINING"
	statusInactive = "INACTIVE"

	scheduleDaemon = "DAEMON"

	deploymentPrimary = "PRIMARY"
	deploymentActive  = "ACTIVE"

	rolloutInProgress = "IN_PROGRESS"
	rolloutCompleted  = "COMPLETED"
	rolloutFailed     = "FAILED"

	taskRunning = "RUNNING"
	taskStopped = "STOPPED"

	healthHealthy   = "HEALTHY"
	healthUnhealthy = "UNHEALTHY"

	stopCodeFailedToStart = "TaskFailedToStart"
	stopCodeUser          = "UserInitiated"
	// stopCodeEssentialExited: an essential container exited.
	stopCodeEssentialExited = "EssentialContainerExited"
)

// task is a Task as this step classifies it, once.
type task struct {
	Task
	// live: DesiredStatus RUNNING, LastStatus not STOPPED, and not on a
	// lost instance (a task whose agent is gone is as good as stopped).
	live bool
	// running: live and LastStatus RUNNING.
	running bool
	// healthy: running, and either no health checks or Health HEALTHY.
	healthy bool
	// failed: STOPPED without ever starting (not by the scheduler or a
	// user), or stop code TaskFailedToStart, or stopped for failing its
	// health checks. Failed tasks feed FailedTasks and the back-off.
	failed bool
	// lost: not STOPPED, on an instance whose agent has been silent longer
	// than AgentLostAfter or that is no longer registered.
	lost       bool
	lostReason string
	// draining: on a DRAINING instance.
	draining bool
}

// classify reads one task against the instances.
func classify(t Task, instances map[string]Instance) *task {
	c := &task{Task: t}
	if t.LastStatus != taskStopped && t.Instance != "" {
		inst, ok := instances[t.Instance]
		switch {
		case !ok:
			c.lost, c.lostReason = true, ReasonInstanceGone
		case agentLost(inst):
			c.lost, c.lostReason = true, ReasonAgentLost
		}
		c.draining = ok && inst.Status == statusDraining
	}
	c.live = t.DesiredStatus == taskRunning && t.LastStatus != taskStopped && !c.lost
	c.running = c.live && t.LastStatus == taskRunning
	c.healthy = c.running && (!t.HealthChecked || t.Health == healthHealthy)
	c.failed = failedToStart(t)
	return c
}

// failedToStart says whether a task counts as a failure for the circuit
// breaker and the back-off: it failed to start, its essential container
// exited (a crash, however soon after RUNNING), or the scheduler stopped it
// for its health checks. Other tasks stopped by the service scheduler or a
// user do not count.
func failedToStart(t Task) bool {
	switch {
	case t.LastStatus != taskStopped:
		return false
	case t.StoppedReason == ReasonHealthCheck, t.StopCode == stopCodeFailedToStart, t.StopCode == stopCodeEssentialExited:
		return true
	case t.StopCode == StopCodeScheduler, t.StopCode == stopCodeUser:
		return false
	default:
		return t.StartedAt.IsZero()
	}
}

// agentLost: the agent has been silent for longer than AgentLostAfter.
func agentLost(inst Instance) bool { return inst.lost }

// unhealthyFor is how long past its grace period a task's health check has
// reported UNHEALTHY: negative while still within the grace, zero or more
// once it must be replaced. ok is false for a task this does not apply to.
func unhealthyFor(t *task, grace time.Duration, now time.Time) (past time.Duration, ok bool) {
	if !t.running || !t.HealthChecked || t.Health != healthUnhealthy {
		return 0, false
	}
	return now.Sub(t.StartedAt.Add(grace)), true
}

// progress ranks how far a live task has come: the least progressed is the
// cheapest to stop.
func progress(t *task) int {
	switch {
	case t.healthy:
		return 3
	case t.running:
		return 2
	case t.LastStatus == "PENDING" || t.LastStatus == "ACTIVATING":
		return 1
	default:
		return 0
	}
}

// cheapestFirst orders tasks to stop: least progressed, then newest, then id.
func cheapestFirst(a, b *task) int {
	return cmp.Or(
		cmp.Compare(progress(a), progress(b)),
		b.CreatedAt.Compare(a.CreatedAt),
		cmp.Compare(a.ID, b.ID),
	)
}

// bestFirst orders tasks to keep: most progressed, then oldest, then id.
func bestFirst(a, b *task) int {
	return cmp.Or(
		cmp.Compare(progress(b), progress(a)),
		a.CreatedAt.Compare(b.CreatedAt),
		cmp.Compare(a.ID, b.ID),
	)
}

// split returns the tasks that satisfy keep and those that do not.
func split(ts []*task, keep func(*task) bool) (yes, no []*task) {
	for _, t := range ts {
		if keep(t) {
			yes = append(yes, t)
		} else {
			no = append(no, t)
		}
	}
	return yes, no
}

func countIf(ts []*task, f func(*task) bool) int {
	n := 0
	for _, t := range ts {
		if f(t) {
			n++
		}
	}
	return n
}

func isHealthy(t *task) bool { return t.healthy }

// sortedTasks classifies the input tasks, ordered by id so that every plan
// is deterministic.
func sortedTasks(ts []Task, instances map[string]Instance) []*task {
	out := make([]*task, 0, len(ts))
	for _, t := range ts {
		out = append(out, classify(t, instances))
	}
	slices.SortFunc(out, func(a, b *task) int { return cmp.Compare(a.ID, b.ID) })
	return out
}
