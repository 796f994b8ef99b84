package ecs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/agentproto"
	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/placement"
	"github.com/gantry-dev/gantry/internal/reconcile"
	"github.com/gantry-dev/gantry/internal/state"
	"github.com/gantry-dev/gantry/internal/wire"
	w "github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// Applying a plan: stop, shrink, start, then write what the service now
// is. Every task started or stopped is folded into the mirror at once, so
// the next reconcile sees it even before its etcd event arrives.

// stopCodeScheduler is the stop code of tasks the service scheduler stops;
// the reconcile step tells them from failures by it.
const stopCodeScheduler = reconcile.StopCodeScheduler

// maxStartBatch bounds the tasks of one placement job: at most 100, and
// few enough that the job fits in one transaction of the store (four
// writes a task; an external etcd takes 128 operations by default).
func maxStartBatch(st *state.Store) int { return max(1, min(100, (st.MaxTxnOps()-8)/4)) }

// defaultServiceStrategies: a service without a placementStrategy spreads
// over availability zones, as ECS documents for services, then over
// instances, so that a zone's tasks do not pile onto one host.
var defaultServiceStrategies = []placement.Strategy{
	{Type: placement.Spread, Field: "attribute:ecs.availability-zone"},
	{Type: placement.Spread, Field: placement.FieldInstanceID},
}

func (c *serviceController) apply(ctx context.Context, ref serviceRef, ms *mirroredService, plan reconcile.Plan) error {
	sc := c.scopeOf(ref.clusterRef)
	rec := ms.rec
	var events []string
	var stopped []string
	stop := func(stops []reconcile.Stop) error {
		ids, err := c.stopAll(ctx, sc, ref, stops)
		stopped = append(stopped, ids...)
		return err
	}
	if err := stop(plan.Stop); err != nil {
		return err
	}
	// Each Shrink chooses among the tasks still live in the mirror, so
	// the stops before it are noted first.
	for _, sh := range plan.Shrink {
		var stops []reconcile.Stop
		ids, err := c.chooseToStop(ctx, sc, ref, rec, sh.Deployment, sh.Count)
		if err != nil {
			return err
		}
		for _, id := range ids {
			stops = append(stops, reconcile.Stop{Task: id, Reason: sh.Reason})
		}
		if err := stop(stops); err != nil {
			return err
		}
	}
	if len(stopped) > 0 {
		events = append(events, fmt.Sprintf("(service %s) has stopped %d running tasks: %s.", ref.name, len(stopped), taskList(stopped)))
	}
	var started []string
	for _, st := range plan.Start {
		td := deploymentTaskDefinition(plan.Service, st.Deployment)
		ids, failure, err := c.start(ctx, sc, ref, rec, td, st)
		if err != nil {
			return err
		}
		started = append(started, ids...)
		if failure != "" && c.lastPlacementError[ref] != failure {
			events = append(events, failure)
		}
		c.lastPlacementError[ref] = failure
		if failure != "" {
			c.requeue[ref] = c.s.now().Add(2 * time.Second)
		}
	}
	if len(started) > 0 {
		events = append(events, fmt.Sprintf("(service %s) has started %d tasks: %s.", ref.name, len(started), taskList(started)))
	}
	return c.writeService(ctx, ref, ms, plan, events)
}

// stopConcurrency bounds the stops of one plan in flight at once. A stop
// is a read and a transaction on the task's own records (the task and its
// assignment), so stops do not conflict with each other, and etcd syncs
// the transactions of concurrent writers together. (Immediate stops, for a
// lost agent, also give the reservation back on the instance: those on one
// instance may conflict and retry, as concurrent StopTask calls do.) One
// at a time, a rolling update of 1,000 tasks spent about 4 s stopping the
// old ones (docs/benchmarks.md, Services).
const stopConcurrency = 16

// stopAll stops the tasks with the scheduler's stop code, up to
// stopConcurrency at a time, folds each task it stopped into the mirror,
// and returns their ids in the order given (a task already gone is left
// out). On errors, what did stop is still noted and the first error is
// returned.
func (c *serviceController) stopAll(ctx context.Context, sc scope, ref serviceRef, stops []reconcile.Stop) ([]string, error) {
	tasks := make([]*model.Task, len(stops))
	errs := make([]error, len(stops))
	sem := make(chan struct{}, stopConcurrency)
	var wg sync.WaitGroup
	for i, st := range stops {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			tasks[i], errs[i] = c.s.stopTask(ctx, sc, ref.cluster, st.Task, stopCodeScheduler, st.Reason, st.Immediately)
		})
	}
	wg.Wait()
	var ids []string
	for i, t := range tasks {
		if errs[i] != nil || t == nil {
			continue
		}
		c.note(ref.clusterRef, t)
		ids = append(ids, stops[i].Task)
	}
	for _, err := range errs {
		if err != nil && !errors.Is(err, state.ErrNotFound) {
			return ids, err
		}
	}
	return ids, nil
}

// taskList names up to ten tasks as ECS events do: (task <id>) ...
func taskList(ids []string) string {
	var b strings.Builder
	for i, id := range ids {
		if i == 10 {
			fmt.Fprintf(&b, " and %d more", len(ids)-10)
			break
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("(task " + id + ")")
	}
	return b.String()
}

// note folds a task the controller just wrote into the mirror.
func (c *serviceController) note(cr clusterRef, t *model.Task) {
	raw, err := json.Marshal(t)
	if err != nil {
		return
	}
	c.m.apply(state.Event{Item: state.Item{Key: cr.scopePath() + "/tasks/" + cr.cluster + "/" + lastSegment(t.TaskArn), Value: raw}})
}

// deploymentTaskDefinition is the task definition of a deployment of svc.
func deploymentTaskDefinition(svc reconcile.Service, id string) string {
	for _, d := range svc.Deployments {
		if d.ID == id {
			return d.TaskDefinition
		}
	}
	return ""
}

// primaryTaskDefinition is the task definition of the service's PRIMARY
// deployment (the service's own if it has none).
func primaryTaskDefinition(rec *model.Service) string {
	for _, d := range rec.Deployments {
		if d.Status == model.DeploymentPrimary {
			return d.TaskDefinition
		}
	}
	return rec.TaskDefinition
}

// serviceSpec is what each task of a deployment of the service is.
func (c *serviceController) serviceSpec(ctx context.Context, sc scope, ref serviceRef, rec *model.Service, td, deployment string) (*runSpec, error) {
	p := runParams{taskDefinition: td, group: model.ServiceGroup(ref.name), startedBy: deployment, managedTags: rec.EnableECSManagedTags}
	if rec.PropagateTags == "TASK_DEFINITION" {
		p.propagateTags = "TASK_DEFINITION"
	}
	spec, err := sc.buildSpec(ctx, ref.cluster, p)
	if err != nil {
		return nil, err
	}
	if rec.PropagateTags == "SERVICE" {
		spec.tags = mergeTags(slices.Clone(rec.Tags), spec.tags)
	}
	return spec, nil
}

// start places the tasks of one Start of the plan through the cluster's
// committer and returns their ids and, if some could not be placed, the
// event that says why.
func (c *serviceController) start(ctx context.Context, sc scope, ref serviceRef, rec *model.Service, td string, st reconcile.Start) ([]string, string, error) {
	spec, err := c.serviceSpec(ctx, sc, ref, rec, td, st.Deployment)
	if err != nil {
		return nil, fmt.Sprintf("(service %s) was unable to start tasks of %s: %v", ref.name, td, err), nil
	}
	var ids []string
	var failures []w.Failure
	batch := maxStartBatch(sc.st)
	place := func(n int, only []string) error {
		req, err := placementRequest(spec, n, rec.PlacementStrategy, rec.PlacementConstraints, defaultServiceStrategies)
		if err != nil {
			return err
		}
		tasks, fs, err := c.s.place(ctx, &placeJob{sc: sc, spec: spec, req: req, only: only})
		if err != nil {
			return err
		}
		for _, t := range tasks {
			c.note(ref.clusterRef, t)
			ids = append(ids, lastSegment(t.TaskArn))
		}
		failures = append(failures, fs...)
		return nil
	}
	if len(st.Instances) > 0 {
		for k := 0; k < len(st.Instances); k += batch {
			if err := place(0, st.Instances[k:min(k+batch, len(st.Instances))]); err != nil {
				return ids, "", err
			}
		}
	}
	left := st.Count
	if len(st.Instances) > 0 {
		left = 0 // a daemon's Count is len(Instances), placed above
	}
	for left > 0 {
		n := min(left, batch)
		before := len(ids)
		if err := place(n, nil); err != nil {
			return ids, "", err
		}
		left -= n
		if len(ids)-before < n {
			break // what did not fit now will not fit in the next batch
		}
	}
	if len(failures) == 0 {
		return ids, "", nil
	}
	f := failures[0]
	return ids, fmt.Sprintf("(service %s) was unable to place a task because no container instance met all of its requirements. The closest matching (container-instance %s) encountered error \"%s\". For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.",
		ref.name, lastSegment(f.Arn), f.Reason), nil
}

// chooseToStop picks n live tasks of a deployment to stop, as ECS scales
// in (placement.ChooseToStop): tasks not yet RUNNING first, then by the
// service's strategies (spread keeps the balance, binpack frees the
// instance left with the most resources).
func (c *serviceController) chooseToStop(ctx context.Context, sc scope, ref serviceRef, rec *model.Service, deployment string, n int) ([]string, error) {
	v, err := c.s.readPlacementView(ctx, sc.st, ref.cluster, nil)
	if err != nil {
		return nil, err
	}
	snap := placement.NewSnapshot(c.s.schedulerInstances(v, c.s.now()))
	// The balance counts the service's tasks still meant to run, from the
	// mirror: the instances' loads still count tasks that are stopping.
	group := model.ServiceGroup(ref.name)
	for i := range snap.Instances {
		snap.Instances[i].TaskGroups[group] = 0
	}
	var victims []placement.Victim
	for _, t := range c.m.tasks[ref.clusterRef] {
		if t.service != ref.name || t.rt.DesiredStatus == agentproto.StatusStopped || t.rt.LastStatus == agentproto.StatusStopped {
			continue
		}
		i, ok := v.index[t.rt.Instance]
		if !ok {
			i = -1
		} else {
			snap.Instances[i].TaskGroups[group]++
		}
		if t.rt.Deployment == deployment && !c.s.now().Before(t.rt.ProtectedUntil) {
			victims = append(victims, placement.Victim{ID: t.rt.ID, Instance: i, Running: t.rt.LastStatus == agentproto.StatusRunning})
		}
	}
	strategies := defaultServiceStrategies
	if len(rec.PlacementStrategy) > 0 {
		strategies = nil
		for _, st := range rec.PlacementStrategy {
			if ps, err := placement.ParseStrategy(st.Type, st.Field); err == nil {
				strategies = append(strategies, ps)
			}
		}
	}
	return snap.ChooseToStop(victims, group, strategies, n), nil
}

// writeService writes the service's observed state after the plan, if it
// changed and nobody changed the service since it was read; a service the
// plan made INACTIVE moves to the inactive keys.
func (c *serviceController) writeService(ctx context.Context, ref serviceRef, ms *mirroredService, plan reconcile.Plan, events []string) error {
	now := c.s.now()
	next := *ms.rec
	fromPlan(&next, plan.Service, now)
	all := append(slices.Clone(plan.Events), events...)
	if len(all) > 0 {
		fresh := make([]w.ServiceEvent, 0, len(all))
		for i := len(all) - 1; i >= 0; i-- {
			fresh = append(fresh, w.ServiceEvent{Id: newUUID(), CreatedAt: wire.At(now), Message: all[i]})
		}
		next.Events = append(fresh, next.Events...)
		if len(next.Events) > model.MaxServiceEvents {
			next.Events = next.Events[:model.MaxServiceEvents]
		}
	}
	before, _ := json.Marshal(ms.rec)
	after, _ := json.Marshal(&next)
	if string(before) == string(after) {
		return nil
	}
	sc := c.scopeOf(ref.clusterRef)
	key := model.ServiceKey(ref.cluster, ref.name)
	txn := sc.st.Txn().Expect(key, ms.rev)
	if next.Status == model.ServiceInactive {
		txn.Delete(key).Put(model.InactiveServiceKey(ref.cluster, ref.name), &next)
	} else {
		txn.Put(key, &next)
	}
	if err := sc.recordDeployments(ctx, txn, ref.cluster, ref.name, ms.rec, &next, now, ""); err != nil {
		return err
	}
	rev, err := txn.Commit(ctx)
	if errors.Is(err, state.ErrConflict) {
		c.dirty[ref] = true // changed meanwhile: its event is on the way; look again
		return nil
	}
	if err != nil {
		return err
	}
	c.logServiceWrite(ref, ms.rec, &next, all)
	if next.Status == model.ServiceInactive {
		delete(c.m.services, ref)
		return nil
	}
	c.m.services[ref] = &mirroredService{rec: &next, rev: rev}
	return nil
}

// fromPlan sets the observed state of rec from the reconciled service.
func fromPlan(rec *model.Service, svc reconcile.Service, now time.Time) {
	old := map[string]w.Deployment{}
	for _, d := range rec.Deployments {
		old[d.Id] = d
	}
	rec.Deployments = make([]w.Deployment, 0, len(svc.Deployments))
	rec.Gantry.Deployments = map[string]model.DeploymentState{}
	var running, pending int32
	for _, d := range svc.Deployments {
		wd, ok := old[d.ID]
		if !ok {
			wd = w.Deployment{Id: d.ID, CreatedAt: wire.At(d.CreatedAt), LaunchType: compatEC2}
			if d.CreatedAt.IsZero() {
				wd.CreatedAt = wire.At(now)
			}
		}
		changed := wd.Status != d.Status || wd.RolloutState != d.RolloutState || int(wd.DesiredCount) != d.DesiredCount ||
			int(wd.PendingCount) != d.PendingCount || int(wd.RunningCount) != d.RunningCount || int(wd.FailedTasks) != d.FailedTasks
		wd.Status, wd.TaskDefinition = d.Status, d.TaskDefinition
		wd.RolloutState, wd.RolloutStateReason = d.RolloutState, d.RolloutStateReason
		wd.DesiredCount, wd.PendingCount, wd.RunningCount, wd.FailedTasks = int32(d.DesiredCount), int32(d.PendingCount), int32(d.RunningCount), int32(d.FailedTasks)
		if changed || wd.UpdatedAt == nil {
			wd.UpdatedAt = wire.At(now)
		}
		rec.Deployments = append(rec.Deployments, wd)
		if d.RollbackOf != "" {
			rec.Gantry.Deployments[d.ID] = model.DeploymentState{RollbackOf: d.RollbackOf}
		}
		running += int32(d.RunningCount)
		pending += int32(d.PendingCount)
		if d.Status == model.DeploymentPrimary {
			rec.TaskDefinition = d.TaskDefinition
		}
	}
	if len(rec.Gantry.Deployments) == 0 {
		rec.Gantry.Deployments = nil
	}
	rec.RunningCount, rec.PendingCount = running, pending
	if rec.SchedulingStrategy == model.SchedulingDaemon && svc.Status == model.ServiceActive {
		// A daemon's desired count is the scheduler's: one task per
		// eligible instance, as ECS shows it.
		rec.DesiredCount = int32(svc.DesiredCount)
	}
	rec.Status = svc.Status
	rec.Gantry.LastCompleted = nil
	if lc := svc.LastCompleted; lc != nil {
		rec.Gantry.LastCompleted = &model.CompletedDeployment{ID: lc.ID, TaskDefinition: lc.TaskDefinition}
	}
	rec.Gantry.StartFailures = int32(svc.StartFailures)
	rec.Gantry.NextStartAt, rec.Gantry.SteadySince = unixMilli(svc.NextStartAt), unixMilli(svc.SteadySince)
}

func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}
