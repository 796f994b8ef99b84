package ecs_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	gt "github.com/gantry-dev/gantry/internal/gantrytest"
	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/state"
)

// These tests assert what the service actions write. The service controller
// may run in the shared server meanwhile (starting no task: no test here
// registers an instance), so they read the desired state (task definition,
// desiredCount, the deployments an action created, configuration) from the
// actions' own answers, and never wait for what the controller writes.

var deploymentIDPattern = regexp.MustCompile(`^ecs-svc/[0-9]{19}$`)

// newService creates a REPLICA service of the task definition td in cluster.
func newService(t *testing.T, c *ecs.Client, cluster, name, td string, desired int32) types.Service {
	t.Helper()
	out := gt.Must(c.CreateService(context.Background(), &ecs.CreateServiceInput{
		Cluster: aws.String(cluster), ServiceName: aws.String(name), TaskDefinition: aws.String(td), DesiredCount: aws.Int32(desired),
	}))(t)
	return *out.Service
}

// describeService describes one service of cluster, with its tags.
func describeService(t *testing.T, c *ecs.Client, cluster, ref string) types.Service {
	t.Helper()
	d := gt.Must(c.DescribeServices(context.Background(), &ecs.DescribeServicesInput{
		Cluster: aws.String(cluster), Services: []string{ref}, Include: []types.ServiceField{types.ServiceFieldTags},
	}))(t)
	if len(d.Services) != 1 || len(d.Failures) != 0 {
		t.Fatalf("describe %s = %+v", ref, d)
	}
	return d.Services[0]
}

// deploymentSummary is "STATUS td desiredCount" for each deployment.
func deploymentSummary(ds []types.Deployment) []string {
	var out []string
	for _, d := range ds {
		out = append(out, fmt.Sprintf("%s %s %d", aws.ToString(d.Status), aws.ToString(d.TaskDefinition), d.DesiredCount))
	}
	return out
}

// makeInactive does what the service controller does once a DRAINING
// service has no task left: it moves the record to the INACTIVE key. A
// controller that got there first is fine.
func makeInactive(t *testing.T, env *gt.Env, c *ecs.Client, cluster, name string) {
	t.Helper()
	ctx := context.Background()
	st := env.Store().Sub(gt.Account + "/" + c.Options().Region)
	_, err := state.Retry(ctx, func() (struct{}, error) {
		var svc model.Service
		rev, err := st.Get(ctx, model.ServiceKey(cluster, name), &svc)
		if errors.Is(err, state.ErrNotFound) {
			return struct{}{}, nil
		}
		if err != nil {
			return struct{}{}, err
		}
		svc.Status = model.ServiceInactive
		_, err = st.Txn().Expect(model.ServiceKey(cluster, name), rev).Delete(model.ServiceKey(cluster, name)).
			Put(model.InactiveServiceKey(cluster, name), &svc).Commit(ctx)
		return struct{}{}, err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestServiceLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := gt.Shared(t)
	c := env.ECS()
	gt.Must(c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("prod")}))(t)
	td1 := aws.ToString(webTD(t, c, "web").TaskDefinitionArn)
	before := time.Now().Add(-time.Second)

	created := gt.Must(c.CreateService(ctx, &ecs.CreateServiceInput{
		Cluster: aws.String("prod"), ServiceName: aws.String("api"), TaskDefinition: aws.String("web"), DesiredCount: aws.Int32(2),
		Tags:                 []types.Tag{tag("team", "api")},
		PlacementStrategy:    []types.PlacementStrategy{{Type: types.PlacementStrategyTypeSpread, Field: aws.String("attribute:ecs.availability-zone")}},
		PlacementConstraints: []types.PlacementConstraint{{Type: types.PlacementConstraintTypeDistinctInstance}},
		DeploymentConfiguration: &types.DeploymentConfiguration{
			DeploymentCircuitBreaker: &types.DeploymentCircuitBreaker{Enable: true},
		},
		HealthCheckGracePeriodSeconds: aws.Int32(30),
		EnableECSManagedTags:          true,
		PropagateTags:                 types.PropagateTagsService,
	}))(t).Service
	arn := arnIn(c, "service/prod/api")
	cfg := created.DeploymentConfiguration
	if aws.ToString(created.ServiceArn) != arn || aws.ToString(created.ServiceName) != "api" || aws.ToString(created.ClusterArn) != arnIn(c, "cluster/prod") ||
		aws.ToString(created.Status) != "ACTIVE" || created.DesiredCount != 2 || created.RunningCount != 0 || created.PendingCount != 0 ||
		created.LaunchType != types.LaunchTypeEc2 || created.SchedulingStrategy != types.SchedulingStrategyReplica ||
		aws.ToString(created.TaskDefinition) != td1 || created.PropagateTags != types.PropagateTagsService || !created.EnableECSManagedTags ||
		aws.ToInt32(created.HealthCheckGracePeriodSeconds) != 30 || created.DeploymentController.Type != types.DeploymentControllerTypeEcs ||
		aws.ToString(created.CreatedBy) != "arn:aws:iam::"+gt.Account+":root" || created.CreatedAt == nil || created.CreatedAt.Before(before) ||
		len(created.Events) != 0 || len(created.Tags) != 1 || len(created.PlacementStrategy) != 1 || len(created.PlacementConstraints) != 1 {
		t.Fatalf("created = %+v", created)
	}
	if aws.ToInt32(cfg.MaximumPercent) != 200 || aws.ToInt32(cfg.MinimumHealthyPercent) != 100 ||
		!cfg.DeploymentCircuitBreaker.Enable || cfg.DeploymentCircuitBreaker.Rollback {
		t.Fatalf("deployment configuration = %+v", cfg)
	}
	if len(created.Deployments) != 1 {
		t.Fatalf("deployments = %+v", created.Deployments)
	}
	d := created.Deployments[0]
	id := aws.ToString(d.Id)
	if !deploymentIDPattern.MatchString(id) || aws.ToString(d.Status) != "PRIMARY" || aws.ToString(d.TaskDefinition) != td1 ||
		d.DesiredCount != 2 || d.RunningCount != 0 || d.PendingCount != 0 || d.FailedTasks != 0 || d.LaunchType != types.LaunchTypeEc2 ||
		d.RolloutState != types.DeploymentRolloutStateInProgress || aws.ToString(d.RolloutStateReason) != "ECS deployment "+id+" in progress." ||
		d.CreatedAt == nil || d.UpdatedAt == nil {
		t.Fatalf("deployment = %+v", d)
	}

	// Described by name, ARN or short ARN; tags only with include TAGS.
	for _, ref := range []string{"api", arn, arnIn(c, "service/api")} {
		if got := describeService(t, c, "prod", ref); aws.ToString(got.ServiceArn) != arn || len(got.Tags) != 1 || aws.ToString(got.TaskDefinition) != td1 {
			t.Fatalf("described %s = %+v", ref, got)
		}
	}
	plain := gt.Must(c.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("prod"), Services: []string{"api"}}))(t)
	if len(plain.Services) != 1 || plain.Services[0].Tags != nil {
		t.Fatalf("described without TAGS = %+v", plain.Services)
	}

	// desiredCount changes no deployment.
	up := gt.Must(c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("api"), DesiredCount: aws.Int32(3)}))(t).Service
	if up.DesiredCount != 3 || !slices.Equal(deploymentSummary(up.Deployments), []string{"PRIMARY " + td1 + " 3"}) || aws.ToString(up.Deployments[0].Id) != id || up.Tags != nil {
		t.Fatalf("scaled = %+v", up)
	}
	// The same task definition again changes none either.
	up = gt.Must(c.UpdateService(ctx, &ecs.UpdateServiceInput{Service: aws.String(arn), Cluster: aws.String("prod"), TaskDefinition: aws.String("web:1")}))(t).Service
	if len(up.Deployments) != 1 || aws.ToString(up.Deployments[0].Id) != id {
		t.Fatalf("same task definition = %+v", up.Deployments)
	}
	// Placement, deployment configuration, grace period and tagging options
	// change without a new deployment; deployment configuration members
	// left out keep their values.
	up = gt.Must(c.UpdateService(ctx, &ecs.UpdateServiceInput{
		Cluster: aws.String("prod"), Service: aws.String("api"),
		PlacementStrategy:             []types.PlacementStrategy{{Type: types.PlacementStrategyTypeBinpack, Field: aws.String("memory")}},
		PlacementConstraints:          []types.PlacementConstraint{},
		DeploymentConfiguration:       &types.DeploymentConfiguration{MaximumPercent: aws.Int32(150)},
		HealthCheckGracePeriodSeconds: aws.Int32(0),
		PropagateTags:                 types.PropagateTagsTaskDefinition,
		EnableECSManagedTags:          aws.Bool(false),
	}))(t).Service
	cfg = up.DeploymentConfiguration
	if len(up.Deployments) != 1 || len(up.PlacementConstraints) != 0 || len(up.PlacementStrategy) != 1 || up.PlacementStrategy[0].Type != types.PlacementStrategyTypeBinpack ||
		aws.ToInt32(cfg.MaximumPercent) != 150 || aws.ToInt32(cfg.MinimumHealthyPercent) != 100 || !cfg.DeploymentCircuitBreaker.Enable ||
		aws.ToInt32(up.HealthCheckGracePeriodSeconds) != 0 || up.PropagateTags != types.PropagateTagsTaskDefinition || up.EnableECSManagedTags {
		t.Fatalf("updated settings = %+v", up)
	}

	// A new revision deploys: a new PRIMARY, the old one ACTIVE.
	td2 := aws.ToString(webTD(t, c, "web").TaskDefinitionArn)
	up = gt.Must(c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("api"), TaskDefinition: aws.String("web")}))(t).Service
	if aws.ToString(up.TaskDefinition) != td2 || !slices.Equal(deploymentSummary(up.Deployments), []string{"PRIMARY " + td2 + " 3", "ACTIVE " + td1 + " 3"}) ||
		aws.ToString(up.Deployments[1].Id) != id || aws.ToString(up.Deployments[0].Id) == id ||
		up.Deployments[0].RolloutState != types.DeploymentRolloutStateInProgress {
		t.Fatalf("deployed %s: %+v", td2, up.Deployments)
	}
	second := aws.ToString(up.Deployments[0].Id)
	// forceNewDeployment deploys the same revision again.
	up = gt.Must(c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("api"), ForceNewDeployment: true, DesiredCount: aws.Int32(1)}))(t).Service
	if aws.ToString(up.TaskDefinition) != td2 || len(up.Deployments) < 2 || aws.ToString(up.Deployments[0].Status) != "PRIMARY" ||
		aws.ToString(up.Deployments[0].TaskDefinition) != td2 || up.Deployments[0].DesiredCount != 1 ||
		aws.ToString(up.Deployments[0].Id) == second || !slices.ContainsFunc(up.Deployments, func(d types.Deployment) bool {
		return aws.ToString(d.Id) == second && aws.ToString(d.Status) == "ACTIVE"
	}) {
		t.Fatalf("forced deployment: %+v", deploymentSummary(up.Deployments))
	}
	if l := gt.Must(c.ListServices(ctx, &ecs.ListServicesInput{Cluster: aws.String("prod")}))(t); !slices.Equal(l.ServiceArns, []string{arn}) {
		t.Fatalf("listed %v", l.ServiceArns)
	}

	// Deleting needs the service scaled to 0, or force.
	_, err := c.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String("prod"), Service: aws.String("api")})
	gt.WantCode(t, err, "InvalidParameterException")
	del := gt.Must(c.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String("prod"), Service: aws.String("api"), Force: aws.Bool(true)}))(t).Service
	if aws.ToString(del.Status) != "DRAINING" || del.DesiredCount != 0 || del.Tags != nil {
		t.Fatalf("deleted = %+v", del)
	}
	// A DRAINING service is no longer listed, cannot be updated, and keeps
	// its name; deleting it again answers it as it is (or, once the
	// controller made it INACTIVE, not found).
	if l := gt.Must(c.ListServices(ctx, &ecs.ListServicesInput{Cluster: aws.String("prod")}))(t); len(l.ServiceArns) != 0 {
		t.Fatalf("listed after delete: %v", l.ServiceArns)
	}
	_, err = c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("api"), DesiredCount: aws.Int32(1)})
	gt.WantCode(t, err, "ServiceNotActiveException")
	if again, err := c.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String("prod"), Service: aws.String("api")}); err == nil {
		if aws.ToString(again.Service.Status) != "DRAINING" {
			t.Fatalf("deleted again = %+v", again.Service)
		}
	} else {
		gt.WantCode(t, err, "ServiceNotFoundException")
	}
	// The cluster cannot be deleted while it holds a service. (Not checked
	// with the DRAINING one: with no task to wait for, the controller may
	// make it INACTIVE at any moment.)
	newService(t, c, "prod", "blocker", "web", 0)
	_, err = c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("prod")})
	gt.WantCode(t, err, "ClusterContainsServicesException")
	gt.Must(c.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String("prod"), Service: aws.String("blocker")}))(t)

	// Once INACTIVE it is still described; the name is free again.
	makeInactive(t, env, c, "prod", "api")
	if got := describeService(t, c, "prod", "api"); aws.ToString(got.Status) != "INACTIVE" {
		t.Fatalf("inactive = %+v", got)
	}
	_, err = c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("api"), DesiredCount: aws.Int32(1)})
	gt.WantCode(t, err, "ServiceNotActiveException")
	_, err = c.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String("prod"), Service: aws.String("api")})
	gt.WantCode(t, err, "ServiceNotFoundException")
	again := newService(t, c, "prod", "api", "web:1", 0)
	if aws.ToString(again.Status) != "ACTIVE" || aws.ToString(again.TaskDefinition) != td1 || aws.ToString(again.Deployments[0].Id) == id {
		t.Fatalf("recreated = %+v", again)
	}
	if got := describeService(t, c, "prod", "api"); aws.ToString(got.Status) != "ACTIVE" || len(got.Tags) != 0 {
		t.Fatalf("described after recreation = %+v", got)
	}
}

func TestDaemonService(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := gt.Shared(t).ECS()
	registerTD(t, c, "agent")
	in := &ecs.CreateServiceInput{ServiceName: aws.String("logs"), TaskDefinition: aws.String("agent"), SchedulingStrategy: types.SchedulingStrategyDaemon}
	_, err := c.CreateService(ctx, in)
	gt.WantCode(t, err, "ClusterNotFoundException") // the default cluster does not exist yet
	gt.Must(c.CreateCluster(ctx, &ecs.CreateClusterInput{}))(t)
	svc := gt.Must(c.CreateService(ctx, in))(t).Service
	cfg := svc.DeploymentConfiguration
	if svc.SchedulingStrategy != types.SchedulingStrategyDaemon || svc.DesiredCount != 0 || aws.ToString(svc.ClusterArn) != arnIn(c, "cluster/default") ||
		aws.ToInt32(cfg.MaximumPercent) != 100 || aws.ToInt32(cfg.MinimumHealthyPercent) != 0 || len(svc.Deployments) != 1 {
		t.Fatalf("daemon service = %+v", svc)
	}
	for name, in := range map[string]*ecs.CreateServiceInput{
		"desiredCount":      {ServiceName: aws.String("d1"), TaskDefinition: aws.String("agent"), SchedulingStrategy: types.SchedulingStrategyDaemon, DesiredCount: aws.Int32(1)},
		"placementStrategy": {ServiceName: aws.String("d2"), TaskDefinition: aws.String("agent"), SchedulingStrategy: types.SchedulingStrategyDaemon, PlacementStrategy: []types.PlacementStrategy{{Type: types.PlacementStrategyTypeRandom}}},
		"maximumPercent":    {ServiceName: aws.String("d3"), TaskDefinition: aws.String("agent"), SchedulingStrategy: types.SchedulingStrategyDaemon, DeploymentConfiguration: &types.DeploymentConfiguration{MaximumPercent: aws.Int32(200)}},
		"minimumHealthy":    {ServiceName: aws.String("d4"), TaskDefinition: aws.String("agent"), SchedulingStrategy: types.SchedulingStrategyDaemon, DeploymentConfiguration: &types.DeploymentConfiguration{MinimumHealthyPercent: aws.Int32(100)}},
	} {
		_, err := c.CreateService(ctx, in)
		if gt.Code(err) != "InvalidParameterException" {
			t.Fatalf("daemon with %s: %v", name, err)
		}
	}
	_, err = c.UpdateService(ctx, &ecs.UpdateServiceInput{Service: aws.String("logs"), DesiredCount: aws.Int32(2)})
	gt.WantCode(t, err, "InvalidParameterException")
	_, err = c.UpdateService(ctx, &ecs.UpdateServiceInput{Service: aws.String("logs"), PlacementStrategy: []types.PlacementStrategy{{Type: types.PlacementStrategyTypeRandom}}})
	gt.WantCode(t, err, "InvalidParameterException")
	up := gt.Must(c.UpdateService(ctx, &ecs.UpdateServiceInput{Service: aws.String("logs"), DeploymentConfiguration: &types.DeploymentConfiguration{MinimumHealthyPercent: aws.Int32(50)}}))(t).Service
	if aws.ToInt32(up.DeploymentConfiguration.MinimumHealthyPercent) != 50 || aws.ToInt32(up.DeploymentConfiguration.MaximumPercent) != 100 {
		t.Fatalf("daemon deployment configuration = %+v", up.DeploymentConfiguration)
	}
	if l := gt.Must(c.ListServices(ctx, &ecs.ListServicesInput{SchedulingStrategy: types.SchedulingStrategyDaemon}))(t); len(l.ServiceArns) != 1 {
		t.Fatalf("daemon services listed: %v", l.ServiceArns)
	}
	// A daemon service is deleted without force.
	del := gt.Must(c.DeleteService(ctx, &ecs.DeleteServiceInput{Service: aws.String("logs")}))(t).Service
	if aws.ToString(del.Status) != "DRAINING" {
		t.Fatalf("deleted daemon = %+v", del)
	}
}

func TestCreateServiceClientToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := gt.Shared(t).ECS()
	gt.Must(c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("prod")}))(t)
	registerTD(t, c, "app")
	in := &ecs.CreateServiceInput{Cluster: aws.String("prod"), ServiceName: aws.String("api"), TaskDefinition: aws.String("app"),
		DesiredCount: aws.Int32(1), ClientToken: aws.String("tok-1")}
	first := gt.Must(c.CreateService(ctx, in))(t).Service
	again := gt.Must(c.CreateService(ctx, in))(t).Service
	if aws.ToString(again.ServiceArn) != aws.ToString(first.ServiceArn) || aws.ToString(again.Deployments[0].Id) != aws.ToString(first.Deployments[0].Id) {
		t.Fatalf("repeat created another service: %+v, first %+v", again, first)
	}
	// The token of a request belongs to it: another request with it, or the
	// name again with another token or none, is not idempotent.
	changed := *in
	changed.DesiredCount = aws.Int32(2)
	otherName := *in
	otherName.ServiceName = aws.String("web")
	otherToken := *in
	otherToken.ClientToken = aws.String("tok-2")
	noToken := *in
	noToken.ClientToken = nil
	for name, in := range map[string]*ecs.CreateServiceInput{"changed request": &changed, "other name": &otherName, "other token": &otherToken, "no token": &noToken} {
		_, err := c.CreateService(ctx, in)
		if gt.Code(err) != "InvalidParameterException" {
			t.Fatalf("%s: %v", name, err)
		}
	}
	long := *in
	long.ClientToken = aws.String(strings.Repeat("x", 37))
	_, err := c.CreateService(ctx, &long)
	gt.WantCode(t, err, "InvalidParameterException")
	spaced := *in
	spaced.ClientToken = aws.String("a token")
	_, err = c.CreateService(ctx, &spaced)
	gt.WantCode(t, err, "InvalidParameterException")

	// Concurrent requests with one token create one service and all answer
	// it; concurrent requests without a token for one name: one wins.
	tokIn := &ecs.CreateServiceInput{Cluster: aws.String("prod"), ServiceName: aws.String("w1"), TaskDefinition: aws.String("app"),
		DesiredCount: aws.Int32(0), ClientToken: aws.String("tok-3")}
	plainIn := &ecs.CreateServiceInput{Cluster: aws.String("prod"), ServiceName: aws.String("w2"), TaskDefinition: aws.String("app"), DesiredCount: aws.Int32(0)}
	var wg sync.WaitGroup
	ids := make([]string, 8)
	wins := make([]bool, 8)
	for i := range ids {
		wg.Go(func() {
			out, err := c.CreateService(ctx, tokIn)
			if err != nil {
				t.Errorf("concurrent create with a token: %v", err)
				return
			}
			ids[i] = aws.ToString(out.Service.Deployments[0].Id)
		})
		wg.Go(func() {
			_, err := c.CreateService(ctx, plainIn)
			if err != nil && gt.Code(err) != "InvalidParameterException" {
				t.Errorf("concurrent create without a token: %v", err)
			}
			wins[i] = err == nil
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("concurrent creates with one token answered deployments %v", ids)
		}
	}
	if n := len(slices.DeleteFunc(wins, func(w bool) bool { return !w })); n != 1 {
		t.Fatalf("%d concurrent creates of one name succeeded, want 1", n)
	}
}

func TestDescribeServicesFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := gt.Shared(t).ECS()
	gt.Must(c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("prod")}))(t)
	gt.Must(c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("dev")}))(t)
	registerTD(t, c, "app")
	newService(t, c, "prod", "api", "app", 0)
	newService(t, c, "dev", "api", "app", 0)
	region := c.Options().Region
	d := gt.Must(c.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("prod"), Services: []string{
		"api", arnIn(c, "service/prod/api"), // the same service twice: described once
		"ghost",
		arnIn(c, "service/dev/api"), // another cluster's
		"arn:aws:ecs:elsewhere-1:" + gt.Account + ":service/prod/api", // another region's
		"not/a/name",
	}}))(t)
	var failures []string
	for _, f := range d.Failures {
		failures = append(failures, aws.ToString(f.Arn)+" "+aws.ToString(f.Reason))
	}
	want := []string{
		arnIn(c, "service/prod/ghost") + " MISSING",
		arnIn(c, "service/dev/api") + " MISSING",
		"arn:aws:ecs:elsewhere-1:" + gt.Account + ":service/prod/api MISSING",
		arnIn(c, "service/prod/not/a/name") + " MISSING",
	}
	if len(d.Services) != 1 || aws.ToString(d.Services[0].ServiceArn) != arnIn(c, "service/prod/api") || !slices.Equal(failures, want) {
		t.Fatalf("described %+v, failures %v (region %s)", d.Services, failures, region)
	}
}

func TestListServicesPaginates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := gt.Shared(t).ECS()
	gt.Must(c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("prod")}))(t)
	gt.Must(c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("other")}))(t)
	registerTD(t, c, "app")
	var want []string
	for i := range 23 {
		name := fmt.Sprintf("svc-%02d", i)
		newService(t, c, "prod", name, "app", 0)
		want = append(want, arnIn(c, "service/prod/"+name))
	}
	for _, name := range []string{"d-1", "d-2"} {
		gt.Must(c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("prod"), ServiceName: aws.String(name),
			TaskDefinition: aws.String("app"), SchedulingStrategy: types.SchedulingStrategyDaemon}))(t)
	}
	newService(t, c, "other", "elsewhere", "app", 0)
	list := func(in ecs.ListServicesInput) (arns []string, pages []int) {
		p := ecs.NewListServicesPaginator(c, &in)
		for p.HasMorePages() {
			out := gt.Must(p.NextPage(ctx))(t)
			arns = append(arns, out.ServiceArns...)
			pages = append(pages, len(out.ServiceArns))
		}
		return arns, pages
	}
	all, pages := list(ecs.ListServicesInput{Cluster: aws.String("prod"), SchedulingStrategy: types.SchedulingStrategyReplica})
	if !slices.Equal(all, want) || pages[0] != 10 {
		t.Fatalf("listed %d services in pages %v, want the 23 REPLICA ones by name, 10 a page", len(all), pages)
	}
	all, pages = list(ecs.ListServicesInput{Cluster: aws.String("prod"), MaxResults: aws.Int32(7)})
	if len(all) != 25 || pages[0] != 7 || slices.Max(pages) > 7 {
		t.Fatalf("listed %d services in pages %v, want 25 in pages of 7", len(all), pages)
	}
	if all, _ = list(ecs.ListServicesInput{Cluster: aws.String("prod"), SchedulingStrategy: types.SchedulingStrategyDaemon}); !slices.Equal(all, []string{arnIn(c, "service/prod/d-1"), arnIn(c, "service/prod/d-2")}) {
		t.Fatalf("daemon services = %v", all)
	}
	if all, _ = list(ecs.ListServicesInput{Cluster: aws.String("prod"), LaunchType: types.LaunchTypeFargate}); len(all) != 0 {
		t.Fatalf("FARGATE services = %v", all)
	}
	if all, _ = list(ecs.ListServicesInput{Cluster: aws.String("prod"), LaunchType: types.LaunchTypeEc2, MaxResults: aws.Int32(100)}); len(all) != 25 {
		t.Fatalf("EC2 services = %d", len(all))
	}
	// A token resumes only the listing it came from.
	first := gt.Must(c.ListServices(ctx, &ecs.ListServicesInput{Cluster: aws.String("prod"), MaxResults: aws.Int32(2)}))(t)
	_, err := c.ListServices(ctx, &ecs.ListServicesInput{Cluster: aws.String("other"), NextToken: first.NextToken})
	gt.WantCode(t, err, "InvalidParameterException")
	_, err = c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("prod"), NextToken: first.NextToken})
	gt.WantCode(t, err, "InvalidParameterException")
}

func TestTagService(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := gt.Shared(t)
	c := env.ECS()
	gt.Must(c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("prod")}))(t)
	registerTD(t, c, "app")
	arn := aws.ToString(gt.Must(c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("prod"), ServiceName: aws.String("api"),
		TaskDefinition: aws.String("app"), DesiredCount: aws.Int32(0), Tags: []types.Tag{tag("team", "api")}}))(t).Service.ServiceArn)
	wantTags(t, c, arn, "team=api")
	gt.Must(c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(arn), Tags: []types.Tag{tag("env", "prod"), tag("team", "web")}}))(t)
	wantTags(t, c, arn, "team=web", "env=prod")
	gt.Must(c.UntagResource(ctx, &ecs.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{"team"}}))(t)
	wantTags(t, c, arn, "env=prod")
	if got := describeService(t, c, "prod", "api"); len(got.Tags) != 1 || aws.ToString(got.Tags[0].Key) != "env" || aws.ToString(got.TaskDefinition) == "" {
		t.Fatalf("described after tagging: %+v", got)
	}
	// Another cluster's service of that name is another resource.
	_, err := c.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: aws.String(arnIn(c, "service/dev/api"))})
	gt.WantCode(t, err, "ResourceNotFoundException")
	// A deleted service's tags go with it once it is INACTIVE.
	gt.Must(c.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String("prod"), Service: aws.String("api")}))(t)
	makeInactive(t, env, c, "prod", "api")
	_, err = c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(arn), Tags: []types.Tag{tag("a", "b")}})
	gt.WantCode(t, err, "ResourceNotFoundException")
}

func TestServiceErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := gt.Shared(t).ECS()
	region := c.Options().Region
	gt.Must(c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("prod")}))(t)
	registerTD(t, c, "app")
	registerTD(t, c, "gone")
	deregisterTD(t, c, "gone:1")
	gt.Must(c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("vpc"), NetworkMode: types.NetworkModeAwsvpc, ContainerDefinitions: []types.ContainerDefinition{tdContainer("app")},
	}))(t)
	newService(t, c, "prod", "api", "app", 1)

	create := func(change func(*ecs.CreateServiceInput)) func() error {
		return func() error {
			in := &ecs.CreateServiceInput{Cluster: aws.String("prod"), ServiceName: aws.String("new"), TaskDefinition: aws.String("app"), DesiredCount: aws.Int32(1)}
			change(in)
			_, err := c.CreateService(ctx, in)
			return err
		}
	}
	update := func(change func(*ecs.UpdateServiceInput)) func() error {
		return func() error {
			in := &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("api")}
			change(in)
			_, err := c.UpdateService(ctx, in)
			return err
		}
	}
	del := func(cluster, service string) func() error {
		return func() error {
			_, err := c.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String(cluster), Service: aws.String(service)})
			return err
		}
	}
	describe := func(cluster string, services ...string) func() error {
		return func() error {
			_, err := c.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: services})
			return err
		}
	}
	list := func(in ecs.ListServicesInput) func() error {
		return func() error {
			_, err := c.ListServices(ctx, &in)
			return err
		}
	}
	byNamespace := func(in ecs.ListServicesByNamespaceInput) func() error {
		return func() error {
			_, err := c.ListServicesByNamespace(ctx, &in)
			return err
		}
	}
	strategies := func(n int) []types.PlacementStrategy {
		var out []types.PlacementStrategy
		for range n {
			out = append(out, types.PlacementStrategy{Type: types.PlacementStrategyTypeRandom})
		}
		return out
	}
	constraints := func(n int) []types.PlacementConstraint {
		var out []types.PlacementConstraint
		for range n {
			out = append(out, types.PlacementConstraint{Type: types.PlacementConstraintTypeMemberOf, Expression: aws.String("attribute:ecs.os-type == linux")})
		}
		return out
	}
	eleven := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"}
	const ip, cnf, snf, ce = "InvalidParameterException", "ClusterNotFoundException", "ServiceNotFoundException", "ClientException"
	cases := []struct {
		name string
		call func() error
		code string
	}{
		{"create: unknown cluster", create(func(in *ecs.CreateServiceInput) { in.Cluster = aws.String("ghost") }), cnf},
		{"create: cluster ARN of another region", create(func(in *ecs.CreateServiceInput) {
			in.Cluster = aws.String("arn:aws:ecs:elsewhere-1:" + gt.Account + ":cluster/prod")
		}), cnf},
		{"create: name taken", create(func(in *ecs.CreateServiceInput) { in.ServiceName = aws.String("api") }), ip},
		{"create: invalid name", create(func(in *ecs.CreateServiceInput) { in.ServiceName = aws.String("no spaces") }), ip},
		{"create: no desiredCount", create(func(in *ecs.CreateServiceInput) { in.DesiredCount = nil }), ip},
		{"create: negative desiredCount", create(func(in *ecs.CreateServiceInput) { in.DesiredCount = aws.Int32(-1) }), ip},
		{"create: no taskDefinition", create(func(in *ecs.CreateServiceInput) { in.TaskDefinition = nil }), ip},
		{"create: unknown taskDefinition", create(func(in *ecs.CreateServiceInput) { in.TaskDefinition = aws.String("ghost") }), ce},
		{"create: unknown revision", create(func(in *ecs.CreateServiceInput) { in.TaskDefinition = aws.String("app:9") }), ce},
		{"create: INACTIVE revision", create(func(in *ecs.CreateServiceInput) { in.TaskDefinition = aws.String("gone:1") }), ce},
		{"create: malformed taskDefinition ARN", create(func(in *ecs.CreateServiceInput) {
			in.TaskDefinition = aws.String("arn:aws:ecs:" + region + ":" + gt.Account + ":cluster/prod")
		}), ip},
		{"create: awsvpc task definition", create(func(in *ecs.CreateServiceInput) { in.TaskDefinition = aws.String("vpc") }), ip},
		{"create: FARGATE", create(func(in *ecs.CreateServiceInput) { in.LaunchType = types.LaunchTypeFargate }), ip},
		{"create: EXTERNAL", create(func(in *ecs.CreateServiceInput) { in.LaunchType = types.LaunchTypeExternal }), ip},
		{"create: capacity providers", create(func(in *ecs.CreateServiceInput) {
			in.CapacityProviderStrategy = []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE")}}
		}), ip},
		{"create: launch type and capacity providers", create(func(in *ecs.CreateServiceInput) {
			in.LaunchType = types.LaunchTypeEc2
			in.CapacityProviderStrategy = []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE")}}
		}), ip},
		{"create: platformVersion", create(func(in *ecs.CreateServiceInput) { in.PlatformVersion = aws.String("LATEST") }), ip},
		{"create: loadBalancers", create(func(in *ecs.CreateServiceInput) {
			in.LoadBalancers = []types.LoadBalancer{{TargetGroupArn: aws.String("arn:aws:elasticloadbalancing:" + region + ":" + gt.Account + ":targetgroup/tg/1"), ContainerName: aws.String("app"), ContainerPort: aws.Int32(80)}}
		}), ip},
		{"create: role", create(func(in *ecs.CreateServiceInput) { in.Role = aws.String("ecsServiceRole") }), ip},
		{"create: serviceRegistries", create(func(in *ecs.CreateServiceInput) {
			in.ServiceRegistries = []types.ServiceRegistry{{RegistryArn: aws.String("arn:aws:servicediscovery:" + region + ":" + gt.Account + ":service/srv-1")}}
		}), ip},
		{"create: Service Connect", create(func(in *ecs.CreateServiceInput) {
			in.ServiceConnectConfiguration = &types.ServiceConnectConfiguration{Enabled: true, Namespace: aws.String("ns")}
		}), ip},
		{"create: volumeConfigurations", create(func(in *ecs.CreateServiceInput) {
			in.VolumeConfigurations = []types.ServiceVolumeConfiguration{{Name: aws.String("data")}}
		}), ip},
		{"create: VPC Lattice", create(func(in *ecs.CreateServiceInput) {
			in.VpcLatticeConfigurations = []types.VpcLatticeConfiguration{{PortName: aws.String("web"), RoleArn: aws.String("arn:aws:iam::" + gt.Account + ":role/r"), TargetGroupArn: aws.String("arn:aws:vpc-lattice:" + region + ":" + gt.Account + ":targetgroup/tg-1")}}
		}), ip},
		{"create: CODE_DEPLOY controller", create(func(in *ecs.CreateServiceInput) {
			in.DeploymentController = &types.DeploymentController{Type: types.DeploymentControllerTypeCodeDeploy}
		}), ip},
		{"create: networkConfiguration", create(func(in *ecs.CreateServiceInput) {
			in.NetworkConfiguration = &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{Subnets: []string{"subnet-1"}}}
		}), ip},
		{"create: enableExecuteCommand", create(func(in *ecs.CreateServiceInput) { in.EnableExecuteCommand = true }), ip},
		{"create: 6 placement strategies", create(func(in *ecs.CreateServiceInput) { in.PlacementStrategy = strategies(6) }), ip},
		{"create: 11 placement constraints", create(func(in *ecs.CreateServiceInput) { in.PlacementConstraints = constraints(11) }), ip},
		{"create: binpack on a non-resource", create(func(in *ecs.CreateServiceInput) {
			in.PlacementStrategy = []types.PlacementStrategy{{Type: types.PlacementStrategyTypeBinpack, Field: aws.String("disk")}}
		}), ip},
		{"create: bad memberOf expression", create(func(in *ecs.CreateServiceInput) {
			in.PlacementConstraints = []types.PlacementConstraint{{Type: types.PlacementConstraintTypeMemberOf, Expression: aws.String("attribute:ecs.os-type ==")}}
		}), ip},
		{"create: minimumHealthyPercent above 100", create(func(in *ecs.CreateServiceInput) {
			in.DeploymentConfiguration = &types.DeploymentConfiguration{MinimumHealthyPercent: aws.Int32(101)}
		}), ip},
		{"create: maximumPercent below 100", create(func(in *ecs.CreateServiceInput) {
			in.DeploymentConfiguration = &types.DeploymentConfiguration{MaximumPercent: aws.Int32(50)}
		}), ip},
		{"create: BLUE_GREEN strategy", create(func(in *ecs.CreateServiceInput) {
			in.DeploymentConfiguration = &types.DeploymentConfiguration{Strategy: types.DeploymentStrategyBlueGreen}
		}), ip},
		{"create: alarms", create(func(in *ecs.CreateServiceInput) {
			in.DeploymentConfiguration = &types.DeploymentConfiguration{Alarms: &types.DeploymentAlarms{AlarmNames: []string{"a"}, Enable: true}}
		}), ip},
		{"create: negative grace period", create(func(in *ecs.CreateServiceInput) { in.HealthCheckGracePeriodSeconds = aws.Int32(-1) }), ip},
		{"create: aws: tag", create(func(in *ecs.CreateServiceInput) { in.Tags = []types.Tag{tag("aws:x", "y")} }), ip},
		{"create: unknown scheduling strategy", create(func(in *ecs.CreateServiceInput) { in.SchedulingStrategy = "SOMETIMES" }), ip},

		{"update: unknown service", update(func(in *ecs.UpdateServiceInput) { in.Service = aws.String("ghost") }), snf},
		{"update: invalid service name", update(func(in *ecs.UpdateServiceInput) { in.Service = aws.String("no spaces") }), snf},
		{"update: service ARN of another cluster", update(func(in *ecs.UpdateServiceInput) { in.Service = aws.String(arnIn(c, "service/dev/api")) }), snf},
		{"update: not a service ARN", update(func(in *ecs.UpdateServiceInput) { in.Service = aws.String(arnIn(c, "cluster/prod")) }), ip},
		{"update: unknown cluster", update(func(in *ecs.UpdateServiceInput) { in.Cluster = aws.String("ghost") }), cnf},
		{"update: unknown taskDefinition", update(func(in *ecs.UpdateServiceInput) { in.TaskDefinition = aws.String("ghost") }), ce},
		{"update: awsvpc task definition", update(func(in *ecs.UpdateServiceInput) { in.TaskDefinition = aws.String("vpc") }), ip},
		{"update: negative desiredCount", update(func(in *ecs.UpdateServiceInput) { in.DesiredCount = aws.Int32(-2) }), ip},
		{"update: minimumHealthyPercent above 100", update(func(in *ecs.UpdateServiceInput) {
			in.DeploymentConfiguration = &types.DeploymentConfiguration{MinimumHealthyPercent: aws.Int32(150)}
		}), ip},
		{"update: loadBalancers", update(func(in *ecs.UpdateServiceInput) {
			in.LoadBalancers = []types.LoadBalancer{{LoadBalancerName: aws.String("lb")}}
		}), ip},
		{"update: capacity providers", update(func(in *ecs.UpdateServiceInput) {
			in.CapacityProviderStrategy = []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE")}}
		}), ip},
		{"update: EXTERNAL controller", update(func(in *ecs.UpdateServiceInput) {
			in.DeploymentController = &types.DeploymentController{Type: types.DeploymentControllerTypeExternal}
		}), ip},
		{"update: networkConfiguration", update(func(in *ecs.UpdateServiceInput) {
			in.NetworkConfiguration = &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{Subnets: []string{"subnet-1"}}}
		}), ip},
		{"update: enableExecuteCommand", update(func(in *ecs.UpdateServiceInput) { in.EnableExecuteCommand = aws.Bool(true) }), ip},
		{"update: 11 placement constraints", update(func(in *ecs.UpdateServiceInput) { in.PlacementConstraints = constraints(11) }), ip},
		{"update: negative grace period", update(func(in *ecs.UpdateServiceInput) { in.HealthCheckGracePeriodSeconds = aws.Int32(-5) }), ip},

		{"delete: scaled above 0", del("prod", "api"), ip},
		{"delete: unknown service", del("prod", "ghost"), snf},
		{"delete: unknown cluster", del("ghost", "api"), cnf},
		{"delete: not a service ARN", del("prod", arnIn(c, "task/prod/0123456789abcdef0123456789abcdef")), ip},

		{"describe: no services", describe("prod", []string{}...), ip},
		{"describe: 11 services", describe("prod", eleven...), ip},
		{"describe: unknown cluster", describe("ghost", "api"), cnf},
		{"describe: not a service ARN", describe("prod", arnIn(c, "cluster/prod")), ip},

		{"list: unknown cluster", list(ecs.ListServicesInput{Cluster: aws.String("ghost")}), cnf},
		{"list: maxResults 0", list(ecs.ListServicesInput{Cluster: aws.String("prod"), MaxResults: aws.Int32(0)}), ip},
		{"list: maxResults 101", list(ecs.ListServicesInput{Cluster: aws.String("prod"), MaxResults: aws.Int32(101)}), ip},
		{"list: garbage nextToken", list(ecs.ListServicesInput{Cluster: aws.String("prod"), NextToken: aws.String("garbage")}), ip},
		{"list: unknown launch type", list(ecs.ListServicesInput{Cluster: aws.String("prod"), LaunchType: "SPACE"}), ip},

		{"by namespace: empty namespace", byNamespace(ecs.ListServicesByNamespaceInput{Namespace: aws.String("")}), ip},
		{"by namespace: not a namespace ARN", byNamespace(ecs.ListServicesByNamespaceInput{Namespace: aws.String(arnIn(c, "cluster/prod"))}), ip},
		{"by namespace: maxResults 101", byNamespace(ecs.ListServicesByNamespaceInput{Namespace: aws.String("ns"), MaxResults: aws.Int32(101)}), ip},
		{"by namespace: garbage nextToken", byNamespace(ecs.ListServicesByNamespaceInput{Namespace: aws.String("ns"), NextToken: aws.String("garbage")}), ip},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { gt.WantCode(t, tc.call(), tc.code) })
	}
	// None of the refused calls created or changed a service.
	if l := gt.Must(c.ListServices(ctx, &ecs.ListServicesInput{Cluster: aws.String("prod")}))(t); !slices.Equal(l.ServiceArns, []string{arnIn(c, "service/prod/api")}) {
		t.Fatalf("services after the refused calls: %v", l.ServiceArns)
	}
	got := describeService(t, c, "prod", "api")
	if got.DesiredCount != 1 || aws.ToString(got.Status) != "ACTIVE" || !slices.ContainsFunc(got.Deployments, func(d types.Deployment) bool {
		return aws.ToString(d.Status) == "PRIMARY" && aws.ToString(d.TaskDefinition) == tdARN(c, "app:1")
	}) || aws.ToInt32(got.DeploymentConfiguration.MinimumHealthyPercent) != 100 {
		t.Fatalf("service after the refused calls: %+v", got)
	}
}

func TestListServicesByNamespace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := gt.Shared(t).ECS()
	for _, ns := range []string{"local", "arn:aws:servicediscovery:" + c.Options().Region + ":" + gt.Account + ":namespace/ns-0123456789abcdef"} {
		out := gt.Must(c.ListServicesByNamespace(ctx, &ecs.ListServicesByNamespaceInput{Namespace: aws.String(ns), MaxResults: aws.Int32(5)}))(t)
		if len(out.ServiceArns) != 0 || out.NextToken != nil {
			t.Fatalf("services in %s: %+v", ns, out)
		}
	}
}
