package ecs

import (
	"log/slog"
	"maps"
	"time"

	"github.com/gantry-dev/gantry/internal/awsapi"
	"github.com/gantry-dev/gantry/internal/state"
	"github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// Service runs the ECS operations against a store.
type Service struct {
	store *state.Store
	log   *slog.Logger
	now   func() time.Time
}

// New returns the ECS operations over store.
func New(store *state.Store, log *slog.Logger) *Service {
	return &Service{store: store, log: log, now: time.Now}
}

// API returns the ECS action table for the edge: each entry maps an action
// name to its operation. Each resource file contributes its own entries.
func (s *Service) API() *awsapi.Service {
	m := awsapi.Model{Enums: ecswire.Enums, InvalidParameter: InvalidParameter}
	actions := map[string]awsapi.Handler{}
	for _, group := range []map[string]awsapi.Handler{
		s.clusterActions(m),
		s.taskDefinitionActions(m),
		s.instanceActions(m),
		s.attributeActions(m),
		s.tagActions(m),
		s.settingActions(m),
	} {
		maps.Copy(actions, group)
	}
	return &awsapi.Service{TargetPrefix: ecswire.TargetPrefix, Actions: actions}
}
