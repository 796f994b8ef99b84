package server

import (
	"context"
	"log/slog"

	"github.com/gantry-dev/gantry/internal/awsapi"
	"github.com/gantry-dev/gantry/internal/ecs"
	"github.com/gantry-dev/gantry/internal/metrics"
	"github.com/gantry-dev/gantry/internal/state"
)

// newMetrics builds the collectors of /metrics: the census of tasks and
// instances comes from the ECS operations (built after the metrics, since
// they count placements into them), the probe reads the store.
func newMetrics(store *state.Store, ops func() *ecs.Service, log *slog.Logger) *metrics.Metrics {
	return metrics.New(metrics.Config{
		Census: func(ctx context.Context) (metrics.Counts, error) {
			c, err := ops().Census(ctx)
			return metrics.Counts{TasksByStatus: c.TasksByStatus, Instances: c.Instances, AgentsConnected: c.AgentsConnected}, err
		},
		Probe: func(ctx context.Context) error {
			_, err := store.Count(ctx, "scopes/")
			return err
		},
		Logger: log,
	})
}

// knowTargets tells the metrics which targets name an action, so that only
// those become labels: "<X-Amz-Target prefix>.<action>" for JSON services,
// "<signing name>.<Action>" for Query ones.
func knowTargets(m *metrics.Metrics, services []*awsapi.Service, query []*awsapi.QueryService) {
	known := map[string]bool{}
	for _, s := range services {
		for action := range s.Actions {
			known[s.TargetPrefix+"."+action] = true
		}
	}
	for _, s := range query {
		for action := range s.Actions {
			known[s.SigningName+"."+action] = true
		}
	}
	m.SetKnownTargets(func(target string) bool { return known[target] })
}
