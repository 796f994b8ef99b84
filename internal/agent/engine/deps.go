package engine

import (
	"fmt"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// Dependency conditions: ECS's dependsOn conditions, plus the implicit ones
// links (the target must run) and volumesFrom (the source must exist) add.
const (
	condStart    = "START"
	condComplete = "COMPLETE"
	condSuccess  = "SUCCESS"
	condHealthy  = "HEALTHY"
	condCreate   = "CREATE" // implicit: volumesFrom
)

// dep is one edge of a task's dependency graph: the container depends on
// name reaching cond.
type dep struct {
	name string
	cond string
}

// deps lists the dependencies of container c: dependsOn, links, volumesFrom,
// and the first container for a task-shared pid or ipc namespace.
func (tm *taskManager) deps(c *Container) []dep {
	d := tm.t.def(c.Name)
	if d == nil {
		return nil
	}
	var out []dep
	for _, x := range d.DependsOn {
		out = append(out, dep{x.ContainerName, x.Condition})
	}
	for _, l := range d.Links {
		name, _, _ := strings.Cut(l, ":")
		out = append(out, dep{name, condStart})
	}
	for _, v := range d.VolumesFrom {
		out = append(out, dep{v.SourceContainer, condCreate})
	}
	def := &tm.t.Assignment.Definition
	if (def.PidMode == "task" || def.IpcMode == "task") && len(tm.t.Containers) > 0 && tm.t.Containers[0] != c {
		out = append(out, dep{tm.t.Containers[0].Name, condStart})
	}
	return out
}

// depsMet says whether every dependency of c is met; never is set (with the
// reason) when one can no longer be; deadline is the earliest startTimeout
// expiry of a dependency still pending.
func (tm *taskManager) depsMet(c *Container) (ok bool, never string, deadline time.Time) {
	ok = true
	for _, dp := range tm.deps(c) {
		x := tm.t.container(dp.name)
		xd := tm.t.def(dp.name)
		if x == nil || xd == nil {
			return false, fmt.Sprintf("container %s depends on %s, which is not in the task", c.Name, dp.name), time.Time{}
		}
		met, why := condition(x, xd, dp.cond)
		if why != "" {
			return false, fmt.Sprintf("container %s depends on %s reaching %s, which can no longer happen: %s", c.Name, dp.name, dp.cond, why), time.Time{}
		}
		if met {
			continue
		}
		ok = false
		if xd.StartTimeout != nil && x.StartedAt != nil {
			dl := x.StartedAt.Add(time.Duration(*xd.StartTimeout) * time.Second)
			if !tm.now().Before(dl) {
				return false, fmt.Sprintf("container %s depends on %s reaching %s, which did not happen within its startTimeout of %ds", c.Name, dp.name, dp.cond, *xd.StartTimeout), time.Time{}
			}
			if deadline.IsZero() || dl.Before(deadline) {
				deadline = dl
			}
		}
	}
	return ok, "", deadline
}

// condition evaluates one dependency on container x: met, or why it never
// can be.
func condition(x *Container, xd *ecswire.ContainerDefinition, cond string) (met bool, never string) {
	stopped := x.Known == StatusStopped
	ran := x.StartedAt != nil
	if stopped && !ran {
		if x.Reason != "" {
			return false, fmt.Sprintf("%s never started (%s)", x.Name, x.Reason)
		}
		return false, x.Name + " never started"
	}
	switch cond {
	case condCreate:
		return x.Known >= StatusCreated && x.RuntimeID != "", ""
	case condStart:
		return x.Known >= StatusRunning, ""
	case condComplete:
		return stopped, ""
	case condSuccess:
		if stopped && x.ExitCode != nil && *x.ExitCode != 0 {
			return false, fmt.Sprintf("%s exited with code %d", x.Name, *x.ExitCode)
		}
		return stopped && x.ExitCode != nil, ""
	case condHealthy:
		if xd.HealthCheck == nil {
			return false, x.Name + " has no health check"
		}
		if stopped {
			return false, x.Name + " stopped"
		}
		return x.Health == HealthHealthy, ""
	}
	return false, "unknown condition " + cond
}
