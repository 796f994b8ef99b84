package ecs

import (
	"context"
	"errors"
	"maps"
	"slices"

	"github.com/gantry-dev/gantry/internal/awsapi"
	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/placement/cql"
	"github.com/gantry-dev/gantry/internal/state"
	"github.com/gantry-dev/gantry/internal/wire"
	w "github.com/gantry-dev/gantry/internal/wire/ecswire"
)

func (s *Service) instanceActions(m awsapi.Model) map[string]awsapi.Handler {
	// ListContainerInstances also takes status INACTIVE, which lists the
	// deregistered instances; the model's enum leaves it out.
	lm := m
	lm.Enums = maps.Clone(m.Enums)
	lm.Enums["ContainerInstanceStatus"] = append(slices.Clone(m.Enums["ContainerInstanceStatus"]), model.InstanceInactive)
	return map[string]awsapi.Handler{
		"RegisterContainerInstance":     awsapi.Action(m, s.RegisterContainerInstance),
		"DeregisterContainerInstance":   awsapi.Action(m, s.DeregisterContainerInstance),
		"DescribeContainerInstances":    awsapi.Action(m, s.DescribeContainerInstances),
		"ListContainerInstances":        awsapi.Action(lm, s.ListContainerInstances),
		"UpdateContainerInstancesState": awsapi.Action(m, s.UpdateContainerInstancesState),
	}
}

// RegisterContainerInstance registers a host running an agent into a
// cluster, or, given containerInstanceArn, registers that instance again (an
// agent restarting) and updates it in place. The default cluster is created
// on first use, as the ECS agent's first registration does.
func (s *Service) RegisterContainerInstance(ctx context.Context, in *w.RegisterContainerInstanceRequest) (*w.RegisterContainerInstanceResponse, error) {
	sc := s.scope(ctx)
	name, err := sc.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	total, err := registeredResources(in.TotalResources, in.PlatformDevices)
	if err != nil {
		return nil, err
	}
	var attrs []w.Attribute
	for _, a := range in.Attributes {
		if err := validateAttribute(a, true); err != nil {
			return nil, err
		}
		attrs = setAttribute(attrs, a)
	}
	if n := countCustom(attrs); n > maxCustomAttributes {
		return nil, errCustomLimit(InvalidParameter, "being registered", n)
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	s.registerScope(ctx, sc)
	ec2ID, err := identityInstanceID(in.InstanceIdentityDocument)
	if err != nil {
		return nil, err
	}
	id := ""
	if in.ContainerInstanceArn != "" {
		ref, arn, ok, err := sc.instanceRef(name, in.ContainerInstanceArn)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, ClientException.Errorf("Container instance %s is not registered in cluster %s of this account and region; register without containerInstanceArn to get a new one.", arn, name)
		}
		id = ref
	}
	return state.Retry(ctx, func() (*w.RegisterContainerInstanceResponse, error) {
		_, crev, err := activeCluster(ctx, sc, name)
		for ClusterNotFound.Is(err) && name == model.DefaultCluster {
			if _, err := s.CreateCluster(ctx, &w.CreateClusterRequest{}); err != nil {
				return nil, err
			}
			_, crev, err = activeCluster(ctx, sc, name)
		}
		if err != nil {
			return nil, err
		}
		var ci *model.ContainerInstance
		rev := int64(0)
		if id == "" {
			ci = s.newInstance(sc, name, total, attrs, in)
		} else {
			ci, rev, err = s.reregister(ctx, sc, name, id, total, attrs, in)
			if err != nil {
				return nil, err
			}
		}
		if ec2ID != "" {
			ci.Ec2InstanceId = ec2ID
		}
		key := model.InstanceKey(name, idOf(ci))
		// Registering is the agent's first sign of life: it counts as a
		// heartbeat, so the instance is connected until its polls take over.
		beat := model.Heartbeat{At: s.now().UnixMilli()}
		if _, err := sc.st.Txn().Expect(model.ClusterKey(name), crev).Expect(key, rev).Put(key, ci).
			Put(model.HeartbeatKey(name, idOf(ci)), beat).Commit(ctx); err != nil {
			return nil, err
		}
		s.forgetBeat(sc, name, idOf(ci))
		if err := s.fillLive(ctx, sc, name, ci); err != nil {
			return nil, err
		}
		return &w.RegisterContainerInstanceResponse{ContainerInstance: ci}, nil
	})
}

func (s *Service) newInstance(sc scope, cluster string, total []w.Resource, attrs []w.Attribute, in *w.RegisterContainerInstanceRequest) *model.ContainerInstance {
	sortAttributes(attrs)
	return &model.ContainerInstance{
		ContainerInstanceArn: sc.instanceARN(cluster, model.NewID()),
		Status:               model.InstanceActive,
		AgentConnected:       true,
		RegisteredAt:         wire.At(s.now()),
		RegisteredResources:  total,
		RemainingResources:   slices.Clone(total),
		Attributes:           attrs,
		VersionInfo:          in.VersionInfo,
		Tags:                 in.Tags,
		Version:              1,
	}
}

// reregister applies a registration to the existing instance id: new
// resources (keeping what tasks use), the agent-reported attributes replaced,
// custom attributes and tags merged, the agent connected again.
func (s *Service) reregister(ctx context.Context, sc scope, cluster, id string, total []w.Resource, attrs []w.Attribute, in *w.RegisterContainerInstanceRequest) (*model.ContainerInstance, int64, error) {
	ci, rev, key, err := loadInstance(ctx, sc.st, cluster, id, true)
	if errors.Is(err, state.ErrNotFound) {
		return nil, 0, ClientException.Errorf("Container instance %s is not registered in cluster %s; register without containerInstanceArn to get a new one.", sc.instanceARN(cluster, id), cluster)
	}
	if err != nil {
		return nil, 0, err
	}
	if key != model.InstanceKey(cluster, id) {
		return nil, 0, ClientException.Errorf("Container instance %s was deregistered and cannot register again; register without containerInstanceArn to get a new one.", ci.ContainerInstanceArn)
	}
	merged := slices.DeleteFunc(ci.Attributes, func(a w.Attribute) bool { return !isCustomAttribute(a.Name) })
	for _, a := range attrs {
		merged = setAttribute(merged, a)
	}
	if n := countCustom(merged); n > maxCustomAttributes {
		return nil, 0, errCustomLimit(InvalidParameter, ci.ContainerInstanceArn, n)
	}
	sortAttributes(merged)
	tags := slices.Clone(ci.Tags)
	for _, t := range in.Tags {
		if i := slices.IndexFunc(tags, func(x w.Tag) bool { return x.Key == t.Key }); i >= 0 {
			tags[i] = t
		} else {
			tags = append(tags, t)
		}
	}
	if err := validateTags(tags); err != nil {
		return nil, 0, err
	}
	ci.RemainingResources = carryUsage(total, ci.RegisteredResources, ci.RemainingResources)
	ci.RegisteredResources = total
	ci.Attributes = merged
	ci.Tags = tags
	if in.VersionInfo != nil {
		ci.VersionInfo = in.VersionInfo
	}
	ci.AgentConnected = true
	ci.Version++
	return ci, rev, nil
}

// idOf returns the id at the end of an instance's ARN.
func idOf(ci *model.ContainerInstance) string {
	a := ci.ContainerInstanceArn
	for i := len(a) - 1; i >= 0; i-- {
		if a[i] == '/' {
			return a[i+1:]
		}
	}
	return a
}

// DeregisterContainerInstance removes an instance from its cluster: its
// record moves to the deregistered ones, INACTIVE, still describable.
// Without force it is refused while tasks run on the instance.
func (s *Service) DeregisterContainerInstance(ctx context.Context, in *w.DeregisterContainerInstanceRequest) (*w.DeregisterContainerInstanceResponse, error) {
	sc := s.scope(ctx)
	name, err := sc.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	id, arn, ok, err := sc.instanceRef(name, in.ContainerInstance)
	if err != nil {
		return nil, err
	}
	if _, _, err := activeCluster(ctx, sc, name); err != nil {
		return nil, err
	}
	notFound := InvalidParameter.Errorf("Container instance not found: %s is not a registered container instance of cluster %s.", arn, name)
	if !ok {
		return nil, notFound
	}
	return state.Retry(ctx, func() (*w.DeregisterContainerInstanceResponse, error) {
		ci, rev, _, err := loadInstance(ctx, sc.st, name, id, false)
		if errors.Is(err, state.ErrNotFound) {
			return nil, notFound
		}
		if err != nil {
			return nil, err
		}
		if err := s.fillLive(ctx, sc, name, ci); err != nil {
			return nil, err
		}
		if n := ci.RunningTasksCount + ci.PendingTasksCount; n > 0 && (in.Force == nil || !*in.Force) {
			return nil, withHint(InvalidParameter.Errorf("Found running tasks on the instance."), "container instance %s has %d running or pending task(s); stop them first, or deregister with force to orphan them", ci.ContainerInstanceArn, n)
		}
		ci.Status = model.InstanceInactive
		ci.AgentConnected = false
		ci.Version++
		_, err = sc.st.Txn().
			Expect(model.InstanceKey(name, id), rev).
			Delete(model.InstanceKey(name, id)).
			Delete(model.HeartbeatKey(name, id)).
			Delete(model.LoadKey(name, id)).
			Put(model.DeregisteredKey(name, id), ci).
			Commit(ctx)
		if err != nil {
			return nil, err
		}
		s.forgetBeat(sc, name, id)
		return &w.DeregisterContainerInstanceResponse{ContainerInstance: ci}, nil
	})
}

// DescribeContainerInstances describes up to 100 instances of a cluster,
// deregistered ones included; unknown ones come back in failures with reason
// MISSING.
func (s *Service) DescribeContainerInstances(ctx context.Context, in *w.DescribeContainerInstancesRequest) (*w.DescribeContainerInstancesResponse, error) {
	sc := s.scope(ctx)
	name, err := sc.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	// ECS checks the cluster first, then the list.
	if err := existingCluster(ctx, sc, name); err != nil {
		return nil, err
	}
	if len(in.ContainerInstances) == 0 {
		return nil, ClientException.Errorf("Container Instances cannot be empty.")
	}
	if len(in.ContainerInstances) > 100 {
		return nil, InvalidParameter.Errorf("containerInstances must list 1 to 100 container instance ids or ARNs; %d were given.", len(in.ContainerInstances))
	}
	out := &w.DescribeContainerInstancesResponse{ContainerInstances: []w.ContainerInstance{}, Failures: []w.Failure{}}
	seen := map[string]bool{}
	for _, ref := range in.ContainerInstances {
		id, arn, ok, err := sc.instanceRef(name, ref)
		if err != nil {
			return nil, err
		}
		if ok && seen[id] {
			continue
		}
		var ci *model.ContainerInstance
		if ok {
			seen[id] = true
			ci, _, _, err = loadInstance(ctx, sc.st, name, id, true)
			if err != nil && !errors.Is(err, state.ErrNotFound) {
				return nil, err
			}
		}
		if ci == nil {
			out.Failures = append(out.Failures, w.Failure{Arn: arn, Reason: "MISSING"})
			continue
		}
		if !slices.Contains(in.Include, "TAGS") {
			ci.Tags = nil
		}
		if slices.Contains(in.Include, "CONTAINER_INSTANCE_HEALTH") {
			if ci.HealthStatus == nil {
				// No health report from the agent yet.
				ci.HealthStatus = &w.ContainerInstanceHealthStatus{OverallStatus: "INSUFFICIENT_DATA"}
			}
		} else {
			ci.HealthStatus = nil
		}
		out.ContainerInstances = append(out.ContainerInstances, *ci)
	}
	if err := s.fillLive(ctx, sc, name, ptrs(out.ContainerInstances)...); err != nil {
		return nil, err
	}
	return out, nil
}

// ptrs returns pointers to the elements of s.
func ptrs[T any](s []T) []*T {
	out := make([]*T, len(s))
	for i := range s {
		out[i] = &s[i]
	}
	return out
}

// ListContainerInstances lists the ARNs of a cluster's registered
// instances, optionally of one status; status INACTIVE lists the
// deregistered ones.
func (s *Service) ListContainerInstances(ctx context.Context, in *w.ListContainerInstancesRequest) (*w.ListContainerInstancesResponse, error) {
	sc := s.scope(ctx)
	name, err := sc.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	var filter *cql.Expr
	if in.Filter != "" {
		if filter, err = cql.Parse(in.Filter); err != nil {
			return nil, InvalidParameter.Errorf("Invalid filter: %v.", err)
		}
	}
	limit, err := pageSize(in.MaxResults, 100, 100)
	if err != nil {
		return nil, err
	}
	if err := existingCluster(ctx, sc, name); err != nil {
		return nil, err
	}
	loads, beats := map[string]model.InstanceLoad{}, map[string]int64{}
	if filter != nil {
		if err := readLoads(ctx, sc.st, name, loads, beats); err != nil {
			return nil, err
		}
	}
	now := s.now()
	prefix := model.InstancesPrefix(name)
	if in.Status == model.InstanceInactive {
		prefix = model.DeregisteredPrefix(name)
	}
	arns, next, err := listFiltered(ctx, sc.st, "ListContainerInstances", prefix, in.NextToken, limit, func(it state.Item) (string, bool, error) {
		var ci model.ContainerInstance
		if err := it.Decode(&ci); err != nil {
			return "", false, err
		}
		keep := in.Status == "" || ci.Status == in.Status
		if keep && filter != nil {
			id := lastSegment(it.Key)
			f := s.facts(&ci, loads[id], beats[id], now)
			keep = filter.Match(&f)
		}
		return ci.ContainerInstanceArn, keep, nil
	})
	if err != nil {
		return nil, err
	}
	return &w.ListContainerInstancesResponse{ContainerInstanceArns: arns, NextToken: next}, nil
}

// UpdateContainerInstancesState sets up to 10 instances ACTIVE or DRAINING.
// Unknown instances come back in failures with reason MISSING.
func (s *Service) UpdateContainerInstancesState(ctx context.Context, in *w.UpdateContainerInstancesStateRequest) (*w.UpdateContainerInstancesStateResponse, error) {
	sc := s.scope(ctx)
	name, err := sc.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	if in.Status != model.InstanceActive && in.Status != model.InstanceDraining {
		return nil, InvalidParameter.Errorf("Container instances can only be set to ACTIVE or DRAINING, not %s.", in.Status)
	}
	if len(in.ContainerInstances) == 0 || len(in.ContainerInstances) > 10 {
		return nil, InvalidParameter.Errorf("containerInstances must list 1 to 10 container instance ids or ARNs; %d were given.", len(in.ContainerInstances))
	}
	type target struct{ id, arn string }
	var targets []target
	out := &w.UpdateContainerInstancesStateResponse{ContainerInstances: []w.ContainerInstance{}, Failures: []w.Failure{}}
	for _, ref := range in.ContainerInstances {
		id, arn, ok, err := sc.instanceRef(name, ref)
		if err != nil {
			return nil, err
		}
		if !ok {
			out.Failures = append(out.Failures, w.Failure{Arn: arn, Reason: "MISSING"})
		} else if !slices.ContainsFunc(targets, func(t target) bool { return t.id == id }) {
			targets = append(targets, target{id, arn})
		}
	}
	if _, _, err := activeCluster(ctx, sc, name); err != nil {
		return nil, err
	}
	for _, t := range targets {
		var failure *w.Failure
		var unchanged *model.ContainerInstance
		ci, err := state.Update(ctx, sc.st, model.InstanceKey(name, t.id), func(ci *model.ContainerInstance, found bool) (*model.ContainerInstance, error) {
			failure, unchanged = nil, nil
			switch {
			case !found:
				failure = &w.Failure{Arn: t.arn, Reason: "MISSING"}
				return nil, errUnchanged
			case ci.Status == in.Status:
				unchanged = ci
				return nil, errUnchanged
			case ci.Status != model.InstanceActive && ci.Status != model.InstanceDraining:
				failure = &w.Failure{Arn: ci.ContainerInstanceArn, Reason: "INVALID_STATE",
					Detail: "A container instance in status " + ci.Status + " cannot be set to " + in.Status + "."}
				return nil, errUnchanged
			}
			ci.Status = in.Status
			ci.Version++
			return ci, nil
		})
		switch {
		case errors.Is(err, errUnchanged) && failure != nil:
			out.Failures = append(out.Failures, *failure)
			continue
		case errors.Is(err, errUnchanged):
			ci = unchanged
		case err != nil:
			return nil, err
		}
		out.ContainerInstances = append(out.ContainerInstances, *ci)
	}
	if err := s.fillLive(ctx, sc, name, ptrs(out.ContainerInstances)...); err != nil {
		return nil, err
	}
	return out, nil
}

// errUnchanged aborts a state.Update that has nothing to write.
var errUnchanged = errors.New("unchanged")
