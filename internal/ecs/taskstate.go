package ecs

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"time"

	"github.com/gantry-dev/gantry/internal/agentproto"
	"github.com/gantry-dev/gantry/internal/awsapi"
	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/state"
	"github.com/gantry-dev/gantry/internal/wire"
	w "github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// The agent's reports (SubmitTaskStateChange, SubmitContainerStateChange)
// move a task and its containers forward through the lifecycle of
// agentproto.StatusRank. applyChange is the pure rule; the operations read
// the task with its assignment and instance, apply it, and commit the three
// together. Reports are idempotent: the agent retries until acknowledged,
// and a repeated or late report changes nothing.

func (s *Service) taskStateActions(m awsapi.Model) map[string]awsapi.Handler {
	return map[string]awsapi.Handler{
		"SubmitTaskStateChange":      awsapi.Action(m, s.SubmitTaskStateChange),
		"SubmitContainerStateChange": awsapi.Action(m, s.SubmitContainerStateChange),
	}
}

// Stopped reasons the control plane gives when the agent gives none.
const (
	reasonEssentialExited = "Essential container in task exited"
	reasonFailedToStart   = "Task failed to start"
)

// stateChange is one report of an agent about a task: its status (or ""),
// and any of its containers.
type stateChange struct {
	status, reason, stopCode                         string
	pullStartedAt, pullStoppedAt, executionStoppedAt *wire.Time
	containers                                       []agentproto.ContainerStateChange
}

// containerInfo is what the health roll-up and the essential rule need of
// a container's definition.
type containerInfo struct{ essential, healthCheck bool }

// SubmitTaskStateChange applies an agent's report of a task's status and
// its containers'. It answers {"acknowledgment":"true"} whether or not the
// report changed anything.
func (s *Service) SubmitTaskStateChange(ctx context.Context, in *agentproto.TaskStateChange) (*w.SubmitTaskStateChangeResponse, error) {
	ch, err := checkTaskStateChange(in)
	if err != nil {
		return nil, err
	}
	if err := s.applyReport(ctx, in.Cluster, in.Task, ch); err != nil {
		return nil, err
	}
	return &w.SubmitTaskStateChangeResponse{Acknowledgment: "true"}, nil
}

// checkTaskStateChange validates a task's report and returns it as a
// stateChange.
func checkTaskStateChange(in *agentproto.TaskStateChange) (stateChange, error) {
	if v := wire.Validate(&in.SubmitTaskStateChangeRequest, w.Enums); len(v) > 0 {
		return stateChange{}, InvalidParameter.Errorf("%s", v[0])
	}
	if err := checkStatus("status", in.Status); err != nil {
		return stateChange{}, err
	}
	if in.StopCode != "" && !slices.Contains(w.Enums["TaskStopCode"], in.StopCode) {
		return stateChange{}, InvalidParameter.Errorf("stopCode %q is not one of %v.", in.StopCode, w.Enums["TaskStopCode"])
	}
	for _, c := range in.Containers {
		if err := checkContainerChange(c); err != nil {
			return stateChange{}, err
		}
	}
	return stateChange{
		status: in.Status, reason: in.Reason, stopCode: in.StopCode, containers: in.Containers,
		pullStartedAt: in.PullStartedAt, pullStoppedAt: in.PullStoppedAt, executionStoppedAt: in.ExecutionStoppedAt,
	}, nil
}

// SubmitContainerStateChange applies an agent's report of one container.
func (s *Service) SubmitContainerStateChange(ctx context.Context, in *agentproto.ContainerStateChangeRequest) (*w.SubmitContainerStateChangeResponse, error) {
	c := agentproto.ContainerStateChange{
		ContainerStateChange: w.ContainerStateChange{
			ContainerName: in.ContainerName, ExitCode: in.ExitCode, ImageDigest: in.ImageDigest,
			NetworkBindings: in.NetworkBindings, Reason: in.Reason, RuntimeId: in.RuntimeId, Status: in.Status,
		},
		HealthStatus: in.HealthStatus,
	}
	if err := checkContainerChange(c); err != nil {
		return nil, err
	}
	if err := s.applyReport(ctx, in.Cluster, in.Task, stateChange{containers: []agentproto.ContainerStateChange{c}}); err != nil {
		return nil, err
	}
	return &w.SubmitContainerStateChangeResponse{Acknowledgment: "true"}, nil
}

func checkStatus(what, status string) error {
	if status != "" && agentproto.StatusRank(status) == 0 {
		return InvalidParameter.Errorf("%s %q is not a task status: PROVISIONING, PENDING, ACTIVATING, RUNNING, DEACTIVATING, STOPPING, DEPROVISIONING or STOPPED.", what, status)
	}
	return nil
}

func checkContainerChange(c agentproto.ContainerStateChange) error {
	if c.ContainerName == "" {
		return InvalidParameter.Errorf("Every container state change needs a containerName.")
	}
	if err := checkStatus("container "+c.ContainerName+" status", c.Status); err != nil {
		return err
	}
	if c.HealthStatus != "" && !slices.Contains(w.Enums["HealthStatus"], c.HealthStatus) {
		return InvalidParameter.Errorf("container %s healthStatus %q is not HEALTHY, UNHEALTHY or UNKNOWN.", c.ContainerName, c.HealthStatus)
	}
	return nil
}

// applyReport applies a report to the task named by cluster and ref.
func (s *Service) applyReport(ctx context.Context, clusterRef, ref string, ch stateChange) error {
	sc := s.scope(ctx)
	name, err := sc.clusterName(clusterRef)
	if err != nil {
		return err
	}
	if err := existingCluster(ctx, sc, name); err != nil {
		return err
	}
	id, _, ok, err := sc.taskRef(name, ref)
	if err != nil {
		return err
	}
	if !ok {
		return errTaskNotFound()
	}
	return s.applyReportTo(ctx, sc, name, id, ch)
}

// applyReportTo applies a report to the task id of cluster, retrying on
// conflicts.
func (s *Service) applyReportTo(ctx context.Context, sc scope, cluster, id string, ch stateChange) error {
	_, err := state.Retry(ctx, func() (struct{}, error) {
		cur, err := sc.loadTaskState(ctx, cluster, id)
		if errors.Is(err, state.ErrNotFound) {
			return struct{}{}, errTaskNotFound()
		}
		if err != nil {
			return struct{}{}, err
		}
		changed, err := cur.apply(ch, s.now())
		if err != nil || !changed {
			return struct{}{}, err
		}
		return struct{}{}, cur.commit(ctx, sc, cluster)
	})
	return err
}

// apply applies a report to the task read, and carries a change of its
// desired status into its assignment, if read.
func (ts *taskState) apply(ch stateChange, now time.Time) (bool, error) {
	infos := ts.infos
	if infos == nil {
		infos = containerInfos(ts.assignment)
	}
	changed, err := applyChange(ts.task, ch, infos, now)
	if err != nil || !changed {
		return false, err
	}
	ts.syncAssignment()
	return true, nil
}

// syncAssignment carries the task's desired status into its assignment, if
// read and different.
func (ts *taskState) syncAssignment() {
	if a := ts.assignment; a != nil && a.DesiredStatus != ts.task.DesiredStatus {
		a.DesiredStatus, a.StoppedReason, a.StopCode = ts.task.DesiredStatus, ts.task.StoppedReason, ts.task.StopCode
		a.Version = ts.task.Version
		ts.assignmentChanged = true
	}
}

// containerInfos reads, from a task's assignment, which containers are
// essential and which have health checks; nil without an assignment.
func containerInfos(a *agentproto.Assignment) map[string]containerInfo {
	if a == nil {
		return nil
	}
	out := map[string]containerInfo{}
	for _, c := range a.Definition.ContainerDefinitions {
		out[c.Name] = containerInfo{essential: c.Essential == nil || *c.Essential, healthCheck: c.HealthCheck != nil}
	}
	return out
}

// applyChange applies a report to t at now and reports whether t changed
// (its version then counts one more). A STOPPED task does not change;
// statuses only move forward; first timestamps stick. An essential
// container stopping makes the task's desired status STOPPED; the task
// reaching STOPPED completes its stop (see finishStop). The task's health
// is rolled up from its essential containers with health checks.
func applyChange(t *model.Task, ch stateChange, info map[string]containerInfo, now time.Time) (bool, error) {
	if t.LastStatus == agentproto.StatusStopped {
		return false, nil
	}
	for _, cc := range ch.containers {
		if !slices.ContainsFunc(t.Containers, func(c w.Container) bool { return c.Name == cc.ContainerName }) {
			return false, InvalidParameter.Errorf("Container %q is not a container of task %s.", cc.ContainerName, t.TaskArn)
		}
	}
	// Every step says whether it changed the task, so that an idle report
	// costs no encoding (TestApplyChangeSeesEveryChange checks the steps
	// against a comparison of the encoded task).
	changed := false
	at := wire.At(now)
	for _, cc := range ch.containers {
		i := slices.IndexFunc(t.Containers, func(c w.Container) bool { return c.Name == cc.ContainerName })
		changed = applyContainer(&t.Containers[i], cc) || changed
	}
	if t.Connectivity == "" {
		t.Connectivity, t.ConnectivityAt = "CONNECTED", at
		changed = true
	}
	changed = setOnce(&t.PullStartedAt, ch.pullStartedAt) || changed
	changed = setOnce(&t.PullStoppedAt, ch.pullStoppedAt) || changed
	if t.DesiredStatus != agentproto.StatusStopped && essentialStopped(t, info) {
		t.DesiredStatus = agentproto.StatusStopped
		t.StopCode, t.StoppedReason = derivedStop(t, &ch)
		setOnce(&t.StoppingAt, at)
		changed = true
	}
	if agentproto.StatusRank(ch.status) > agentproto.StatusRank(t.LastStatus) {
		t.LastStatus = ch.status
		changed = true
		switch ch.status {
		case agentproto.StatusRunning:
			setOnce(&t.StartedAt, at)
		case agentproto.StatusDeactivating, agentproto.StatusStopping, agentproto.StatusDeprovisioning:
			setOnce(&t.StoppingAt, at)
		case agentproto.StatusStopped:
			finishStop(t, &ch, now)
		}
	}
	if h := rollupHealth(t, info); h != t.HealthStatus {
		t.HealthStatus, changed = h, true
	}
	if changed {
		t.Version++
	}
	return changed, nil
}

// applyContainer applies one container's report: a status below the known
// one is ignored with the rest of the report; the other members are taken
// as given. It reports whether the container changed.
func applyContainer(c *w.Container, cc agentproto.ContainerStateChange) bool {
	r, cur := agentproto.StatusRank(cc.Status), agentproto.StatusRank(c.LastStatus)
	if cc.Status != "" && r < cur {
		return false
	}
	changed := false
	set := func(dst *string, v string) {
		if v != "" && *dst != v {
			*dst, changed = v, true
		}
	}
	if r > cur {
		c.LastStatus, changed = cc.Status, true
	}
	if cc.ExitCode != nil && (c.ExitCode == nil || *c.ExitCode != *cc.ExitCode) {
		c.ExitCode, changed = new(*cc.ExitCode), true
	}
	set(&c.Reason, cc.Reason)
	if cc.NetworkBindings != nil && !reflect.DeepEqual(c.NetworkBindings, cc.NetworkBindings) {
		c.NetworkBindings, changed = cc.NetworkBindings, true
	}
	set(&c.RuntimeId, cc.RuntimeId)
	set(&c.ImageDigest, cc.ImageDigest)
	set(&c.HealthStatus, cc.HealthStatus)
	return changed
}

// setOnce sets *dst to v if it is unset and v is not, and reports whether
// it did.
func setOnce(dst **wire.Time, v *wire.Time) bool {
	if *dst == nil && v != nil {
		*dst = v
		return true
	}
	return false
}

// essentialStopped reports whether an essential container of t is STOPPED.
func essentialStopped(t *model.Task, info map[string]containerInfo) bool {
	for _, c := range t.Containers {
		if ci, ok := info[c.Name]; ok && ci.essential && c.LastStatus == agentproto.StatusStopped {
			return true
		}
	}
	return false
}

// derivedStop is the stop code and reason of a task that stops without the
// control plane asking: the agent's stop code if it gave one, else
// TaskFailedToStart if the task never ran (never RUNNING, no container
// exit code), else EssentialContainerExited; the agent's reason if it gave
// one, else the reason of that code (for a failed start, the first
// container's reason).
func derivedStop(t *model.Task, ch *stateChange) (code, reason string) {
	ran := t.StartedAt != nil || slices.ContainsFunc(t.Containers, func(c w.Container) bool { return c.ExitCode != nil })
	if ch != nil {
		code, reason = ch.stopCode, ch.reason
	}
	if code == "" {
		code = agentproto.StopCodeEssentialContainerExited
		if !ran {
			code = agentproto.StopCodeTaskFailedToStart
		}
	}
	if reason != "" {
		return code, reason
	}
	switch code {
	case agentproto.StopCodeEssentialContainerExited:
		return code, reasonEssentialExited
	case agentproto.StopCodeTaskFailedToStart:
		for _, c := range t.Containers {
			if c.Reason != "" {
				return code, c.Reason
			}
		}
		return code, reasonFailedToStart
	}
	return code, "Task stopped"
}

// finishStop makes t STOPPED at now: desired status STOPPED, a stop code
// and reason if the control plane gave none, the stop timestamps, and every
// container STOPPED.
func finishStop(t *model.Task, ch *stateChange, now time.Time) {
	at := wire.At(now)
	t.LastStatus, t.DesiredStatus = agentproto.StatusStopped, agentproto.StatusStopped
	if t.StopCode == "" {
		code, reason := derivedStop(t, ch)
		t.StopCode = code
		if t.StoppedReason == "" {
			t.StoppedReason = reason
		}
	}
	setOnce(&t.StoppingAt, at)
	if ch != nil {
		setOnce(&t.ExecutionStoppedAt, ch.executionStoppedAt)
	}
	setOnce(&t.ExecutionStoppedAt, at)
	t.StoppedAt = at
	for i := range t.Containers {
		t.Containers[i].LastStatus = agentproto.StatusStopped
	}
}

// rollupHealth is a task's health as ECS rolls it up: UNHEALTHY if an
// essential container with a health check is UNHEALTHY, HEALTHY if all of
// them are HEALTHY (and there is one), else UNKNOWN.
func rollupHealth(t *model.Task, info map[string]containerInfo) string {
	checked, healthy := false, true
	for _, c := range t.Containers {
		ci := info[c.Name]
		if !ci.essential || !ci.healthCheck {
			continue
		}
		checked = true
		switch c.HealthStatus {
		case agentproto.HealthUnhealthy:
			return agentproto.HealthUnhealthy
		case agentproto.HealthHealthy:
		default:
			healthy = false
		}
	}
	if checked && healthy {
		return agentproto.HealthHealthy
	}
	if info == nil && t.HealthStatus != "" {
		return t.HealthStatus
	}
	return agentproto.HealthUnknown
}

// taskState is a task as read for a change, with its assignment and its
// instance (nil when there is none, or the instance is not registered).
type taskState struct {
	task              *model.Task
	taskRev           int64
	wasStopped        bool
	assignment        *agentproto.Assignment
	asgRev            int64 // 0: no assignment
	assignmentChanged bool
	// infos, when set, are the task definition's containers (else they
	// are read from the assignment).
	infos        map[string]containerInfo
	instanceItem *state.Item // the instance's record, if registered
	loadItem     *state.Item // the instance's load, if any
}

// loadTaskState reads a task, its assignment and its instance.
func (sc scope) loadTaskState(ctx context.Context, cluster, id string) (*taskState, error) {
	ts := &taskState{task: new(model.Task)}
	rev, err := sc.st.Get(ctx, model.TaskKey(cluster, id), ts.task)
	if err != nil {
		return nil, err
	}
	ts.taskRev, ts.wasStopped = rev, ts.task.LastStatus == agentproto.StatusStopped
	if ts.task.InstanceID == "" {
		return ts, nil
	}
	pages, err := sc.st.ReadAll(ctx,
		state.Read{Key: model.AssignmentKey(cluster, ts.task.InstanceID, id)},
		state.Read{Key: model.InstanceKey(cluster, ts.task.InstanceID)},
		state.Read{Key: model.LoadKey(cluster, ts.task.InstanceID)},
	)
	if err != nil {
		return nil, err
	}
	if items := pages[0].Items; len(items) > 0 {
		ts.assignment = new(agentproto.Assignment)
		if err := items[0].Decode(ts.assignment); err != nil {
			return nil, err
		}
		ts.asgRev = items[0].Revision
	}
	// The instance and its load matter only when the task stops: they are
	// decoded then (most reports move a task forward and never need them).
	if items := pages[1].Items; len(items) > 0 {
		ts.instanceItem = &items[0]
	}
	if items := pages[2].Items; len(items) > 0 {
		ts.loadItem = &items[0]
	}
	return ts, nil
}

// commit writes the task if nothing changed since it was read. A task that
// has just become STOPPED also loses its assignment and gives its
// reservation back to its instance (and leaves its load); otherwise a
// changed assignment is written with it.
func (ts *taskState) commit(ctx context.Context, sc scope, cluster string) error {
	txn := sc.st.Txn()
	rel := releases{}
	if err := ts.stage(txn, cluster, rel); err != nil {
		return err
	}
	rel.stage(txn)
	_, err := txn.Commit(ctx)
	return err
}

// stage adds the task's writes to txn, conditional on what was read. What
// a task that has just become STOPPED gives back goes into rel, which the
// tasks of one transaction share (several may leave one instance).
func (ts *taskState) stage(txn *state.Txn, cluster string, rel releases) error {
	t := ts.task
	id := lastSegment(t.TaskArn)
	key := model.TaskKey(cluster, id)
	asgKey := model.AssignmentKey(cluster, t.InstanceID, id)
	txn.Expect(key, ts.taskRev).Put(key, t)
	switch {
	case t.LastStatus == agentproto.StatusStopped && !ts.wasStopped:
		if ts.asgRev > 0 {
			txn.Expect(asgKey, ts.asgRev).Delete(asgKey)
		}
		if it := ts.instanceItem; it != nil {
			r, err := rel.of(it, false)
			if err != nil {
				return err
			}
			release(r.ci, t.Reserved)
		}
		if it := ts.loadItem; it != nil {
			r, err := rel.of(it, true)
			if err != nil {
				return err
			}
			r.load.Add(t.Group, -1)
		}
	case ts.assignment != nil && ts.assignmentChanged:
		txn.Expect(asgKey, ts.asgRev).Put(asgKey, ts.assignment)
	}
	return nil
}

// releases are the instance records and loads a transaction changes as
// tasks stop, by key, each decoded once.
type releases map[string]*released

type released struct {
	item state.Item
	ci   *model.ContainerInstance // for an instance record
	load *model.InstanceLoad      // for a load
}

// of returns the record of item (a load, or an instance record), decoding
// it the first time.
func (rel releases) of(it *state.Item, load bool) (*released, error) {
	if r, ok := rel[it.Key]; ok {
		return r, nil
	}
	r := &released{item: *it}
	var err error
	if load {
		r.load = new(model.InstanceLoad)
		err = it.Decode(r.load)
	} else {
		r.ci = new(model.ContainerInstance)
		err = it.Decode(r.ci)
	}
	if err != nil {
		return nil, err
	}
	rel[it.Key] = r
	return r, nil
}

// stage writes the changed records, conditional on their revisions read.
func (rel releases) stage(txn *state.Txn) {
	for _, r := range rel {
		txn.Expect(r.item.Key, r.item.Revision)
		if r.ci != nil {
			r.ci.Version++
			txn.Put(r.item.Key, r.ci)
		} else {
			txn.Put(r.item.Key, r.load)
		}
	}
}
