package ecs

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/awsapi"
	"github.com/gantry-dev/gantry/internal/state"
	"github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// Options are the settings of the ECS operations that are not part of the
// API: how long an agent may stay silent, how long stopped tasks are kept.
type Options struct {
	// AgentTimeout is how long after its last poll an instance's agent is
	// still connected (agentConnected); tasks are placed only on instances
	// with a connected agent.
	AgentTimeout time.Duration
	// AgentLostAfter is how long an agent may stay silent before the service
	// controller replaces its instance's service tasks (0: the reconcile
	// step's default, 3 minutes).
	AgentLostAfter time.Duration
	// StoppedTaskRetention is how long a STOPPED task stays describable
	// before Purge removes it (ECS keeps them at least an hour).
	StoppedTaskRetention time.Duration
	// TokenRetention is how long a RunTask clientToken is remembered.
	TokenRetention time.Duration
	// OnPlaced, when set, is told how many tasks each placement committed
	// (the server's metrics count them).
	OnPlaced func(n int)
}

// DefaultOptions returns the options of a production control plane.
func DefaultOptions() Options {
	return Options{AgentTimeout: 30 * time.Second, StoppedTaskRetention: time.Hour, TokenRetention: 24 * time.Hour}
}

// Service runs the ECS operations against a store.
type Service struct {
	store *state.Store
	log   *slog.Logger
	now   func() time.Time
	opts  Options

	// beats remembers when this process last wrote each instance's
	// heartbeat, so that polls write it at most every heartbeatWrite.
	beats sync.Map // scope + instance key -> time.Time
	// scopes remembers the account/region scopes this process has
	// registered for the purge (see registerScope).
	scopes sync.Map // account/region -> struct{}
	// placers queues each cluster's placements for its committer.
	placers committers
	// hubs follow the assignments of the clusters agents poll
	// (assignhub.go).
	hubs assignHubs
	// infos caches, by task definition ARN, what reports need of a task
	// definition's containers (reportbatch.go); revisions never change.
	infos sync.Map // ARN -> map[string]containerInfo
	// stopping is closed by Close: long polls answer at once.
	stopping  chan struct{}
	closeOnce sync.Once
}

// New returns the ECS operations over store, with the default options.
func New(store *state.Store, log *slog.Logger) *Service {
	return NewWithOptions(store, log, DefaultOptions())
}

// NewWithOptions returns the ECS operations over store; zero options take
// their defaults.
func NewWithOptions(store *state.Store, log *slog.Logger, opts Options) *Service {
	def := DefaultOptions()
	if opts.AgentTimeout <= 0 {
		opts.AgentTimeout = def.AgentTimeout
	}
	if opts.StoppedTaskRetention <= 0 {
		opts.StoppedTaskRetention = def.StoppedTaskRetention
	}
	if opts.TokenRetention <= 0 {
		opts.TokenRetention = def.TokenRetention
	}
	return &Service{store: store, log: log, now: time.Now, opts: opts, stopping: make(chan struct{})}
}

// Close makes pending long polls answer at once; call it before shutting
// the HTTP server down, so that shutdown does not wait for them.
func (s *Service) Close() {
	s.closeOnce.Do(func() { close(s.stopping) })
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
		s.taskActions(m),
		s.taskStateActions(m),
		s.serviceActions(m),
		s.deploymentActions(m),
		s.taskProtectionActions(m),
		s.agentCallActions(m),
	} {
		maps.Copy(actions, group)
	}
	for name, h := range actions {
		actions[name] = s.answer(name, h)
	}
	return &awsapi.Service{TargetPrefix: ecswire.TargetPrefix, SigningName: "ecs", Actions: actions}
}

// answer wraps an action's handler: a response gets the lists ECS always
// writes (fillLists); a refusal that carries Gantry's advice beside AWS's
// fixed message (see withHint) logs the advice.
func (s *Service) answer(action string, h awsapi.Handler) awsapi.Handler {
	return func(ctx context.Context, body []byte) (any, error) {
		out, err := h(ctx, body)
		if err != nil {
			var he *hintedError
			if errors.As(err, &he) {
				s.log.LogAttrs(ctx, slog.LevelInfo, "ecs request refused", slog.String("action", action),
					slog.String("error", he.err.Code.Name), slog.String("message", he.err.Message), slog.String("hint", he.hint))
			}
			return nil, err
		}
		fillLists(out)
		return out, nil
	}
}
