// Package agentproto is the protocol between the control plane and its
// agents, shaped like the ECS agent's own (a payload of tasks with a sequence
// number, acknowledgements, heartbeats, a manifest of what the agent knows) so
// that the stock amazon-ecs-agent can be supported as a worker later.
//
// The agent speaks three things to the control plane, all over the same
// SigV4-signed AWS JSON 1.1 edge as every other API:
//
//  1. ECS RegisterContainerInstance, once at start (again with
//     containerInstanceArn after a restart, to keep its identity).
//  2. Poll (target prefix TargetPrefix): a long-poll that returns the full
//     set of tasks assigned to the instance with the desired status of each.
//     Delivery is at-least-once: the same task arrives again and again until
//     the agent has reported it STOPPED, and the agent applies a payload
//     idempotently. Every poll is also the instance's heartbeat.
//  3. ECS SubmitTaskStateChange / SubmitContainerStateChange for every change
//     of a task's or container's known status, or SubmitStateChanges (target
//     prefix TargetPrefix) for the changes of up to MaxStateChanges tasks at
//     once, each read as SubmitTaskStateChange reads it.
//
// How the control plane reads a Poll:
//   - Cluster must exist (ClusterNotFoundException); ContainerInstanceArn must
//     be registered in it (InvalidParameterException if unknown,
//     ClientException if deregistered: register again without an ARN).
//   - The poll is the heartbeat: the instance's agentConnected stays true
//     while polls keep coming within the control plane's agent timeout (30 s
//     by default). HeartbeatSeconds says how often to poll at the least.
//   - AckSeq 0 (or WaitSeconds 0) answers at once. Otherwise the call blocks
//     until an assignment of the instance changed after AckSeq, or
//     WaitSeconds passed (capped at half the agent timeout), then answers
//     with the full, current payload. After a restart, poll with AckSeq 0.
//   - With Changes set (and AckSeq and WaitSeconds above 0), the answer is
//     a payload of changes when the control plane can tell them: only the
//     assignments written after AckSeq (new tasks, changed desired status)
//     and, in Removed, the tasks whose assignment was removed (reported
//     STOPPED, or stopped by the control plane). A poll then costs what
//     changed, not what the instance runs. When it cannot tell (the
//     revision was compacted), it answers with the full payload
//     (PollResponse.Changes false), and the agent must apply it as such.
//     An agent should still ask for a full payload, with its manifest, now
//     and then (Gantry's agent: every minute), as a check of everything.
//   - A manifest entry the control plane has not assigned to the instance (a
//     task it does not know, or one it already has as STOPPED) comes back as
//     an Assignment with DesiredStatus STOPPED and an empty Definition: stop
//     it, and do not report it (its state changes would be refused).
//   - AgentVersion / DockerVersion, when given and changed, update the
//     instance's versionInfo.
//
// How the control plane applies state changes (SubmitTaskStateChange with a
// TaskStateChange body, SubmitContainerStateChange with a
// ContainerStateChangeRequest body; both answer {"acknowledgment":"true"}):
//   - Statuses only move forward, in the order of the Status constants below
//     (containers: PENDING < RUNNING < STOPPED). A repeated or out-of-order
//     report is acknowledged and ignored, so retrying is always safe.
//   - Report the task RUNNING (sets startedAt) and STOPPED (sets stoppedAt,
//     executionStoppedAt, and deletes the assignment: the task leaves the
//     payload and its resources are released). Send pullStartedAt /
//     pullStoppedAt / executionStoppedAt when known; the first value sticks.
//   - Containers are named by containerName (a name the task definition does
//     not have is an InvalidParameterException). exitCode, reason,
//     networkBindings (the host ports actually bound), runtimeId (the
//     Docker container id) and imageDigest are recorded as given.
//   - An essential container reported STOPPED while the task should run makes
//     the control plane set the task's desiredStatus STOPPED (stopCode
//     EssentialContainerExited, or TaskFailedToStart if the task never ran);
//     the next payload carries it. A task reported STOPPED without a stop
//     code from the control plane gets one the same way, unless the report
//     names one in StopCode; its stoppedReason is the report's reason if
//     given.
//   - Container health comes in ContainerStateChange.HealthStatus (HEALTHY,
//     UNHEALTHY, UNKNOWN), with or without a status change; the task's
//     healthStatus is rolled up from its essential containers as ECS does.
//
// Both sides import this package; it depends only on the wire types.
package agentproto

import (
	"github.com/gantry-dev/gantry/internal/wire"
	"github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// TargetPrefix is the X-Amz-Target prefix of the agent actions.
const TargetPrefix = "GantryAgent_V1"

// MaxWaitSeconds is the longest a Poll may block.
const MaxWaitSeconds = 20

// PollRequest asks for the tasks assigned to an instance.
type PollRequest struct {
	// Cluster and ContainerInstanceArn name the instance (ARN as returned by
	// RegisterContainerInstance).
	Cluster              string `json:"cluster" aws:"required"`
	ContainerInstanceArn string `json:"containerInstanceArn" aws:"required"`
	// AckSeq is the Seq of the last payload the agent has applied; the
	// server answers at once when it has a newer one, else it blocks up to
	// WaitSeconds for one (0: answer at once).
	AckSeq      int64 `json:"ackSeq"`
	WaitSeconds int32 `json:"waitSeconds" aws:"min=0,max=20"`
	// Changes asks for a payload of changes since AckSeq rather than the
	// full one (see the package comment).
	Changes bool `json:"changes,omitempty"`
	// Manifest is every task the agent knows of, with its known status; the
	// control plane uses it to reconcile (a task it assigned that the agent
	// does not know after a restart is re-sent; one the agent runs that the
	// control plane does not know is told to stop). It is read only when
	// the answer is a full payload: an agent asking for changes omits it.
	Manifest []TaskStatus `json:"manifest,omitempty"`
	// AgentVersion and DockerVersion refresh the instance's versionInfo.
	AgentVersion  string `json:"agentVersion,omitempty"`
	DockerVersion string `json:"dockerVersion,omitempty"`
}

// TaskStatus is one entry of the agent's manifest.
type TaskStatus struct {
	TaskArn     string `json:"taskArn"`
	KnownStatus string `json:"knownStatus"`
}

// PollResponse is one payload: the complete desired state of the instance,
// or, with Changes, what changed in it after the poll's AckSeq.
type PollResponse struct {
	// Seq increases with every change to the instance's assignments (it is
	// the store revision the payload was read at, or that of the last
	// change a payload of changes carries).
	Seq int64 `json:"seq"`
	// Changes says this is a payload of changes: Tasks holds only the
	// assignments written after the poll's AckSeq, and Removed the tasks
	// no longer assigned; any other task the agent knows is unchanged.
	Changes bool `json:"changes,omitempty"`
	// Tasks are all tasks assigned to the instance that have not been
	// reported STOPPED, each with its desired status (with Changes, those
	// of them that changed).
	Tasks []Assignment `json:"tasks"`
	// Removed, in a payload of changes, lists the tasks whose assignment
	// was removed after AckSeq: the agent no longer runs them and may
	// forget them once stopped and reported.
	Removed []string `json:"removed,omitempty"`
	// HeartbeatSeconds is how often the agent must poll at the least to stay
	// connected.
	HeartbeatSeconds int32 `json:"heartbeatSeconds"`
}

// Assignment is one task placed on the instance: everything the agent needs
// to run it, with overrides already merged into the container definitions.
type Assignment struct {
	TaskArn       string `json:"taskArn"`
	ClusterArn    string `json:"clusterArn"`
	DesiredStatus string `json:"desiredStatus"` // RUNNING or STOPPED
	// StoppedReason and StopCode say why a task is to stop (StopTask, an
	// essential container exit, ...), for the agent's report.
	StoppedReason string `json:"stoppedReason,omitempty"`
	StopCode      string `json:"stopCode,omitempty"`
	// Definition is the task definition with the task's overrides applied
	// (command, environment, cpu, memory per container; task cpu/memory).
	Definition ecswire.TaskDefinition `json:"definition"`
	// Version is the task's version when this assignment was written.
	Version   int64      `json:"version"`
	CreatedAt *wire.Time `json:"createdAt,omitempty"`
	// Group and StartedBy are copied into container labels.
	Group     string `json:"group,omitempty"`
	StartedBy string `json:"startedBy,omitempty"`
}

// Task lifecycle statuses, as ECS reports them (lastStatus / desiredStatus).
const (
	StatusProvisioning   = "PROVISIONING"
	StatusPending        = "PENDING"
	StatusActivating     = "ACTIVATING"
	StatusRunning        = "RUNNING"
	StatusDeactivating   = "DEACTIVATING"
	StatusStopping       = "STOPPING"
	StatusDeprovisioning = "DEPROVISIONING"
	StatusStopped        = "STOPPED"
)

// statusRank orders the task lifecycle; containers use the same ranks
// (PENDING < RUNNING < STOPPED).
var statusRank = map[string]int{
	StatusProvisioning: 1, StatusPending: 2, StatusActivating: 3, StatusRunning: 4,
	StatusDeactivating: 5, StatusStopping: 6, StatusDeprovisioning: 7, StatusStopped: 8,
}

// StatusRank is the place of a task or container status in the lifecycle,
// 0 for an unknown status. A status only ever moves to a higher rank: the
// control plane ignores a report of a rank at or below the known one.
func StatusRank(status string) int { return statusRank[status] }

// Stop codes the agent and control plane use (ecswire.Enums["TaskStopCode"]).
const (
	StopCodeUserInitiated            = "UserInitiated"
	StopCodeEssentialContainerExited = "EssentialContainerExited"
	StopCodeTaskFailedToStart        = "TaskFailedToStart"
)

// Container labels the agent sets, so `docker ps` tells a human which task
// and family a container belongs to, and the agent finds its containers again
// after a restart.
const (
	LabelTaskArn       = "com.gantry.task-arn"
	LabelCluster       = "com.gantry.cluster"
	LabelFamily        = "com.gantry.task-definition-family"
	LabelRevision      = "com.gantry.task-definition-version"
	LabelContainerName = "com.gantry.container-name"
	LabelInstanceArn   = "com.gantry.container-instance-arn"
)

// TaskStateChange is the body of SubmitTaskStateChange as Gantry's agent
// sends it: the ECS request, whose containers may carry a health status, and
// an optional stop code. The stock ECS agent's body (without the additions)
// is read the same way.
type TaskStateChange struct {
	ecswire.SubmitTaskStateChangeRequest
	// Containers replaces the embedded request's member of the same JSON
	// name, adding HealthStatus to each entry.
	Containers []ContainerStateChange `json:"containers,omitempty"`
	// StopCode, with Status STOPPED, says why the task stopped when the
	// control plane did not ask for it (one of the StopCode constants);
	// empty lets the control plane derive it.
	StopCode string `json:"stopCode,omitempty"`
}

// ContainerStateChange is one container of a TaskStateChange.
type ContainerStateChange struct {
	ecswire.ContainerStateChange
	// HealthStatus is the container's health as its health check last
	// found it: HEALTHY, UNHEALTHY or UNKNOWN ("" leaves it unchanged).
	HealthStatus string `json:"healthStatus,omitempty"`
}

// ContainerStateChangeRequest is the body of SubmitContainerStateChange as
// Gantry's agent sends it: the ECS request plus the container's health and
// image digest.
type ContainerStateChangeRequest struct {
	ecswire.SubmitContainerStateChangeRequest
	HealthStatus string `json:"healthStatus,omitempty"`
	ImageDigest  string `json:"imageDigest,omitempty"`
}

// MaxStateChanges is the most changes one SubmitStateChanges carries.
const MaxStateChanges = 100

// StateChangesRequest is the body of SubmitStateChanges: the next change of
// each of several tasks of one cluster (at most one change per task: send a
// task's next change once its previous one is acknowledged). The control
// plane applies the changes of a batch together, in as few transactions as
// its store allows.
type StateChangesRequest struct {
	Cluster string            `json:"cluster" aws:"required"`
	Changes []TaskStateChange `json:"changes" aws:"required"`
}

// StateChangesResponse acknowledges a SubmitStateChanges: every change is
// acknowledged except those in Rejected, which the control plane refused
// for good (the error SubmitTaskStateChange would have answered for it). A
// failure of the whole call (an error answer) acknowledges nothing: send
// the batch again.
type StateChangesResponse struct {
	Rejected []RejectedChange `json:"rejected,omitempty"`
}

// RejectedChange is a change of a batch the control plane refused.
type RejectedChange struct {
	Index   int    `json:"index"` // its position in Changes
	Code    string `json:"code"`  // the error code, as InvalidParameterException
	Message string `json:"message"`
}

// Container health statuses (ecswire.Enums["HealthStatus"]).
const (
	HealthHealthy   = "HEALTHY"
	HealthUnhealthy = "UNHEALTHY"
	HealthUnknown   = "UNKNOWN"
)
