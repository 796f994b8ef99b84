package ecs

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/gantry-dev/gantry/internal/agentproto"
	"github.com/gantry-dev/gantry/internal/awsapi"
	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/state"
)

// SubmitStateChanges, the agent protocol's batch of reports: an agent
// whose tasks change together (a busy instance starting many) sends their
// changes in one call, and the control plane applies them with one read of
// the tasks and one transaction per chunk, instead of one call, two reads
// and one transaction per task. Each change is read as
// SubmitTaskStateChange reads it; a change it would refuse is rejected
// alone, by index, and the others still apply.

// reportItem is one change of a batch, checked.
type reportItem struct {
	index int
	id    string
	ch    stateChange
}

// SubmitStateChanges applies a batch of reports of one cluster's tasks.
func (s *Service) SubmitStateChanges(ctx context.Context, in *agentproto.StateChangesRequest) (*agentproto.StateChangesResponse, error) {
	if n := len(in.Changes); n == 0 || n > agentproto.MaxStateChanges {
		return nil, InvalidParameter.Errorf("changes must hold 1 to %d state changes; it has %d.", agentproto.MaxStateChanges, n)
	}
	sc := s.scope(ctx)
	name, err := sc.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	if err := existingCluster(ctx, sc, name); err != nil {
		return nil, err
	}
	out := &agentproto.StateChangesResponse{}
	var items []reportItem
	seen := map[string]bool{}
	for i := range in.Changes {
		c := &in.Changes[i]
		if c.Cluster == "" {
			c.Cluster = in.Cluster
		}
		item, err := checkBatchItem(sc, name, c, seen)
		if err != nil {
			if !rejectInto(out, i, err) {
				return nil, err
			}
			continue
		}
		item.index = i
		items = append(items, item)
	}
	// A task's writes take up to four operations (the task and its
	// assignment, each checked); the instances and loads of stopping tasks
	// take the rest of the room.
	step := max((sc.st.MaxTxnOps()-16)/6, 1)
	for len(items) > 0 {
		n := min(len(items), step)
		rejected, err := s.applyReportItems(ctx, sc, name, items[:n])
		if err != nil {
			return nil, err
		}
		out.Rejected = append(out.Rejected, rejected...)
		items = items[n:]
	}
	return out, nil
}

// checkBatchItem checks one change of a batch of cluster: valid, of the
// batch's cluster, naming a task of it not already in the batch.
func checkBatchItem(sc scope, cluster string, c *agentproto.TaskStateChange, seen map[string]bool) (reportItem, error) {
	ch, err := checkTaskStateChange(c)
	if err != nil {
		return reportItem{}, err
	}
	if name, err := sc.clusterName(c.Cluster); err != nil || name != cluster {
		return reportItem{}, InvalidParameter.Errorf("The change of task %s names cluster %q; every change of a batch must be of the batch's cluster %s.", c.Task, c.Cluster, cluster)
	}
	id, _, ok, err := sc.taskRef(cluster, c.Task)
	if err != nil {
		return reportItem{}, err
	}
	if !ok {
		return reportItem{}, errTaskNotFound()
	}
	if seen[id] {
		return reportItem{}, InvalidParameter.Errorf("Task %s has two changes in one batch; send the second once the first is acknowledged.", c.Task)
	}
	seen[id] = true
	return reportItem{id: id, ch: ch}, nil
}

// rejectInto records err as the rejection of change i, if it is the
// caller's fault (a 4xx API error); it reports whether it was.
func rejectInto(out *agentproto.StateChangesResponse, i int, err error) bool {
	var ae *awsapi.Error
	if !errors.As(err, &ae) || ae.Code.Status >= http.StatusInternalServerError {
		return false
	}
	out.Rejected = append(out.Rejected, agentproto.RejectedChange{Index: i, Code: ae.Code.Name, Message: ae.Message})
	return true
}

// applyReportItems applies items in one transaction; if something they
// read changed meanwhile, it applies each on its own, as
// SubmitTaskStateChange would. It returns the rejected ones.
func (s *Service) applyReportItems(ctx context.Context, sc scope, cluster string, items []reportItem) ([]agentproto.RejectedChange, error) {
	rejected, err := s.tryReportItems(ctx, sc, cluster, items)
	if !errors.Is(err, state.ErrConflict) {
		return rejected, err
	}
	out := &agentproto.StateChangesResponse{}
	for _, it := range items {
		if err := s.applyReportTo(ctx, sc, cluster, it.id, it.ch); err != nil && !rejectInto(out, it.index, err) {
			return nil, err
		}
	}
	return out.Rejected, nil
}

// tryReportItems is one attempt at a chunk of a batch: read the tasks, then
// which have assignments (keys only) and, if a change may stop a task,
// their instances and loads; apply each change, and commit the changed
// tasks together. What a report needs of a task's containers comes from
// its task definition, cached; an assignment is read whole only when its
// desired status must change.
func (s *Service) tryReportItems(ctx context.Context, sc scope, cluster string, items []reportItem) ([]agentproto.RejectedChange, error) {
	out := &agentproto.StateChangesResponse{}
	stops := slices.ContainsFunc(items, func(it reportItem) bool { return it.ch.status == agentproto.StatusStopped })
	reads := make([]state.Read, len(items))
	for k, it := range items {
		reads[k] = state.Read{Key: model.TaskKey(cluster, it.id)}
	}
	pages, err := sc.st.ReadAll(ctx, reads...)
	if err != nil {
		return nil, err
	}
	states := make([]*taskState, len(items))
	reads = reads[:0]
	instances := map[string]bool{}
	for k, it := range items {
		p := pages[k].Items
		if len(p) == 0 {
			rejectInto(out, it.index, errTaskNotFound())
			continue
		}
		ts := &taskState{task: new(model.Task), taskRev: p[0].Revision}
		if err := p[0].Decode(ts.task); err != nil {
			return nil, err
		}
		ts.wasStopped = ts.task.LastStatus == agentproto.StatusStopped
		states[k] = ts
		if inst := ts.task.InstanceID; inst != "" {
			reads = append(reads, state.Read{Key: model.AssignmentKey(cluster, inst, it.id), KeysOnly: true})
			if stops && !instances[inst] {
				instances[inst] = true
				reads = append(reads, state.Read{Key: model.InstanceKey(cluster, inst)}, state.Read{Key: model.LoadKey(cluster, inst)})
			}
		}
	}
	read := map[string]*state.Item{} // key -> item, of the second read
	if len(reads) > 0 {
		pages, err := sc.st.ReadAll(ctx, reads...)
		if err != nil {
			return nil, err
		}
		for _, p := range pages {
			if len(p.Items) > 0 {
				read[p.Items[0].Key] = &p.Items[0]
			}
		}
	}
	now := s.now()
	txn := sc.st.Txn()
	rel := releases{}
	changed := 0
	for k, it := range items {
		ts := states[k]
		if ts == nil {
			continue
		}
		inst := ts.task.InstanceID
		asgKey := model.AssignmentKey(cluster, inst, it.id)
		if inst != "" {
			if a := read[asgKey]; a != nil {
				ts.asgRev = a.Revision
			}
			ts.instanceItem = read[model.InstanceKey(cluster, inst)]
			ts.loadItem = read[model.LoadKey(cluster, inst)]
		}
		if ts.infos, err = s.taskDefinitionInfos(ctx, sc, ts.task.TaskDefinitionArn); err != nil {
			return nil, err
		}
		if ts.infos == nil && ts.asgRev > 0 {
			if err := ts.readAssignment(ctx, sc, asgKey); err != nil {
				return nil, err
			}
		}
		desired := ts.task.DesiredStatus
		ok, err := ts.apply(it.ch, now)
		if err != nil {
			if !rejectInto(out, it.index, err) {
				return nil, err
			}
			continue
		}
		if !ok {
			continue
		}
		if ts.assignment == nil && ts.asgRev > 0 && ts.task.DesiredStatus != desired && ts.task.LastStatus != agentproto.StatusStopped {
			if err := ts.readAssignment(ctx, sc, asgKey); err != nil {
				return nil, err
			}
			ts.syncAssignment()
		}
		if err := ts.stage(txn, cluster, rel); err != nil {
			return nil, err
		}
		changed++
	}
	if changed == 0 {
		return out.Rejected, nil
	}
	rel.stage(txn)
	if _, err := txn.Commit(ctx); err != nil {
		return nil, err
	}
	return out.Rejected, nil
}

// readAssignment reads the task's assignment whole; ErrConflict if it
// changed since its revision was read.
func (ts *taskState) readAssignment(ctx context.Context, sc scope, key string) error {
	a := new(agentproto.Assignment)
	rev, err := sc.st.Get(ctx, key, a)
	if errors.Is(err, state.ErrNotFound) || err == nil && rev != ts.asgRev {
		return state.ErrConflict
	}
	if err != nil {
		return err
	}
	ts.assignment = a
	return nil
}

// maxCachedInfos bounds the cache of task definitions' containers.
const maxCachedInfos = 10000

// taskDefinitionInfos returns what reports need of the containers of the
// task definition arn: which are essential, which have health checks
// (overrides change neither). Nil if the revision is gone (deleted): the
// caller then reads the task's assignment.
func (s *Service) taskDefinitionInfos(ctx context.Context, sc scope, arn string) (map[string]containerInfo, error) {
	if v, ok := s.infos.Load(arn); ok {
		return v.(map[string]containerInfo), nil
	}
	ref, problem := sc.parseTaskDefRef(arn)
	if problem != nil || ref.revision == 0 {
		return nil, nil
	}
	rec, _, err := getTaskDefinition(ctx, sc.st, ref)
	if errors.Is(err, state.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	infos := map[string]containerInfo{}
	for _, c := range rec.Def.ContainerDefinitions {
		infos[c.Name] = containerInfo{essential: c.Essential == nil || *c.Essential, healthCheck: c.HealthCheck != nil}
	}
	n := 0
	s.infos.Range(func(any, any) bool { n++; return n < maxCachedInfos })
	if n >= maxCachedInfos {
		s.infos.Clear()
	}
	s.infos.Store(arn, infos)
	return infos, nil
}
