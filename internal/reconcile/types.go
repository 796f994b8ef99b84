package reconcile

import "time"

// Tunables. They are package variables so that the controller's config (or a
// test) can change them before running; Reconcile only reads them.
var (
	// AgentLostAfter: the tasks of an instance whose agent has been silent
	// for longer than this are stopped Immediately and replaced.
	AgentLostAfter = 3 * time.Minute
	// BackoffBase and BackoffMax shape the wait before the next start after
	// n tasks in a row failed to start: min(BackoffBase × 2^(n-1), BackoffMax).
	BackoffBase = time.Second
	BackoffMax  = 5 * time.Minute
	// DaemonDrainPoll: how soon to look again at a DRAINING instance whose
	// DAEMON task waits for the instance's other tasks to stop.
	DaemonDrainPoll = 5 * time.Second
	// SettleTime: a rollout is COMPLETED only once each of its tasks has
	// been RUNNING (and healthy) for this long, so a revision whose
	// container starts and crashes at once is caught by the circuit breaker
	// instead of passing for complete (and becoming what a later rollback
	// returns to). A task without health checks also counts towards
	// minimumHealthyPercent only once RUNNING for this long (ECS waits
	// 40 s), so such a revision does not get the old tasks stopped.
	SettleTime = 3 * time.Second
)

// Stop reasons this package writes, in ECS's words where ECS has them. The
// controller applies every Stop and Shrink with stop code StopCodeScheduler
// and the reason as the task's stoppedReason.
const (
	ReasonHealthCheck  = "Task failed container health checks"
	ReasonAgentLost    = "Task stopped because its container instance's agent is disconnected"
	ReasonInstanceGone = "Task stopped because its container instance is no longer registered"
	ReasonDraining     = "Task stopped because the container instance is being drained"
	ReasonConstraint   = "Task stopped because its container instance no longer meets the service's placement constraints"

	StopCodeScheduler = "ServiceSchedulerInitiated"
)

// Reconcile's input: a snapshot of one service and what it runs on.
type Input struct {
	Now             time.Time
	Service         Service
	Tasks           []Task     // every task of the service still known (any status; stopped ones are kept about an hour)
	Instances       []Instance // the cluster's registered instances
	NewDeploymentID string     // an unused "ecs-svc/<19 digits>" id, for a rollback deployment if one is needed
	// AgentLostAfter overrides the package's AgentLostAfter when set (a
	// server's configuration; tests that cannot wait three minutes).
	AgentLostAfter time.Duration
}

// Service is the part of a service the reconcile step reads and writes.
type Service struct {
	Name                          string
	Status                        string // ACTIVE, DRAINING (deleted: desired 0, becomes INACTIVE when no task is left)
	Scheduling                    string // REPLICA, DAEMON
	DesiredCount                  int    // REPLICA: as set by the user; DAEMON: computed here (eligible instances)
	MaxPercent, MinHealthyPercent int    // already defaulted: REPLICA 200/100, DAEMON 100/0
	CircuitBreaker, Rollback      bool
	HealthCheckGrace              time.Duration
	Deployments                   []Deployment // newest first; the PRIMARY is first
	LastCompleted                 *Completed   // the last deployment that reached COMPLETED
	StartFailures                 int          // tasks that failed to start in a row (back-off)
	NextStartAt                   time.Time    // no task starts before this (back-off)
	SteadySince                   time.Time    // zero while not steady
}

// Completed is enough of a deployment to deploy it again.
type Completed struct{ ID, TaskDefinition string }

// Deployment is one deployment of a service, as DescribeServices shows it.
type Deployment struct {
	ID, Status, TaskDefinition, RolloutState, RolloutStateReason string // Status PRIMARY/ACTIVE/INACTIVE; RolloutState IN_PROGRESS/COMPLETED/FAILED
	DesiredCount, PendingCount, RunningCount, FailedTasks        int
	CreatedAt, UpdatedAt                                         time.Time
	RollbackOf                                                   string // id of the deployment this one rolls back
}

// Task is one task of the service.
type Task struct {
	ID, Deployment, Instance        string    // Deployment = the task's startedBy
	LastStatus, DesiredStatus       string    // PROVISIONING, PENDING, ACTIVATING, RUNNING, DEACTIVATING, STOPPING, DEPROVISIONING, STOPPED
	HealthChecked                   bool      // it has containers with health checks
	Health                          string    // HEALTHY, UNHEALTHY, UNKNOWN
	CreatedAt, StartedAt, StoppedAt time.Time // StartedAt zero until RUNNING
	StopCode                        string    // TaskFailedToStart, EssentialContainerExited, UserInitiated, ServiceSchedulerInitiated, ...
	StoppedReason                   string
	// ProtectedUntil: task scale-in protection (UpdateTaskProtection) until
	// this time; zero when not protected. A healthy task protected at Now is
	// never stopped to scale in or to roll a deployment out.
	ProtectedUntil time.Time
}

// Instance is one registered container instance of the cluster.
type Instance struct {
	ID              string
	Status          string        // ACTIVE, DRAINING
	Connected       bool          // agent connected now
	DisconnectedFor time.Duration // how long the agent has been silent (0 if connected)
	Eligible        bool          // meets the service's placement constraints and can run it (DAEMON: gets one task)
	// ReplicaTasks counts the tasks of REPLICA services (and standalone
	// tasks) on the instance that are not STOPPED yet. On a DRAINING
	// instance a DAEMON task is the last to stop: it waits until this is 0.
	// Added to the API; zero (the default) never makes it wait.
	ReplicaTasks int
	// lost is set by Reconcile: silent for longer than AgentLostAfter.
	lost bool
}

// Plan is what the controller must do now for one service.
type Plan struct {
	Start   []Start  // tasks to start
	Stop    []Stop   // particular tasks to stop
	Shrink  []Shrink // stop this many of a deployment's live tasks, the controller picks which
	Service Service  // the service after this step
	Events  []string // new service event messages, oldest first, in ECS's words
	Requeue time.Duration
}

// Start asks for tasks of one deployment. REPLICA: Count tasks placed by the
// controller. DAEMON: one task on each of Instances (Count = len(Instances)).
type Start struct {
	Deployment string
	Count      int
	Instances  []string
}

// Stop stops one task. Immediately: its agent is gone, mark it STOPPED
// without waiting for it.
type Stop struct {
	Task        string
	Reason      string
	Immediately bool
}

// Shrink stops Count of the deployment's live tasks that this plan does not
// Stop; the controller picks which (placement-aware scale-in). Every such
// candidate is RUNNING and healthy whenever a Shrink is planned, so any
// choice keeps minimumHealthyPercent. Reason is the stoppedReason to write
// (added to the API).
type Shrink struct {
	Deployment string
	Count      int
	Reason     string
}
