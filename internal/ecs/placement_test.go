package ecs_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	gt "github.com/gantry-dev/gantry/internal/gantrytest"
)

// fleet registers n connected instances in cluster, zones round-robin
// over za, zb, zc, with the memory given for each (cycled) and instance
// type "big" for every third; it returns their ARNs and each one's zone.
func fleet(t *testing.T, env *gt.Env, c *ecs.Client, cluster string, n int, mems ...int32) ([]string, map[string]string) {
	t.Helper()
	var arns []string
	zones := map[string]string{}
	for i := range n {
		zone := []string{"za", "zb", "zc"}[i%3]
		attrs := agentAttributes()
		attrs[0].Value = aws.String(zone)
		if i%3 == 2 {
			attrs = append(attrs, types.Attribute{Name: aws.String("ecs.instance-type"), Value: aws.String("big")})
		}
		a := startAgentWith(t, env, c, cluster, 4096, mems[i%len(mems)], attrs)
		arns = append(arns, a.arn)
		zones[a.arn] = zone
	}
	return arns, zones
}

func runTasks(t *testing.T, c *ecs.Client, in *ecs.RunTaskInput) *ecs.RunTaskOutput {
	t.Helper()
	return gt.Must(c.RunTask(context.Background(), in))(t)
}

// placedOn counts the tasks of out by container instance.
func placedOn(out *ecs.RunTaskOutput) map[string]int {
	m := map[string]int{}
	for _, task := range out.Tasks {
		m[aws.ToString(task.ContainerInstanceArn)]++
	}
	return m
}

func TestPlacementStrategiesThroughTheAPI(t *testing.T) {
	t.Parallel()
	env := gt.Shared(t)
	c := env.ECS()
	arns, zones := fleet(t, env, c, "prod", 6, 8192, 8192, 8192, 2048, 4096, 8192)
	registerTD(t, c, "small", types.ContainerDefinition{Name: aws.String("app"), Image: aws.String("busybox"), Memory: aws.Int32(256)})

	// spread over zones: two per zone.
	out := runTasks(t, c, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String("small"), Count: aws.Int32(6), Group: aws.String("zoned"),
		PlacementStrategy: []types.PlacementStrategy{{Type: types.PlacementStrategyTypeSpread, Field: aws.String("attribute:ecs.availability-zone")}}})
	perZone := map[string]int{}
	for arn, n := range placedOn(out) {
		perZone[zones[arn]] += n
	}
	if len(out.Tasks) != 6 || perZone["za"] != 2 || perZone["zb"] != 2 || perZone["zc"] != 2 {
		t.Fatalf("spread over zones placed %d: %v", len(out.Tasks), perZone)
	}

	// binpack on memory: the instance with the least memory (2048) first.
	out = runTasks(t, c, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String("small"), Count: aws.Int32(3),
		PlacementStrategy: []types.PlacementStrategy{{Type: types.PlacementStrategyTypeBinpack, Field: aws.String("memory")}}})
	if got := placedOn(out); got[arns[3]] != 3 {
		t.Fatalf("binpack(memory) placed %v, want all three on %s", got, arns[3])
	}

	// distinctInstance: one per instance of the group, the rest fail.
	out = runTasks(t, c, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String("small"), Count: aws.Int32(8), Group: aws.String("one-each"),
		PlacementConstraints: []types.PlacementConstraint{{Type: types.PlacementConstraintTypeDistinctInstance}}})
	if got := placedOn(out); len(out.Tasks) != 6 || len(got) != 6 {
		t.Fatalf("distinctInstance placed %d tasks on %d instances", len(out.Tasks), len(got))
	}
	if len(out.Failures) == 0 || aws.ToString(out.Failures[0].Reason) != "DistinctInstance placement constraint unsatisfied." {
		t.Fatalf("distinctInstance failures = %v", reasons(out.Failures))
	}

	// memberOf: only zone zb, spread over its instances.
	out = runTasks(t, c, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String("small"), Count: aws.Int32(4), Group: aws.String("zb-only"),
		PlacementConstraints: []types.PlacementConstraint{{Type: types.PlacementConstraintTypeMemberOf, Expression: aws.String("attribute:ecs.availability-zone == zb")}},
		PlacementStrategy:    []types.PlacementStrategy{{Type: types.PlacementStrategyTypeSpread, Field: aws.String("instanceId")}}})
	if got := placedOn(out); len(out.Tasks) != 4 || got[arns[1]] != 2 || got[arns[4]] != 2 {
		t.Fatalf("memberOf zb placed %v", got)
	}

	// A memberOf nothing satisfies: no task, the reason ECS gives.
	out = runTasks(t, c, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String("small"),
		PlacementConstraints: []types.PlacementConstraint{{Type: types.PlacementConstraintTypeMemberOf, Expression: aws.String("attribute:ecs.instance-type == tiny")}}})
	if len(out.Tasks) != 0 || len(out.Failures) != 6 || aws.ToString(out.Failures[0].Reason) != "MemberOf placement constraint unsatisfied." {
		t.Fatalf("unsatisfiable memberOf: %d tasks, failures %v", len(out.Tasks), reasons(out.Failures))
	}

	// The task definition's own constraint applies to every task of it.
	gt.Must(c.RegisterTaskDefinition(context.Background(), &ecs.RegisterTaskDefinitionInput{
		Family:               aws.String("big-only"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("app"), Image: aws.String("busybox"), Memory: aws.Int32(64)}},
		PlacementConstraints: []types.TaskDefinitionPlacementConstraint{{Type: types.TaskDefinitionPlacementConstraintTypeMemberOf, Expression: aws.String("attribute:ecs.instance-type == big")}},
	}))(t)
	out = runTasks(t, c, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String("big-only"), Count: aws.Int32(5)})
	for arn := range placedOn(out) {
		if arn != arns[2] && arn != arns[5] {
			t.Fatalf("big-only placed on %s, which is not of type big", arn)
		}
	}

	// ListContainerInstances takes the same language.
	list := func(filter string) []string {
		t.Helper()
		l := gt.Must(c.ListContainerInstances(context.Background(), &ecs.ListContainerInstancesInput{Cluster: aws.String("prod"), Filter: aws.String(filter)}))(t)
		slices.Sort(l.ContainerInstanceArns)
		return l.ContainerInstanceArns
	}
	want := []string{arns[1], arns[4]}
	slices.Sort(want)
	if got := list("attribute:ecs.availability-zone == zb"); !slices.Equal(got, want) {
		t.Fatalf("filter zone zb = %v, want %v", got, want)
	}
	if got := list("task:group == zb-only and runningTasksCount > 0"); !slices.Equal(got, want) {
		t.Fatalf("filter task:group == zb-only = %v, want %v", got, want)
	}
	if got := list("agentConnected == true"); len(got) != 6 {
		t.Fatalf("filter agentConnected == true listed %d", len(got))
	}
	if got := list("not(attribute:ecs.instance-type exists)"); len(got) != 4 {
		t.Fatalf("filter without instance type listed %d, want 4", len(got))
	}
}

func reasons(fs []types.Failure) []string {
	var out []string
	for _, f := range fs {
		out = append(out, aws.ToString(f.Reason))
	}
	return out
}

// TestCommitterNoOverCommit: 16 clients at once ask for more than a
// cluster of four instances holds. Every task is either placed or
// answered with a failure, and no instance's reservations exceed what it
// has.
func TestCommitterNoOverCommit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := gt.Shared(t)
	c := env.ECS()
	arns, _ := fleet(t, env, c, "full", 4, 1000)
	registerTD(t, c, "tenth", types.ContainerDefinition{Name: aws.String("app"), Image: aws.String("busybox"), Memory: aws.Int32(100)})
	var mu sync.Mutex
	placed, failedTasks := map[string]int{}, 0
	var wg sync.WaitGroup
	for k := range 16 {
		wg.Go(func() {
			out, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("full"), TaskDefinition: aws.String("tenth"), Count: aws.Int32(3),
				PlacementStrategy: []types.PlacementStrategy{{Type: types.PlacementStrategyTypeBinpack, Field: aws.String("memory")}},
				Group:             aws.String(fmt.Sprint("client-", k))})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("run: %v", err)
				return
			}
			if len(out.Tasks) < 3 && len(out.Failures) == 0 {
				t.Errorf("%d of 3 tasks placed and no failure", len(out.Tasks))
			}
			for _, f := range out.Failures {
				if aws.ToString(f.Reason) != "RESOURCE:MEMORY" {
					t.Errorf("failure %s, want RESOURCE:MEMORY", aws.ToString(f.Reason))
				}
			}
			failedTasks += 3 - len(out.Tasks)
			for arn, n := range placedOn(out) {
				placed[arn] += n
			}
		})
	}
	wg.Wait()
	total := 0
	for _, arn := range arns {
		ci := describeOne(t, c, "full", arn)
		mem := resource(ci.RemainingResources, "MEMORY").IntegerValue
		if mem < 0 || mem != 1000-100*int32(placed[arn]) || int(ci.PendingTasksCount) != placed[arn] {
			t.Errorf("instance %s: remaining memory %d, pending %d, tasks placed on it %d", arn, mem, ci.PendingTasksCount, placed[arn])
		}
		total += placed[arn]
	}
	if total != 40 || failedTasks != 8 {
		t.Fatalf("%d placed and %d failed, want 40 and 8 (capacity 40 of 48 asked)", total, failedTasks)
	}
}

// TestPlacementSeesChanges: the committer keeps its view of the cluster
// between requests; a task that stops, an attribute put on an instance and
// a drained instance all show in the next placement.
func TestPlacementSeesChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := gt.Shared(t)
	c := env.ECS()
	a := startAgent(t, env, c, "prod", 1024, 300)
	registerTD(t, c, "fill", types.ContainerDefinition{Name: aws.String("app"), Image: aws.String("busybox"), Memory: aws.Int32(256)})
	first := runTasks(t, c, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String("fill")})
	if len(first.Tasks) != 1 {
		t.Fatalf("first run = %v", reasons(first.Failures))
	}
	if out := runTasks(t, c, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String("fill")}); len(out.Tasks) != 0 {
		t.Fatal("placed a task on a full instance")
	}
	a.report(aws.ToString(first.Tasks[0].TaskArn), "STOPPED", container("app", "STOPPED"))
	if out := runTasks(t, c, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String("fill")}); len(out.Tasks) != 1 {
		t.Fatalf("after the task stopped: %v", reasons(out.Failures))
	}
	registerTD(t, c, "tiny", types.ContainerDefinition{Name: aws.String("app"), Image: aws.String("busybox"), Memory: aws.Int32(4)})
	// A new input each time: the SDK fills in the client token of the one
	// it is given, and a repeat would be answered from its first outcome.
	onRack := func() *ecs.RunTaskInput {
		return &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String("tiny"),
			PlacementConstraints: []types.PlacementConstraint{{Type: types.PlacementConstraintTypeMemberOf, Expression: aws.String("attribute:rack == r1")}}}
	}
	if out := runTasks(t, c, onRack()); len(out.Tasks) != 0 {
		t.Fatal("placed on an instance without the attribute")
	}
	gt.Must(c.PutAttributes(ctx, &ecs.PutAttributesInput{Cluster: aws.String("prod"), Attributes: []types.Attribute{
		{Name: aws.String("rack"), Value: aws.String("r1"), TargetId: aws.String(a.arn)}}}))(t)
	if out := runTasks(t, c, onRack()); len(out.Tasks) != 1 {
		t.Fatalf("after PutAttributes: %v", reasons(out.Failures))
	}
	gt.Must(c.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{Cluster: aws.String("prod"),
		ContainerInstances: []string{a.arn}, Status: types.ContainerInstanceStatusDraining}))(t)
	if out := runTasks(t, c, onRack()); len(out.Tasks) != 0 || len(out.Failures) != 1 || aws.ToString(out.Failures[0].Reason) != "DRAINING" {
		t.Fatalf("on a draining instance: %d tasks, failures %v", len(out.Tasks), reasons(out.Failures))
	}
}

// TestPlacementSeesNewAndGoneInstances: an instance registered after the
// committer has its view of the cluster takes tasks that only it can take,
// and then its share of a spread; once deregistered it takes none. (The
// committer's view follows the cluster by watches: for the few
// milliseconds a watch takes, a new instance may not yet be a candidate,
// but a task that fits nowhere else is placed again on a view read at
// once, and a placement on an instance gone meanwhile fails its revision
// check and is placed again.)
func TestPlacementSeesNewAndGoneInstances(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := gt.Shared(t)
	c := env.ECS()
	a := startAgent(t, env, c, "grow", 4096, 4096)
	registerTD(t, c, "web")
	spread := func(n int32) *ecs.RunTaskInput {
		return &ecs.RunTaskInput{Cluster: aws.String("grow"), TaskDefinition: aws.String("web"), Count: aws.Int32(n),
			PlacementStrategy: []types.PlacementStrategy{{Type: types.PlacementStrategyTypeSpread, Field: aws.String("instanceId")}}}
	}
	if out := runTasks(t, c, spread(2)); placedOn(out)[a.arn] != 2 {
		t.Fatalf("first run: %v", placedOn(out))
	}
	b := startAgentWith(t, env, c, "grow", 4096, 4096, append(agentAttributes(), types.Attribute{Name: aws.String("rack"), Value: aws.String("r2")}))
	onRack := spread(1)
	onRack.PlacementConstraints = []types.PlacementConstraint{{Type: types.PlacementConstraintTypeMemberOf, Expression: aws.String("attribute:rack == r2")}}
	if out := runTasks(t, c, onRack); placedOn(out)[b.arn] != 1 {
		t.Fatalf("a task only the new instance can take: placed %v, failures %v", placedOn(out), reasons(out.Failures))
	}
	if out := runTasks(t, c, spread(2)); placedOn(out)[b.arn] < 1 {
		t.Fatalf("spread over instances with 2 and 1 tasks placed %v; want at least one on the second", placedOn(out))
	}
	gt.Must(c.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{Cluster: aws.String("grow"),
		ContainerInstance: aws.String(b.arn), Force: aws.Bool(true)}))(t)
	for range 3 {
		if out := runTasks(t, c, spread(3)); placedOn(out)[a.arn] != 3 {
			t.Fatalf("after the second instance left, placed %v (failures %v); want all on the first", placedOn(out), reasons(out.Failures))
		}
	}
}
