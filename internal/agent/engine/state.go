package engine

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/gantry-dev/gantry/internal/agentproto"
	"github.com/gantry-dev/gantry/internal/wire"
	"github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// Status is the known status of a container (and, coarser, of a task) on
// the agent, in the order a container moves through it. It only moves
// forward.
type Status int

// Container known statuses.
const (
	StatusNone Status = iota
	StatusPulled
	StatusCreated
	StatusRunning
	StatusStopped
)

var statusNames = [...]string{"NONE", "PULLED", "CREATED", "RUNNING", "STOPPED"}

// String names the status.
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Wire is the status as ECS reports it for a task or container: PENDING
// before it runs, RUNNING, STOPPED.
func (s Status) Wire() string {
	switch s {
	case StatusRunning:
		return agentproto.StatusRunning
	case StatusStopped:
		return agentproto.StatusStopped
	}
	return agentproto.StatusPending
}

// MarshalText writes the status's name (checkpoints stay readable).
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a status name.
func (s *Status) UnmarshalText(b []byte) error {
	for i, n := range statusNames {
		if n == string(b) {
			*s = Status(i)
			return nil
		}
	}
	return fmt.Errorf("unknown status %q", b)
}

// Container health statuses as ECS reports them.
const (
	HealthHealthy   = "HEALTHY"
	HealthUnhealthy = "UNHEALTHY"
	HealthUnknown   = "UNKNOWN"
)

// Reasons the agent gives, worded as ECS words them.
const (
	ReasonEssentialExited = "Essential container in task exited"
	ReasonOutOfMemory     = "OutOfMemoryError: Container killed due to memory usage"
)

// Task is everything the engine knows of one task; it is checkpointed on
// every change. Only the task's own goroutine changes it.
type Task struct {
	Assignment agentproto.Assignment `json:"assignment"`
	// Desired is RUNNING or STOPPED; it only moves to STOPPED.
	Desired string `json:"desired"`
	// Known is the task's known status: NONE until every container has
	// started, RUNNING, then STOPPED once every container has stopped.
	Known Status `json:"known"`
	// StoppedReason and StopCode say why the task stops (set once).
	StoppedReason string `json:"stoppedReason,omitempty"`
	StopCode      string `json:"stopCode,omitempty"`
	// PullStartedAt, PullStoppedAt span the image pulls of the task;
	// ExecutionStoppedAt is when its last container stopped.
	PullStartedAt      *time.Time `json:"pullStartedAt,omitempty"`
	PullStoppedAt      *time.Time `json:"pullStoppedAt,omitempty"`
	ExecutionStoppedAt *time.Time `json:"executionStoppedAt,omitempty"`
	// Containers are in the order of the definition.
	Containers []*Container `json:"containers"`
	// Volumes are the task-scoped volumes the engine created (removed with
	// the task); VolumesReady is set once every task volume exists.
	Volumes      []string `json:"volumes,omitempty"`
	VolumesReady bool     `json:"volumesReady,omitempty"`
	// CleanedUp is set once the task's containers and volumes are removed.
	CleanedUp bool `json:"cleanedUp,omitempty"`
	// Unreported is set when the control plane said it does not assign the
	// task (a STOPPED assignment without a definition): the task is stopped
	// and its state changes are not reported (they would be refused).
	Unreported bool `json:"unreported,omitempty"`
}

// Container is what the engine knows of one container of a task.
type Container struct {
	Name string `json:"name"`
	// RuntimeName is the runtime's container name, chosen (and
	// checkpointed) before the container is created.
	RuntimeName string `json:"runtimeName,omitempty"`
	RuntimeID   string `json:"runtimeId,omitempty"`
	Known       Status `json:"known"`
	// StartedAt is when the container started running.
	StartedAt *time.Time `json:"startedAt,omitempty"`
	ExitCode  *int32     `json:"exitCode,omitempty"`
	Reason    string     `json:"reason,omitempty"`
	// Bindings are the published ports, read back after start.
	Bindings []ecswire.NetworkBinding `json:"bindings,omitempty"`
	// Health is HEALTHY, UNHEALTHY or UNKNOWN.
	Health      string `json:"health,omitempty"`
	ImageDigest string `json:"imageDigest,omitempty"`
	// StopSent is set once a stop was asked of the runtime.
	StopSent bool `json:"stopSent,omitempty"`
}

// StateChange is one report to the control plane: the body of ECS
// SubmitTaskStateChange, plus the members Gantry's control plane reads
// beside ECS's (stopCode, healthStatus on the task and each container).
type StateChange struct {
	Cluster            string            `json:"cluster"`
	Task               string            `json:"task"`
	Status             string            `json:"status"`
	Reason             string            `json:"reason,omitempty"`
	StopCode           string            `json:"stopCode,omitempty"`
	HealthStatus       string            `json:"healthStatus,omitempty"`
	Containers         []ContainerChange `json:"containers,omitempty"`
	PullStartedAt      *wire.Time        `json:"pullStartedAt,omitempty"`
	PullStoppedAt      *wire.Time        `json:"pullStoppedAt,omitempty"`
	ExecutionStoppedAt *wire.Time        `json:"executionStoppedAt,omitempty"`
}

// ContainerChange is one entry of StateChange.Containers: ECS's
// ContainerStateChange plus healthStatus.
type ContainerChange struct {
	ContainerName   string                   `json:"containerName"`
	RuntimeID       string                   `json:"runtimeId,omitempty"`
	Status          string                   `json:"status"`
	ExitCode        *int32                   `json:"exitCode,omitempty"`
	Reason          string                   `json:"reason,omitempty"`
	NetworkBindings []ecswire.NetworkBinding `json:"networkBindings,omitempty"`
	ImageDigest     string                   `json:"imageDigest,omitempty"`
	HealthStatus    string                   `json:"healthStatus,omitempty"`
}

// Record is what the engine checkpoints of one task: its state and the
// reports not yet acknowledged, in order.
type Record struct {
	Task   *Task         `json:"task"`
	Outbox []StateChange `json:"outbox,omitempty"`
}

// Tombstone remembers a task the engine has finished and forgotten, so a
// stale payload that still carries it is answered with its final report
// instead of running it again.
type Tombstone struct {
	Final StateChange `json:"final"`
	At    time.Time   `json:"at"`
}

// Checkpoint is the engine's whole persistent state.
type Checkpoint struct {
	Tasks      []Record             `json:"tasks"`
	Tombstones map[string]Tombstone `json:"tombstones,omitempty"`
}

// clone returns a copy of t that shares nothing with it but the
// assignment, which never changes once the task exists (a later payload
// only hands the task manager a desired status): copying a task costs its
// state, not its task definition.
func (t *Task) clone() *Task {
	out := *t
	out.PullStartedAt = clonePtr(t.PullStartedAt)
	out.PullStoppedAt = clonePtr(t.PullStoppedAt)
	out.ExecutionStoppedAt = clonePtr(t.ExecutionStoppedAt)
	out.Volumes = slices.Clone(t.Volumes)
	out.Containers = make([]*Container, len(t.Containers))
	for i, c := range t.Containers {
		cc := *c
		cc.StartedAt = clonePtr(c.StartedAt)
		cc.ExitCode = clonePtr(c.ExitCode)
		cc.Bindings = slices.Clone(c.Bindings)
		for k := range cc.Bindings {
			cc.Bindings[k].ContainerPort = clonePtr(cc.Bindings[k].ContainerPort)
			cc.Bindings[k].HostPort = clonePtr(cc.Bindings[k].HostPort)
		}
		out.Containers[i] = &cc
	}
	return &out
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// sameState reports whether a and b, two states of one task, are the same
// (their assignment, which never changes, is not compared).
func sameState(a, b *Task) bool {
	return a.Desired == b.Desired && a.Known == b.Known && a.StoppedReason == b.StoppedReason && a.StopCode == b.StopCode &&
		sameTime(a.PullStartedAt, b.PullStartedAt) && sameTime(a.PullStoppedAt, b.PullStoppedAt) &&
		sameTime(a.ExecutionStoppedAt, b.ExecutionStoppedAt) && slices.Equal(a.Volumes, b.Volumes) &&
		a.VolumesReady == b.VolumesReady && a.CleanedUp == b.CleanedUp && a.Unreported == b.Unreported &&
		slices.EqualFunc(a.Containers, b.Containers, sameContainer)
}

func sameContainer(a, b *Container) bool {
	return a.Name == b.Name && a.RuntimeName == b.RuntimeName && a.RuntimeID == b.RuntimeID && a.Known == b.Known &&
		sameTime(a.StartedAt, b.StartedAt) && (a.ExitCode == nil) == (b.ExitCode == nil) &&
		(a.ExitCode == nil || *a.ExitCode == *b.ExitCode) && a.Reason == b.Reason &&
		slices.EqualFunc(a.Bindings, b.Bindings, func(x, y ecswire.NetworkBinding) bool { return reflect.DeepEqual(x, y) }) &&
		a.Health == b.Health && a.ImageDigest == b.ImageDigest && a.StopSent == b.StopSent
}

func sameTime(a, b *time.Time) bool {
	return a == nil && b == nil || a != nil && b != nil && a.Equal(*b)
}

// def returns the definition of the container named name.
func (t *Task) def(name string) *ecswire.ContainerDefinition {
	for i := range t.Assignment.Definition.ContainerDefinitions {
		if d := &t.Assignment.Definition.ContainerDefinitions[i]; d.Name == name {
			return d
		}
	}
	return nil
}

// container returns the container named name, or nil.
func (t *Task) container(name string) *Container {
	for _, c := range t.Containers {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// essential says whether a container definition is essential (the default).
func essential(d *ecswire.ContainerDefinition) bool {
	return d.Essential == nil || *d.Essential
}

// taskHealth rolls container health up as ECS does: only essential
// containers with a health check count; any UNHEALTHY makes the task
// UNHEALTHY, all HEALTHY make it HEALTHY, anything else is UNKNOWN.
func (t *Task) taskHealth() string {
	counted, healthy := 0, 0
	for _, c := range t.Containers {
		d := t.def(c.Name)
		if d == nil || d.HealthCheck == nil || !essential(d) {
			continue
		}
		counted++
		switch c.Health {
		case HealthUnhealthy:
			return HealthUnhealthy
		case HealthHealthy:
			healthy++
		}
	}
	if counted > 0 && healthy == counted {
		return HealthHealthy
	}
	return HealthUnknown
}

// report builds the state change that describes t now.
func (t *Task) report() StateChange {
	sc := StateChange{
		Cluster:      t.Assignment.ClusterArn,
		Task:         t.Assignment.TaskArn,
		Status:       t.Known.Wire(),
		HealthStatus: t.taskHealth(),
	}
	if t.Known == StatusStopped {
		sc.Reason = t.StoppedReason
		sc.StopCode = t.StopCode
	}
	if t.PullStartedAt != nil {
		sc.PullStartedAt = wire.At(*t.PullStartedAt)
	}
	if t.PullStoppedAt != nil {
		sc.PullStoppedAt = wire.At(*t.PullStoppedAt)
	}
	if t.ExecutionStoppedAt != nil {
		sc.ExecutionStoppedAt = wire.At(*t.ExecutionStoppedAt)
	}
	for _, c := range t.Containers {
		cc := ContainerChange{
			ContainerName:   c.Name,
			RuntimeID:       c.RuntimeID,
			Status:          c.Known.Wire(),
			ExitCode:        c.ExitCode,
			Reason:          c.Reason,
			NetworkBindings: c.Bindings,
			ImageDigest:     c.ImageDigest,
			HealthStatus:    c.Health,
		}
		if cc.HealthStatus == "" {
			cc.HealthStatus = HealthUnknown
		}
		sc.Containers = append(sc.Containers, cc)
	}
	return sc
}

// sameReport says whether two reports describe the same state (timestamps
// aside, which only ever get set along with a status change).
func sameReport(a, b StateChange) bool {
	a.PullStartedAt, a.PullStoppedAt, a.ExecutionStoppedAt = nil, nil, nil
	b.PullStartedAt, b.PullStoppedAt, b.ExecutionStoppedAt = nil, nil, nil
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
