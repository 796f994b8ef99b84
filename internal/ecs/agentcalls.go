package ecs

import (
	"context"
	"errors"

	"github.com/gantry-dev/gantry/internal/awsapi"
	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/state"
	w "github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// The ECS actions that concern an instance's agent or a session into a
// container: DiscoverPollEndpoint answers where agents poll (the endpoint
// the caller reached: one listener serves everything); UpdateContainerAgent
// and ExecuteCommand are refused, each with the reason in the server log.

func (s *Service) agentCallActions(m awsapi.Model) map[string]awsapi.Handler {
	return map[string]awsapi.Handler{
		"DiscoverPollEndpoint": awsapi.Action(m, s.DiscoverPollEndpoint),
		"UpdateContainerAgent": awsapi.Action(m, s.UpdateContainerAgent),
		"ExecuteCommand":       awsapi.Action(m, s.ExecuteCommand),
	}
}

// DiscoverPollEndpoint tells an agent where to poll for work, send its
// telemetry and reach Service Connect: all three are the listener the
// request reached.
func (s *Service) DiscoverPollEndpoint(ctx context.Context, in *w.DiscoverPollEndpointRequest) (*w.DiscoverPollEndpointResponse, error) {
	sc := s.scope(ctx)
	if _, err := sc.clusterName(in.Cluster); err != nil {
		return nil, err
	}
	ep := sc.Endpoint
	return &w.DiscoverPollEndpointResponse{Endpoint: ep, TelemetryEndpoint: ep, ServiceConnectEndpoint: ep}, nil
}

// NoUpdateAvailable and TargetNotConnected are the model's exceptions for
// the two refusals below.
var (
	NoUpdateAvailable  = awsapi.ClientCode("NoUpdateAvailableException")
	TargetNotConnected = awsapi.ClientCode("TargetNotConnectedException")
)

// UpdateContainerAgent checks the cluster and the instance, then answers
// that no update is available: a Gantry agent is the gantry binary,
// updated by replacing it on the host and restarting `gantry agent`.
func (s *Service) UpdateContainerAgent(ctx context.Context, in *w.UpdateContainerAgentRequest) (*w.UpdateContainerAgentResponse, error) {
	sc := s.scope(ctx)
	name, err := sc.requireCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	id, _, ok, err := sc.instanceRef(name, in.ContainerInstance)
	if err != nil {
		return nil, err
	}
	if ok {
		var ci model.ContainerInstance
		if _, err := sc.st.Get(ctx, model.InstanceKey(name, id), &ci); errors.Is(err, state.ErrNotFound) {
			ok = false
		} else if err != nil {
			return nil, err
		}
	}
	if !ok {
		return nil, InvalidParameter.Errorf("The referenced container instance was not found.")
	}
	return nil, NoUpdateAvailable.Errorf("There is no update available for this container agent: a Gantry agent is updated by replacing the gantry binary on its host and restarting `gantry agent`, which re-adopts its running tasks.")
}

// ExecuteCommand checks the cluster and the task, then answers as ECS does
// for a task run without execute command enabled: Gantry runs no ECS Exec
// agent (SSM) in tasks, so none ever is. The server log says what to use
// instead.
func (s *Service) ExecuteCommand(ctx context.Context, in *w.ExecuteCommandRequest) (*w.ExecuteCommandResponse, error) {
	sc := s.scope(ctx)
	name, err := sc.requireCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	id, _, ok, err := sc.taskRef(name, in.Task)
	if err != nil {
		return nil, err
	}
	if ok {
		if n, err := sc.st.Count(ctx, model.TaskKey(name, id)); err != nil {
			return nil, err
		} else if n == 0 {
			ok = false
		}
	}
	if !ok {
		return nil, errTaskNotFound()
	}
	s.log.Info("ExecuteCommand refused: Gantry runs no ECS Exec (SSM) agent in tasks; run `docker exec` on the task's container instance instead",
		"cluster", name, "task", id, "container", in.Container)
	return nil, TargetNotConnected.Errorf("The execute command failed because execute command was not enabled when the task was run or the execute command agent isn't running. Wait and try again or run a new task with execute command enabled and try again.")
}
