package placement

import (
	"fmt"
	"strings"

	"github.com/gantry-dev/gantry/internal/placement/cql"
)

// Strategy types, as ECS names them.
const (
	Binpack = "binpack"
	Spread  = "spread"
	Random  = "random"
)

// Constraint types, as ECS names them.
const (
	DistinctInstance = "distinctInstance"
	MemberOf         = "memberOf"
)

// Limits ECS sets on a request.
const (
	MaxStrategies  = 5
	MaxConstraints = 10
)

// Fields of strategies, after normalisation.
const (
	FieldCPU        = "cpu"
	FieldMemory     = "memory"
	FieldInstanceID = "instanceId"
	attributePrefix = "attribute:"
)

// Strategy is one placement strategy. Field is normalised: cpu or memory
// for binpack; instanceId (host means the same) or attribute:<name> for
// spread; empty for random.
type Strategy struct {
	Type  string
	Field string
}

// String is the strategy as ECS writes it.
func (s Strategy) String() string {
	if s.Field == "" {
		return s.Type
	}
	return s.Type + "(" + s.Field + ")"
}

// ParseStrategy checks a placement strategy as RunTask, CreateService and
// UpdateService receive it, and normalises its field.
func ParseStrategy(typ, field string) (Strategy, error) {
	switch typ {
	case Binpack:
		switch strings.ToLower(field) {
		case FieldCPU:
			return Strategy{Binpack, FieldCPU}, nil
		case FieldMemory:
			return Strategy{Binpack, FieldMemory}, nil
		}
		return Strategy{}, fmt.Errorf("the field of a binpack strategy must be cpu or memory, not %q", field)
	case Spread:
		switch {
		case strings.EqualFold(field, FieldInstanceID), strings.EqualFold(field, "host"):
			return Strategy{Spread, FieldInstanceID}, nil
		case strings.HasPrefix(field, attributePrefix) && len(field) > len(attributePrefix):
			return Strategy{Spread, field}, nil
		}
		return Strategy{}, fmt.Errorf("the field of a spread strategy must be instanceId, host or attribute:<name>, not %q", field)
	case Random:
		return Strategy{Type: Random}, nil
	}
	return Strategy{}, fmt.Errorf("placement strategy type %q is not one of binpack, spread, random", typ)
}

// Constraint is one placement constraint: distinctInstance, or memberOf
// with its parsed expression.
type Constraint struct {
	Type string
	Expr *cql.Expr
}

// String is the constraint as ECS writes it.
func (c Constraint) String() string {
	if c.Expr == nil {
		return c.Type
	}
	return c.Type + "(" + c.Expr.String() + ")"
}

// ParseConstraint checks a placement constraint and parses its expression.
func ParseConstraint(typ, expr string) (Constraint, error) {
	switch typ {
	case DistinctInstance:
		if expr != "" {
			return Constraint{}, fmt.Errorf("a distinctInstance constraint takes no expression; remove %q", expr)
		}
		return Constraint{Type: DistinctInstance}, nil
	case MemberOf:
		if strings.TrimSpace(expr) == "" {
			return Constraint{}, fmt.Errorf("a memberOf constraint needs an expression in the cluster query language")
		}
		e, err := cql.Parse(expr)
		if err != nil {
			return Constraint{}, fmt.Errorf("invalid expression %q: %w", expr, err)
		}
		return Constraint{Type: MemberOf, Expr: e}, nil
	}
	return Constraint{}, fmt.Errorf("placement constraint type %q is not one of distinctInstance, memberOf", typ)
}

// Requirement is an attribute the task needs on its instance (the task
// definition's requiresAttributes): present, and equal to Value when
// HasValue.
type Requirement struct {
	Name     string
	Value    string
	HasValue bool
}

// Request is what to place: Count tasks alike.
type Request struct {
	// CPU and Memory are what one task reserves (CPU units, MiB).
	CPU, Memory int32
	// Ports and PortsUDP are the static host ports one task takes.
	Ports, PortsUDP []string
	// Group is the task group: spread strategies and distinctInstance count
	// the tasks of this group (service:<name> for a service's tasks).
	Group       string
	Requires    []Requirement
	Constraints []Constraint
	Strategies  []Strategy
	Count       int
}
