package ecs

import (
	"context"
	"errors"
	"slices"
	"strconv"

	"github.com/gantry-dev/gantry/internal/awsapi"
	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/state"
	"github.com/gantry-dev/gantry/internal/wire"
	w "github.com/gantry-dev/gantry/internal/wire/ecswire"
)

func (s *Service) clusterActions(m awsapi.Model) map[string]awsapi.Handler {
	return map[string]awsapi.Handler{
		"CreateCluster":         awsapi.Action(m, s.CreateCluster),
		"DescribeClusters":      awsapi.Action(m, s.DescribeClusters),
		"ListClusters":          awsapi.Action(m, s.ListClusters),
		"UpdateCluster":         awsapi.Action(m, s.UpdateCluster),
		"UpdateClusterSettings": awsapi.Action(m, s.UpdateClusterSettings),
		"DeleteCluster":         awsapi.Action(m, s.DeleteCluster),
	}
}

// fargateProviders are the capacity providers every cluster can use.
var fargateProviders = []string{"FARGATE", "FARGATE_SPOT"}

// CreateCluster creates a cluster, or returns the existing ACTIVE one of that
// name unchanged, as ECS does. An INACTIVE cluster of that name is recreated.
func (s *Service) CreateCluster(ctx context.Context, in *w.CreateClusterRequest) (*w.CreateClusterResponse, error) {
	sc := s.scope(ctx)
	name := in.ClusterName
	if name == "" {
		name = model.DefaultCluster
	}
	if !validName(name) {
		return nil, InvalidParameter.Errorf("Cluster name %q is not valid: up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed.", name)
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	if err := validateClusterSettings(in.Settings); err != nil {
		return nil, err
	}
	if err := validateCapacityProviders(in.CapacityProviders, in.DefaultCapacityProviderStrategy); err != nil {
		return nil, err
	}
	return state.Retry(ctx, func() (*w.CreateClusterResponse, error) {
		var cur model.Cluster
		rev, err := sc.st.Get(ctx, model.ClusterKey(name), &cur)
		if err == nil && cur.Status != model.ClusterInactive {
			out := cur
			return &w.CreateClusterResponse{Cluster: s.withCounts(ctx, sc, &out)}, nil
		}
		if err != nil && !errors.Is(err, state.ErrNotFound) {
			return nil, err
		}
		c := &model.Cluster{
			ClusterArn:                      sc.arn("cluster/" + name),
			ClusterName:                     name,
			Status:                          model.ClusterActive,
			Settings:                        mergeSettings(defaultClusterSettings(), in.Settings),
			Configuration:                   in.Configuration,
			CapacityProviders:               nonNil(in.CapacityProviders),
			DefaultCapacityProviderStrategy: nonNil(in.DefaultCapacityProviderStrategy),
			Tags:                            in.Tags,
			Statistics:                      []w.KeyValuePair{},
		}
		if in.ServiceConnectDefaults != nil {
			c.ServiceConnectDefaults = &w.ClusterServiceConnectDefaults{Namespace: in.ServiceConnectDefaults.Namespace}
		}
		if _, err := sc.st.Txn().Expect(model.ClusterKey(name), rev).Put(model.ClusterKey(name), c).Commit(ctx); err != nil {
			return nil, err
		}
		return &w.CreateClusterResponse{Cluster: s.withCounts(ctx, sc, c)}, nil
	})
}

// DescribeClusters describes up to 100 clusters; unknown ones come back in
// failures with reason MISSING.
func (s *Service) DescribeClusters(ctx context.Context, in *w.DescribeClustersRequest) (*w.DescribeClustersResponse, error) {
	sc := s.scope(ctx)
	refs := in.Clusters
	if len(refs) == 0 {
		refs = []string{model.DefaultCluster}
	}
	if len(refs) > 100 {
		return nil, InvalidParameter.Errorf("At most 100 clusters can be described at once; %d were given.", len(refs))
	}
	out := &w.DescribeClustersResponse{Clusters: []w.Cluster{}, Failures: []w.Failure{}}
	for _, ref := range refs {
		name, err := sc.clusterName(ref)
		if err != nil {
			arn := ref
			if !model.IsARN(ref) {
				arn = sc.arn("cluster/" + ref)
			}
			out.Failures = append(out.Failures, w.Failure{Arn: arn, Reason: "MISSING"})
			continue
		}
		c, _, n, found, err := readCluster(ctx, sc.st, name)
		if err != nil {
			return nil, err
		}
		if !found {
			out.Failures = append(out.Failures, w.Failure{Arn: sc.arn("cluster/" + name), Reason: "MISSING"})
			continue
		}
		desc := describe(&c, n)
		if !slices.Contains(in.Include, "SETTINGS") {
			desc.Settings = nil
		}
		if !slices.Contains(in.Include, "TAGS") {
			desc.Tags = nil
		}
		if !slices.Contains(in.Include, "CONFIGURATIONS") {
			desc.Configuration = nil
		}
		if !slices.Contains(in.Include, "STATISTICS") {
			desc.Statistics = nil
		}
		if !slices.Contains(in.Include, "ATTACHMENTS") {
			desc.Attachments = nil
		}
		out.Clusters = append(out.Clusters, *desc)
	}
	return out, nil
}

// ListClusters lists the ARNs of ACTIVE clusters, in name order.
func (s *Service) ListClusters(ctx context.Context, in *w.ListClustersRequest) (*w.ListClustersResponse, error) {
	sc := s.scope(ctx)
	limit, err := pageSize(in.MaxResults, 100, 100)
	if err != nil {
		return nil, err
	}
	arns, next, err := listFiltered(ctx, sc.st, "ListClusters", model.ClustersPrefix, in.NextToken, limit, func(it state.Item) (string, bool, error) {
		var c model.Cluster
		if err := it.Decode(&c); err != nil {
			return "", false, err
		}
		return c.ClusterArn, c.Status != model.ClusterInactive, nil
	})
	if err != nil {
		return nil, err
	}
	return &w.ListClustersResponse{ClusterArns: arns, NextToken: next}, nil
}

// UpdateCluster changes a cluster's settings, configuration and Service
// Connect defaults.
func (s *Service) UpdateCluster(ctx context.Context, in *w.UpdateClusterRequest) (*w.UpdateClusterResponse, error) {
	if err := validateClusterSettings(in.Settings); err != nil {
		return nil, err
	}
	c, err := s.updateCluster(ctx, in.Cluster, func(c *model.Cluster) {
		c.Settings = mergeSettings(c.Settings, in.Settings)
		if in.Configuration != nil {
			c.Configuration = in.Configuration
		}
		if in.ServiceConnectDefaults != nil {
			c.ServiceConnectDefaults = &w.ClusterServiceConnectDefaults{Namespace: in.ServiceConnectDefaults.Namespace}
		}
	})
	if err != nil {
		return nil, err
	}
	return &w.UpdateClusterResponse{Cluster: c}, nil
}

// UpdateClusterSettings changes a cluster's settings (containerInsights).
func (s *Service) UpdateClusterSettings(ctx context.Context, in *w.UpdateClusterSettingsRequest) (*w.UpdateClusterSettingsResponse, error) {
	if err := validateClusterSettings(in.Settings); err != nil {
		return nil, err
	}
	c, err := s.updateCluster(ctx, in.Cluster, func(c *model.Cluster) {
		c.Settings = mergeSettings(c.Settings, in.Settings)
	})
	if err != nil {
		return nil, err
	}
	return &w.UpdateClusterSettingsResponse{Cluster: c}, nil
}

func (s *Service) updateCluster(ctx context.Context, ref string, change func(*model.Cluster)) (*w.Cluster, error) {
	sc := s.scope(ctx)
	name, err := sc.clusterName(ref)
	if err != nil {
		return nil, err
	}
	c, err := state.Update(ctx, sc.st, model.ClusterKey(name), func(c *model.Cluster, found bool) (*model.Cluster, error) {
		if !found || c.Status == model.ClusterInactive {
			return nil, errClusterNotFound(name)
		}
		change(c)
		return c, nil
	})
	if err != nil {
		return nil, err
	}
	return s.withCounts(ctx, sc, c), nil
}

// DeleteCluster marks a cluster INACTIVE. It is refused while the cluster
// has registered container instances, active services or running tasks; the
// commit re-checks that none appeared since they were counted.
func (s *Service) DeleteCluster(ctx context.Context, in *w.DeleteClusterRequest) (*w.DeleteClusterResponse, error) {
	sc := s.scope(ctx)
	name, err := sc.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	return state.Retry(ctx, func() (*w.DeleteClusterResponse, error) {
		c, rev, counts, found, err := readCluster(ctx, sc.st, name)
		if err != nil {
			return nil, err
		}
		if !found || c.Status == model.ClusterInactive {
			return nil, errClusterNotFound(name)
		}
		switch {
		case counts.instances > 0:
			return nil, withHint(ClusterContainsInstances.Errorf("The Cluster cannot be deleted while Container Instances are active or draining."), "deregister the %d container instance(s) of cluster %s first", counts.instances, name)
		case counts.activeServices+counts.drainingServices > 0:
			return nil, withHint(ClusterContainsServices.Errorf("The Cluster cannot be deleted while Services are active."), "delete the services of cluster %s first", name)
		case counts.runningTasks+counts.pendingTasks > 0:
			return nil, withHint(ClusterContainsTasks.Errorf("The Cluster cannot be deleted while Tasks are active."), "stop the tasks of cluster %s first", name)
		}
		c.Status = model.ClusterInactive
		_, err = sc.st.Txn().
			Expect(model.ClusterKey(name), rev).
			ExpectUnchangedSince(model.InstancesPrefix(name), counts.revision).
			ExpectUnchangedSince(model.ServicesPrefix(name), counts.revision).
			ExpectUnchangedSince(model.TasksPrefix(name), counts.revision).
			Put(model.ClusterKey(name), &c).Commit(ctx)
		if err != nil {
			return nil, err
		}
		desc := c
		desc.Statistics, desc.Tags = nil, nil
		return &w.DeleteClusterResponse{Cluster: &desc}, nil
	})
}

func errClusterNotFound(name string) error {
	return withHint(ClusterNotFound.Errorf("Cluster not found."), "cluster %s does not exist: create it with CreateCluster, or name an existing cluster", name)
}

// activeCluster returns the named cluster if it exists and is ACTIVE.
func activeCluster(ctx context.Context, sc scope, name string) (*model.Cluster, int64, error) {
	var c model.Cluster
	rev, err := sc.st.Get(ctx, model.ClusterKey(name), &c)
	if errors.Is(err, state.ErrNotFound) || err == nil && c.Status == model.ClusterInactive {
		return nil, 0, errClusterNotFound(name)
	}
	if err != nil {
		return nil, 0, err
	}
	return &c, rev, nil
}

type clusterCounts struct {
	instances                        int32
	runningTasks, pendingTasks       int32
	activeServices, drainingServices int32
	revision                         int64
}

// readCluster reads a cluster record and counts its registered instances,
// its tasks by status and its services by status, all at one revision in one
// round trip. found is false when there is no record.
func readCluster(ctx context.Context, st *state.Store, name string) (c model.Cluster, rev int64, n clusterCounts, found bool, err error) {
	pages, err := st.ReadAll(ctx,
		state.Read{Key: model.ClusterKey(name)},
		state.Read{Key: model.InstancesPrefix(name), Prefix: true, CountOnly: true},
		state.Read{Key: model.TasksPrefix(name), Prefix: true},
		state.Read{Key: model.ServicesPrefix(name), Prefix: true},
	)
	if err != nil {
		return c, 0, n, false, err
	}
	n.revision = pages[0].Revision
	if len(pages[0].Items) == 0 {
		return c, 0, n, false, nil
	}
	if err := pages[0].Items[0].Decode(&c); err != nil {
		return c, 0, n, false, err
	}
	n.instances = int32(pages[1].Count)
	for _, it := range pages[2].Items {
		var t struct {
			LastStatus string `json:"lastStatus"`
		}
		if err := it.Decode(&t); err != nil {
			return c, 0, n, false, err
		}
		switch t.LastStatus {
		case "RUNNING":
			n.runningTasks++
		case "STOPPED", "DELETED":
		default:
			n.pendingTasks++
		}
	}
	for _, it := range pages[3].Items {
		var sv struct {
			Status string `json:"status"`
		}
		if err := it.Decode(&sv); err != nil {
			return c, 0, n, false, err
		}
		switch sv.Status {
		case "ACTIVE":
			n.activeServices++
		case "DRAINING":
			n.drainingServices++
		}
	}
	return c, pages[0].Items[0].Revision, n, true, nil
}

// describe returns the wire form of a cluster with its counts and statistics.
func describe(c *model.Cluster, n clusterCounts) *w.Cluster {
	out := *c
	if out.Status == model.ClusterInactive {
		return &out
	}
	out.RegisteredContainerInstancesCount = n.instances
	out.RunningTasksCount = n.runningTasks
	out.PendingTasksCount = n.pendingTasks
	out.ActiveServicesCount = n.activeServices
	stat := func(k string, v int32) w.KeyValuePair {
		return w.KeyValuePair{Name: k, Value: strconv.Itoa(int(v))}
	}
	out.Statistics = []w.KeyValuePair{
		stat("runningEC2TasksCount", n.runningTasks), stat("runningFargateTasksCount", 0), stat("pendingEC2TasksCount", n.pendingTasks),
		stat("pendingFargateTasksCount", 0), stat("activeEC2ServiceCount", n.activeServices), stat("activeFargateServiceCount", 0),
		stat("drainingEC2ServiceCount", n.drainingServices), stat("drainingFargateServiceCount", 0),
	}
	return &out
}

// withCounts re-reads a cluster just written and describes it with its
// counts. Like ECS's answers to CreateCluster and UpdateCluster, it leaves the
// statistics empty ([]): DescribeClusters gives them on request.
func (s *Service) withCounts(ctx context.Context, sc scope, c *model.Cluster) *w.Cluster {
	_, _, n, _, err := readCluster(ctx, sc.st, c.ClusterName)
	if err != nil {
		s.log.Warn("count cluster contents", "cluster", c.ClusterName, "err", err)
	}
	out := describe(c, n)
	out.Statistics = []w.KeyValuePair{}
	return out
}

func defaultClusterSettings() []w.ClusterSetting {
	return []w.ClusterSetting{{Name: "containerInsights", Value: "disabled"}}
}

func validateClusterSettings(settings []w.ClusterSetting) error {
	for _, st := range settings {
		if st.Name == "" {
			return InvalidParameter.Errorf("Cluster setting name is required; the only setting is containerInsights.")
		}
		switch st.Value {
		case "enabled", "disabled", "enhanced":
		default:
			return InvalidParameter.Errorf("Cluster setting %s must be enabled, disabled or enhanced, got %q.", st.Name, st.Value)
		}
	}
	return nil
}

func mergeSettings(cur, changes []w.ClusterSetting) []w.ClusterSetting {
	out := slices.Clone(cur)
	for _, ch := range changes {
		i := slices.IndexFunc(out, func(s w.ClusterSetting) bool { return s.Name == ch.Name })
		if i >= 0 {
			out[i] = ch
		} else {
			out = append(out, ch)
		}
	}
	return out
}

func validateCapacityProviders(names []string, strategy []w.CapacityProviderStrategyItem) error {
	for _, n := range names {
		if !slices.Contains(fargateProviders, n) {
			return InvalidParameter.Errorf("The specified capacity provider %q does not exist. The capacity providers available are %v.", n, fargateProviders)
		}
	}
	bases := 0
	for _, it := range strategy {
		if !slices.Contains(names, it.CapacityProvider) {
			return InvalidParameter.Errorf("The capacity provider %q of the default strategy is not associated with the cluster; add it to capacityProviders.", it.CapacityProvider)
		}
		if it.Base > 0 {
			bases++
		}
	}
	if bases > 1 {
		return InvalidParameter.Errorf("Only one capacity provider in a strategy can have a base defined.")
	}
	return nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

var _ = wire.At
