package agent

import (
	"context"
	"sync"
	"time"
)

// runtimeGate is what the agent knows of its container runtime's health.
// While the runtime does not answer, the agent does not poll: an instance
// whose agent cannot reach Docker must not look healthy. The ECS agent
// reports such a host's container runtime IMPAIRED in its instance health;
// Gantry's control plane judges an instance by its polls, so the agent
// stops polling: after --agent-timeout the instance shows agentConnected
// false and placement sends it nothing, until Docker answers again. Reports
// of the tasks already there still go out.
type runtimeGate struct {
	mu     sync.Mutex
	down   bool
	up     chan struct{}      // closed when the runtime answers again
	cancel context.CancelFunc // ends the poll in flight
}

// RuntimeUnreachable says whether the container runtime did not answer the
// agent's last check.
func (a *Agent) RuntimeUnreachable() bool {
	a.gate.mu.Lock()
	defer a.gate.mu.Unlock()
	return a.gate.down
}

// watchRuntime checks every RuntimeCheckInterval that the runtime answers,
// and opens or closes the gate of the poll loop, saying so in the log.
func (a *Agent) watchRuntime(ctx context.Context) {
	every := a.cfg.RuntimeCheckInterval
	if every <= 0 || a.cfg.RuntimeName == "sim" {
		return
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		cctx, cancel := context.WithTimeout(ctx, max(every, 5*time.Second))
		_, err := a.rt.Info(cctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		g := &a.gate
		g.mu.Lock()
		switch {
		case err != nil && !g.down:
			g.down, g.up = true, make(chan struct{})
			if g.cancel != nil {
				g.cancel()
			}
			a.log.Error("the container runtime does not answer: this instance stops polling for tasks, so the control plane shows its agent disconnected and places nothing here, until the runtime answers again",
				"docker_host", a.cfg.DockerHost, "err", err)
		case err == nil && g.down:
			g.down = false
			close(g.up)
			a.log.Info("the container runtime answers again; polling for tasks resumes")
		}
		g.mu.Unlock()
	}
}

// pollContext waits until the runtime answers (or ctx ends) and returns the
// context of one poll, which ends if the runtime stops answering meanwhile.
func (a *Agent) pollContext(ctx context.Context) (context.Context, context.CancelFunc) {
	g := &a.gate
	for {
		g.mu.Lock()
		if !g.down {
			pctx, cancel := context.WithCancel(ctx)
			g.cancel = cancel
			g.mu.Unlock()
			return pctx, cancel
		}
		up := g.up
		g.mu.Unlock()
		select {
		case <-up:
		case <-ctx.Done():
			return ctx, func() {}
		}
	}
}
