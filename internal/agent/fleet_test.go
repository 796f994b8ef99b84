package agent

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/agent/agenttest"
	"github.com/gantry-dev/gantry/internal/agent/engine"
	"github.com/gantry-dev/gantry/internal/agent/rt"
	"github.com/gantry-dev/gantry/internal/agent/simrt"
	"github.com/gantry-dev/gantry/internal/gantrytest"
)

// A fleet of six simulated instances across three zones, driven through
// the real SDK against a real control plane: the instances register with
// their zone and size, tasks reach RUNNING, a container told to exit with
// 3 stops its task as ECS says, StopTask stops one, and a container that
// cannot start fails its task. No Docker anywhere.
func TestFleetEndToEnd(t *testing.T) {
	env, err := gantrytest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	region := gantrytest.NewRegion()
	cli := env.ECSIn(region)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const cluster = "sim"
	if _, err := cli.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(cluster)}); err != nil {
		t.Fatal(err)
	}

	cfg := Default()
	cfg.Endpoint, cfg.Cluster, cfg.Region = env.URL, cluster, region
	cfg.DataDir = t.TempDir()
	cfg.AccessKeyID, cfg.SecretAccessKey = gantrytest.KeyID, gantrytest.KeySecret
	cfg.StopTimeout = 2 * time.Second
	cfg.CheckpointInterval = 300 * time.Millisecond
	cfg.Logger = agenttest.Logger()
	opts := simrt.Default()
	opts.StartDelay = 50 * time.Millisecond
	opts.CPUUnits, opts.MemoryMiB = 1536, 3072
	zones := []string{"a", "b", "c"}
	fctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- RunFleet(fctx, cfg, 6, zones, opts) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("RunFleet: %v", err)
		}
	})

	var arns []string
	waitFor(t, ctx, "6 registered instances", func() bool {
		out, err := cli.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String(cluster)})
		if err != nil {
			t.Fatal(err)
		}
		arns = out.ContainerInstanceArns
		return len(arns) == 6
	}, done)
	desc, err := cli.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String(cluster), ContainerInstances: arns})
	if err != nil {
		t.Fatal(err)
	}
	zoneOf := map[string]string{}
	for i := range 6 {
		zoneOf[simInstanceID(filepath.Join(cfg.DataDir, fmt.Sprintf("sim-%d", i)))] = zones[i%len(zones)]
	}
	perZone := map[string]int{}
	for _, ci := range desc.ContainerInstances {
		id := aws.ToString(ci.Ec2InstanceId)
		want, ok := zoneOf[id]
		if !ok {
			t.Fatalf("instance %s has ec2InstanceId %q, not one of the fleet's", aws.ToString(ci.ContainerInstanceArn), id)
		}
		delete(zoneOf, id) // each identity once
		if got := attribute(ci.Attributes, "ecs.availability-zone"); got != want {
			t.Errorf("instance %s in zone %q, want %q", id, got, want)
		}
		perZone[want]++
		res := map[string]int32{}
		for _, r := range ci.RegisteredResources {
			res[aws.ToString(r.Name)] = r.IntegerValue
		}
		if res["CPU"] != 1536 || res["MEMORY"] != 3072 {
			t.Errorf("instance %s registered %v, want CPU 1536 and MEMORY 3072", id, res)
		}
		if !ci.AgentConnected || aws.ToString(ci.Status) != "ACTIVE" {
			t.Errorf("instance %s: connected %v, status %s", id, ci.AgentConnected, aws.ToString(ci.Status))
		}
	}
	if perZone["a"] != 2 || perZone["b"] != 2 || perZone["c"] != 2 {
		t.Errorf("instances per zone %v, want 2 in each", perZone)
	}

	if _, err := cli.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("app"),
		ContainerDefinitions: []types.ContainerDefinition{{
			Name: aws.String("app"), Image: aws.String("sim/app:1"), Cpu: 128, Memory: aws.Int32(256),
			PortMappings: []types.PortMapping{{ContainerPort: aws.Int32(8080)}},
		}},
	}); err != nil {
		t.Fatal(err)
	}
	run := func(env ...types.KeyValuePair) []string {
		in := &ecs.RunTaskInput{Cluster: aws.String(cluster), TaskDefinition: aws.String("app"), Count: aws.Int32(1)}
		if len(env) > 0 {
			in.Overrides = &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{Name: aws.String("app"), Environment: env}}}
		} else {
			in.Count = aws.Int32(10)
		}
		out, err := cli.RunTask(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Failures) > 0 {
			t.Fatalf("RunTask failures: %+v", out.Failures)
		}
		var arns []string
		for _, task := range out.Tasks {
			arns = append(arns, aws.ToString(task.TaskArn))
		}
		return arns
	}
	kv := func(k, v string) types.KeyValuePair {
		return types.KeyValuePair{Name: aws.String(k), Value: aws.String(v)}
	}
	ten := run()
	if len(ten) != 10 {
		t.Fatalf("RunTask count 10 started %d tasks", len(ten))
	}
	exits := run(kv(simrt.EnvExitCode, "3"), kv(simrt.EnvRunFor, "200ms"))[0]
	broken := run(kv(simrt.EnvStartFail, "exec format error"))[0]

	running := waitTasks(t, ctx, cli, cluster, ten, "RUNNING", done)
	for _, task := range running {
		c := task.Containers[0]
		if len(c.NetworkBindings) != 1 || aws.ToInt32(c.NetworkBindings[0].HostPort) < 32768 {
			t.Errorf("task %s: bindings %+v, want one dynamic host port", aws.ToString(task.TaskArn), c.NetworkBindings)
		}
	}

	task := waitTasks(t, ctx, cli, cluster, []string{exits}, "STOPPED", done)[0]
	if code := aws.ToInt32(task.Containers[0].ExitCode); code != 3 || task.StopCode != types.TaskStopCodeEssentialContainerExited ||
		aws.ToString(task.StoppedReason) != "Essential container in task exited" {
		t.Errorf("task told to exit 3: exit code %d, stop code %s, reason %q", code, task.StopCode, aws.ToString(task.StoppedReason))
	}

	task = waitTasks(t, ctx, cli, cluster, []string{broken}, "STOPPED", done)[0]
	if task.StopCode != types.TaskStopCodeTaskFailedToStart || !strings.Contains(aws.ToString(task.StoppedReason), "exec format error") {
		t.Errorf("task that cannot start: stop code %s, reason %q", task.StopCode, aws.ToString(task.StoppedReason))
	}

	if _, err := cli.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String(cluster), Task: aws.String(ten[0])}); err != nil {
		t.Fatal(err)
	}
	task = waitTasks(t, ctx, cli, cluster, ten[:1], "STOPPED", done)[0]
	if code := aws.ToInt32(task.Containers[0].ExitCode); code != 143 || task.StopCode != types.TaskStopCodeUserInitiated {
		t.Errorf("stopped task: exit code %d, stop code %s; want 143 (SIGTERM), UserInitiated", code, task.StopCode)
	}
}

// waitFor polls ok until it holds, failing the test if the fleet ends or
// 60 s pass.
func waitFor(t *testing.T, ctx context.Context, what string, ok func() bool, fleet <-chan error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !ok() {
		select {
		case err := <-fleet:
			t.Fatalf("the fleet ended waiting for %s: %v", what, err)
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 60s", what)
		}
	}
}

// waitTasks waits until every task has lastStatus status and returns them.
func waitTasks(t *testing.T, ctx context.Context, cli *ecs.Client, cluster string, arns []string, status string, fleet <-chan error) []types.Task {
	t.Helper()
	var tasks []types.Task
	waitFor(t, ctx, fmt.Sprintf("%d tasks %s", len(arns), status), func() bool {
		out, err := cli.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: arns})
		if err != nil {
			t.Fatal(err)
		}
		tasks = out.Tasks
		for _, task := range tasks {
			if aws.ToString(task.LastStatus) != status {
				return false
			}
		}
		return len(tasks) == len(arns)
	}, fleet)
	return tasks
}

func attribute(attrs []types.Attribute, name string) string {
	for _, a := range attrs {
		if aws.ToString(a.Name) == name {
			return aws.ToString(a.Value)
		}
	}
	return ""
}

func TestFleetRefusesBadArguments(t *testing.T) {
	cfg := Default()
	cfg.AccessKeyID, cfg.SecretAccessKey = "id", "secret"
	cfg.DataDir = t.TempDir()
	for _, tc := range []struct {
		n     int
		zones []string
		opts  simrt.Options
		want  string
	}{
		{0, nil, simrt.Default(), "--instances"},
		{2, []string{"a", ""}, simrt.Default(), "--zones"},
		{2, nil, simrt.Options{CPUUnits: 0, MemoryMiB: 1}, "CPU units"},
	} {
		err := RunFleet(context.Background(), cfg, tc.n, tc.zones, tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("RunFleet(%d, %q, %+v) = %v; want a complaint about %s", tc.n, tc.zones, tc.opts, err, tc.want)
		}
	}
	bad := cfg
	bad.Endpoint = "nowhere"
	if err := RunFleet(context.Background(), bad, 2, nil, simrt.Default()); err == nil || !strings.Contains(err.Error(), "--endpoint") {
		t.Errorf("RunFleet with a bad endpoint: %v", err)
	}
}

// A simulated instance registers the configured size, not the host's, and
// its EC2-like id; without overrides the host's size less the reserve.
func TestSimRegistration(t *testing.T) {
	c := Default()
	info := rt.Info{CPUs: 2, MemoryMiB: 4096, Architecture: "x86_64", APIVersion: "1.41"}
	size := func(in *ecs.RegisterContainerInstanceInput) (cpu, mem int32) {
		for _, r := range in.TotalResources {
			switch aws.ToString(r.Name) {
			case "CPU":
				cpu = r.IntegerValue
			case "MEMORY":
				mem = r.IntegerValue
			}
		}
		return cpu, mem
	}
	in := registration(&c, info, "")
	if cpu, mem := size(in); cpu != 2048 || mem != 4096-256 || in.InstanceIdentityDocument != nil {
		t.Errorf("host size: cpu %d, memory %d, identity %v", cpu, mem, in.InstanceIdentityDocument)
	}
	c.CPUUnits, c.MemoryMiB, c.InstanceID = 1500, 3000, "i-0123456789abcdef0"
	in = registration(&c, info, "")
	if cpu, mem := size(in); cpu != 1500 || mem != 3000 {
		t.Errorf("configured size: cpu %d, memory %d; want 1500 and 3000 (no reserve taken)", cpu, mem)
	}
	if doc := aws.ToString(in.InstanceIdentityDocument); doc != `{"instanceId":"i-0123456789abcdef0"}` {
		t.Errorf("identity document %s", doc)
	}
	a, b := simInstanceID(filepath.Join("x", "sim-0")), simInstanceID(filepath.Join("x", "sim-1"))
	if a == b || len(a) != 19 || !strings.HasPrefix(a, "i-") || a != simInstanceID(filepath.Join("x", "sim-0")) {
		t.Errorf("sim instance ids %q %q: want distinct, stable, i- and 17 hex digits", a, b)
	}
}

// With an interval, checkpoint writes lag the changes, except a change of
// identity, which is written at once; flush writes what is pending.
func TestCheckpointInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		s, err := openStore(dir)
		if err != nil {
			t.Fatal(err)
		}
		s.setInterval(time.Second)
		onDisk := func() checkpoint {
			t.Helper()
			s2, err := openStore(dir)
			if err != nil {
				t.Fatal(err)
			}
			return s2.snapshot()
		}
		if err := s.update(func(c *checkpoint) { c.InstanceArn = "arn:i" }); err != nil {
			t.Fatal(err)
		}
		if cp := onDisk(); cp.InstanceArn != "arn:i" {
			t.Fatalf("identity not written at once: %+v", cp)
		}
		s.update(func(c *checkpoint) { c.AckSeq = 1 })
		s.Save(func() *engine.Checkpoint {
			return &engine.Checkpoint{Tasks: []engine.Record{{Task: &engine.Task{Desired: "RUNNING"}}}}
		})
		if cp := onDisk(); cp.AckSeq != 0 || cp.Engine != nil {
			t.Fatalf("written before the interval: %+v", cp)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if cp := onDisk(); cp.AckSeq != 1 || cp.Engine == nil {
			t.Fatalf("not written after the interval: %+v", cp)
		}
		s.update(func(c *checkpoint) { c.AckSeq = 2 })
		if err := s.flush(); err != nil {
			t.Fatal(err)
		}
		if cp := onDisk(); cp.AckSeq != 2 {
			t.Fatalf("flush: %+v", cp)
		}
		time.Sleep(time.Second) // the scheduled write finds nothing pending
	})
}
