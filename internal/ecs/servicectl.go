package ecs

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/agentproto"
	"github.com/gantry-dev/gantry/internal/awsapi"
	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/placement"
	"github.com/gantry-dev/gantry/internal/reconcile"
	"github.com/gantry-dev/gantry/internal/state"
	w "github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// The service controller. It runs on one server at a time (the leader of
// an etcd election; see internal/server), keeps a mirror of the services,
// their tasks and the instances (servicectl_mirror.go), and reconciles a
// service whenever something it reads changes, when the plan asked to be
// looked at again (a grace period, a back-off), and every resync period.
// Reconciling is the pure internal/reconcile step; applying its plan
// (servicectl_apply.go) places tasks through the cluster's committer (the
// same no-over-commit transactions as RunTask), stops tasks, and writes
// the service's observed state (counts, deployments, events).

// Controller timing.
const (
	// serviceResync is how often every service is reconciled even if
	// nothing changed: time-based rules (disconnected agents) need it.
	serviceResync = 5 * time.Second
	// serviceDebounce gathers the changes of one burst into one reconcile.
	serviceDebounce = 20 * time.Millisecond
)

// serviceController is the state of one leadership term.
type serviceController struct {
	s       *Service
	m       *mirror
	dirty   map[serviceRef]bool
	requeue map[serviceRef]time.Time
	// lastPlacementError is the last placement failure event written per
	// service, so a service that cannot place says so once per cause.
	lastPlacementError map[serviceRef]string
	// healthChecked says, by task definition ARN (in a scope), whether its
	// essential containers have health checks: then a task is healthy only
	// once it reports HEALTHY. Revisions never change, so it is kept.
	healthChecked map[string]bool
	// views are the clusters' placement views as daemon services last read
	// them, refreshed by a keys-only read (only changed records are read
	// again). They are only read, never placed on.
	views map[clusterRef]*placementView
}

// RunServiceController runs the service controller until ctx ends. Call it
// only while leading the services election.
func (s *Service) RunServiceController(ctx context.Context) error {
	c := &serviceController{s: s, m: newMirror(), dirty: map[serviceRef]bool{}, requeue: map[serviceRef]time.Time{},
		lastPlacementError: map[serviceRef]string{}, healthChecked: map[string]bool{}, views: map[clusterRef]*placementView{}}
	rev, err := c.m.load(ctx, s.store)
	if err != nil {
		return fmt.Errorf("service controller: load: %w", err)
	}
	for ref := range c.m.services {
		c.dirty[ref] = true
	}
	events := s.store.Watch(ctx, "", rev)
	resync := time.NewTicker(serviceResync)
	defer resync.Stop()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		if len(c.dirty) > 0 {
			// Let the rest of a burst of changes arrive first.
			timer := time.NewTimer(serviceDebounce)
		gather:
			for {
				select {
				case evs, ok := <-events:
					if !ok {
						timer.Stop()
						return c.watchEnded(ctx)
					}
					c.fold(evs)
				case <-timer.C:
					break gather
				}
			}
			c.reconcileDirty(ctx)
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case evs, ok := <-events:
			if !ok {
				return c.watchEnded(ctx)
			}
			c.fold(evs)
		case <-tick.C:
			now := s.now()
			for ref, at := range c.requeue {
				if !now.Before(at) {
					delete(c.requeue, ref)
					c.dirty[ref] = true
				}
			}
		case <-resync.C:
			for ref := range c.m.services {
				c.dirty[ref] = true
			}
		}
	}
}

func (c *serviceController) watchEnded(ctx context.Context) error {
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("service controller: the watch ended")
}

// fold applies a batch of changes to the mirror and marks the services
// they concern.
func (c *serviceController) fold(evs []state.Event) {
	for _, ev := range evs {
		for _, ref := range c.m.apply(ev) {
			c.dirty[ref] = true
		}
	}
}

// reconcileDirty reconciles every service marked, in a stable order.
func (c *serviceController) reconcileDirty(ctx context.Context) {
	refs := make([]serviceRef, 0, len(c.dirty))
	for ref := range c.dirty {
		refs = append(refs, ref)
	}
	clear(c.dirty)
	slices.SortFunc(refs, func(a, b serviceRef) int {
		return strings.Compare(a.account+a.region+a.cluster+"/"+a.name, b.account+b.region+b.cluster+"/"+b.name)
	})
	for _, ref := range refs {
		if ctx.Err() != nil {
			return
		}
		if err := c.reconcileOne(ctx, ref); err != nil && ctx.Err() == nil {
			c.s.log.Warn("reconcile service", "service", ref.name, "cluster", ref.cluster, "err", err)
			c.requeue[ref] = c.s.now().Add(time.Second)
		}
	}
}

// scopeOf is the scope a cluster's operations run in.
func (c *serviceController) scopeOf(cr clusterRef) scope {
	return scope{Caller: awsapi.Caller{Account: cr.account, Region: cr.region}, st: c.s.store.Sub(cr.scopePath())}
}

// reconcileOne runs the reconcile step of one service and applies its plan.
func (c *serviceController) reconcileOne(ctx context.Context, ref serviceRef) error {
	ms := c.m.services[ref]
	if ms == nil {
		delete(c.requeue, ref)
		return nil
	}
	now := c.s.now()
	in := reconcile.Input{
		Now:             now,
		Service:         toReconcileService(ms.rec),
		NewDeploymentID: newDeploymentID(),
		AgentLostAfter:  c.s.opts.AgentLostAfter,
	}
	for _, t := range c.m.tasks[ref.clusterRef] {
		if t.service == ref.name {
			rt := t.rt
			rt.HealthChecked = c.checksHealth(ctx, ref.clusterRef, t.taskDefinition)
			in.Tasks = append(in.Tasks, rt)
		}
	}
	slices.SortFunc(in.Tasks, func(a, b reconcile.Task) int { return strings.Compare(a.ID, b.ID) })
	insts, err := c.instancesFor(ctx, ref, ms.rec, now)
	if err != nil {
		return err
	}
	in.Instances = insts
	plan := reconcile.Reconcile(in)
	if plan.Requeue > 0 {
		c.requeue[ref] = now.Add(plan.Requeue)
	}
	return c.apply(ctx, ref, ms, plan)
}

// checksHealth says whether tasks of the task definition have health
// checks on an essential container (false when it cannot be read).
func (c *serviceController) checksHealth(ctx context.Context, cr clusterRef, td string) bool {
	key := cr.scopePath() + " " + td
	if v, ok := c.healthChecked[key]; ok {
		return v
	}
	def, err := c.scopeOf(cr).resolveTaskDefinition(ctx, td)
	if err != nil {
		return false
	}
	v := slices.ContainsFunc(def.Def.ContainerDefinitions, func(cd w.ContainerDefinition) bool {
		return cd.HealthCheck != nil && (cd.Essential == nil || *cd.Essential)
	})
	c.healthChecked[key] = v
	return v
}

// toReconcileService is the reconcile step's view of a service record.
func toReconcileService(rec *model.Service) reconcile.Service {
	svc := reconcile.Service{
		Name:          rec.ServiceName,
		Status:        rec.Status,
		Scheduling:    rec.SchedulingStrategy,
		DesiredCount:  int(rec.DesiredCount),
		StartFailures: int(rec.Gantry.StartFailures),
	}
	if svc.Scheduling == "" {
		svc.Scheduling = model.SchedulingReplica
	}
	svc.MaxPercent, svc.MinHealthyPercent = 200, 100
	if svc.Scheduling == model.SchedulingDaemon {
		svc.MaxPercent, svc.MinHealthyPercent = 100, 0
	}
	if dc := rec.DeploymentConfiguration; dc != nil {
		if dc.MaximumPercent != nil {
			svc.MaxPercent = int(*dc.MaximumPercent)
		}
		if dc.MinimumHealthyPercent != nil {
			svc.MinHealthyPercent = int(*dc.MinimumHealthyPercent)
		}
		if cb := dc.DeploymentCircuitBreaker; cb != nil {
			svc.CircuitBreaker, svc.Rollback = cb.Enable, cb.Rollback
		}
	}
	if rec.HealthCheckGracePeriodSeconds != nil {
		svc.HealthCheckGrace = time.Duration(*rec.HealthCheckGracePeriodSeconds) * time.Second
	}
	if lc := rec.Gantry.LastCompleted; lc != nil {
		svc.LastCompleted = &reconcile.Completed{ID: lc.ID, TaskDefinition: lc.TaskDefinition}
	}
	if rec.Gantry.NextStartAt > 0 {
		svc.NextStartAt = time.UnixMilli(rec.Gantry.NextStartAt)
	}
	if rec.Gantry.SteadySince > 0 {
		svc.SteadySince = time.UnixMilli(rec.Gantry.SteadySince)
	}
	for _, d := range rec.Deployments {
		svc.Deployments = append(svc.Deployments, reconcile.Deployment{
			ID: d.Id, Status: d.Status, TaskDefinition: d.TaskDefinition,
			RolloutState: d.RolloutState, RolloutStateReason: d.RolloutStateReason,
			DesiredCount: int(d.DesiredCount), PendingCount: int(d.PendingCount), RunningCount: int(d.RunningCount), FailedTasks: int(d.FailedTasks),
			CreatedAt: timeOf(d.CreatedAt), UpdatedAt: timeOf(d.UpdatedAt),
			RollbackOf: rec.Gantry.Deployments[d.Id].RollbackOf,
		})
	}
	return svc
}

// disconnectedFor is how long an agent whose last heartbeat was at beat
// (unix ms, 0 for none) has been silent at now, 0 while it is connected.
func (s *Service) disconnectedFor(beat int64, now time.Time) time.Duration {
	if s.connected(beat, now) {
		return 0
	}
	if beat == 0 {
		return s.opts.AgentTimeout
	}
	return now.Sub(time.UnixMilli(beat))
}

// instancesFor lists the cluster's instances as the reconcile step sees
// them. Eligible (a daemon service's task goes there) is read from a
// placement snapshot for daemon services: ACTIVE, connected and meeting
// the service's constraints and the task definition's requirements.
func (c *serviceController) instancesFor(ctx context.Context, ref serviceRef, rec *model.Service, now time.Time) ([]reconcile.Instance, error) {
	beats := c.m.beats[ref.clusterRef]
	others := map[string]int{} // live tasks of other services, by instance
	for _, t := range c.m.tasks[ref.clusterRef] {
		if t.service != ref.name && t.rt.LastStatus != agentproto.StatusStopped {
			others[t.rt.Instance]++
		}
	}
	var out []reconcile.Instance
	for id, mi := range c.m.instances[ref.clusterRef] {
		out = append(out, reconcile.Instance{ID: id, Status: mi.status, Connected: c.s.connected(beats[id], now),
			DisconnectedFor: c.s.disconnectedFor(beats[id], now), ReplicaTasks: others[id]})
	}
	slices.SortFunc(out, func(a, b reconcile.Instance) int { return strings.Compare(a.ID, b.ID) })
	if rec.SchedulingStrategy != model.SchedulingDaemon || rec.Status != model.ServiceActive {
		return out, nil
	}
	sc := c.scopeOf(ref.clusterRef)
	spec, err := c.serviceSpec(ctx, sc, ref, rec, primaryTaskDefinition(rec), "")
	if err != nil {
		return out, nil // the deployment's task definition is gone: nothing is eligible
	}
	req, err := placementRequest(spec, 1, nil, rec.PlacementConstraints, nil)
	if err != nil {
		return out, nil
	}
	v, err := c.s.readPlacementView(ctx, sc.st, ref.cluster, c.views[ref.clusterRef])
	if err != nil {
		delete(c.views, ref.clusterRef)
		return nil, err
	}
	c.views[ref.clusterRef] = v
	snap := placement.NewSnapshot(c.s.schedulerInstances(v, now))
	for k := range out {
		i, ok := v.index[out[k].ID]
		if !ok {
			continue
		}
		out[k].Eligible = snap.Admits(i, &req) == ""
	}
	return out, nil
}
