package ecs

import (
	"context"
	"errors"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/state"
	"github.com/gantry-dev/gantry/internal/wire"
	w "github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// A service's deployment history (what ListServiceDeployments,
// DescribeServiceDeployments and DescribeServiceRevisions show) is derived
// from the changes of its record: every write that changes the service's
// deployments (a new one, a rollout state, a status, the service's own
// status) also writes the history, under its own key, in the same
// transaction (recordDeployments). The history keeps the last
// maxDeploymentHistory service deployments, newest first, each with the
// service revision it deployed.
//
// How the service's deployments map to service deployments:
//   - a new PRIMARY deployment (CreateService, UpdateService with a new
//     revision or forceNewDeployment) starts a service deployment,
//     IN_PROGRESS, whose sources are the revisions still running;
//   - its rollout COMPLETED: SUCCESSFUL; FAILED by the circuit breaker
//     without rollback: STOPPED;
//   - a rollback (the circuit breaker's, or StopServiceDeployment's) belongs
//     to the service deployment it rolls back: ROLLBACK_IN_PROGRESS, then
//     ROLLBACK_SUCCESSFUL or ROLLBACK_FAILED as the rollback's rollout ends;
//   - a newer deployment, or DeleteService, stops one still in progress:
//     STOPPED.

// Service deployment statuses, as ECS names them.
const (
	sdPending            = "PENDING"
	sdInProgress         = "IN_PROGRESS"
	sdSuccessful         = "SUCCESSFUL"
	sdStopped            = "STOPPED"
	sdStopRequested      = "STOP_REQUESTED"
	sdRollbackRequested  = "ROLLBACK_REQUESTED"
	sdRollbackInProgress = "ROLLBACK_IN_PROGRESS"
	sdRollbackSuccessful = "ROLLBACK_SUCCESSFUL"
	sdRollbackFailed     = "ROLLBACK_FAILED"
)

// serviceDeploymentStatuses are the statuses ListServiceDeployments filters on.
var serviceDeploymentStatuses = []string{sdPending, sdSuccessful, sdStopped, sdStopRequested, sdInProgress,
	sdRollbackRequested, sdRollbackInProgress, sdRollbackSuccessful, sdRollbackFailed}

// Statuses of the rollback monitors (circuit breaker, alarms).
const (
	monitorDisabled   = "DISABLED"
	monitorMonitoring = "MONITORING"
	monitorTriggered  = "TRIGGERED"
	monitorComplete   = "MONITORING_COMPLETE"
)

// maxDeploymentHistory is how many service deployments a service keeps.
const maxDeploymentHistory = 50

// deploymentHistoryKey is the key of a service's deployment history.
func deploymentHistoryKey(cluster, name string) string {
	return "service-deployments/" + cluster + "/" + name
}

// deploymentHistory is the stored history of a service's deployments.
type deploymentHistory struct {
	Entries []historyEntry `json:"entries"` // newest first
}

// historyEntry is one service deployment.
type historyEntry struct {
	// ID is the last segment of the service deployment's ARN; Deployment
	// the id of the service's deployment (ecs-svc/...) it started, and
	// RollbackDeployment the id of the one that rolls it back.
	ID                 string `json:"id"`
	Deployment         string `json:"deployment"`
	RollbackDeployment string `json:"rollbackDeployment,omitempty"`

	Status       string     `json:"status"`
	StatusReason string     `json:"statusReason,omitempty"`
	CreatedAt    *wire.Time `json:"createdAt,omitempty"`
	StartedAt    *wire.Time `json:"startedAt,omitempty"`
	FinishedAt   *wire.Time `json:"finishedAt,omitempty"`
	StoppedAt    *wire.Time `json:"stoppedAt,omitempty"`
	UpdatedAt    *wire.Time `json:"updatedAt,omitempty"`

	Source []w.ServiceRevisionSummary `json:"source,omitempty"`
	Target w.ServiceRevisionSummary   `json:"target"`
	// Revision is the service revision the deployment targets;
	// RollbackRevision the one its rollback deployed, when that revision
	// was no longer in the history.
	Revision         w.ServiceRevision  `json:"revision"`
	RollbackRevision *w.ServiceRevision `json:"rollbackRevision,omitempty"`

	Config         *w.DeploymentConfiguration         `json:"config,omitempty"`
	CircuitBreaker *w.ServiceDeploymentCircuitBreaker `json:"circuitBreaker,omitempty"`
	Alarms         *w.ServiceDeploymentAlarms         `json:"alarms,omitempty"`
	Rollback       *w.Rollback                        `json:"rollback,omitempty"`
}

// inProgress says whether a service deployment has not ended yet.
func (e *historyEntry) inProgress() bool {
	switch e.Status {
	case sdPending, sdInProgress, sdStopRequested, sdRollbackRequested, sdRollbackInProgress:
		return true
	}
	return false
}

// end ends the service deployment with status and reason: finished
// (successful or failed) or stopped.
func (e *historyEntry) end(status, reason string, stopped bool, now time.Time) {
	e.Status, e.StatusReason, e.UpdatedAt = status, reason, wire.At(now)
	if stopped {
		e.StoppedAt = wire.At(now)
	} else {
		e.FinishedAt = wire.At(now)
	}
	if cb := e.CircuitBreaker; cb != nil && cb.Status == monitorMonitoring {
		cb.Status = monitorComplete
	}
	if a := e.Alarms; a != nil && a.Status == monitorMonitoring {
		a.Status = monitorComplete
	}
}

// find returns the entry of a service deployment by its ARN's id.
func (h *deploymentHistory) find(id string) *historyEntry {
	for i := range h.Entries {
		if h.Entries[i].ID == id {
			return &h.Entries[i]
		}
	}
	return nil
}

// revision returns the service revision with this ARN.
func (h *deploymentHistory) revision(arn string) *w.ServiceRevision {
	for i := range h.Entries {
		e := &h.Entries[i]
		if e.Revision.ServiceRevisionArn == arn {
			return &e.Revision
		}
		if e.RollbackRevision != nil && e.RollbackRevision.ServiceRevisionArn == arn {
			return e.RollbackRevision
		}
	}
	return nil
}

// revisionOf is the ARN of the service revision a deployment of the
// service (ecs-svc/...) runs, "" if the history does not know it.
func (h *deploymentHistory) revisionOf(deployment string) string {
	for i := range h.Entries {
		e := &h.Entries[i]
		switch deployment {
		case e.Deployment:
			return e.Revision.ServiceRevisionArn
		case e.RollbackDeployment:
			if e.Rollback != nil {
				return e.Rollback.ServiceRevisionArn
			}
		}
	}
	return ""
}

// deploymentSignature sums up what of a service the history follows.
func deploymentSignature(svc *model.Service) string {
	if svc == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString(svc.Status)
	for _, d := range svc.Deployments {
		b.WriteString("|" + d.Id + " " + d.Status + " " + d.RolloutState)
	}
	return b.String()
}

// snapshotService copies what of svc the history compares, before an
// action changes svc in place.
func snapshotService(svc *model.Service) *model.Service {
	c := *svc
	c.Deployments = slices.Clone(svc.Deployments)
	c.Gantry.Deployments = maps.Clone(svc.Gantry.Deployments)
	return &c
}

// recordDeployments adds to txn the write of the service's deployment
// history that the change of the service from before (nil: it is being
// created) to after makes, if any: the history expects the revision it
// was read at, so that it is never written from a stale read. reason, if
// set, is why a rollback this change starts happened.
func (sc scope) recordDeployments(ctx context.Context, txn *state.Txn, cluster, name string, before, after *model.Service, now time.Time, reason string) error {
	if deploymentSignature(before) == deploymentSignature(after) {
		return nil
	}
	key := deploymentHistoryKey(cluster, name)
	var h deploymentHistory
	rev, err := sc.st.Get(ctx, key, &h)
	if errors.Is(err, state.ErrNotFound) {
		rev = 0
	} else if err != nil {
		return err
	}
	if before == nil {
		h = deploymentHistory{} // a new service of an old name starts afresh
	}
	h.advance(sc, cluster, name, before, after, now, reason)
	txn.Expect(key, rev).Put(key, &h)
	return nil
}

// advance applies to the history the change of the service from before to
// after.
func (h *deploymentHistory) advance(sc scope, cluster, name string, before, after *model.Service, now time.Time, reason string) {
	prev := map[string]w.Deployment{}
	if before != nil {
		for _, d := range before.Deployments {
			prev[d.Id] = d
		}
	}
	live := map[string]w.Deployment{}
	for _, d := range after.Deployments {
		live[d.Id] = d
	}
	// New deployments, oldest first, so that the newest ends up first.
	for i := len(after.Deployments) - 1; i >= 0; i-- {
		d := after.Deployments[i]
		if _, ok := prev[d.Id]; ok {
			continue
		}
		if of := after.Gantry.Deployments[d.Id].RollbackOf; of != "" {
			h.startRollback(sc, cluster, name, after, d, live[of], now, reason)
			continue
		}
		h.start(sc, cluster, name, before, after, d, now)
	}
	for i := range h.Entries {
		e := &h.Entries[i]
		if !e.inProgress() {
			continue
		}
		if e.RollbackDeployment != "" {
			d, ok := live[e.RollbackDeployment]
			switch {
			case ok && d.RolloutState == model.RolloutCompleted:
				e.end(sdRollbackSuccessful, "Service deployment rolled back successfully.", false, now)
			case ok && d.RolloutState == model.RolloutFailed:
				e.end(sdRollbackFailed, "Service deployment rollback failed: "+d.RolloutStateReason, false, now)
			case !ok || d.Status != model.DeploymentPrimary || after.Status != model.ServiceActive:
				e.end(sdStopped, stopReason(after), true, now)
			}
			continue
		}
		d, ok := live[e.Deployment]
		switch {
		case ok && d.RolloutState == model.RolloutCompleted:
			e.Target.RequestedTaskCount, e.Target.RunningTaskCount, e.Target.PendingTaskCount = d.DesiredCount, d.RunningCount, d.PendingCount
			e.end(sdSuccessful, "", false, now)
		case ok && d.RolloutState == model.RolloutFailed:
			if cb := e.CircuitBreaker; cb != nil {
				cb.Status, cb.FailureCount = monitorTriggered, d.FailedTasks
			}
			e.end(sdStopped, d.RolloutStateReason, true, now)
		case !ok || d.Status != model.DeploymentPrimary || after.Status != model.ServiceActive:
			e.end(sdStopped, stopReason(after), true, now)
		}
	}
	if len(h.Entries) > maxDeploymentHistory {
		h.Entries = h.Entries[:maxDeploymentHistory]
	}
}

// stopReason says why a service deployment in progress stopped without
// ending: the service was deleted, or a newer deployment replaced it.
func stopReason(after *model.Service) string {
	if after.Status != model.ServiceActive {
		return "The service was deleted."
	}
	return "A newer service deployment replaced this one."
}

// start adds the service deployment that the new deployment d starts.
func (h *deploymentHistory) start(sc scope, cluster, name string, before, after *model.Service, d w.Deployment, now time.Time) {
	var source []w.ServiceRevisionSummary
	if before != nil {
		for _, old := range before.Deployments {
			if arn := h.revisionOf(old.Id); arn != "" {
				source = append(source, w.ServiceRevisionSummary{Arn: arn, RequestedTaskCount: old.DesiredCount,
					RunningTaskCount: old.RunningCount, PendingTaskCount: old.PendingCount})
			}
		}
	}
	rev := newServiceRevision(sc, cluster, name, after, d.TaskDefinition, now)
	cfg := cloneDeploymentConfiguration(after.DeploymentConfiguration)
	e := historyEntry{
		ID:             newServiceDeploymentID(),
		Deployment:     d.Id,
		Status:         sdInProgress,
		CreatedAt:      d.CreatedAt,
		StartedAt:      wire.At(now),
		UpdatedAt:      wire.At(now),
		Source:         source,
		Target:         w.ServiceRevisionSummary{Arn: rev.ServiceRevisionArn, RequestedTaskCount: d.DesiredCount},
		Revision:       rev,
		Config:         cfg,
		CircuitBreaker: &w.ServiceDeploymentCircuitBreaker{Status: monitorDisabled},
		Alarms:         &w.ServiceDeploymentAlarms{Status: monitorDisabled},
	}
	if e.CreatedAt == nil {
		e.CreatedAt = wire.At(now)
	}
	if cfg != nil && cfg.DeploymentCircuitBreaker != nil && cfg.DeploymentCircuitBreaker.Enable {
		e.CircuitBreaker = &w.ServiceDeploymentCircuitBreaker{Status: monitorMonitoring, Threshold: breakerThreshold(after.DesiredCount)}
	}
	if cfg != nil && cfg.Alarms != nil && cfg.Alarms.Enable {
		e.Alarms = &w.ServiceDeploymentAlarms{Status: monitorMonitoring, AlarmNames: slices.Clone(cfg.Alarms.AlarmNames)}
	}
	h.Entries = append([]historyEntry{e}, h.Entries...)
}

// startRollback notes that the new deployment d rolls back the deployment
// failed: the service deployment that started failed rolls back to the
// service's last completed revision.
func (h *deploymentHistory) startRollback(sc scope, cluster, name string, after *model.Service, d, failed w.Deployment, now time.Time, reason string) {
	var e *historyEntry
	for i := range h.Entries {
		if h.Entries[i].Deployment == failed.Id {
			e = &h.Entries[i]
		}
	}
	if e == nil {
		return
	}
	var arn string
	if lc := after.Gantry.LastCompleted; lc != nil && lc.TaskDefinition == d.TaskDefinition {
		arn = h.revisionOf(lc.ID)
	}
	if arn == "" {
		rev := newServiceRevision(sc, cluster, name, after, d.TaskDefinition, now)
		e.RollbackRevision, arn = &rev, rev.ServiceRevisionArn
	}
	if reason == "" {
		reason = failed.RolloutStateReason
	}
	e.RollbackDeployment = d.Id
	e.Status, e.StatusReason, e.UpdatedAt = sdRollbackInProgress, reason, wire.At(now)
	e.Rollback = &w.Rollback{Reason: reason, StartedAt: wire.At(now), ServiceRevisionArn: arn}
	if cb := e.CircuitBreaker; cb != nil && cb.Status == monitorMonitoring && failed.RolloutState == model.RolloutFailed && failed.FailedTasks >= cb.Threshold {
		cb.Status, cb.FailureCount = monitorTriggered, failed.FailedTasks
	}
	e.Target.RequestedTaskCount, e.Target.RunningTaskCount, e.Target.PendingTaskCount = failed.DesiredCount, failed.RunningCount, failed.PendingCount
}

// newServiceRevision is the service revision of svc running td.
func newServiceRevision(sc scope, cluster, name string, svc *model.Service, td string, now time.Time) w.ServiceRevision {
	launch := svc.LaunchType
	if len(svc.CapacityProviderStrategy) > 0 {
		launch = ""
	}
	return w.ServiceRevision{
		ServiceRevisionArn:          sc.arn("service-revision/" + cluster + "/" + name + "/" + newServiceRevisionID()),
		ServiceArn:                  svc.ServiceArn,
		ClusterArn:                  svc.ClusterArn,
		TaskDefinition:              td,
		LaunchType:                  launch,
		CapacityProviderStrategy:    slices.Clone(svc.CapacityProviderStrategy),
		LoadBalancers:               slices.Clone(svc.LoadBalancers),
		ServiceRegistries:           slices.Clone(svc.ServiceRegistries),
		NetworkConfiguration:        svc.NetworkConfiguration,
		ServiceConnectConfiguration: &w.ServiceConnectConfiguration{Enabled: false},
		CreatedAt:                   wire.At(now),
	}
}

// cloneDeploymentConfiguration copies a deployment configuration, so that
// the history keeps it as it was when the deployment started.
func cloneDeploymentConfiguration(c *w.DeploymentConfiguration) *w.DeploymentConfiguration {
	if c == nil {
		return nil
	}
	out := *c
	if c.DeploymentCircuitBreaker != nil {
		cb := *c.DeploymentCircuitBreaker
		out.DeploymentCircuitBreaker = &cb
	}
	if c.Alarms != nil {
		a := *c.Alarms
		a.AlarmNames = slices.Clone(c.Alarms.AlarmNames)
		out.Alarms = &a
	}
	return &out
}

// breakerThreshold is the circuit breaker's threshold for a desired count,
// as ECS computes it (internal/reconcile: half the desired count, at least
// 3 and at most 200).
func breakerThreshold(desired int32) int32 {
	return min(max((desired+1)/2, 3), 200)
}

const idLetters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// newServiceDeploymentID is the id of a service deployment's ARN: 21
// letters and digits, as ECS's.
func newServiceDeploymentID() string {
	b := make([]byte, 21)
	for i := range b {
		b[i] = idLetters[rand.IntN(len(idLetters))]
	}
	return string(b)
}

// newServiceRevisionID is the id of a service revision's ARN: a 19-digit
// number, as ECS's.
func newServiceRevisionID() string {
	return strconv.Itoa(1+rand.IntN(9)) + strconv.FormatUint(rand.Uint64N(1e18)+1e18, 10)[1:]
}
