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
//     of a task's or container's known status.
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
	// Manifest is every task the agent knows of, with its known status; the
	// control plane uses it to reconcile (a task it assigned that the agent
	// does not know after a restart is re-sent; one the agent runs that the
	// control plane does not know is told to stop).
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

// PollResponse is one payload: the complete desired state of the instance.
type PollResponse struct {
	// Seq increases with every change to the instance's assignments (it is
	// the store revision the payload was read at).
	Seq int64 `json:"seq"`
	// Tasks are all tasks assigned to the instance that have not been
	// reported STOPPED, each with its desired status.
	Tasks []Assignment `json:"tasks"`
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
