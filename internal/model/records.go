package model

import "github.com/gantry-dev/gantry/internal/wire/ecswire"

// Cluster is the stored record of a cluster: its wire shape, without the
// counts, which are computed when it is described.
type Cluster = ecswire.Cluster

// TaskDefinition is the stored record of one task definition revision.
type TaskDefinition struct {
	Def  ecswire.TaskDefinition `json:"def"`
	Tags []ecswire.Tag          `json:"tags,omitempty"`
}

// Family is the stored record of a task definition family. It outlives its
// revisions, so revision numbers are never reused.
type Family struct {
	Name         string `json:"name"`
	LastRevision int32  `json:"lastRevision"`
	// Active counts the family's ACTIVE revisions and Revisions those not
	// deleted; they change in the same transaction as the revision they count.
	Active    int32 `json:"active"`
	Revisions int32 `json:"revisions"`
}

// ContainerInstance is the stored record of a container instance.
type ContainerInstance = ecswire.ContainerInstance

// AccountSetting is the stored record of one account setting.
type AccountSetting = ecswire.Setting

// Task is the stored record of a task: its wire shape inline (so a reader
// that only needs lastStatus can decode that alone), plus what Gantry keeps
// beside it.
type Task struct {
	ecswire.Task
	// InstanceID is the id of the container instance the task is placed on.
	InstanceID string `json:"gantryInstanceId,omitempty"`
	// Reserved is what the task holds on its instance (CPU, MEMORY, PORTS,
	// PORTS_UDP), released when it stops.
	Reserved []ecswire.Resource `json:"gantryReserved,omitempty"`
	// ProtectedUntil is when the task's scale-in protection
	// (UpdateTaskProtection) expires, in unix milliseconds; 0 when it has
	// none. DescribeTasks does not show it, as in ECS.
	ProtectedUntil int64 `json:"gantryProtectedUntil,omitempty"`
}

// Heartbeat is the stored record of an agent's last contact.
type Heartbeat struct {
	At int64 `json:"at"` // unix milliseconds
}

// InstanceLoad is what is placed on a container instance: its tasks that
// are not STOPPED, in all and by task group. Spread strategies,
// distinctInstance and the query language's task:group and
// runningTasksCount read it.
type InstanceLoad struct {
	Tasks  int32            `json:"tasks"`
	Groups map[string]int32 `json:"groups,omitempty"`
}

// Add counts n more tasks (n may be negative) of group.
func (l *InstanceLoad) Add(group string, n int32) {
	l.Tasks = max(l.Tasks+n, 0)
	if l.Groups == nil {
		l.Groups = map[string]int32{}
	}
	if c := l.Groups[group] + n; c > 0 {
		l.Groups[group] = c
	} else {
		delete(l.Groups, group)
	}
}
