package ecs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	gt "github.com/gantry-dev/gantry/internal/gantrytest"
)

// listDeployments lists all of a service's deployments, page by page.
func listDeployments(t *testing.T, c *ecs.Client, in *ecs.ListServiceDeploymentsInput) []types.ServiceDeploymentBrief {
	t.Helper()
	var out []types.ServiceDeploymentBrief
	page := *in
	for {
		res := gt.Must(c.ListServiceDeployments(context.Background(), &page))(t)
		out = append(out, res.ServiceDeployments...)
		if res.NextToken == nil {
			return out
		}
		page.NextToken = res.NextToken
	}
}

func describeDeployment(t *testing.T, c *ecs.Client, arn string) types.ServiceDeployment {
	t.Helper()
	out := gt.Must(c.DescribeServiceDeployments(context.Background(), &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{arn}}))(t)
	if len(out.ServiceDeployments) != 1 || len(out.Failures) != 0 {
		t.Fatalf("DescribeServiceDeployments %s: %+v failures %+v", arn, out.ServiceDeployments, out.Failures)
	}
	return out.ServiceDeployments[0]
}

func describeRevision(t *testing.T, c *ecs.Client, arn string) types.ServiceRevision {
	t.Helper()
	out := gt.Must(c.DescribeServiceRevisions(context.Background(), &ecs.DescribeServiceRevisionsInput{ServiceRevisionArns: []string{arn}}))(t)
	if len(out.ServiceRevisions) != 1 || len(out.Failures) != 0 {
		t.Fatalf("DescribeServiceRevisions %s: %+v failures %+v", arn, out.ServiceRevisions, out.Failures)
	}
	return out.ServiceRevisions[0]
}

// waitDeployment waits until the service deployment has the status given.
func waitDeployment(t *testing.T, c *ecs.Client, arn string, status types.ServiceDeploymentStatus) types.ServiceDeployment {
	t.Helper()
	var d types.ServiceDeployment
	waitUntil(t, 60*time.Second, "service deployment "+string(status), func() bool {
		d = describeDeployment(t, c, arn)
		return d.Status == status
	})
	return d
}

// TestServiceDeploymentHistoryOnSimulatedFleet drives a service through
// its deployments on a simulated fleet, with the SDK: the one CreateService
// starts, a new revision, a crashing revision the circuit breaker rolls
// back, and a revision that cannot be placed, stopped by
// StopServiceDeployment; each shows in ListServiceDeployments (newest
// first, filtered, paged), DescribeServiceDeployments and
// DescribeServiceRevisions as ECS shows it.
func TestServiceDeploymentHistoryOnSimulatedFleet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := gt.Shared(t)
	c := env.ECS()
	region := c.Options().Region
	const cluster, name = "hist", "web"
	simFleet(t, env, c, cluster, 3)
	v1 := simTD(t, c, "hist")
	gt.Must(c.CreateService(ctx, &ecs.CreateServiceInput{
		Cluster: aws.String(cluster), ServiceName: aws.String(name), TaskDefinition: aws.String(v1), DesiredCount: aws.Int32(2),
		DeploymentConfiguration: &types.DeploymentConfiguration{DeploymentCircuitBreaker: &types.DeploymentCircuitBreaker{Enable: true, Rollback: true}},
	}))(t)
	svcARN := "arn:aws:ecs:" + region + ":" + gt.Account + ":service/" + cluster + "/" + name
	list := func() []types.ServiceDeploymentBrief {
		return listDeployments(t, c, &ecs.ListServiceDeploymentsInput{Cluster: aws.String(cluster), Service: aws.String(name)})
	}

	// The first deployment: IN_PROGRESS, then SUCCESSFUL.
	first := list()
	if len(first) != 1 {
		t.Fatalf("after CreateService: %d service deployments, want 1", len(first))
	}
	d1ARN := aws.ToString(first[0].ServiceDeploymentArn)
	if !strings.HasPrefix(d1ARN, "arn:aws:ecs:"+region+":"+gt.Account+":service-deployment/"+cluster+"/"+name+"/") ||
		aws.ToString(first[0].ServiceArn) != svcARN || !strings.HasSuffix(aws.ToString(first[0].ClusterArn), ":cluster/"+cluster) {
		t.Fatalf("service deployment ARNs: %s %s %s", d1ARN, aws.ToString(first[0].ServiceArn), aws.ToString(first[0].ClusterArn))
	}
	d1 := waitDeployment(t, c, d1ARN, types.ServiceDeploymentStatusSuccessful)
	rev1 := aws.ToString(d1.TargetServiceRevision.Arn)
	if !strings.HasPrefix(rev1, "arn:aws:ecs:"+region+":"+gt.Account+":service-revision/"+cluster+"/"+name+"/") {
		t.Fatalf("target revision ARN %s", rev1)
	}
	if len(d1.SourceServiceRevisions) != 0 || d1.TargetServiceRevision.RequestedTaskCount != 2 || d1.TargetServiceRevision.RunningTaskCount != 2 ||
		d1.FinishedAt == nil || d1.StartedAt == nil || d1.CreatedAt == nil || d1.StoppedAt != nil {
		t.Fatalf("first deployment: %+v target %+v", d1, d1.TargetServiceRevision)
	}
	if cb := d1.DeploymentCircuitBreaker; cb == nil || cb.Status != types.ServiceDeploymentRollbackMonitorsStatusMonitoringComplete || cb.Threshold != 3 || cb.FailureCount != 0 {
		t.Fatalf("first deployment's circuit breaker: %+v", d1.DeploymentCircuitBreaker)
	}
	if a := d1.Alarms; a == nil || a.Status != types.ServiceDeploymentRollbackMonitorsStatusDisabled {
		t.Fatalf("first deployment's alarms: %+v", d1.Alarms)
	}
	if cfg := d1.DeploymentConfiguration; cfg == nil || cfg.DeploymentCircuitBreaker == nil || !cfg.DeploymentCircuitBreaker.Rollback ||
		aws.ToInt32(cfg.MaximumPercent) != 200 || aws.ToInt32(cfg.MinimumHealthyPercent) != 100 {
		t.Fatalf("first deployment's configuration: %+v", d1.DeploymentConfiguration)
	}
	r1 := describeRevision(t, c, rev1)
	if aws.ToString(r1.TaskDefinition) != v1 || r1.LaunchType != types.LaunchTypeEc2 || aws.ToString(r1.ServiceArn) != svcARN || r1.CreatedAt == nil {
		t.Fatalf("first revision: %+v", r1)
	}
	if len(r1.ContainerImages) != 1 || aws.ToString(r1.ContainerImages[0].ContainerName) != "app" || aws.ToString(r1.ContainerImages[0].Image) != "sim/app:1" {
		t.Fatalf("first revision's container images: %+v", r1.ContainerImages)
	}

	// A new revision: a second deployment, from the first revision.
	v2 := simTD(t, c, "hist")
	gt.Must(c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String(cluster), Service: aws.String(name), TaskDefinition: aws.String(v2)}))(t)
	all := list()
	if len(all) != 2 || aws.ToString(all[1].ServiceDeploymentArn) != d1ARN {
		t.Fatalf("after UpdateService: %d deployments, oldest %s", len(all), aws.ToString(all[len(all)-1].ServiceDeploymentArn))
	}
	d2 := waitDeployment(t, c, aws.ToString(all[0].ServiceDeploymentArn), types.ServiceDeploymentStatusSuccessful)
	rev2 := aws.ToString(d2.TargetServiceRevision.Arn)
	if len(d2.SourceServiceRevisions) != 1 || aws.ToString(d2.SourceServiceRevisions[0].Arn) != rev1 || d2.SourceServiceRevisions[0].RunningTaskCount != 2 {
		t.Fatalf("second deployment's sources: %+v, want %s with 2 running", d2.SourceServiceRevisions, rev1)
	}
	if r := describeRevision(t, c, rev2); aws.ToString(r.TaskDefinition) != v2 {
		t.Fatalf("second revision runs %s, want %s", aws.ToString(r.TaskDefinition), v2)
	}
	waitStable(t, c, cluster, name)

	// A crashing revision: the circuit breaker rolls it back to the second.
	bad := simTD(t, c, "hist", types.KeyValuePair{Name: aws.String("GANTRY_SIM_EXIT_CODE"), Value: aws.String("1")})
	gt.Must(c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String(cluster), Service: aws.String(name), TaskDefinition: aws.String(bad)}))(t)
	d3ARN := aws.ToString(list()[0].ServiceDeploymentArn)
	d3 := waitDeployment(t, c, d3ARN, types.ServiceDeploymentStatusRollbackSuccessful)
	if d3.Rollback == nil || aws.ToString(d3.Rollback.ServiceRevisionArn) != rev2 || d3.Rollback.StartedAt == nil || aws.ToString(d3.Rollback.Reason) == "" {
		t.Fatalf("rolled-back deployment's rollback: %+v, want to %s", d3.Rollback, rev2)
	}
	if cb := d3.DeploymentCircuitBreaker; cb == nil || cb.Status != types.ServiceDeploymentRollbackMonitorsStatusTriggered || cb.FailureCount < cb.Threshold {
		t.Fatalf("rolled-back deployment's circuit breaker: %+v", d3.DeploymentCircuitBreaker)
	}
	if r := describeRevision(t, c, aws.ToString(d3.TargetServiceRevision.Arn)); aws.ToString(r.TaskDefinition) != bad {
		t.Fatalf("the rolled-back deployment targeted %s, want %s", aws.ToString(r.TaskDefinition), bad)
	}
	if n := len(list()); n != 3 {
		t.Fatalf("after the rollback: %d service deployments, want 3 (a rollback belongs to the deployment it rolls back)", n)
	}
	waitStable(t, c, cluster, name)

	// A revision no instance can hold stays IN_PROGRESS; StopServiceDeployment
	// rolls it back to the second revision.
	huge := gt.Must(c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family:               aws.String("hist"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("app"), Image: aws.String("sim/app:1"), Memory: aws.Int32(100000)}},
	}))(t)
	gt.Must(c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String(cluster), Service: aws.String(name), TaskDefinition: huge.TaskDefinition.TaskDefinitionArn}))(t)
	d4ARN := aws.ToString(list()[0].ServiceDeploymentArn)
	if d := describeDeployment(t, c, d4ARN); d.Status != types.ServiceDeploymentStatusInProgress || d.FinishedAt != nil {
		t.Fatalf("unplaceable deployment: %s finished %v", d.Status, d.FinishedAt)
	}
	inProgress := listDeployments(t, c, &ecs.ListServiceDeploymentsInput{Cluster: aws.String(cluster), Service: aws.String(name),
		Status: []types.ServiceDeploymentStatus{types.ServiceDeploymentStatusInProgress}})
	if len(inProgress) != 1 || aws.ToString(inProgress[0].ServiceDeploymentArn) != d4ARN {
		t.Fatalf("IN_PROGRESS filter: %+v", inProgress)
	}
	stop := gt.Must(c.StopServiceDeployment(ctx, &ecs.StopServiceDeploymentInput{ServiceDeploymentArn: aws.String(d4ARN)}))(t)
	if aws.ToString(stop.ServiceDeploymentArn) != d4ARN {
		t.Fatalf("StopServiceDeployment answered %s", aws.ToString(stop.ServiceDeploymentArn))
	}
	d4 := waitDeployment(t, c, d4ARN, types.ServiceDeploymentStatusRollbackSuccessful)
	if d4.Rollback == nil || aws.ToString(d4.Rollback.ServiceRevisionArn) != rev2 {
		t.Fatalf("stopped deployment's rollback: %+v, want to %s", d4.Rollback, rev2)
	}
	svc := waitStable(t, c, cluster, name)
	if !gt.HasEvent(svc, "deployment stopped by StopServiceDeployment.") || !gt.HasEvent(svc, "rolling back to deployment") {
		t.Fatalf("events after StopServiceDeployment: %v", gt.EventMessages(svc, 10))
	}
	if aws.ToString(svc.TaskDefinition) != v2 {
		t.Fatalf("after StopServiceDeployment the service runs %s, want %s", aws.ToString(svc.TaskDefinition), v2)
	}
	for _, task := range serviceTasks(t, c, cluster, name, types.DesiredStatusRunning) {
		if aws.ToString(task.TaskDefinitionArn) != v2 {
			t.Fatalf("after StopServiceDeployment a task runs %s, want %s", aws.ToString(task.TaskDefinitionArn), v2)
		}
	}

	// A finished deployment cannot be stopped; unknown ones are not found.
	_, err := c.StopServiceDeployment(ctx, &ecs.StopServiceDeploymentInput{ServiceDeploymentArn: aws.String(d4ARN)})
	gt.WantCode(t, err, "ConflictException")
	ghost := "arn:aws:ecs:" + region + ":" + gt.Account + ":service-deployment/" + cluster + "/" + name + "/nothingHereAtAll00000"
	_, err = c.StopServiceDeployment(ctx, &ecs.StopServiceDeploymentInput{ServiceDeploymentArn: aws.String(ghost)})
	gt.WantCode(t, err, "ServiceDeploymentNotFoundException")
	_, err = c.ContinueServiceDeployment(ctx, &ecs.ContinueServiceDeploymentInput{ServiceDeploymentArn: aws.String(d4ARN), HookId: aws.String("hook")})
	gt.WantCode(t, err, "InvalidParameterException")
	desc := gt.Must(c.DescribeServiceDeployments(ctx, &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{d1ARN, ghost}}))(t)
	if len(desc.ServiceDeployments) != 1 || len(desc.Failures) != 1 || aws.ToString(desc.Failures[0].Reason) != "MISSING" || aws.ToString(desc.Failures[0].Arn) != ghost {
		t.Fatalf("describe with an unknown ARN: %d deployments, failures %+v", len(desc.ServiceDeployments), desc.Failures)
	}
	revs := gt.Must(c.DescribeServiceRevisions(ctx, &ecs.DescribeServiceRevisionsInput{ServiceRevisionArns: []string{strings.Replace(rev1, "/"+name+"/", "/nope/", 1)}}))(t)
	if len(revs.ServiceRevisions) != 0 || len(revs.Failures) != 1 || aws.ToString(revs.Failures[0].Reason) != "MISSING" {
		t.Fatalf("describe an unknown revision: %+v %+v", revs.ServiceRevisions, revs.Failures)
	}

	// The whole history, newest first, one a page; the filters.
	all = list()
	paged := listDeployments(t, c, &ecs.ListServiceDeploymentsInput{Cluster: aws.String(cluster), Service: aws.String(svcARN), MaxResults: aws.Int32(1)})
	want := []string{d4ARN, d3ARN, aws.ToString(d2.ServiceDeploymentArn), d1ARN}
	if len(all) != 4 || len(paged) != 4 {
		t.Fatalf("history: %d deployments, %d paged one by one; want 4", len(all), len(paged))
	}
	for i := range want {
		if aws.ToString(all[i].ServiceDeploymentArn) != want[i] || aws.ToString(paged[i].ServiceDeploymentArn) != want[i] {
			t.Fatalf("history %d: %s (paged %s), want %s", i, aws.ToString(all[i].ServiceDeploymentArn), aws.ToString(paged[i].ServiceDeploymentArn), want[i])
		}
	}
	ok := listDeployments(t, c, &ecs.ListServiceDeploymentsInput{Cluster: aws.String(cluster), Service: aws.String(name),
		Status: []types.ServiceDeploymentStatus{types.ServiceDeploymentStatusSuccessful}})
	if len(ok) != 2 || aws.ToString(ok[0].ServiceDeploymentArn) != want[2] || aws.ToString(ok[1].ServiceDeploymentArn) != d1ARN {
		t.Fatalf("SUCCESSFUL filter: %+v", ok)
	}
	early := listDeployments(t, c, &ecs.ListServiceDeploymentsInput{Cluster: aws.String(cluster), Service: aws.String(name),
		CreatedAt: &types.CreatedAt{Before: aws.Time(first[0].CreatedAt.Add(time.Millisecond))}})
	if len(early) != 1 || aws.ToString(early[0].ServiceDeploymentArn) != d1ARN {
		t.Fatalf("createdAt before the first's creation + 1ms: %+v", early)
	}
	_, err = c.ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{Cluster: aws.String(cluster), Service: aws.String("ghost")})
	gt.WantCode(t, err, "ServiceNotFoundException")
}
