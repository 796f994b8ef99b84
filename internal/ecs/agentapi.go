package ecs

import (
	"context"
	"errors"
	"time"

	"github.com/gantry-dev/gantry/internal/agentproto"
	"github.com/gantry-dev/gantry/internal/awsapi"
	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/state"
	w "github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// The agent side of the control plane: the Poll and SubmitStateChanges
// actions of the agent protocol (agentproto). A poll is the instance's
// heartbeat and a long-poll for its assignments: it answers with the
// instance's full desired state, or what changed in it, as soon as it
// changed after the payload the agent last applied. SubmitStateChanges
// (reportbatch.go) is a batch of SubmitTaskStateChange.

// AgentAPI returns the action table of the agent protocol, for the edge.
func (s *Service) AgentAPI() *awsapi.Service {
	m := awsapi.Model{Enums: w.Enums, InvalidParameter: InvalidParameter}
	return &awsapi.Service{
		TargetPrefix: agentproto.TargetPrefix,
		// Agents sign for ECS, as the ECS agent does for its own protocol.
		SigningName: "ecs",
		Actions: map[string]awsapi.Handler{
			"Poll":               awsapi.Action(m, s.Poll),
			"SubmitStateChanges": awsapi.Action(m, s.SubmitStateChanges),
		},
	}
}

// heartbeatWrite is how often a polling agent's heartbeat is written at
// most: a quarter of the agent timeout, and no more than every 5 seconds.
func (s *Service) heartbeatWrite() time.Duration {
	return min(5*time.Second, s.opts.AgentTimeout/4)
}

// reasonNotAssigned is the stop reason of a task an agent runs that the
// control plane has not assigned to it.
const reasonNotAssigned = "Task is not assigned to this container instance"

// Poll answers an agent's poll: it checks that the instance is registered,
// records the heartbeat, refreshes the versionInfo, waits (up to
// WaitSeconds, at most half the agent timeout) for a change to the
// instance's assignments after AckSeq, and returns them all. Tasks in the
// agent's manifest that the control plane has not assigned come back with
// desired status STOPPED and no definition.
func (s *Service) Poll(ctx context.Context, in *agentproto.PollRequest) (*agentproto.PollResponse, error) {
	sc := s.scope(ctx)
	name, err := sc.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	if err := existingCluster(ctx, sc, name); err != nil {
		return nil, err
	}
	id, arn, ok, err := sc.instanceRef(name, in.ContainerInstanceArn)
	if err != nil {
		return nil, err
	}
	notFound := InvalidParameter.Errorf("Container instance %s is not registered in cluster %s; register it with RegisterContainerInstance first.", arn, name)
	if !ok {
		return nil, notFound
	}
	ci, rev, key, err := loadInstance(ctx, sc.st, name, id, true)
	if errors.Is(err, state.ErrNotFound) {
		return nil, notFound
	}
	if err != nil {
		return nil, err
	}
	if key != model.InstanceKey(name, id) {
		return nil, ClientException.Errorf("Container instance %s was deregistered (INACTIVE); register again without containerInstanceArn to get a new identity.", arn)
	}
	if err := s.beat(ctx, sc, name, id); err != nil {
		return nil, err
	}
	s.refreshVersionInfo(ctx, sc, name, id, ci, rev, in)
	prefix := model.AssignmentsPrefix(name, id)
	wait := min(time.Duration(in.WaitSeconds)*time.Second, s.opts.AgentTimeout/2)
	heartbeat := int32(max(time.Second, s.opts.AgentTimeout/3) / time.Second)
	if in.AckSeq > 0 && wait > 0 {
		if in.Changes {
			if h := s.hub(ctx, sc, name); h != nil {
				if evs, seq, ok := h.wait(ctx, id, in.AckSeq, wait, s.stopping); ok {
					return sc.changesPayload(name, seq, evs, heartbeat)
				}
			}
		}
		evs, ok := s.waitForChange(ctx, sc.st, prefix, in.AckSeq, wait)
		if ok && in.Changes {
			return sc.changesPayload(name, in.AckSeq, evs, heartbeat)
		}
	}
	page, err := sc.st.ListAll(ctx, prefix)
	if err != nil {
		return nil, err
	}
	out := &agentproto.PollResponse{
		Seq:              page.Revision,
		Tasks:            make([]agentproto.Assignment, 0, len(page.Items)),
		HeartbeatSeconds: heartbeat,
	}
	assigned := map[string]bool{}
	for _, it := range page.Items {
		var a agentproto.Assignment
		if err := it.Decode(&a); err != nil {
			return nil, err
		}
		assigned[a.TaskArn] = true
		out.Tasks = append(out.Tasks, a)
	}
	for _, m := range in.Manifest {
		if assigned[m.TaskArn] || m.KnownStatus == agentproto.StatusStopped {
			continue
		}
		assigned[m.TaskArn] = true
		out.Tasks = append(out.Tasks, agentproto.Assignment{
			TaskArn: m.TaskArn, ClusterArn: sc.arn("cluster/" + name), DesiredStatus: agentproto.StatusStopped,
			StoppedReason: reasonNotAssigned,
		})
	}
	return out, nil
}

// changesPayload is the payload of changes made of the events on an
// instance's assignments after the agent's ack: the assignments written
// (the last version of each) and the tasks whose assignment was removed.
// Its Seq is the revision up to which the events are complete: base (at
// least the ack) or the last event's, so that the next poll continues
// right after it.
func (sc scope) changesPayload(cluster string, base int64, evs []state.Event, heartbeat int32) (*agentproto.PollResponse, error) {
	out := &agentproto.PollResponse{Seq: base, Changes: true, Tasks: []agentproto.Assignment{}, HeartbeatSeconds: heartbeat}
	last := map[string]*agentproto.Assignment{} // task ARN -> last version; nil: removed
	var order []string
	for _, ev := range evs {
		out.Seq = max(out.Seq, ev.Revision)
		arn := sc.taskARN(cluster, lastSegment(ev.Key))
		if _, seen := last[arn]; !seen {
			order = append(order, arn)
		}
		if ev.Deleted {
			last[arn] = nil
			continue
		}
		a := new(agentproto.Assignment)
		if err := ev.Decode(a); err != nil {
			return nil, err
		}
		last[arn] = a
	}
	for _, arn := range order {
		if a := last[arn]; a != nil {
			out.Tasks = append(out.Tasks, *a)
		} else {
			out.Removed = append(out.Removed, arn)
		}
	}
	return out, nil
}

// waitForChange blocks until a key under prefix changes after revision
// since, wait passes, ctx ends or the service closes. It returns the events
// of the change (every event already delivered when the first arrived:
// the changes of one or more revisions, each whole), or none after a
// timeout; ok is false when the watch could not say what changed (it
// could not start, the revision being compacted, or the service is
// closing): then only a full read can tell.
func (s *Service) waitForChange(ctx context.Context, st *state.Store, prefix string, since int64, wait time.Duration) (evs []state.Event, ok bool) {
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	ch := st.Watch(wctx, prefix, since)
	select {
	case evs, ok = <-ch:
		if !ok {
			return nil, wctx.Err() != nil && ctx.Err() == nil
		}
	case <-wctx.Done():
		return nil, ctx.Err() == nil
	case <-s.stopping:
		return nil, false
	}
	for {
		select {
		case more, open := <-ch:
			if !open {
				return evs, true
			}
			evs = append(evs, more...)
		default:
			return evs, true
		}
	}
}

// beat records that the instance's agent is alive now, unless this process
// recorded it less than heartbeatWrite ago.
func (s *Service) beat(ctx context.Context, sc scope, cluster, id string) error {
	now := s.now()
	k := sc.Account + "/" + sc.Region + "/" + cluster + "/" + id
	if last, ok := s.beats.Load(k); ok && now.Sub(last.(time.Time)) < s.heartbeatWrite() {
		return nil
	}
	if _, err := sc.st.Txn().Put(model.HeartbeatKey(cluster, id), model.Heartbeat{At: now.UnixMilli()}).Commit(ctx); err != nil {
		return err
	}
	s.beats.Store(k, now)
	return nil
}

// forgetBeat drops the remembered heartbeat write of an instance, so that
// its next poll writes one (after its heartbeat record was rewritten or
// deleted elsewhere).
func (s *Service) forgetBeat(sc scope, cluster, id string) {
	s.beats.Delete(sc.Account + "/" + sc.Region + "/" + cluster + "/" + id)
}

// refreshVersionInfo updates the instance's versionInfo when the poll
// reports other agent or Docker versions. A conflict is left for the next
// poll: the heartbeat matters, this does not.
func (s *Service) refreshVersionInfo(ctx context.Context, sc scope, cluster, id string, ci *model.ContainerInstance, rev int64, in *agentproto.PollRequest) {
	vi := w.VersionInfo{}
	if ci.VersionInfo != nil {
		vi = *ci.VersionInfo
	}
	changed := false
	if in.AgentVersion != "" && in.AgentVersion != vi.AgentVersion {
		vi.AgentVersion, changed = in.AgentVersion, true
	}
	if in.DockerVersion != "" && in.DockerVersion != vi.DockerVersion {
		vi.DockerVersion, changed = in.DockerVersion, true
	}
	if !changed {
		return
	}
	ci.VersionInfo = &vi
	ci.Version++
	key := model.InstanceKey(cluster, id)
	if _, err := sc.st.Txn().Expect(key, rev).Put(key, ci).Commit(ctx); err != nil && !errors.Is(err, state.ErrConflict) {
		s.log.Warn("refresh versionInfo", "instance", ci.ContainerInstanceArn, "err", err)
	}
}
