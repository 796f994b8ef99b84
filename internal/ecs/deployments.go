package ecs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gantry-dev/gantry/internal/awsapi"
	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/state"
	"github.com/gantry-dev/gantry/internal/wire"
	w "github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// The service deployment actions read the history deployhistory.go keeps;
// StopServiceDeployment rolls a deployment in progress back as the circuit
// breaker does.

func (s *Service) deploymentActions(m awsapi.Model) map[string]awsapi.Handler {
	return map[string]awsapi.Handler{
		"ListServiceDeployments":     awsapi.Action(m, s.ListServiceDeployments),
		"DescribeServiceDeployments": awsapi.Action(m, s.DescribeServiceDeployments),
		"DescribeServiceRevisions":   awsapi.Action(m, s.DescribeServiceRevisions),
		"StopServiceDeployment":      awsapi.Action(m, s.StopServiceDeployment),
		"ContinueServiceDeployment":  awsapi.Action(m, s.ContinueServiceDeployment),
	}
}

// maxDescribeDeployments is how many ARNs one DescribeServiceDeployments or
// DescribeServiceRevisions names.
const maxDescribeDeployments = 20

// serviceHistory is a service as read with its deployment history.
type serviceHistory struct {
	svc  *model.Service
	rev  int64
	live bool
	h    deploymentHistory
}

// readServiceHistory reads a service (live or INACTIVE) and its history;
// nil if there is no such service.
func (sc scope) readServiceHistory(ctx context.Context, cluster, name string) (*serviceHistory, error) {
	svc, rev, live, err := sc.readService(ctx, cluster, name)
	if err != nil || svc == nil {
		return nil, err
	}
	sh := &serviceHistory{svc: svc, rev: rev, live: live}
	if _, err := sc.st.Get(ctx, deploymentHistoryKey(cluster, name), &sh.h); err != nil && !errors.Is(err, state.ErrNotFound) {
		return nil, err
	}
	return sh, nil
}

// parseDeploymentARN splits an ARN of kind (service-deployment,
// service-revision) into cluster, service and id; ok is false when it
// cannot name one of this scope (another region or account).
func (sc scope) parseDeploymentARN(kind, param, ref string) (cluster, name, id string, ok bool, err error) {
	a, err := model.ParseARN(ref)
	parts := strings.Split(a.ResourceID(), "/")
	if err != nil || a.Service != "ecs" || a.ResourceType() != kind || len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return "", "", "", false, InvalidParameter.Errorf("%s: %q is not a %s ARN: expected arn:aws:ecs:%s:%s:%s/<cluster>/<service>/<id>.", param, ref, kind, sc.Region, sc.Account, kind)
	}
	return parts[0], parts[1], parts[2], a.Region == sc.Region && a.Account == sc.Account, nil
}

// ListServiceDeployments lists a service's deployments, newest first, up
// to 20 a page by default (maxResults 1 to 100), filtered by status and by
// creation time.
func (s *Service) ListServiceDeployments(ctx context.Context, in *w.ListServiceDeploymentsRequest) (*w.ListServiceDeploymentsResponse, error) {
	sc := s.scope(ctx)
	limit, err := pageSize(in.MaxResults, 20, 100)
	if err != nil {
		return nil, err
	}
	for _, st := range in.Status {
		if !slices.Contains(serviceDeploymentStatuses, st) {
			return nil, InvalidParameter.Errorf("status %q is not a service deployment status: use one of %s.", st, strings.Join(serviceDeploymentStatuses, ", "))
		}
	}
	after, err := decodeToken("ListServiceDeployments", in.NextToken)
	if err != nil {
		return nil, err
	}
	cluster, name, err := sc.findService(ctx, in.Cluster, in.Service)
	if err != nil {
		return nil, err
	}
	sh, err := sc.readServiceHistory(ctx, cluster, name)
	if err != nil {
		return nil, err
	}
	if sh == nil {
		return nil, errServiceNotFound(cluster, name)
	}
	entries := sh.h.Entries
	if after != "" {
		i := slices.IndexFunc(entries, func(e historyEntry) bool { return e.ID == after })
		if i < 0 {
			return nil, InvalidParameter.Errorf("Invalid nextToken: the service deployment it resumes after is no longer kept; list again without it.")
		}
		entries = entries[i+1:]
	}
	out := &w.ListServiceDeploymentsResponse{ServiceDeployments: []w.ServiceDeploymentBrief{}}
	for i, e := range entries {
		if len(out.ServiceDeployments) == limit {
			out.NextToken = encodeToken("ListServiceDeployments", entries[i-1].ID)
			break
		}
		if len(in.Status) > 0 && !slices.Contains(in.Status, e.Status) || !createdWithin(e.CreatedAt, in.CreatedAt) {
			continue
		}
		out.ServiceDeployments = append(out.ServiceDeployments, w.ServiceDeploymentBrief{
			ServiceDeploymentArn:     sc.serviceDeploymentARN(cluster, name, e.ID),
			ServiceArn:               sh.svc.ServiceArn,
			ClusterArn:               sh.svc.ClusterArn,
			StartedAt:                e.StartedAt,
			CreatedAt:                e.CreatedAt,
			FinishedAt:               e.FinishedAt,
			TargetServiceRevisionArn: e.Revision.ServiceRevisionArn,
			Status:                   e.Status,
			StatusReason:             e.StatusReason,
		})
	}
	return out, nil
}

// createdWithin says whether t lies in the createdAt filter (both bounds
// exclusive, as "before" and "after" say).
func createdWithin(t *wire.Time, f *w.CreatedAt) bool {
	if f == nil || t == nil {
		return true
	}
	if f.Before != nil && !t.Before(f.Before.Time) {
		return false
	}
	if f.After != nil && !t.After(f.After.Time) {
		return false
	}
	return true
}

func (sc scope) serviceDeploymentARN(cluster, name, id string) string {
	return sc.arn("service-deployment/" + cluster + "/" + name + "/" + id)
}

// historyReader reads each service's history once for a Describe* call.
type historyReader struct {
	sc   scope
	seen map[string]*serviceHistory
}

func (r *historyReader) read(ctx context.Context, cluster, name string) (*serviceHistory, error) {
	k := cluster + "/" + name
	if sh, ok := r.seen[k]; ok {
		return sh, nil
	}
	sh, err := r.sc.readServiceHistory(ctx, cluster, name)
	if err != nil {
		return nil, err
	}
	r.seen[k] = sh
	return sh, nil
}

// DescribeServiceDeployments describes up to 20 service deployments by ARN;
// unknown ones come back in failures with reason MISSING.
func (s *Service) DescribeServiceDeployments(ctx context.Context, in *w.DescribeServiceDeploymentsRequest) (*w.DescribeServiceDeploymentsResponse, error) {
	sc := s.scope(ctx)
	if len(in.ServiceDeploymentArns) == 0 || len(in.ServiceDeploymentArns) > maxDescribeDeployments {
		return nil, InvalidParameter.Errorf("serviceDeploymentArns must list 1 to %d ARNs; %d were given.", maxDescribeDeployments, len(in.ServiceDeploymentArns))
	}
	r := &historyReader{sc: sc, seen: map[string]*serviceHistory{}}
	out := &w.DescribeServiceDeploymentsResponse{ServiceDeployments: []w.ServiceDeployment{}, Failures: []w.Failure{}}
	for _, arn := range in.ServiceDeploymentArns {
		cluster, name, id, ok, err := sc.parseDeploymentARN("service-deployment", "serviceDeploymentArns", arn)
		if err != nil {
			return nil, err
		}
		var sh *serviceHistory
		if ok {
			if sh, err = r.read(ctx, cluster, name); err != nil {
				return nil, err
			}
		}
		var e *historyEntry
		if sh != nil {
			e = sh.h.find(id)
		}
		if e == nil {
			out.Failures = append(out.Failures, w.Failure{Arn: arn, Reason: "MISSING"})
			continue
		}
		out.ServiceDeployments = append(out.ServiceDeployments, serviceDeploymentOf(sc, cluster, name, sh, e))
	}
	return out, nil
}

// serviceDeploymentOf is the wire shape of a service deployment; one in
// progress shows the counts of its deployment as the service has them now.
func serviceDeploymentOf(sc scope, cluster, name string, sh *serviceHistory, e *historyEntry) w.ServiceDeployment {
	target := e.Target
	cb := e.CircuitBreaker
	if e.inProgress() {
		for _, d := range sh.svc.Deployments {
			if d.Id != e.Deployment {
				continue
			}
			target.RequestedTaskCount, target.RunningTaskCount, target.PendingTaskCount = d.DesiredCount, d.RunningCount, d.PendingCount
			if cb != nil && cb.Status == monitorMonitoring {
				c := *cb
				c.FailureCount = d.FailedTasks
				cb = &c
			}
		}
	}
	return w.ServiceDeployment{
		ServiceDeploymentArn:     sc.serviceDeploymentARN(cluster, name, e.ID),
		ServiceArn:               sh.svc.ServiceArn,
		ClusterArn:               sh.svc.ClusterArn,
		CreatedAt:                e.CreatedAt,
		StartedAt:                e.StartedAt,
		FinishedAt:               e.FinishedAt,
		StoppedAt:                e.StoppedAt,
		UpdatedAt:                e.UpdatedAt,
		SourceServiceRevisions:   nonNil(e.Source),
		TargetServiceRevision:    &target,
		Status:                   e.Status,
		StatusReason:             e.StatusReason,
		DeploymentConfiguration:  e.Config,
		Rollback:                 e.Rollback,
		DeploymentCircuitBreaker: cb,
		Alarms:                   e.Alarms,
	}
}

// DescribeServiceRevisions describes up to 20 service revisions by ARN;
// unknown ones come back in failures with reason MISSING.
func (s *Service) DescribeServiceRevisions(ctx context.Context, in *w.DescribeServiceRevisionsRequest) (*w.DescribeServiceRevisionsResponse, error) {
	sc := s.scope(ctx)
	if len(in.ServiceRevisionArns) == 0 || len(in.ServiceRevisionArns) > maxDescribeDeployments {
		return nil, InvalidParameter.Errorf("serviceRevisionArns must list 1 to %d ARNs; %d were given.", maxDescribeDeployments, len(in.ServiceRevisionArns))
	}
	r := &historyReader{sc: sc, seen: map[string]*serviceHistory{}}
	out := &w.DescribeServiceRevisionsResponse{ServiceRevisions: []w.ServiceRevision{}, Failures: []w.Failure{}}
	for _, arn := range in.ServiceRevisionArns {
		cluster, name, _, ok, err := sc.parseDeploymentARN("service-revision", "serviceRevisionArns", arn)
		if err != nil {
			return nil, err
		}
		var rev *w.ServiceRevision
		if ok {
			sh, err := r.read(ctx, cluster, name)
			if err != nil {
				return nil, err
			}
			if sh != nil {
				rev = sh.h.revision(arn)
			}
		}
		if rev == nil {
			out.Failures = append(out.Failures, w.Failure{Arn: arn, Reason: "MISSING"})
			continue
		}
		r := *rev
		r.ContainerImages = sc.containerImages(ctx, r.TaskDefinition)
		out.ServiceRevisions = append(out.ServiceRevisions, r)
	}
	return out, nil
}

// containerImages names the images of a revision's containers, from its
// task definition (without digests: Gantry does not pin a revision's
// images); nil if the task definition cannot be read.
func (sc scope) containerImages(ctx context.Context, taskDefinition string) []w.ContainerImage {
	def := sc.storedTaskDefinition(ctx, taskDefinition)
	if def == nil {
		return nil
	}
	var out []w.ContainerImage
	for _, c := range def.Def.ContainerDefinitions {
		out = append(out, w.ContainerImage{ContainerName: c.Name, Image: c.Image})
	}
	return out
}

func errServiceDeploymentNotFound(arn string) error {
	return withHint(ServiceDeploymentNotFound.Errorf("The service deployment does not exist."), "%s names no service deployment; list a service's deployments with ListServiceDeployments", arn)
}

// StopServiceDeployment stops a service deployment in progress by rolling
// it back (stopType ROLLBACK, the default): the deployment it started
// stops, and a new deployment of the service's last completed task
// definition takes over, as the circuit breaker's rollback does. A
// deployment that has ended, or one with no earlier completed revision to
// go back to, answers ConflictException.
func (s *Service) StopServiceDeployment(ctx context.Context, in *w.StopServiceDeploymentRequest) (*w.StopServiceDeploymentResponse, error) {
	sc := s.scope(ctx)
	if in.StopType == "ABORT" {
		return nil, InvalidParameter.Errorf("stopType ABORT is not supported: use ROLLBACK.")
	}
	cluster, name, id, ok, err := sc.parseDeploymentARN("service-deployment", "serviceDeploymentArn", in.ServiceDeploymentArn)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errServiceDeploymentNotFound(in.ServiceDeploymentArn)
	}
	key := model.ServiceKey(cluster, name)
	_, err = state.Retry(ctx, func() (struct{}, error) {
		sh, err := sc.readServiceHistory(ctx, cluster, name)
		if err != nil {
			return struct{}{}, err
		}
		var e *historyEntry
		if sh != nil {
			e = sh.h.find(id)
		}
		if e == nil {
			return struct{}{}, errServiceDeploymentNotFound(in.ServiceDeploymentArn)
		}
		svc := sh.svc
		i := slices.IndexFunc(svc.Deployments, func(d w.Deployment) bool { return d.Id == e.Deployment })
		if e.Status != sdInProgress || !sh.live || svc.Status != model.ServiceActive || i < 0 ||
			svc.Deployments[i].Status != model.DeploymentPrimary || svc.Deployments[i].RolloutState != model.RolloutInProgress {
			return struct{}{}, Conflict.Errorf("The service deployment is %s; only a service deployment IN_PROGRESS can be stopped.", e.Status)
		}
		last := svc.Gantry.LastCompleted
		if last == nil || last.TaskDefinition == svc.Deployments[i].TaskDefinition {
			return struct{}{}, Conflict.Errorf("The service has no earlier completed service revision to roll back to.")
		}
		before := snapshotService(svc)
		now := s.now()
		p := &svc.Deployments[i]
		p.Status, p.DesiredCount = model.DeploymentActive, p.PendingCount+p.RunningCount
		p.RolloutState = model.RolloutFailed
		p.RolloutStateReason = "ECS deployment " + p.Id + " stopped by StopServiceDeployment."
		p.UpdatedAt = wire.At(now)
		rollback := newDeployment(last.TaskDefinition, svc.DesiredCount, now)
		rollback.RolloutStateReason = fmt.Sprintf("ECS deployment stopped: rolling back to deploymentId %s.", last.ID)
		svc.Deployments = append([]w.Deployment{rollback}, svc.Deployments...)
		if svc.Gantry.Deployments == nil {
			svc.Gantry.Deployments = map[string]model.DeploymentState{}
		}
		svc.Gantry.Deployments[rollback.Id] = model.DeploymentState{RollbackOf: p.Id}
		svc.TaskDefinition = last.TaskDefinition
		svc.Events = append([]w.ServiceEvent{
			{Id: newUUID(), CreatedAt: wire.At(now), Message: fmt.Sprintf("(service %s) rolling back to deployment %s.", name, last.ID)},
			{Id: newUUID(), CreatedAt: wire.At(now), Message: fmt.Sprintf("(service %s) (deployment %s) deployment stopped by StopServiceDeployment.", name, p.Id)},
		}, svc.Events...)
		if len(svc.Events) > model.MaxServiceEvents {
			svc.Events = svc.Events[:model.MaxServiceEvents]
		}
		txn := sc.st.Txn().Expect(key, sh.rev).Put(key, svc)
		if err := sc.recordDeployments(ctx, txn, cluster, name, before, svc, now, "Service deployment stopped by StopServiceDeployment: rolling back to the previous service revision."); err != nil {
			return struct{}{}, err
		}
		_, err = txn.Commit(ctx)
		return struct{}{}, err
	})
	if err != nil {
		return nil, err
	}
	return &w.StopServiceDeploymentResponse{ServiceDeploymentArn: in.ServiceDeploymentArn}, nil
}

// ContinueServiceDeployment acts on a lifecycle hook a deployment is
// paused at. Gantry runs no lifecycle hooks (nor bake time), so no
// deployment is ever paused at one: a deployment it knows answers
// InvalidParameterException, one it does not ServiceDeploymentNotFound.
func (s *Service) ContinueServiceDeployment(ctx context.Context, in *w.ContinueServiceDeploymentRequest) (*w.ContinueServiceDeploymentResponse, error) {
	sc := s.scope(ctx)
	cluster, name, id, ok, err := sc.parseDeploymentARN("service-deployment", "serviceDeploymentArn", in.ServiceDeploymentArn)
	if err != nil {
		return nil, err
	}
	var sh *serviceHistory
	if ok {
		if sh, err = sc.readServiceHistory(ctx, cluster, name); err != nil {
			return nil, err
		}
	}
	if sh == nil || sh.h.find(id) == nil {
		return nil, errServiceDeploymentNotFound(in.ServiceDeploymentArn)
	}
	return nil, withHint(InvalidParameter.Errorf("The service deployment is not paused at lifecycle hook %q.", in.HookId),
		"Gantry runs no deployment lifecycle hooks or bake time, so no deployment waits for ContinueServiceDeployment; stop one in progress with StopServiceDeployment")
}
