package ecs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/awsapi"
	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/state"
	"github.com/gantry-dev/gantry/internal/wire"
	w "github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// Services live one record per service (model.Service): under
// model.ServiceKey while ACTIVE or DRAINING, under model.InactiveServiceKey
// once deleted and drained. The actions here change the desired state
// (desiredCount, a new PRIMARY deployment, placement, deployment
// configuration, DRAINING); the service controller (servicectl*.go) starts
// and stops the tasks and writes what it observes. Both write with a
// transaction that expects the revision they read. services_validate.go
// holds the checks and defaults.

func (s *Service) serviceActions(m awsapi.Model) map[string]awsapi.Handler {
	return map[string]awsapi.Handler{
		"CreateService":           awsapi.Action(m, s.CreateService),
		"UpdateService":           awsapi.Action(m, s.UpdateService),
		"DeleteService":           awsapi.Action(m, s.DeleteService),
		"DescribeServices":        awsapi.Action(m, s.DescribeServices),
		"ListServices":            awsapi.Action(m, s.ListServices),
		"ListServicesByNamespace": awsapi.Action(m, s.ListServicesByNamespace),
	}
}

// serviceARN is the long-format ARN of a service.
func (sc scope) serviceARN(cluster, name string) string {
	return sc.arn("service/" + cluster + "/" + name)
}

func errServiceNotFound(cluster, name string) error {
	return withHint(ServiceNotFound.Errorf("Service not found."), "%s is not a service of cluster %s; list the cluster's services with ListServices", name, cluster)
}

func errServiceNotActive(cluster, name, status string) error {
	what := "it is being deleted"
	if status == model.ServiceInactive {
		what = "it was deleted; create it again with CreateService"
	}
	return withHint(ServiceNotActive.Errorf("Service was not ACTIVE."), "%s of cluster %s is %s (%s)", name, cluster, status, what)
}

// CreateService creates a service that keeps desiredCount tasks of a task
// definition running (REPLICA), or one on each instance (DAEMON). Its first
// deployment is PRIMARY and IN_PROGRESS; the service controller starts the
// tasks. The name must not be taken by an ACTIVE or DRAINING service of the
// cluster. A repeat of a request with its clientToken returns the service
// it created.
func (s *Service) CreateService(ctx context.Context, in *w.CreateServiceRequest) (*w.CreateServiceResponse, error) {
	sc := s.scope(ctx)
	cluster, err := sc.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	if err := checkCreateService(in); err != nil {
		return nil, err
	}
	scheduling := in.SchedulingStrategy
	if scheduling == "" {
		scheduling = model.SchedulingReplica
	}
	deployCfg, err := mergeDeploymentConfiguration(nil, in.DeploymentConfiguration, scheduling)
	if err != nil {
		return nil, err
	}
	if _, _, err := activeCluster(ctx, sc, cluster); err != nil {
		return nil, err
	}
	hash := serviceRequestHash(in)
	if in.ClientToken != "" {
		if out, err := s.replayServiceToken(ctx, sc, in.ClientToken, hash); out != nil || err != nil {
			return out, err
		}
	}
	def, err := sc.resolveTaskDefinition(ctx, in.TaskDefinition)
	if err != nil {
		return nil, err
	}
	if err := checkServiceTaskDefinition(def); err != nil {
		return nil, err
	}
	if err := checkServicePlacement(def, in.PlacementStrategy, in.PlacementConstraints); err != nil {
		return nil, err
	}
	var desired int32
	if in.DesiredCount != nil {
		desired = *in.DesiredCount
	}
	propagate := in.PropagateTags
	if propagate == "" {
		propagate = propagateNone
	}
	azRebalancing := in.AvailabilityZoneRebalancing
	if azRebalancing == "" {
		azRebalancing = azRebalancingEnabled
	}
	key := model.ServiceKey(cluster, in.ServiceName)
	tokKey := model.IdempotencyKey("CreateService", in.ClientToken)
	s.registerScope(ctx, sc)
	return state.Retry(ctx, func() (*w.CreateServiceResponse, error) {
		reads := []state.Read{{Key: model.ClusterKey(cluster)}, {Key: key}}
		if in.ClientToken != "" {
			reads = append(reads, state.Read{Key: tokKey})
		}
		pages, err := sc.st.ReadAll(ctx, reads...)
		if err != nil {
			return nil, err
		}
		var c model.Cluster
		if len(pages[0].Items) == 0 {
			return nil, errClusterNotFound(cluster)
		}
		if err := pages[0].Items[0].Decode(&c); err != nil {
			return nil, err
		}
		if c.Status == model.ClusterInactive {
			return nil, errClusterNotFound(cluster)
		}
		if in.ClientToken != "" && len(pages[2].Items) > 0 {
			// Another request with this token committed meanwhile.
			return s.replayServiceToken(ctx, sc, in.ClientToken, hash)
		}
		if len(pages[1].Items) > 0 {
			var cur model.Service
			if err := pages[1].Items[0].Decode(&cur); err != nil {
				return nil, err
			}
			return nil, withHint(errNotIdempotent(), "a service named %s already exists in cluster %s (%s); change it with UpdateService, delete it, or choose another name", in.ServiceName, cluster, cur.Status)
		}
		now := s.now()
		dep := newDeployment(def.Def.TaskDefinitionArn, desired, now)
		svc := &model.Service{Service: w.Service{
			ServiceArn:                    sc.serviceARN(cluster, in.ServiceName),
			ServiceName:                   in.ServiceName,
			ClusterArn:                    c.ClusterArn,
			Status:                        model.ServiceActive,
			DesiredCount:                  desired,
			LaunchType:                    compatEC2,
			TaskDefinition:                def.Def.TaskDefinitionArn,
			DeploymentConfiguration:       deployCfg,
			DeploymentController:          &w.DeploymentController{Type: deploymentControllerECS},
			Deployments:                   []w.Deployment{dep},
			Events:                        []w.ServiceEvent{},
			CreatedAt:                     wire.At(now),
			CreatedBy:                     sc.Principal,
			PlacementConstraints:          nonNil(in.PlacementConstraints),
			PlacementStrategy:             nonNil(in.PlacementStrategy),
			HealthCheckGracePeriodSeconds: in.HealthCheckGracePeriodSeconds,
			SchedulingStrategy:            scheduling,
			PropagateTags:                 propagate,
			EnableECSManagedTags:          in.EnableECSManagedTags,
			Tags:                          in.Tags,
			AvailabilityZoneRebalancing:   azRebalancing,
			ResourceManagementType:        resourceManagedCustomer,
		}, Gantry: model.ServiceState{ClientToken: in.ClientToken}}
		txn := sc.st.Txn().Expect(model.ClusterKey(cluster), pages[0].Items[0].Revision).Expect(key, 0).Put(key, svc)
		if err := sc.recordDeployments(ctx, txn, cluster, in.ServiceName, nil, svc, now, ""); err != nil {
			return nil, err
		}
		if in.ClientToken != "" {
			txn.Expect(tokKey, 0).Put(tokKey, &serviceToken{
				Hash: hash, Cluster: cluster, Service: in.ServiceName, CreatedAt: now.UnixMilli(),
			})
		}
		if _, err := txn.Commit(ctx); err != nil {
			return nil, err
		}
		return &w.CreateServiceResponse{Service: &svc.Service}, nil
	})
}

// newDeployment is a new PRIMARY deployment of td, IN_PROGRESS.
func newDeployment(td string, desired int32, now time.Time) w.Deployment {
	id := newDeploymentID()
	return w.Deployment{
		Id:                 id,
		Status:             model.DeploymentPrimary,
		TaskDefinition:     td,
		DesiredCount:       desired,
		LaunchType:         compatEC2,
		CreatedAt:          wire.At(now),
		UpdatedAt:          wire.At(now),
		RolloutState:       model.RolloutInProgress,
		RolloutStateReason: "ECS deployment " + id + " in progress.",
	}
}

// CreateService client tokens. The request that creates a service records,
// in the same transaction, its token with a hash of the request; a repeat
// with the token gets the service back as it is now, a different request
// with it the error of a name already taken. Tokens are purged with RunTask's.

// serviceToken is the record of a CreateService client token. CreatedAt
// has the JSON name of runToken's, which the purge reads.
type serviceToken struct {
	Hash      string `json:"hash"`
	Cluster   string `json:"cluster"`
	Service   string `json:"service"`
	CreatedAt int64  `json:"createdAt"` // unix milliseconds
}

// serviceRequestHash hashes a CreateService request without its token.
func serviceRequestHash(in *w.CreateServiceRequest) string {
	c := *in
	c.ClientToken = ""
	b, _ := json.Marshal(&c)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// replayServiceToken answers a request whose clientToken is known: the
// service it created, wherever it is now (ACTIVE, DRAINING or INACTIVE). It
// returns nil and no error for an unknown token.
func (s *Service) replayServiceToken(ctx context.Context, sc scope, token, hash string) (*w.CreateServiceResponse, error) {
	var rec serviceToken
	_, err := sc.st.Get(ctx, model.IdempotencyKey("CreateService", token), &rec)
	if errors.Is(err, state.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	notIdempotent := withHint(errNotIdempotent(), "the clientToken %q was already used for a different CreateService request; use a new token for a new request", token)
	if rec.Hash != hash {
		return nil, notIdempotent
	}
	svc, _, _, err := sc.readService(ctx, rec.Cluster, rec.Service)
	if err != nil {
		return nil, err
	}
	if svc == nil || svc.Gantry.ClientToken != token {
		return nil, withHint(errNotIdempotent(), "the service the clientToken %q created is gone; use a new token for a new request", token)
	}
	return &w.CreateServiceResponse{Service: &svc.Service}, nil
}

// readService reads a service: the ACTIVE or DRAINING record (live true,
// with its revision), else the INACTIVE one; nil if there is neither.
func (sc scope) readService(ctx context.Context, cluster, name string) (svc *model.Service, rev int64, live bool, err error) {
	pages, err := sc.st.ReadAll(ctx, state.Read{Key: model.ServiceKey(cluster, name)}, state.Read{Key: model.InactiveServiceKey(cluster, name)})
	if err != nil {
		return nil, 0, false, err
	}
	for i, p := range pages {
		if len(p.Items) == 0 {
			continue
		}
		svc = new(model.Service)
		if err := p.Items[0].Decode(svc); err != nil {
			return nil, 0, false, err
		}
		return svc, p.Items[0].Revision, i == 0, nil
	}
	return nil, 0, false, nil
}

// UpdateService changes a service. desiredCount, the deployment
// configuration, placement, the health check grace period and the tagging
// options take effect without a new deployment; a new task definition or
// forceNewDeployment starts one: a new PRIMARY deployment, the previous
// PRIMARY becoming ACTIVE until the controller has replaced its tasks.
func (s *Service) UpdateService(ctx context.Context, in *w.UpdateServiceRequest) (*w.UpdateServiceResponse, error) {
	sc := s.scope(ctx)
	if err := checkUpdateService(in); err != nil {
		return nil, err
	}
	cluster, name, err := sc.findService(ctx, in.Cluster, in.Service)
	if err != nil {
		return nil, err
	}
	var def *model.TaskDefinition
	if in.TaskDefinition != "" {
		if def, err = sc.resolveTaskDefinition(ctx, in.TaskDefinition); err != nil {
			return nil, err
		}
		if err := checkServiceTaskDefinition(def); err != nil {
			return nil, err
		}
	}
	key := model.ServiceKey(cluster, name)
	svc, err := state.Retry(ctx, func() (*model.Service, error) {
		svc, rev, live, err := sc.readService(ctx, cluster, name)
		if err != nil {
			return nil, err
		}
		if svc == nil {
			return nil, errServiceNotFound(cluster, name)
		}
		if !live || svc.Status != model.ServiceActive {
			return nil, errServiceNotActive(cluster, name, svc.Status)
		}
		before := snapshotService(svc)
		if err := s.applyUpdate(ctx, sc, svc, in, def); err != nil {
			return nil, err
		}
		txn := sc.st.Txn().Expect(key, rev).Put(key, svc)
		if err := sc.recordDeployments(ctx, txn, cluster, name, before, svc, s.now(), ""); err != nil {
			return nil, err
		}
		if _, err := txn.Commit(ctx); err != nil {
			return nil, err
		}
		return svc, nil
	})
	if err != nil {
		return nil, err
	}
	out := svc.Service
	out.Tags = nil
	return &w.UpdateServiceResponse{Service: &out}, nil
}

// applyUpdate applies an UpdateService request to the service as read.
func (s *Service) applyUpdate(ctx context.Context, sc scope, svc *model.Service, in *w.UpdateServiceRequest, def *model.TaskDefinition) error {
	daemon := svc.SchedulingStrategy == model.SchedulingDaemon
	if daemon && in.DesiredCount != nil {
		return InvalidParameter.Errorf("The daemon scheduling strategy does not support a desired count for services. Remove the desired count value and try again.")
	}
	if daemon && len(in.PlacementStrategy) > 0 {
		return InvalidParameter.Errorf("The daemon scheduling strategy does not support placement strategies. Remove the placement strategy and try again.")
	}
	cfg, err := mergeDeploymentConfiguration(svc.DeploymentConfiguration, in.DeploymentConfiguration, svc.SchedulingStrategy)
	if err != nil {
		return err
	}
	if in.PlacementStrategy != nil || in.PlacementConstraints != nil || def != nil {
		strategies, constraints := svc.PlacementStrategy, svc.PlacementConstraints
		if in.PlacementStrategy != nil {
			strategies = in.PlacementStrategy
		}
		if in.PlacementConstraints != nil {
			constraints = in.PlacementConstraints
		}
		target := def
		if target == nil {
			target = sc.storedTaskDefinition(ctx, svc.TaskDefinition)
		}
		if err := checkServicePlacement(target, strategies, constraints); err != nil {
			return err
		}
		svc.PlacementStrategy, svc.PlacementConstraints = nonNil(strategies), nonNil(constraints)
	}
	svc.DeploymentConfiguration = cfg
	now := s.now()
	if in.DesiredCount != nil && *in.DesiredCount != svc.DesiredCount {
		svc.DesiredCount = *in.DesiredCount
		if i := primaryDeployment(svc); i >= 0 {
			svc.Deployments[i].DesiredCount = svc.DesiredCount
			svc.Deployments[i].UpdatedAt = wire.At(now)
		}
	}
	if in.HealthCheckGracePeriodSeconds != nil {
		svc.HealthCheckGracePeriodSeconds = new(*in.HealthCheckGracePeriodSeconds)
	}
	if in.PropagateTags != "" {
		svc.PropagateTags = in.PropagateTags
	}
	if in.EnableECSManagedTags != nil {
		svc.EnableECSManagedTags = *in.EnableECSManagedTags
	}
	if in.AvailabilityZoneRebalancing != "" {
		svc.AvailabilityZoneRebalancing = in.AvailabilityZoneRebalancing
	}
	td := svc.TaskDefinition
	if def != nil {
		td = def.Def.TaskDefinitionArn
	}
	if in.ForceNewDeployment || td != svc.TaskDefinition {
		svc.TaskDefinition = td
		for i := range svc.Deployments {
			if svc.Deployments[i].Status == model.DeploymentPrimary {
				svc.Deployments[i].Status = model.DeploymentActive
				svc.Deployments[i].UpdatedAt = wire.At(now)
			}
		}
		svc.Deployments = slices.Insert(svc.Deployments, 0, newDeployment(td, svc.DesiredCount, now))
		// A new deployment gets a fresh start: the back-off of tasks that
		// kept failing to start belongs to the deployments before it.
		svc.Gantry.StartFailures, svc.Gantry.NextStartAt = 0, 0
	}
	return nil
}

// primaryDeployment returns the index of the PRIMARY deployment, or -1.
func primaryDeployment(svc *model.Service) int {
	return slices.IndexFunc(svc.Deployments, func(d w.Deployment) bool { return d.Status == model.DeploymentPrimary })
}

// storedTaskDefinition reads the revision a service runs, whatever its
// status (a service keeps running a deregistered revision); nil if it
// cannot be read.
func (sc scope) storedTaskDefinition(ctx context.Context, arn string) *model.TaskDefinition {
	r, problem := sc.parseTaskDefRef(arn)
	if problem != nil || r.revision == 0 {
		return nil
	}
	def, _, err := getTaskDefinition(ctx, sc.st, r)
	if err != nil {
		return nil
	}
	return def
}

// DeleteService deletes a service: it becomes DRAINING with desiredCount 0,
// and the service controller stops its tasks and moves it to INACTIVE. A
// REPLICA service still scaled above 0 is refused unless force is set.
// Deleting a DRAINING service returns it as it is.
func (s *Service) DeleteService(ctx context.Context, in *w.DeleteServiceRequest) (*w.DeleteServiceResponse, error) {
	sc := s.scope(ctx)
	cluster, name, err := sc.findService(ctx, in.Cluster, in.Service)
	if err != nil {
		return nil, err
	}
	force := in.Force != nil && *in.Force
	key := model.ServiceKey(cluster, name)
	svc, err := state.Retry(ctx, func() (*model.Service, error) {
		svc, rev, live, err := sc.readService(ctx, cluster, name)
		if err != nil {
			return nil, err
		}
		if svc == nil || !live {
			return nil, errServiceNotFound(cluster, name)
		}
		if svc.Status == model.ServiceDraining {
			return svc, nil
		}
		if svc.SchedulingStrategy != model.SchedulingDaemon && svc.DesiredCount > 0 && !force {
			return nil, withHint(InvalidParameter.Errorf("The service cannot be stopped while it is scaled above 0."), "scale %s to 0 with UpdateService first, or delete it with force", name)
		}
		now := s.now()
		before := snapshotService(svc)
		svc.Status = model.ServiceDraining
		svc.DesiredCount = 0
		for i := range svc.Deployments {
			svc.Deployments[i].DesiredCount = 0
			svc.Deployments[i].UpdatedAt = wire.At(now)
		}
		txn := sc.st.Txn().Expect(key, rev).Put(key, svc)
		if err := sc.recordDeployments(ctx, txn, cluster, name, before, svc, now, ""); err != nil {
			return nil, err
		}
		if _, err := txn.Commit(ctx); err != nil {
			return nil, err
		}
		return svc, nil
	})
	if err != nil {
		return nil, err
	}
	out := svc.Service
	out.Tags = nil
	return &w.DeleteServiceResponse{Service: &out}, nil
}

// maxDescribeServices is how many services one DescribeServices names.
const maxDescribeServices = 10

// DescribeServices describes up to 10 services by name or ARN: ACTIVE and
// DRAINING ones, else the INACTIVE one of that name; unknown ones come back
// in failures with reason MISSING.
func (s *Service) DescribeServices(ctx context.Context, in *w.DescribeServicesRequest) (*w.DescribeServicesResponse, error) {
	sc := s.scope(ctx)
	cluster, err := sc.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	if len(in.Services) == 0 || len(in.Services) > maxDescribeServices {
		return nil, InvalidParameter.Errorf("services must list 1 to %d service names or ARNs; %d were given.", maxDescribeServices, len(in.Services))
	}
	for i, f := range in.Include {
		if f != "TAGS" {
			return nil, InvalidParameter.Errorf("1 validation error detected: include[%d]: %q is not one of [TAGS].", i, f)
		}
	}
	if err := existingCluster(ctx, sc, cluster); err != nil {
		return nil, err
	}
	out := &w.DescribeServicesResponse{Services: []w.Service{}, Failures: []w.Failure{}}
	// Each reference in the order given: a name to read (its ACTIVE or
	// DRAINING key, then its INACTIVE one) or, with name "", a failure.
	type entry struct{ name, arn string }
	var entries []entry
	var reads []state.Read
	seen := map[string]bool{}
	for _, ref := range in.Services {
		name, ok, err := sc.serviceRef(cluster, ref)
		if err != nil {
			return nil, err
		}
		arn := ref
		if !model.IsARN(ref) {
			arn = sc.serviceARN(cluster, ref)
		}
		switch {
		case !ok:
			entries = append(entries, entry{"", arn})
		case !seen[name]:
			seen[name] = true
			entries = append(entries, entry{name, arn})
			reads = append(reads, state.Read{Key: model.ServiceKey(cluster, name)}, state.Read{Key: model.InactiveServiceKey(cluster, name)})
		}
	}
	var pages []state.Page
	if len(reads) > 0 {
		if pages, err = sc.st.ReadAll(ctx, reads...); err != nil {
			return nil, err
		}
	}
	withTags := slices.Contains(in.Include, "TAGS")
	for _, e := range entries {
		var items []state.Item
		if e.name != "" {
			items = pages[0].Items
			if len(items) == 0 {
				items = pages[1].Items
			}
			pages = pages[2:]
		}
		if len(items) == 0 {
			out.Failures = append(out.Failures, w.Failure{Arn: e.arn, Reason: "MISSING"})
			continue
		}
		var svc model.Service
		if err := items[0].Decode(&svc); err != nil {
			return nil, err
		}
		switch {
		case !withTags:
			svc.Tags = nil
		case svc.Status == model.ServiceInactive:
			svc.Tags = []w.Tag{} // a deleted service's tags went with it
		default:
			svc.Tags = nonNil(svc.Tags)
		}
		out.Services = append(out.Services, svc.Service)
	}
	return out, nil
}

// serviceFilter is the part of a service record ListServices filters on.
type serviceFilter struct {
	ServiceArn             string `json:"serviceArn"`
	Status                 string `json:"status"`
	LaunchType             string `json:"launchType"`
	SchedulingStrategy     string `json:"schedulingStrategy"`
	ResourceManagementType string `json:"resourceManagementType"`
}

// ListServices lists the ARNs of a cluster's ACTIVE services in name order,
// optionally of one launch type, scheduling strategy or resource management
// type. DRAINING services are not listed, as in ECS.
func (s *Service) ListServices(ctx context.Context, in *w.ListServicesRequest) (*w.ListServicesResponse, error) {
	sc := s.scope(ctx)
	cluster, err := sc.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	limit, err := pageSize(in.MaxResults, 10, 100)
	if err != nil {
		return nil, err
	}
	if err := existingCluster(ctx, sc, cluster); err != nil {
		return nil, err
	}
	arns, next, err := listFiltered(ctx, sc.st, "ListServices", model.ServicesPrefix(cluster), in.NextToken, limit, func(it state.Item) (string, bool, error) {
		var f serviceFilter
		if err := it.Decode(&f); err != nil {
			return "", false, err
		}
		keep := f.Status == model.ServiceActive &&
			(in.LaunchType == "" || f.LaunchType == in.LaunchType) &&
			(in.SchedulingStrategy == "" || f.SchedulingStrategy == in.SchedulingStrategy) &&
			(in.ResourceManagementType == "" || f.ResourceManagementType == in.ResourceManagementType)
		return f.ServiceArn, keep, nil
	})
	if err != nil {
		return nil, err
	}
	return &w.ListServicesResponse{ServiceArns: arns, NextToken: next}, nil
}

// ListServicesByNamespace lists the services of a Cloud Map namespace in
// every cluster. Gantry has no Service Connect yet, so no service is in a
// namespace: the list is empty, once the request is found valid.
func (s *Service) ListServicesByNamespace(ctx context.Context, in *w.ListServicesByNamespaceRequest) (*w.ListServicesByNamespaceResponse, error) {
	sc := s.scope(ctx)
	if _, err := pageSize(in.MaxResults, 10, 100); err != nil {
		return nil, err
	}
	if _, err := decodeToken("ListServicesByNamespace", in.NextToken); err != nil {
		return nil, err
	}
	if in.Namespace == "" || len(in.Namespace) > 1024 {
		return nil, InvalidParameter.Errorf("namespace must be the name or ARN of a Cloud Map namespace (1 to 1024 characters).")
	}
	if model.IsARN(in.Namespace) {
		a, err := model.ParseARN(in.Namespace)
		if err != nil || a.Service != "servicediscovery" || a.ResourceType() != "namespace" || a.ResourceID() == "" {
			return nil, InvalidParameter.Errorf("%q is not a Cloud Map namespace ARN: expected arn:aws:servicediscovery:%s:%s:namespace/<id>.", in.Namespace, sc.Region, sc.Account)
		}
	}
	return &w.ListServicesByNamespaceResponse{ServiceArns: []string{}}, nil
}

// findService resolves the cluster and service parameters of an action on
// one service: the cluster must exist, the service reference must name one
// of its services (ServiceNotFoundException otherwise; whether the service
// exists is the caller's read).
func (sc scope) findService(ctx context.Context, clusterParam, serviceParam string) (cluster, name string, err error) {
	if cluster, err = sc.clusterName(clusterParam); err != nil {
		return "", "", err
	}
	if err := existingCluster(ctx, sc, cluster); err != nil {
		return "", "", err
	}
	name, ok, err := sc.serviceRef(cluster, serviceParam)
	if err != nil {
		return "", "", err
	}
	if !ok {
		return "", "", errServiceNotFound(cluster, serviceParam)
	}
	return cluster, name, nil
}

// serviceRef resolves a service parameter (a name, or an ARN in the long
// form service/<cluster>/<name> or the old short form service/<name>) to a
// name within cluster. ok is false when ref cannot name a service of this
// cluster (an ARN of another cluster, region or account, or an invalid
// name): callers treat it as not found. A malformed ARN is an error.
func (sc scope) serviceRef(cluster, ref string) (name string, ok bool, err error) {
	if !model.IsARN(ref) {
		return ref, validName(ref), nil
	}
	a, err := model.ParseARN(ref)
	if err != nil || a.Service != "ecs" || a.ResourceType() != "service" || a.ResourceID() == "" {
		return "", false, InvalidParameter.Errorf("%q is not a service ARN: expected arn:aws:ecs:%s:%s:service/<cluster>/<name>.", ref, sc.Region, sc.Account)
	}
	name, inCluster := a.ResourceID(), cluster
	if c, n, two := strings.Cut(name, "/"); two {
		inCluster, name = c, n
	}
	ok = a.Region == sc.Region && a.Account == sc.Account && inCluster == cluster && validName(name)
	return name, ok, nil
}

// errNotIdempotent is ECS's answer to a CreateService that would make a
// second service of one name, or reuse a clientToken.
func errNotIdempotent() *awsapi.Error {
	return InvalidParameter.Errorf("Creation of service was not idempotent.")
}
