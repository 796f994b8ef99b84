package ecs

import (
	"github.com/gantry-dev/gantry/internal/placement"
	w "github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// defaultRunTaskStrategies: RunTask without a placementStrategy places at
// random among the instances that can take the task. The ECS API names no
// default strategy for standalone tasks, and random is what a chain with
// nothing left to compare ends in; it also keeps concurrent standalone
// tasks from piling onto one host.
var defaultRunTaskStrategies []placement.Strategy

// placementRequest builds the scheduler's request for count tasks of spec,
// with the strategies and constraints given (or the defaults), and the
// task definition's own constraints and required attributes. Every error
// is an InvalidParameterException that says what to fix.
func placementRequest(spec *runSpec, count int, strategies []w.PlacementStrategy, constraints []w.PlacementConstraint, defaults []placement.Strategy) (placement.Request, error) {
	req := placement.Request{
		CPU: spec.need.cpu, Memory: spec.need.memory,
		Ports: spec.need.ports, PortsUDP: spec.need.portsUDP,
		Group: spec.group, Count: count, Strategies: defaults,
	}
	if len(strategies) > placement.MaxStrategies {
		return req, InvalidParameter.Errorf("placementStrategy may hold at most %d strategies; %d were given.", placement.MaxStrategies, len(strategies))
	}
	if len(strategies) > 0 {
		req.Strategies = make([]placement.Strategy, 0, len(strategies))
	}
	for i, st := range strategies {
		ps, err := placement.ParseStrategy(st.Type, st.Field)
		if err != nil {
			return req, InvalidParameter.Errorf("placementStrategy[%d]: %v.", i, err)
		}
		req.Strategies = append(req.Strategies, ps)
	}
	defConstraints := spec.merged.PlacementConstraints
	if n := len(constraints) + len(defConstraints); n > placement.MaxConstraints {
		return req, InvalidParameter.Errorf("A task can have at most %d placement constraints, counting the task definition's %d; %d were given.", placement.MaxConstraints, len(defConstraints), n)
	}
	for i, c := range constraints {
		pc, err := placement.ParseConstraint(c.Type, c.Expression)
		if err != nil {
			return req, InvalidParameter.Errorf("placementConstraints[%d]: %v.", i, err)
		}
		req.Constraints = append(req.Constraints, pc)
	}
	for i, c := range defConstraints {
		pc, err := placement.ParseConstraint(placement.MemberOf, c.Expression)
		if err != nil {
			return req, InvalidParameter.Errorf("The task definition's placementConstraints[%d]: %v.", i, err)
		}
		req.Constraints = append(req.Constraints, pc)
	}
	for _, a := range spec.def.Def.RequiresAttributes {
		req.Requires = append(req.Requires, placement.Requirement{Name: a.Name, Value: a.Value, HasValue: a.Value != ""})
	}
	return req, nil
}
