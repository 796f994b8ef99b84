package model

import "github.com/gantry-dev/gantry/internal/wire/ecswire"

// Service statuses, as ECS names them.
const (
	ServiceActive   = "ACTIVE"
	ServiceDraining = "DRAINING"
	ServiceInactive = "INACTIVE"
)

// Deployment statuses and rollout states, as ECS names them.
const (
	DeploymentPrimary  = "PRIMARY"
	DeploymentActive   = "ACTIVE"
	DeploymentInactive = "INACTIVE"

	RolloutInProgress = "IN_PROGRESS"
	RolloutCompleted  = "COMPLETED"
	RolloutFailed     = "FAILED"
)

// Scheduling strategies.
const (
	SchedulingReplica = "REPLICA"
	SchedulingDaemon  = "DAEMON"
)

// MaxServiceEvents is how many events a service keeps, newest first.
const MaxServiceEvents = 100

// Service is the stored record of a service: its wire shape as
// DescribeServices shows it (deployments newest first, PRIMARY among them;
// events newest first; runningCount and pendingCount as the controller last
// counted them), plus what Gantry keeps beside it.
//
// Who writes what: the API actions (CreateService, UpdateService,
// DeleteService) change the desired state (desiredCount, task definition and
// a new PRIMARY deployment, placement, deployment configuration, status
// DRAINING); the service controller, on the leader, changes the observed
// state (counts, rollout states, events, deployments going INACTIVE and
// leaving the list, the service going INACTIVE once drained). Both write
// with a transaction that expects the revision they read.
type Service struct {
	ecswire.Service
	Gantry ServiceState `json:"gantry"`
}

// ServiceState is what a service keeps that ECS does not show.
type ServiceState struct {
	// Deployments holds, by deployment id, what the wire shape lacks.
	Deployments map[string]DeploymentState `json:"deployments,omitempty"`
	// LastCompleted is the last deployment that reached COMPLETED: what the
	// circuit breaker rolls back to.
	LastCompleted *CompletedDeployment `json:"lastCompleted,omitempty"`
	// StartFailures counts the service's tasks that stopped before RUNNING
	// (or failed their health checks) in a row; NextStartAt (unix ms) is when
	// the controller may start tasks again after such failures: the back-off
	// of tasks that keep failing to start.
	StartFailures int32 `json:"startFailures,omitempty"`
	NextStartAt   int64 `json:"nextStartAt,omitempty"`
	// ClientToken is the CreateService token that created the service.
	ClientToken string `json:"clientToken,omitempty"`
	// SteadySince (unix ms) is when the service last reached a steady state
	// (0 while it is not in one), so the event is written once.
	SteadySince int64 `json:"steadySince,omitempty"`
}

// DeploymentState is what one deployment keeps beside its wire shape.
type DeploymentState struct {
	// RollbackOf is the id of the deployment this one rolls back, if the
	// circuit breaker created it.
	RollbackOf string `json:"rollbackOf,omitempty"`
}

// CompletedDeployment is enough of a deployment to deploy it again.
type CompletedDeployment struct {
	ID             string `json:"id"`
	TaskDefinition string `json:"taskDefinition"`
}

// ServiceKey is the key of an ACTIVE or DRAINING service.
func ServiceKey(cluster, name string) string { return ServicesPrefix(cluster) + name }

// InactiveServicesPrefix holds services that were deleted and have drained,
// kept so DescribeServices still shows them as INACTIVE (ECS shows them for
// a while); a new service may take the name meanwhile.
func InactiveServicesPrefix(cluster string) string { return "services-inactive/" + cluster + "/" }

// InactiveServiceKey is the key of an INACTIVE service.
func InactiveServiceKey(cluster, name string) string { return InactiveServicesPrefix(cluster) + name }

// ServiceGroup is the task group of a service's tasks.
func ServiceGroup(name string) string { return "service:" + name }
