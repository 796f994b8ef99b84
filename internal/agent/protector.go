package agent

import (
	"context"
	"time"

	"github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// protector carries a task's scale-in protection calls from the metadata
// endpoint (ECS_AGENT_URI) to the control plane, signed with the agent's
// credentials, as the ECS agent does with its instance role.
type protector struct{ cl *client }

func (p protector) GetTaskProtection(ctx context.Context, in *ecswire.GetTaskProtectionRequest) (*ecswire.GetTaskProtectionResponse, error) {
	var out ecswire.GetTaskProtectionResponse
	err := p.cl.call(ctx, ecswire.TargetPrefix+".GetTaskProtection", in, &out, 20*time.Second)
	return &out, err
}

func (p protector) UpdateTaskProtection(ctx context.Context, in *ecswire.UpdateTaskProtectionRequest) (*ecswire.UpdateTaskProtectionResponse, error) {
	var out ecswire.UpdateTaskProtectionResponse
	err := p.cl.call(ctx, ecswire.TargetPrefix+".UpdateTaskProtection", in, &out, 20*time.Second)
	return &out, err
}
