package ecs_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/agent"
	"github.com/gantry-dev/gantry/internal/agent/agenttest"
	"github.com/gantry-dev/gantry/internal/agent/simrt"
	gt "github.com/gantry-dev/gantry/internal/gantrytest"
)

// simFleet starts n simulated instances (zones a, b, c) in cluster, created
// first, and waits until they are registered.
func simFleet(t *testing.T, env *gt.Env, c *ecs.Client, cluster string, n int) {
	t.Helper()
	ctx := context.Background()
	gt.Must(c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(cluster)}))(t)
	cfg := agent.Default()
	cfg.Endpoint, cfg.Cluster, cfg.Region = env.URL, cluster, c.Options().Region
	cfg.DataDir = t.TempDir()
	cfg.AccessKeyID, cfg.SecretAccessKey = gt.KeyID, gt.KeySecret
	cfg.StopTimeout = time.Second
	cfg.RuntimeName, cfg.CheckpointInterval = "sim", time.Second
	cfg.Logger = agenttest.Logger()
	opts := simrt.Default()
	opts.StartDelay = 20 * time.Millisecond
	opts.CPUUnits, opts.MemoryMiB = 2048, 4096
	fctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- agent.RunFleet(fctx, cfg, n, []string{"a", "b", "c"}, opts) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("fleet: %v", err)
		}
	})
	waitUntil(t, 30*time.Second, fmt.Sprintf("%d instances connected", n), func() bool {
		out := gt.Must(c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String(cluster), Filter: aws.String("agentConnected == true")}))(t)
		return len(out.ContainerInstanceArns) == n
	})
}

func waitUntil(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitStable runs the SDK's services-stable waiter (what `aws ecs wait
// services-stable` runs), polling fast.
func waitStable(t *testing.T, c *ecs.Client, cluster, service string) *types.Service {
	t.Helper()
	w := ecs.NewServicesStableWaiter(c, func(o *ecs.ServicesStableWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, 500*time.Millisecond
	})
	in := &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{service}}
	if err := w.Wait(context.Background(), in, time.Minute); err != nil {
		svc := describeService(t, c, cluster, service)
		t.Fatalf("service %s not stable: %v; running %d of %d, deployments %+v, events %v", service, err, svc.RunningCount, svc.DesiredCount, svc.Deployments, gt.EventMessages(&svc, 8))
	}
	svc := describeService(t, c, cluster, service)
	return &svc
}

// serviceTasks describes the service's tasks with the desired status given.
func serviceTasks(t *testing.T, c *ecs.Client, cluster, service string, desired types.DesiredStatus) []types.Task {
	t.Helper()
	ctx := context.Background()
	var arns []string
	p := ecs.NewListTasksPaginator(c, &ecs.ListTasksInput{Cluster: aws.String(cluster), ServiceName: aws.String(service), DesiredStatus: desired})
	for p.HasMorePages() {
		arns = append(arns, gt.Must(p.NextPage(ctx))(t).TaskArns...)
	}
	var out []types.Task
	for len(arns) > 0 {
		k := min(len(arns), 100)
		out = append(out, gt.Must(c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: arns[:k]}))(t).Tasks...)
		arns = arns[k:]
	}
	return out
}

func simTD(t *testing.T, c *ecs.Client, family string, env ...types.KeyValuePair) string {
	t.Helper()
	out := gt.Must(c.RegisterTaskDefinition(context.Background(), &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(family),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("app"), Image: aws.String("sim/app:1"),
			Memory: aws.Int32(128), Cpu: 64, Environment: env}},
	}))(t)
	return aws.ToString(out.TaskDefinition.TaskDefinitionArn)
}

// TestServiceLifecycleOnSimulatedFleet drives a replica service through the
// SDK on six simulated instances: it reaches a steady state spread over
// the zones, scales up and down, rolls out a new revision without going
// below the minimum healthy count, rolls a crashing revision back by the
// circuit breaker, replaces a task that stops, and is deleted with force.
func TestServiceLifecycleOnSimulatedFleet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := gt.Shared(t)
	c := env.ECS()
	const cluster, name = "svc", "web"
	simFleet(t, env, c, cluster, 6)
	v1 := simTD(t, c, "web")
	gt.Must(c.CreateService(ctx, &ecs.CreateServiceInput{
		Cluster: aws.String(cluster), ServiceName: aws.String(name), TaskDefinition: aws.String("web"), DesiredCount: aws.Int32(6),
		DeploymentConfiguration: &types.DeploymentConfiguration{DeploymentCircuitBreaker: &types.DeploymentCircuitBreaker{Enable: true, Rollback: true}},
	}))(t)
	svc := waitStable(t, c, cluster, name)
	waitUntil(t, 10*time.Second, "the deployment to complete", func() bool {
		d := describeService(t, c, cluster, name)
		svc = &d
		return len(d.Deployments) == 1 && d.Deployments[0].RolloutState == types.DeploymentRolloutStateCompleted && gt.HasEvent(&d, "steady state")
	})
	if svc.RunningCount != 6 || len(svc.Deployments) != 1 || svc.Deployments[0].RolloutState != types.DeploymentRolloutStateCompleted {
		t.Fatalf("after create: running %d, deployments %+v", svc.RunningCount, svc.Deployments)
	}
	if !gt.HasEvent(svc, "has reached a steady state.") || !gt.HasEvent(svc, "has started") {
		t.Fatalf("events: %v", gt.EventMessages(svc, 10))
	}
	perZone := map[string]int{}
	for _, task := range serviceTasks(t, c, cluster, name, types.DesiredStatusRunning) {
		perZone[aws.ToString(task.AvailabilityZone)]++
		if aws.ToString(task.Group) != "service:"+name || aws.ToString(task.StartedBy) != aws.ToString(svc.Deployments[0].Id) {
			t.Fatalf("task group %q startedBy %q", aws.ToString(task.Group), aws.ToString(task.StartedBy))
		}
	}
	if perZone["a"] != 2 || perZone["b"] != 2 || perZone["c"] != 2 {
		t.Fatalf("tasks per zone %v, want 2 each (spread over zones by default)", perZone)
	}

	// Scale up, then down.
	gt.Must(c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String(cluster), Service: aws.String(name), DesiredCount: aws.Int32(9)}))(t)
	if svc = waitStable(t, c, cluster, name); svc.RunningCount != 9 {
		t.Fatalf("scaled to 9: running %d", svc.RunningCount)
	}
	gt.Must(c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String(cluster), Service: aws.String(name), DesiredCount: aws.Int32(3)}))(t)
	waitUntil(t, 30*time.Second, "3 tasks left", func() bool {
		return len(serviceTasks(t, c, cluster, name, types.DesiredStatusRunning)) == 3
	})
	if svc = waitStable(t, c, cluster, name); svc.RunningCount != 3 {
		t.Fatalf("scaled to 3: running %d", svc.RunningCount)
	}
	// Scale-in kept the spread: one task per zone.
	perZone = map[string]int{}
	for _, task := range serviceTasks(t, c, cluster, name, types.DesiredStatusRunning) {
		perZone[aws.ToString(task.AvailabilityZone)]++
	}
	if perZone["a"] != 1 || perZone["b"] != 1 || perZone["c"] != 1 {
		t.Fatalf("after scaling in, tasks per zone %v, want 1 each", perZone)
	}

	// A rolling update to a new revision: never below 3 running tasks.
	v2 := simTD(t, c, "web")
	var mu sync.Mutex
	lowest := 100
	sampling, stopSampling := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for sampling.Err() == nil {
			n := 0
			for _, task := range serviceTasks(t, c, cluster, name, types.DesiredStatusRunning) {
				if aws.ToString(task.LastStatus) == "RUNNING" {
					n++
				}
			}
			mu.Lock()
			lowest = min(lowest, n)
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
	})
	gt.Must(c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String(cluster), Service: aws.String(name), TaskDefinition: aws.String(v2)}))(t)
	svc = waitStable(t, c, cluster, name)
	stopSampling()
	wg.Wait()
	if lowest < 3 {
		t.Fatalf("the rolling update went down to %d running tasks (minimum healthy 100%% of 3)", lowest)
	}
	for _, task := range serviceTasks(t, c, cluster, name, types.DesiredStatusRunning) {
		if aws.ToString(task.TaskDefinitionArn) != v2 {
			t.Fatalf("after the rollout a task runs %s, want %s", aws.ToString(task.TaskDefinitionArn), v2)
		}
	}
	if aws.ToString(svc.TaskDefinition) != v2 || v1 == v2 {
		t.Fatalf("service task definition %s, want %s", aws.ToString(svc.TaskDefinition), v2)
	}

	// A revision whose container exits at once: the circuit breaker fails
	// the deployment and rolls back to v2.
	bad := simTD(t, c, "web", types.KeyValuePair{Name: aws.String("GANTRY_SIM_EXIT_CODE"), Value: aws.String("1")})
	gt.Must(c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String(cluster), Service: aws.String(name), TaskDefinition: aws.String(bad)}))(t)
	t.Cleanup(func() {
		if t.Failed() {
			d := describeService(t, c, cluster, name)
			for _, dep := range d.Deployments {
				t.Logf("deployment %s %s %s desired %d running %d pending %d failed %d %s", aws.ToString(dep.Id), aws.ToString(dep.Status), dep.RolloutState, dep.DesiredCount, dep.RunningCount, dep.PendingCount, dep.FailedTasks, aws.ToString(dep.TaskDefinition))
			}
			t.Logf("events %v", gt.EventMessages(&d, 12))
		}
	})
	waitUntil(t, 60*time.Second, "the rollback to complete", func() bool {
		d := describeService(t, c, cluster, name)
		svc = &d
		return gt.HasEvent(svc, "rolling back") && len(svc.Deployments) == 1 && svc.Deployments[0].RolloutState == types.DeploymentRolloutStateCompleted
	})
	if aws.ToString(svc.TaskDefinition) != v2 || !gt.HasEvent(svc, "deployment failed") {
		t.Fatalf("after the rollback: task definition %s, events %v", aws.ToString(svc.TaskDefinition), gt.EventMessages(svc, 10))
	}
	svc = waitStable(t, c, cluster, name)

	// A task that stops is replaced.
	running := serviceTasks(t, c, cluster, name, types.DesiredStatusRunning)
	gone := aws.ToString(running[0].TaskArn)
	gt.Must(c.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String(cluster), Task: aws.String(gone)}))(t)
	waitUntil(t, 30*time.Second, "a replacement", func() bool {
		n := 0
		for _, task := range serviceTasks(t, c, cluster, name, types.DesiredStatusRunning) {
			if aws.ToString(task.TaskArn) != gone && aws.ToString(task.LastStatus) == "RUNNING" {
				n++
			}
		}
		return n == 3
	})

	// Delete: refused while scaled above 0, then with force.
	_, err := c.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String(cluster), Service: aws.String(name)})
	gt.WantCode(t, err, "InvalidParameterException")
	gt.Must(c.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String(cluster), Service: aws.String(name), Force: aws.Bool(true)}))(t)
	inactive := ecs.NewServicesInactiveWaiter(c, func(o *ecs.ServicesInactiveWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, 500*time.Millisecond
	})
	if err := inactive.Wait(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{name}}, time.Minute); err != nil {
		t.Fatalf("services-inactive: %v", err)
	}
	if n := len(serviceTasks(t, c, cluster, name, types.DesiredStatusRunning)); n != 0 {
		t.Fatalf("%d tasks still running after delete", n)
	}
	list := gt.Must(c.ListServices(ctx, &ecs.ListServicesInput{Cluster: aws.String(cluster)}))(t)
	if len(list.ServiceArns) != 0 {
		t.Fatalf("ListServices after delete: %v", list.ServiceArns)
	}
}

// TestServiceHealsOnSimulatedFleet: on a simulated fleet, an instance set
// DRAINING loses its service tasks to the others, and the tasks of an
// instance whose agent goes silent past the lost-agent time are stopped and
// replaced elsewhere; the service stays at its desired count of RUNNING
// tasks.
func TestServiceHealsOnSimulatedFleet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env, err := gt.Start(gt.WithAgentTimeout(2*time.Second), gt.WithAgentLostAfter(4*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	c := env.ECSIn(gt.NewRegion())
	const cluster, name = "heal", "web"
	simFleet(t, env, c, cluster, 3)
	steady := gt.Must(c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String(cluster)}))(t).ContainerInstanceArns

	// One more instance, in a fleet of its own that the test stops.
	cfg := agent.Default()
	cfg.Endpoint, cfg.Cluster, cfg.Region = env.URL, cluster, c.Options().Region
	cfg.DataDir = t.TempDir()
	cfg.AccessKeyID, cfg.SecretAccessKey = gt.KeyID, gt.KeySecret
	cfg.RuntimeName, cfg.CheckpointInterval = "sim", time.Second
	cfg.Logger = agenttest.Logger()
	opts := simrt.Default()
	opts.StartDelay = 20 * time.Millisecond
	lctx, silence := context.WithCancel(ctx)
	lostDone := make(chan error, 1)
	go func() { lostDone <- agent.RunFleet(lctx, cfg, 1, []string{"a"}, opts) }()
	t.Cleanup(func() { silence(); <-lostDone })
	var lost string
	waitUntil(t, 30*time.Second, "the fourth instance", func() bool {
		for _, arn := range gt.Must(c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String(cluster), Filter: aws.String("agentConnected == true")}))(t).ContainerInstanceArns {
			if !slices.Contains(steady, arn) {
				lost = arn
			}
		}
		return lost != ""
	})

	simTD(t, c, "web")
	gt.Must(c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String(cluster), ServiceName: aws.String(name),
		TaskDefinition: aws.String("web"), DesiredCount: aws.Int32(8)}))(t)
	waitStable(t, c, cluster, name)
	on := func(instance string) (n int) {
		for _, task := range serviceTasks(t, c, cluster, name, types.DesiredStatusRunning) {
			if aws.ToString(task.ContainerInstanceArn) == instance {
				n++
			}
		}
		return n
	}
	if on(lost) == 0 || on(steady[0]) == 0 {
		t.Fatalf("spread left %d tasks on the fourth instance and %d on the first", on(lost), on(steady[0]))
	}
	running := func() (n int) {
		for _, task := range serviceTasks(t, c, cluster, name, types.DesiredStatusRunning) {
			if aws.ToString(task.LastStatus) == "RUNNING" {
				n++
			}
		}
		return n
	}

	// Draining: the instance's tasks move; the service keeps 8.
	gt.Must(c.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{Cluster: aws.String(cluster),
		ContainerInstances: []string{steady[0]}, Status: types.ContainerInstanceStatusDraining}))(t)
	waitUntil(t, 60*time.Second, "the draining instance to empty", func() bool { return on(steady[0]) == 0 && running() == 8 })

	// A silent agent: its tasks are stopped and replaced elsewhere.
	silence()
	waitUntil(t, 60*time.Second, "the lost instance's tasks to be replaced", func() bool { return on(lost) == 0 && running() == 8 })
	svc := waitStable(t, c, cluster, name)
	if svc.RunningCount != 8 || !gt.HasEvent(svc, "has stopped") {
		t.Fatalf("after healing: running %d, events %v", svc.RunningCount, gt.EventMessages(svc, 8))
	}
	for _, task := range serviceTasks(t, c, cluster, name, types.DesiredStatusStopped) {
		if aws.ToString(task.ContainerInstanceArn) == lost && aws.ToString(task.LastStatus) != "STOPPED" {
			t.Fatalf("a task of the lost instance is %s, want STOPPED at once", aws.ToString(task.LastStatus))
		}
	}
}

// TestDaemonServiceOnSimulatedFleet: a DAEMON service keeps one task on
// every instance that meets its constraint, starts one on an instance that
// comes to match, and stops the one of an instance that stops matching.
func TestDaemonServiceOnSimulatedFleet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := gt.Shared(t)
	c := env.ECS()
	const cluster, name = "daemons", "log-shipper"
	simFleet(t, env, c, cluster, 3)
	arns := gt.Must(c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String(cluster)}))(t).ContainerInstanceArns
	setRole := func(arn string, on bool) {
		t.Helper()
		attr := []types.Attribute{{Name: aws.String("role"), Value: aws.String("web"), TargetId: aws.String(arn)}}
		if on {
			gt.Must(c.PutAttributes(ctx, &ecs.PutAttributesInput{Cluster: aws.String(cluster), Attributes: attr}))(t)
		} else {
			gt.Must(c.DeleteAttributes(ctx, &ecs.DeleteAttributesInput{Cluster: aws.String(cluster), Attributes: attr}))(t)
		}
	}
	setRole(arns[0], true)
	setRole(arns[1], true)
	simTD(t, c, "shipper")
	gt.Must(c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String(cluster), ServiceName: aws.String(name),
		TaskDefinition: aws.String("shipper"), SchedulingStrategy: types.SchedulingStrategyDaemon,
		PlacementConstraints: []types.PlacementConstraint{{Type: types.PlacementConstraintTypeMemberOf, Expression: aws.String("attribute:role == web")}},
	}))(t)
	placed := func() map[string]int {
		m := map[string]int{}
		for _, task := range serviceTasks(t, c, cluster, name, types.DesiredStatusRunning) {
			if aws.ToString(task.LastStatus) == "RUNNING" {
				m[aws.ToString(task.ContainerInstanceArn)]++
			}
		}
		return m
	}
	want := func(what string, on ...string) {
		t.Helper()
		waitUntil(t, 30*time.Second, what, func() bool {
			got := placed()
			if len(got) != len(on) {
				return false
			}
			for _, arn := range on {
				if got[arn] != 1 {
					return false
				}
			}
			return true
		})
	}
	want("one task on each matching instance", arns[0], arns[1])
	setRole(arns[2], true)
	want("a task on the instance that came to match", arns[0], arns[1], arns[2])
	setRole(arns[0], false)
	want("no task on the instance that stopped matching", arns[1], arns[2])
	svc := waitStable(t, c, cluster, name)
	if svc.DesiredCount != 2 || svc.RunningCount != 2 {
		t.Fatalf("daemon service desired %d running %d, want 2 and 2", svc.DesiredCount, svc.RunningCount)
	}
}
