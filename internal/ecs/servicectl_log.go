package ecs

import (
	"log/slog"

	"github.com/gantry-dev/gantry/internal/model"
)

// logServiceWrite tells the operator, at INFO, what the service controller
// just wrote for a service: each event (the same text DescribeServices
// shows) and each deployment whose rollout state changed.
func (c *serviceController) logServiceWrite(ref serviceRef, before, after *model.Service, events []string) {
	attrs := func(more ...slog.Attr) []any {
		out := []any{slog.String("account", ref.account), slog.String("region", ref.region),
			slog.String("cluster", ref.cluster), slog.String("service", ref.name)}
		for _, a := range more {
			out = append(out, a)
		}
		return out
	}
	for _, msg := range events {
		c.s.log.Info("service event", attrs(slog.String("message", msg))...)
	}
	was := map[string]string{}
	for _, d := range before.Deployments {
		was[d.Id] = d.RolloutState
	}
	for _, d := range after.Deployments {
		if state := d.RolloutState; state != was[d.Id] {
			c.s.log.Info("deployment", attrs(slog.String("deployment", d.Id), slog.String("status", d.Status),
				slog.String("rollout_state", state), slog.String("task_definition", d.TaskDefinition),
				slog.Int("desired", int(d.DesiredCount)), slog.Int("running", int(d.RunningCount)))...)
		}
	}
	if after.Status != before.Status {
		c.s.log.Info("service status", attrs(slog.String("status", after.Status))...)
	}
}
