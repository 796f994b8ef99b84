package ecs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/gantry-dev/gantry/internal/awsapi"
	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/state"
	w "github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// runSpec is everything RunTask and StartTask decide before placement: what
// each task of the request is, independent of where it lands.
type runSpec struct {
	cluster   string
	def       *model.TaskDefinition // the revision as registered
	merged    w.TaskDefinition      // the revision with the overrides applied
	overrides *w.TaskOverride       // as the task reports them
	group     string
	startedBy string
	tags      []w.Tag
	need      demand
	// size is the length of merged as JSON: each task's assignment
	// carries it.
	size int
}

// runParams are the members RunTask and StartTask share.
type runParams struct {
	taskDefinition, group, startedBy, propagateTags string
	overrides                                       *w.TaskOverride
	tags                                            []w.Tag
	managedTags, execCmd                            bool
	network                                         *w.NetworkConfiguration
	volumes                                         []w.TaskVolumeConfiguration
}

// maxOverridesLength is how long the overrides may be, as JSON.
const maxOverridesLength = 8192

// buildSpec validates the shared members of a RunTask or StartTask request
// and resolves its task definition.
func (sc scope) buildSpec(ctx context.Context, cluster string, p runParams) (*runSpec, error) {
	if len(p.startedBy) > 128 || !validStartedBy(p.startedBy) {
		return nil, InvalidParameter.Errorf("startedBy %q is not valid: up to 128 letters (uppercase and lowercase), numbers, hyphens, forward slashes and underscores are allowed.", p.startedBy)
	}
	if len(p.group) > 255 {
		return nil, InvalidParameter.Errorf("group is longer than 255 characters.")
	}
	if err := validateTags(p.tags); err != nil {
		return nil, err
	}
	if p.overrides != nil {
		b, _ := json.Marshal(p.overrides)
		if len(b) > maxOverridesLength {
			return nil, withHint(InvalidParameter.Errorf("Container Overrides length must be at most %d.", maxOverridesLength), "the overrides are %d characters as JSON", len(b))
		}
	}
	if p.propagateTags == "SERVICE" {
		return nil, InvalidParameter.Errorf("The propagateTags value SERVICE is only valid for tasks started by a service; use TASK_DEFINITION or NONE.")
	}
	def, err := sc.resolveTaskDefinition(ctx, p.taskDefinition)
	if err != nil {
		return nil, err
	}
	if err := checkHonourableOverrides(p.overrides); err != nil {
		return nil, err
	}
	merged, reported, err := applyOverrides(def.Def, p.overrides)
	if err != nil {
		return nil, err
	}
	size, err := runnableSize(&merged)
	if err != nil {
		return nil, err
	}
	if err := checkHonourable(&merged); err != nil {
		return nil, err
	}
	mode := merged.NetworkMode
	if mode == "" {
		mode = modeBridge
	}
	if err := checkRunRequest(mode, p.network, p.volumes, p.execCmd); err != nil {
		return nil, err
	}
	spec := &runSpec{cluster: cluster, def: def, merged: merged, overrides: reported, group: p.group, startedBy: p.startedBy, size: size}
	if spec.group == "" {
		spec.group = "family:" + def.Def.Family
	}
	var tags []w.Tag
	if p.propagateTags == "TASK_DEFINITION" {
		tags = slices.Clone(def.Tags)
	}
	tags = mergeTags(tags, p.tags)
	if len(tags) > maxTags {
		return nil, InvalidParameter.Errorf("A task can have at most %d tags; the request's tags and those propagated from the task definition make %d.", maxTags, len(tags))
	}
	if p.managedTags {
		tags = append(tags, w.Tag{Key: "aws:ecs:clusterName", Value: cluster})
	}
	spec.tags = tags
	spec.need = taskDemand(&merged)
	return spec, nil
}

// validStartedBy: letters, digits, hyphens, forward slashes, underscores.
func validStartedBy(s string) bool {
	for _, c := range s {
		if !(isAlnum(c) || c == '-' || c == '/' || c == '_') {
			return false
		}
	}
	return true
}

// resolveTaskDefinition reads the revision a taskDefinition parameter names:
// family:revision, an ARN, or a family alone for its latest ACTIVE
// revision. An INACTIVE revision cannot run new tasks.
func (sc scope) resolveTaskDefinition(ctx context.Context, ref string) (*model.TaskDefinition, error) {
	r, problem := sc.parseTaskDefRef(ref)
	if problem != nil {
		return nil, InvalidParameter.Errorf("%s", problem.hint)
	}
	var rec *model.TaskDefinition
	var err error
	if r.revision == 0 {
		rec, err = latestActive(ctx, sc.st, r.family)
	} else {
		rec, _, err = getTaskDefinition(ctx, sc.st, r)
	}
	if errors.Is(err, state.ErrNotFound) {
		return nil, withHint(ClientException.Errorf("TaskDefinition not found."), "%s is not registered (or has no ACTIVE revision) in account %s, region %s", r, sc.Account, sc.Region)
	}
	if err != nil {
		return nil, err
	}
	if rec.Def.Status != model.TaskDefinitionActive {
		return nil, withHint(ClientException.Errorf("TaskDefinition is inactive"), "%s was deregistered and cannot run new tasks; register a new revision", rec.Def.TaskDefinitionArn)
	}
	return rec, nil
}

// applyOverrides returns the definition with the overrides applied, and the
// overrides as the task reports them: one containerOverrides entry per
// container, carrying what was overridden. Environment overrides are merged
// over the definition's variables by name.
func applyOverrides(def w.TaskDefinition, ov *w.TaskOverride) (w.TaskDefinition, *w.TaskOverride, error) {
	var td w.TaskDefinition
	b, err := json.Marshal(def)
	if err == nil {
		err = json.Unmarshal(b, &td)
	}
	if err != nil {
		return td, nil, err
	}
	if ov == nil {
		ov = &w.TaskOverride{}
	}
	reported := &w.TaskOverride{Cpu: ov.Cpu, Memory: ov.Memory, ExecutionRoleArn: ov.ExecutionRoleArn}
	byName := map[string]w.ContainerOverride{}
	for _, co := range ov.ContainerOverrides {
		if co.Name == "" {
			return td, nil, InvalidParameter.Errorf("Every container override needs the name of a container of the task definition.")
		}
		if !slices.ContainsFunc(td.ContainerDefinitions, func(c w.ContainerDefinition) bool { return c.Name == co.Name }) {
			return td, nil, InvalidParameter.Errorf("Override for container named %s is not a container in the TaskDefinition.", co.Name)
		}
		if _, dup := byName[co.Name]; dup {
			return td, nil, InvalidParameter.Errorf("Container %s is overridden more than once; give one override per container.", co.Name)
		}
		byName[co.Name] = co
	}
	for i := range td.ContainerDefinitions {
		c := &td.ContainerDefinitions[i]
		co, ok := byName[c.Name]
		if !ok {
			reported.ContainerOverrides = append(reported.ContainerOverrides, w.ContainerOverride{Name: c.Name})
			continue
		}
		reported.ContainerOverrides = append(reported.ContainerOverrides, co)
		if co.Command != nil {
			c.Command = slices.Clone(co.Command)
		}
		for _, e := range co.Environment {
			if e.Name == "" {
				return td, nil, InvalidParameter.Errorf("Every environment variable of the override of container %s needs a name.", c.Name)
			}
			if j := slices.IndexFunc(c.Environment, func(x w.KeyValuePair) bool { return x.Name == e.Name }); j >= 0 {
				c.Environment[j].Value = e.Value
			} else {
				c.Environment = append(c.Environment, e)
			}
		}
		if co.Cpu != nil {
			if *co.Cpu < 0 {
				return td, nil, InvalidParameter.Errorf("The cpu override of container %s must not be negative.", c.Name)
			}
			c.Cpu = *co.Cpu
		}
		if co.Memory != nil {
			c.Memory = new(*co.Memory)
		}
		if co.MemoryReservation != nil {
			c.MemoryReservation = new(*co.MemoryReservation)
		}
		if err := checkContainerMemory(c); err != nil {
			return td, nil, err
		}
	}
	if ov.Cpu != "" {
		n, err := taskCPU.parse(ov.Cpu)
		if err != nil {
			return td, nil, asInvalidParameter("overrides.cpu", err)
		}
		td.Cpu = strconv.Itoa(n)
	}
	if ov.Memory != "" {
		n, err := taskMemory.parse(ov.Memory)
		if err != nil {
			return td, nil, asInvalidParameter("overrides.memory", err)
		}
		td.Memory = strconv.Itoa(n)
	}
	cpu, _ := strconv.Atoi(td.Cpu)
	mem, _ := strconv.Atoi(td.Memory)
	if err := checkResources(&td, cpu, mem); err != nil {
		return td, nil, asInvalidParameter("overrides", err)
	}
	return td, reported, nil
}

// checkContainerMemory checks a container's memory settings after overrides.
func checkContainerMemory(c *w.ContainerDefinition) error {
	switch {
	case c.Memory != nil && *c.Memory < 4:
		return InvalidParameter.Errorf("The memory of container %s must be at least 4 MiB, got %d.", c.Name, *c.Memory)
	case c.MemoryReservation != nil && *c.MemoryReservation < 1:
		return InvalidParameter.Errorf("The memoryReservation of container %s must be positive, got %d.", c.Name, *c.MemoryReservation)
	case c.Memory != nil && c.MemoryReservation != nil && *c.Memory <= *c.MemoryReservation:
		return InvalidParameter.Errorf("The memory of container %s (%d MiB) must be greater than its memoryReservation (%d MiB).", c.Name, *c.Memory, *c.MemoryReservation)
	}
	return nil
}

// asInvalidParameter turns a problem found by the task definition checks
// (a ClientException) into the InvalidParameterException of a request.
func asInvalidParameter(what string, err error) error {
	var ae *awsapi.Error
	if errors.As(err, &ae) && ae.Code == ClientException {
		return InvalidParameter.Errorf("Invalid %s: %s", what, ae.Message)
	}
	return err
}

// demand is what one task holds of its instance while it is not STOPPED.
type demand struct {
	cpu, memory     int32
	ports, portsUDP []string // static host ports
}

// taskDemand computes what a task of td needs: the task cpu if set, else
// the sum of its containers'; the task memory if set, else the sum of each
// container's memoryReservation, or memory without one; the static host
// ports of its port mappings (dynamic ones, host port 0, are chosen by the
// agent and not reserved, as in ECS).
func taskDemand(td *w.TaskDefinition) demand {
	var d demand
	if n, err := strconv.Atoi(td.Cpu); err == nil && n > 0 {
		d.cpu = int32(n)
	}
	if n, err := strconv.Atoi(td.Memory); err == nil && n > 0 {
		d.memory = int32(n)
	}
	var cpu, mem int32
	for _, c := range td.ContainerDefinitions {
		cpu += c.Cpu
		switch {
		case c.MemoryReservation != nil:
			mem += *c.MemoryReservation
		case c.Memory != nil:
			mem += *c.Memory
		}
		if td.NetworkMode == modeNone {
			continue
		}
		for _, pm := range c.PortMappings {
			if pm.HostPort == nil || *pm.HostPort == 0 {
				continue
			}
			p := strconv.Itoa(int(*pm.HostPort))
			if pm.Protocol == "udp" {
				d.portsUDP = append(d.portsUDP, p)
			} else {
				d.ports = append(d.ports, p)
			}
		}
	}
	if d.cpu == 0 {
		d.cpu = cpu
	}
	if d.memory == 0 {
		d.memory = mem
	}
	return d
}

// String describes a demand for messages.
func (d demand) String() string {
	return fmt.Sprintf("%d CPU units, %d MiB, ports %v/tcp %v/udp", d.cpu, d.memory, d.ports, d.portsUDP)
}

// maxRunnableBytes bounds the task definition a task runs, as JSON with its
// overrides applied: what RegisterTaskDefinition accepts, what registration
// adds (ARN, status, compatibilities, required attributes) and the
// overrides. Only a revision stored before the limit existed can exceed it.
const maxRunnableBytes = maxTaskDefinitionBytes + 8<<10 + maxOverridesLength

// runnableSize measures the definition a task would run, and refuses one
// larger than ECS ever registers: every task's assignment carries it, and
// placements are committed in bounded transactions.
func runnableSize(def *w.TaskDefinition) (int, error) {
	b, err := json.Marshal(def)
	if err != nil {
		return 0, err
	}
	if len(b) > maxRunnableBytes {
		return 0, withHint(ClientException.Errorf("Actual length: '%d'. Max allowed length is '%d' bytes.", len(b), maxTaskDefinitionBytes),
			"%s was stored before Gantry enforced ECS's 64 KiB limit; register a smaller revision", def.TaskDefinitionArn)
	}
	return len(b), nil
}
