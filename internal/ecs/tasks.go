package ecs

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/gantry-dev/gantry/internal/agentproto"
	"github.com/gantry-dev/gantry/internal/awsapi"
	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/state"
	"github.com/gantry-dev/gantry/internal/wire"
	w "github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// Tasks live one record per task (model.TaskKey: the wire shape plus the
// instance it is placed on and what it reserved there), beside the
// assignment its instance's agent is sent (model.AssignmentKey) until the
// agent reports it STOPPED. Creating a task, stopping it and its final
// report each change the task, its assignment and its instance's
// resources in one transaction. taskrun.go places tasks, taskstate.go
// applies the agent's reports, agentapi.go serves the agent's polls.

func (s *Service) taskActions(m awsapi.Model) map[string]awsapi.Handler {
	return map[string]awsapi.Handler{
		"RunTask":       awsapi.Action(m, s.RunTask),
		"StartTask":     awsapi.Action(m, s.StartTask),
		"StopTask":      awsapi.Action(m, s.StopTask),
		"DescribeTasks": awsapi.Action(m, s.DescribeTasks),
		"ListTasks":     awsapi.Action(m, s.ListTasks),
	}
}

// RunTask places count tasks of a task definition on instances of the
// cluster with room for them. Tasks that cannot be placed come back in
// failures, one per instance and reason, in the same answer.
func (s *Service) RunTask(ctx context.Context, in *w.RunTaskRequest) (*w.RunTaskResponse, error) {
	sc := s.scope(ctx)
	name, err := sc.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	count := int32(1)
	if in.Count != nil {
		count = *in.Count
	}
	if count < 1 || count > 10 {
		return nil, InvalidParameter.Errorf("count must be between 1 and 10, got %d.", count)
	}
	if err := checkLaunch(in); err != nil {
		return nil, err
	}
	if err := validateClientToken(in.ClientToken); err != nil {
		return nil, err
	}
	if _, _, err := activeCluster(ctx, sc, name); err != nil {
		return nil, err
	}
	spec, err := sc.buildSpec(ctx, name, runParams{
		taskDefinition: in.TaskDefinition, group: in.Group, startedBy: in.StartedBy, propagateTags: in.PropagateTags,
		overrides: in.Overrides, tags: in.Tags, managedTags: in.EnableECSManagedTags, execCmd: in.EnableExecuteCommand,
		network: in.NetworkConfiguration, volumes: in.VolumeConfigurations,
	})
	if err != nil {
		return nil, err
	}
	req, err := placementRequest(spec, int(count), in.PlacementStrategy, in.PlacementConstraints, defaultRunTaskStrategies)
	if err != nil {
		return nil, err
	}
	var tok *tokenClaim
	if in.ClientToken != "" {
		var replay *w.RunTaskResponse
		tok, replay, err = s.claimToken(ctx, sc, in)
		if err != nil || replay != nil {
			return replay, err
		}
	}
	s.registerScope(ctx, sc)
	tasks, failures, err := s.place(ctx, &placeJob{sc: sc, spec: spec, req: req, tok: tok})
	if errors.Is(err, errTokenTaken) {
		return s.replayToken(ctx, sc, in)
	}
	if err != nil {
		return nil, err
	}
	out := &w.RunTaskResponse{Tasks: make([]w.Task, 0, len(tasks)), Failures: nonNil(failures)}
	for _, t := range tasks {
		out.Tasks = append(out.Tasks, t.Task)
	}
	if tok != nil && !tok.rec.Done {
		if err := tok.finish(ctx, out.Failures); errors.Is(err, errTokenTaken) {
			return s.replayToken(ctx, sc, in)
		} else if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// checkLaunch refuses the launch options Gantry cannot honour yet: only
// EC2, without capacity providers.
func checkLaunch(in *w.RunTaskRequest) error {
	if len(in.CapacityProviderStrategy) > 0 {
		if in.LaunchType != "" {
			return InvalidParameter.Errorf("Specifying both a launchType and capacityProviderStrategy is not supported.")
		}
		return InvalidParameter.Errorf("capacityProviderStrategy is not supported yet by Gantry; omit it (or give launchType EC2) to run on the cluster's container instances.")
	}
	switch in.LaunchType {
	case "", compatEC2:
	default:
		return InvalidParameter.Errorf("launchType %s is not supported yet by Gantry; use EC2 (the default), which runs tasks on the cluster's container instances.", in.LaunchType)
	}
	if in.PlatformVersion != "" {
		return InvalidParameter.Errorf("The platform version must be null when specifying an EC2 launch type.")
	}
	return nil
}

// StartTask starts one task of a task definition on each of the named
// container instances (1 to 10). An instance without room, or whose agent
// is disconnected, comes back in failures.
func (s *Service) StartTask(ctx context.Context, in *w.StartTaskRequest) (*w.StartTaskResponse, error) {
	sc := s.scope(ctx)
	name, err := sc.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	if len(in.ContainerInstances) == 0 || len(in.ContainerInstances) > 10 {
		return nil, InvalidParameter.Errorf("containerInstances must list 1 to 10 container instance ids or ARNs; %d were given.", len(in.ContainerInstances))
	}
	if _, _, err := activeCluster(ctx, sc, name); err != nil {
		return nil, err
	}
	var ids []string
	for _, ref := range in.ContainerInstances {
		id, arn, ok, err := sc.instanceRef(name, ref)
		if err != nil {
			return nil, err
		}
		if ok {
			_, err = sc.st.Get(ctx, model.InstanceKey(name, id), &model.ContainerInstance{})
			if errors.Is(err, state.ErrNotFound) {
				ok = false
			} else if err != nil {
				return nil, err
			}
		}
		if !ok {
			return nil, InvalidParameter.Errorf("Container instance %s is not a registered container instance of cluster %s.", arn, name)
		}
		ids = append(ids, id)
	}
	spec, err := sc.buildSpec(ctx, name, runParams{
		taskDefinition: in.TaskDefinition, group: in.Group, startedBy: in.StartedBy, propagateTags: in.PropagateTags,
		overrides: in.Overrides, tags: in.Tags, managedTags: in.EnableECSManagedTags, execCmd: in.EnableExecuteCommand,
		network: in.NetworkConfiguration, volumes: in.VolumeConfigurations,
	})
	if err != nil {
		return nil, err
	}
	req, err := placementRequest(spec, len(ids), nil, nil, nil)
	if err != nil {
		return nil, err
	}
	req.Constraints = nil // StartTask names the instances: no constraint applies
	s.registerScope(ctx, sc)
	tasks, failures, err := s.place(ctx, &placeJob{sc: sc, spec: spec, req: req, only: ids})
	if err != nil {
		return nil, err
	}
	out := &w.StartTaskResponse{Tasks: make([]w.Task, 0, len(tasks)), Failures: nonNil(failures)}
	for _, t := range tasks {
		out.Tasks = append(out.Tasks, t.Task)
	}
	return out, nil
}

// defaultStopReason is the stoppedReason of a StopTask without a reason.
const defaultStopReason = "Task stopped by user"

// StopTask asks a task to stop: its desired status becomes STOPPED (stop
// code UserInitiated) and its agent is told on its next poll; the task is
// STOPPED when the agent reports it so. A task whose instance is no longer
// registered stops at once. Stopping a task that is already stopping or
// stopped returns it unchanged.
func (s *Service) StopTask(ctx context.Context, in *w.StopTaskRequest) (*w.StopTaskResponse, error) {
	sc := s.scope(ctx)
	name, err := sc.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	if len(in.Reason) > 255 {
		return nil, InvalidParameter.Errorf("reason must be at most 255 characters; it has %d.", len(in.Reason))
	}
	if err := existingCluster(ctx, sc, name); err != nil {
		return nil, err
	}
	id, _, ok, err := sc.taskRef(name, in.Task)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errTaskNotFound()
	}
	reason := in.Reason
	if reason == "" {
		reason = defaultStopReason
	}
	t, err := s.stopTask(ctx, sc, name, id, agentproto.StopCodeUserInitiated, reason, false)
	if errors.Is(err, state.ErrNotFound) {
		return nil, errTaskNotFound()
	}
	if err != nil {
		return nil, err
	}
	out := t.Task
	out.Tags = nil
	return &w.StopTaskResponse{Task: &out}, nil
}

// stopTask sets a task's desired status STOPPED with the stop code and
// reason given, and tells its agent; a task that nothing can run any more
// (its instance is gone), or with now, is STOPPED at once and gives its
// reservation back. A task already stopping is returned unchanged;
// state.ErrNotFound if there is no such task.
func (s *Service) stopTask(ctx context.Context, sc scope, cluster, id, code, reason string, now bool) (*model.Task, error) {
	return state.Retry(ctx, func() (*model.Task, error) {
		cur, err := sc.loadTaskState(ctx, cluster, id)
		if err != nil {
			return nil, err
		}
		t := cur.task
		if t.DesiredStatus == agentproto.StatusStopped && (!now || t.LastStatus == agentproto.StatusStopped) {
			return t, nil
		}
		at := s.now()
		if t.DesiredStatus != agentproto.StatusStopped {
			t.DesiredStatus = agentproto.StatusStopped
			t.StoppedReason, t.StopCode = reason, code
			t.StoppingAt = wire.At(at)
		}
		t.Version++
		if now || cur.assignment == nil || cur.instanceItem == nil {
			// Nothing can run the task any more: it stops now.
			finishStop(t, nil, at)
		} else {
			cur.assignment.DesiredStatus = t.DesiredStatus
			cur.assignment.StoppedReason, cur.assignment.StopCode = t.StoppedReason, t.StopCode
			cur.assignment.Version = t.Version
			cur.assignmentChanged = true
		}
		return t, cur.commit(ctx, sc, cluster)
	})
}

func errTaskNotFound() error {
	return InvalidParameter.Errorf("The referenced task was not found.")
}

// DescribeTasks describes up to 100 tasks by id or ARN; unknown ones come
// back in failures with reason MISSING. Stopped tasks stay describable until
// they are purged, an hour after they stopped.
func (s *Service) DescribeTasks(ctx context.Context, in *w.DescribeTasksRequest) (*w.DescribeTasksResponse, error) {
	sc := s.scope(ctx)
	name, err := sc.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	// ECS checks the cluster first, then the list.
	if err := existingCluster(ctx, sc, name); err != nil {
		return nil, err
	}
	if len(in.Tasks) == 0 {
		return nil, InvalidParameter.Errorf("Tasks cannot be empty.")
	}
	if len(in.Tasks) > 100 {
		return nil, InvalidParameter.Errorf("tasks must list 1 to 100 task ids or ARNs; %d were given.", len(in.Tasks))
	}
	out := &w.DescribeTasksResponse{Tasks: []w.Task{}, Failures: []w.Failure{}}
	var reads []state.Read
	var arns []string
	seen := map[string]bool{}
	for _, ref := range in.Tasks {
		id, arn, ok, err := sc.taskRef(name, ref)
		if err != nil {
			return nil, err
		}
		if !ok {
			out.Failures = append(out.Failures, w.Failure{Arn: arn, Reason: "MISSING"})
			continue
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		reads = append(reads, state.Read{Key: model.TaskKey(name, id)})
		arns = append(arns, arn)
	}
	if len(reads) == 0 {
		return out, nil
	}
	pages, err := sc.st.ReadAll(ctx, reads...)
	if err != nil {
		return nil, err
	}
	withTags := slices.Contains(in.Include, "TAGS")
	for i, p := range pages {
		if len(p.Items) == 0 {
			out.Failures = append(out.Failures, w.Failure{Arn: arns[i], Reason: "MISSING"})
			continue
		}
		var t model.Task
		if err := p.Items[0].Decode(&t); err != nil {
			return nil, err
		}
		if !withTags {
			t.Tags = nil
		} else {
			t.Tags = nonNil(t.Tags)
		}
		out.Tasks = append(out.Tasks, t.Task)
	}
	return out, nil
}

// taskFilter is the part of a task record ListTasks filters on.
type taskFilter struct {
	TaskArn           string `json:"taskArn"`
	TaskDefinitionArn string `json:"taskDefinitionArn"`
	StartedBy         string `json:"startedBy"`
	DesiredStatus     string `json:"desiredStatus"`
	LaunchType        string `json:"launchType"`
	Group             string `json:"group"`
	InstanceID        string `json:"gantryInstanceId"`
}

// ListTasks lists the ARNs of a cluster's tasks of one desired status
// (RUNNING by default; PENDING lists none, as in ECS), optionally of one
// family, startedBy value, container instance, launch type or service (its
// tasks are those of group service:<name>). A daemonName lists none:
// daemons are not ECS managed daemons here.
func (s *Service) ListTasks(ctx context.Context, in *w.ListTasksRequest) (*w.ListTasksResponse, error) {
	sc := s.scope(ctx)
	name, err := sc.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	limit, err := pageSize(in.MaxResults, 100, 100)
	if err != nil {
		return nil, err
	}
	if err := existingCluster(ctx, sc, name); err != nil {
		return nil, err
	}
	desired := in.DesiredStatus
	if desired == "" {
		desired = agentproto.StatusRunning
	}
	instanceID, none := "", in.DaemonName != ""
	if in.ContainerInstance != "" {
		id, _, ok, err := sc.instanceRef(name, in.ContainerInstance)
		if err != nil {
			return nil, err
		}
		instanceID, none = id, none || !ok
	}
	if none {
		if _, err := decodeToken("ListTasks", in.NextToken); err != nil {
			return nil, err
		}
		return &w.ListTasksResponse{TaskArns: []string{}}, nil
	}
	arns, next, err := listFiltered(ctx, sc.st, "ListTasks", model.TasksPrefix(name), in.NextToken, limit, func(it state.Item) (string, bool, error) {
		var t taskFilter
		if err := it.Decode(&t); err != nil {
			return "", false, err
		}
		keep := t.DesiredStatus == desired &&
			(in.Family == "" || familyOf(t.TaskDefinitionArn) == in.Family) &&
			(in.StartedBy == "" || t.StartedBy == in.StartedBy) &&
			(instanceID == "" || t.InstanceID == instanceID) &&
			(in.LaunchType == "" || t.LaunchType == in.LaunchType) &&
			(in.ServiceName == "" || t.Group == model.ServiceGroup(in.ServiceName))
		return t.TaskArn, keep, nil
	})
	if err != nil {
		return nil, err
	}
	return &w.ListTasksResponse{TaskArns: arns, NextToken: next}, nil
}

// familyOf returns the family of a task definition ARN.
func familyOf(arn string) string {
	_, rest, _ := strings.Cut(arn, ":task-definition/")
	fam, _, _ := strings.Cut(rest, ":")
	return fam
}

// taskARN is the long-format ARN of a task.
func (sc scope) taskARN(cluster, id string) string {
	return sc.arn("task/" + cluster + "/" + id)
}

// taskRef resolves a task parameter (an id, or an ARN in the long form
// task/<cluster>/<id> or the old short form task/<id>) to an id within
// cluster. ok is false when ref cannot name a task of this cluster (not an
// id, or an ARN of another cluster, region or account): callers treat it as
// not found. arn is the ARN to report the reference by.
func (sc scope) taskRef(cluster, ref string) (id, arn string, ok bool, err error) {
	if !model.IsARN(ref) {
		return ref, sc.taskARN(cluster, ref), model.IsID(ref), nil
	}
	a, err := model.ParseARN(ref)
	if err != nil || a.Service != "ecs" || a.ResourceType() != "task" || a.ResourceID() == "" {
		return "", "", false, InvalidParameter.Errorf("%q is not a task ARN: expected arn:aws:ecs:%s:%s:task/<cluster>/<id>.", ref, sc.Region, sc.Account)
	}
	rest, inCluster := a.ResourceID(), cluster
	if c, i, two := strings.Cut(rest, "/"); two {
		inCluster, rest = c, i
	}
	ok = a.Region == sc.Region && a.Account == sc.Account && inCluster == cluster && model.IsID(rest)
	return rest, ref, ok, nil
}
