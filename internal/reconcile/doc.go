// Package reconcile is the pure step of the ECS service controller: from a
// snapshot of one service, its tasks and the cluster's instances, and the
// time now, Reconcile returns a Plan (tasks to start, tasks to stop, how
// many tasks of a deployment to shrink, the service as it should be stored,
// new events, and when to look again). There is no I/O and nothing but the
// standard library here; the controller loop reads the snapshot, places the
// tasks to start, applies the stops and writes the service.
//
// One step, in order (each rule is written again where it is applied):
//
//  1. Classify every task. Live: DesiredStatus RUNNING, LastStatus not
//     STOPPED, and not on a lost instance. Healthy: live, RUNNING, and no
//     health checks or Health HEALTHY. Failed: STOPPED without ever
//     reaching RUNNING (unless the scheduler or a user stopped it), stop
//     code TaskFailedToStart, or stopped for its health checks.
//  2. Count each deployment (pending, running, failed, desired).
//  3. Complete the PRIMARY rollout when it runs desiredCount tasks, all
//     healthy, and no other deployment has a live task; the others leave.
//  4. Trip the circuit breaker, and roll back if asked and possible.
//  5. Derive the back-off of tasks that keep failing to start.
//  6. Forced stops, outside minimumHealthyPercent: tasks on lost agents,
//     tasks failing their health checks after the grace period, tasks not
//     yet RUNNING on DRAINING instances.
//  7. Plan the rolling replacement (replica.go or daemon.go) within
//     maximumPercent and minimumHealthyPercent.
//  8. Steady state, and the end of a deleted service.
//
// Counts, completion and the steady state describe the snapshot as given:
// the tasks this plan starts or stops show in the next step, which their
// changes trigger.
//
// # Applying a plan
//
// The controller applies every Stop and Shrink by setting the task's desired
// status to STOPPED with stop code ServiceSchedulerInitiated (StopCodeScheduler)
// and the given reason as its stoppedReason (Immediately: straight to
// STOPPED); failures are told apart from the scheduler's own stops by that
// stop code. A task so stopped is no longer live, so one plan may stop old
// tasks and start new ones in their room. Shrink picks among the
// deployment's live tasks that the plan does not Stop; they are all RUNNING
// and healthy whenever a Shrink is planned. Start for DAEMON names the
// instances (one task each); for REPLICA the controller places Count tasks.
//
// # Choices where the issue was silent
//
// Health during the grace period: a health-checked task is healthy only once
// it reports HEALTHY, grace or not, so a task in its grace period does not
// count towards minimumHealthyPercent nor towards completing a deployment.
// What the grace period changes is only that a task reporting UNHEALTHY is
// left alone until StartedAt + HealthCheckGrace (Requeue asks to look again
// then); from then on it is stopped with ECS's reason "Task failed container
// health checks", the event "(service s) (task t) failed container health
// checks." is written, and it counts as a failed task. A task stuck at
// UNKNOWN is never stopped for it, but never counts as healthy either.
//
// Back-off curve: 1 s, 2 s, 4 s, ... doubling per failure in a row, at most
// 5 minutes (BackoffBase, BackoffMax), measured from the StoppedAt of the
// last failure. With a breaker threshold of 3 and one task at a time, the
// third failure trips the breaker after 1 s + 2 s of back-off. The count is
// derived from the task list each time (never incremented), so a failure
// counts once: failures that stopped after the last reset, where a reset is
// the start of a task that reached RUNNING and did not fail, or the creation
// of the PRIMARY deployment (a new deployment, a rollback included, is not
// held back by the failures of the one before). The stored FailedTasks of a
// deployment never goes down, so failed tasks ageing out of the task list
// (about an hour) do not undo the count.
//
// Circuit breaker: only for the PRIMARY deployment while IN_PROGRESS (a
// deployment that COMPLETED does not fail later; when both could happen in
// one step, completion wins). A rollback needs NewDeploymentID; without one
// the deployment only FAILs. A FAILED PRIMARY without rollback freezes the
// service: no task starts, and the tasks of older deployments are neither
// rolled nor replaced (they keep serving); forced stops still happen, and
// deleting the service still stops everything.
//
// Lost agents: an instance silent for more than AgentLostAfter (3 minutes)
// has its tasks stopped Immediately (reason "Task stopped because its
// container instance's agent is disconnected") and, since they no longer
// count as live, replaced at once. Tasks on an instance that is no longer
// registered are treated the same way. While the agent is silent for less,
// its tasks count as last reported and Requeue wakes the controller when the
// 3 minutes are up.
//
// Draining instances, as the ECS developer guide describes them: tasks not
// yet RUNNING on a DRAINING instance are stopped at once; RUNNING ones are
// replaced within the bounds: the replacement starts as soon as
// maximumPercent allows, and the drained task stops ("Task stopped because
// the container instance is being drained") when minimumHealthyPercent
// allows, so with 100% it waits for its replacement to be healthy. A DAEMON
// task on a DRAINING instance has no replacement; it is stopped last, once
// the instance's ReplicaTasks is 0, as ECS stops daemon tasks after the
// others.
//
// Wording: "Task failed container health checks" and "Scaling activity
// initiated by (deployment <primary id>)" (old deployments, scale-in,
// deletion) are ECS's stoppedReasons; the draining, lost-agent, deregistered
// and placement-constraint reasons are Gantry's, as ECS documents none.
//
// Which tasks go: of the tasks to remove, those that are not healthy go
// first (they cost no health); among them the least progressed and newest.
// Healthy ones go as minimumHealthyPercent allows: drained ones, then older
// deployments (oldest first), then the PRIMARY's surplus, the last two as
// Shrink so that the controller can pick placement-aware. For REPLICA, a
// task without health checks counts towards minimumHealthyPercent only once
// it has been RUNNING for SettleTime (ECS waits 40 s), so a revision that
// starts and crashes at once does not get healthy old tasks stopped.
//
// DAEMON: the desired count is the number of ACTIVE, Eligible instances whose
// agent is not lost (written to Service.DesiredCount and the PRIMARY's
// DesiredCount); a task starts on such an instance when it is connected and
// holds no task of the service that is not STOPPED yet, so during a rollout
// the old task on an instance stops before the new one starts there (with
// the default 100/0). Both bounds count only the tasks on wanted instances:
// a task on an instance leaving the service has no replacement to wait for.
//
// Steady state: one deployment, desiredCount live tasks all RUNNING and
// healthy, and an empty plan. The event "(service s) has reached a steady
// state." is written when a steady period begins (SteadySince is set then,
// and cleared when it ends), not repeated during it.
//
// Deletion: a DRAINING service has a desired count of 0, so every task is
// stopped, with no minimum to keep; it becomes INACTIVE once every task of
// it is STOPPED.
package reconcile
