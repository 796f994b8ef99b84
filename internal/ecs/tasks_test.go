package ecs_test

import (
	"context"
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

	"github.com/gantry-dev/gantry/internal/agentproto"
	gt "github.com/gantry-dev/gantry/internal/gantrytest"
	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/wire"
	"github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// webTD registers family: a web container (256 CPU units, 128 MiB, host
// port 8080 and a dynamic one, a health check) and a sidecar.
func webTD(t *testing.T, c *ecs.Client, family string) *types.TaskDefinition {
	t.Helper()
	out := gt.Must(c.RegisterTaskDefinition(context.Background(), &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(family),
		Tags:   []types.Tag{tag("team", "web")},
		ContainerDefinitions: []types.ContainerDefinition{{
			Name: aws.String("web"), Image: aws.String("busybox"), Cpu: 256, Memory: aws.Int32(128),
			Command:      []string{"httpd", "-f"},
			Environment:  []types.KeyValuePair{{Name: aws.String("A"), Value: aws.String("1")}, {Name: aws.String("B"), Value: aws.String("2")}},
			PortMappings: []types.PortMapping{{ContainerPort: aws.Int32(80), HostPort: aws.Int32(8080)}, {ContainerPort: aws.Int32(81)}},
			HealthCheck:  &types.HealthCheck{Command: []string{"CMD-SHELL", "true"}},
		}, {
			Name: aws.String("sidecar"), Image: aws.String("busybox"), MemoryReservation: aws.Int32(64), Essential: aws.Bool(false),
		}},
	}))(t)
	return out.TaskDefinition
}

// describeTask describes one task of cluster, with its tags.
func describeTask(t *testing.T, c *ecs.Client, cluster, arn string) types.Task {
	t.Helper()
	d := gt.Must(c.DescribeTasks(context.Background(), &ecs.DescribeTasksInput{
		Cluster: aws.String(cluster), Tasks: []string{arn}, Include: []types.TaskField{types.TaskFieldTags},
	}))(t)
	if len(d.Tasks) != 1 {
		t.Fatalf("describe %s = %+v", arn, d)
	}
	return d.Tasks[0]
}

func findContainer(cs []types.Container, name string) types.Container {
	for _, c := range cs {
		if aws.ToString(c.Name) == name {
			return c
		}
	}
	return types.Container{}
}

func TestTaskLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := gt.Shared(t)
	c := env.ECS()
	region := c.Options().Region
	a := startAgent(t, env, c, "prod", 1024, 1024)
	td := webTD(t, c, "web")
	before := time.Now().Add(-time.Second)

	run := gt.Must(c.RunTask(ctx, &ecs.RunTaskInput{
		Cluster: aws.String("prod"), TaskDefinition: aws.String("web"), StartedBy: aws.String("ci/job-1"),
		Overrides: &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{
			Name: aws.String("web"), Command: []string{"httpd", "-f", "-p", "80"},
			Environment: []types.KeyValuePair{{Name: aws.String("B"), Value: aws.String("3")}, {Name: aws.String("C"), Value: aws.String("4")}},
		}}},
		Tags:                 []types.Tag{tag("run", "1")},
		PropagateTags:        types.PropagateTagsTaskDefinition,
		EnableECSManagedTags: true,
	}))(t)
	if len(run.Tasks) != 1 || len(run.Failures) != 0 {
		t.Fatalf("run = %+v", run)
	}
	task := run.Tasks[0]
	arn := aws.ToString(task.TaskArn)
	if !regexp.MustCompile(`^arn:aws:ecs:` + region + `:` + gt.Account + `:task/prod/[0-9a-f]{32}$`).MatchString(arn) {
		t.Fatalf("task arn = %s", arn)
	}
	if aws.ToString(task.LastStatus) != "PENDING" || aws.ToString(task.DesiredStatus) != "RUNNING" || task.Version != 1 ||
		aws.ToString(task.Group) != "family:web" || task.LaunchType != types.LaunchTypeEc2 || aws.ToString(task.StartedBy) != "ci/job-1" ||
		aws.ToString(task.ContainerInstanceArn) != a.arn || aws.ToString(task.AvailabilityZone) != "local-a" ||
		aws.ToString(task.TaskDefinitionArn) != aws.ToString(td.TaskDefinitionArn) || task.HealthStatus != types.HealthStatusUnknown ||
		task.CreatedAt == nil || task.CreatedAt.Before(before) || task.StartedAt != nil {
		t.Fatalf("task = %+v", task)
	}
	web := findContainer(task.Containers, "web")
	if !regexp.MustCompile(`^arn:aws:ecs:`+region+`:`+gt.Account+`:container/prod/`+idOf(arn)+`/[0-9a-f-]{36}$`).MatchString(aws.ToString(web.ContainerArn)) ||
		aws.ToString(web.LastStatus) != "PENDING" || aws.ToString(web.Cpu) != "256" || aws.ToString(web.Memory) != "128" || web.HealthStatus != types.HealthStatusUnknown {
		t.Fatalf("web container = %+v", web)
	}
	var tagKeys []string
	for _, tg := range task.Tags {
		tagKeys = append(tagKeys, aws.ToString(tg.Key)+"="+aws.ToString(tg.Value))
	}
	if !slices.Equal(tagKeys, []string{"team=web", "run=1", "aws:ecs:clusterName=prod"}) {
		t.Fatalf("tags = %v", tagKeys)
	}
	if ov := task.Overrides; ov == nil || len(ov.ContainerOverrides) != 2 || len(ov.ContainerOverrides[0].Command) != 4 || aws.ToString(ov.ContainerOverrides[1].Name) != "sidecar" {
		t.Fatalf("overrides = %+v", task.Overrides)
	}

	// The instance holds what the task needs; the task is pending on it.
	ci := describeOne(t, c, "prod", a.arn)
	if cpu, mem := resource(ci.RemainingResources, "CPU").IntegerValue, resource(ci.RemainingResources, "MEMORY").IntegerValue; cpu != 768 || mem != 1024-128-64 {
		t.Fatalf("remaining CPU %d, MEMORY %d", cpu, mem)
	}
	if p := resource(ci.RemainingResources, "PORTS").StringSetValue; !slices.Equal(p, []string{"22", "8080"}) {
		t.Fatalf("remaining PORTS = %v", p)
	}
	if ci.PendingTasksCount != 1 || ci.RunningTasksCount != 0 {
		t.Fatalf("instance counts: %d pending, %d running", ci.PendingTasksCount, ci.RunningTasksCount)
	}

	// The agent gets the definition with the overrides merged in.
	p := a.poll(0, 0)
	if len(p.Tasks) != 1 || p.Tasks[0].TaskArn != arn || p.Tasks[0].DesiredStatus != "RUNNING" || p.Tasks[0].Group != "family:web" || p.Tasks[0].StartedBy != "ci/job-1" {
		t.Fatalf("poll = %+v", p)
	}
	def := p.Tasks[0].Definition.ContainerDefinitions[0]
	var env2 []string
	for _, e := range def.Environment {
		env2 = append(env2, e.Name+"="+e.Value)
	}
	if !slices.Equal(def.Command, []string{"httpd", "-f", "-p", "80"}) || !slices.Equal(env2, []string{"A=1", "B=3", "C=4"}) {
		t.Fatalf("assigned web container: command %v, environment %v", def.Command, env2)
	}

	// The agent starts it.
	pull := time.Now().Add(-500 * time.Millisecond).Truncate(time.Millisecond)
	running := container("web", "RUNNING")
	running.NetworkBindings = []ecswire.NetworkBinding{{BindIP: "127.0.0.1", ContainerPort: new(int32(81)), HostPort: new(int32(32768)), Protocol: "tcp"}}
	running.RuntimeId = "abc123"
	running.HealthStatus = "HEALTHY"
	a.reportChange(agentproto.TaskStateChange{
		SubmitTaskStateChangeRequest: ecswire.SubmitTaskStateChangeRequest{Cluster: "prod", Task: arn, Status: "RUNNING", PullStartedAt: wire.At(pull), PullStoppedAt: wire.At(pull.Add(time.Millisecond))},
		Containers:                   []agentproto.ContainerStateChange{running, container("sidecar", "RUNNING")},
	})
	waitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	waitOpts := func(o *ecs.TasksRunningWaiterOptions) {
		o.MinDelay, o.MaxDelay = 50*time.Millisecond, 100*time.Millisecond
	}
	if err := ecs.NewTasksRunningWaiter(c, waitOpts).Wait(waitCtx, &ecs.DescribeTasksInput{Cluster: aws.String("prod"), Tasks: []string{arn}}, 10*time.Second); err != nil {
		t.Fatalf("tasks-running waiter: %v", err)
	}
	got := describeTask(t, c, "prod", arn)
	web = findContainer(got.Containers, "web")
	if aws.ToString(got.LastStatus) != "RUNNING" || got.Version != 2 || got.StartedAt == nil || got.Connectivity != types.ConnectivityConnected ||
		got.ConnectivityAt == nil || !got.PullStartedAt.Equal(pull) || got.HealthStatus != types.HealthStatusHealthy {
		t.Fatalf("running task = %+v", got)
	}
	if aws.ToString(web.LastStatus) != "RUNNING" || aws.ToString(web.RuntimeId) != "abc123" || len(web.NetworkBindings) != 1 ||
		aws.ToInt32(web.NetworkBindings[0].HostPort) != 32768 || web.HealthStatus != types.HealthStatusHealthy {
		t.Fatalf("running web container = %+v", web)
	}
	ci = describeOne(t, c, "prod", a.arn)
	if ci.RunningTasksCount != 1 || ci.PendingTasksCount != 0 {
		t.Fatalf("instance counts: %d pending, %d running", ci.PendingTasksCount, ci.RunningTasksCount)
	}
	cl := gt.Must(c.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"prod"}}))(t).Clusters[0]
	if cl.RunningTasksCount != 1 || cl.PendingTasksCount != 0 {
		t.Fatalf("cluster counts: %d pending, %d running", cl.PendingTasksCount, cl.RunningTasksCount)
	}
	// A repeated report changes nothing.
	a.report(arn, "RUNNING", running)
	a.report(arn, "PENDING")
	if v := describeTask(t, c, "prod", arn).Version; v != 2 {
		t.Fatalf("version after repeated reports = %d, want 2", v)
	}

	// StopTask: the agent is told on its next poll, which does not wait.
	stop := gt.Must(c.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("prod"), Task: aws.String(arn), Reason: aws.String("deploy")}))(t).Task
	if aws.ToString(stop.DesiredStatus) != "STOPPED" || aws.ToString(stop.LastStatus) != "RUNNING" || stop.StopCode != types.TaskStopCodeUserInitiated ||
		aws.ToString(stop.StoppedReason) != "deploy" || stop.StoppingAt == nil || stop.Version != 3 {
		t.Fatalf("stopping task = %+v", stop)
	}
	start := time.Now()
	p = a.poll(p.Seq, 10)
	if time.Since(start) > 3*time.Second || len(p.Tasks) != 1 || p.Tasks[0].DesiredStatus != "STOPPED" || p.Tasks[0].StopCode != "UserInitiated" || p.Tasks[0].StoppedReason != "deploy" {
		t.Fatalf("poll after StopTask = %+v", p)
	}
	again := gt.Must(c.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("prod"), Task: aws.String(idOf(arn)), Reason: aws.String("other")}))(t).Task
	if aws.ToString(again.StoppedReason) != "deploy" || again.Version != 3 {
		t.Fatalf("second stop changed the task: %+v", again)
	}

	// The agent stops it.
	exited := container("web", "STOPPED")
	exited.ExitCode = new(int32(143))
	a.report(arn, "STOPPED", exited, container("sidecar", "STOPPED"))
	if err := ecs.NewTasksStoppedWaiter(c, func(o *ecs.TasksStoppedWaiterOptions) {
		o.MinDelay, o.MaxDelay = 50*time.Millisecond, 100*time.Millisecond
	}).
		Wait(waitCtx, &ecs.DescribeTasksInput{Cluster: aws.String("prod"), Tasks: []string{arn}}, 10*time.Second); err != nil {
		t.Fatalf("tasks-stopped waiter: %v", err)
	}
	got = describeTask(t, c, "prod", arn)
	web = findContainer(got.Containers, "web")
	if aws.ToString(got.LastStatus) != "STOPPED" || aws.ToString(got.DesiredStatus) != "STOPPED" || got.Version != 4 ||
		got.StopCode != types.TaskStopCodeUserInitiated || aws.ToString(got.StoppedReason) != "deploy" ||
		got.StoppedAt == nil || got.ExecutionStoppedAt == nil || got.StoppingAt == nil || got.StoppedAt.Before(*got.StoppingAt) {
		t.Fatalf("stopped task = %+v", got)
	}
	if aws.ToString(web.LastStatus) != "STOPPED" || aws.ToInt32(web.ExitCode) != 143 {
		t.Fatalf("stopped web container = %+v", web)
	}
	a.report(arn, "STOPPED", exited)
	if v := describeTask(t, c, "prod", arn).Version; v != 4 {
		t.Fatalf("version after a repeated STOPPED = %d", v)
	}

	// Everything it held is back, and the agent no longer gets it.
	ci = describeOne(t, c, "prod", a.arn)
	if cpu, mem := resource(ci.RemainingResources, "CPU").IntegerValue, resource(ci.RemainingResources, "MEMORY").IntegerValue; cpu != 1024 || mem != 1024 {
		t.Fatalf("remaining after stop: CPU %d, MEMORY %d", cpu, mem)
	}
	if p := resource(ci.RemainingResources, "PORTS").StringSetValue; !slices.Equal(p, []string{"22"}) {
		t.Fatalf("remaining PORTS after stop = %v", p)
	}
	if ci.RunningTasksCount != 0 || ci.PendingTasksCount != 0 {
		t.Fatalf("instance counts after stop: %+v", ci)
	}
	if p := a.poll(0, 0); len(p.Tasks) != 0 {
		t.Fatalf("poll after STOPPED = %+v", p)
	}
}

// An essential container's exit stops the task, with ECS's code and reason;
// a container that never started makes it TaskFailedToStart.
func TestTaskStopsOnItsOwn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := gt.Shared(t)
	c := env.ECS()
	a := startAgent(t, env, c, "prod", 4096, 4096)
	webTD(t, c, "web")
	runOne := func() string {
		out := gt.Must(c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String("web")}))(t)
		if len(out.Tasks) != 1 {
			t.Fatalf("run = %+v", out)
		}
		return aws.ToString(out.Tasks[0].TaskArn)
	}

	arn := runOne()
	a.report(arn, "RUNNING", container("web", "RUNNING"), container("sidecar", "RUNNING"))
	// The non-essential sidecar exits: nothing else happens.
	side := container("sidecar", "STOPPED")
	side.ExitCode = new(int32(0))
	a.report(arn, "", side)
	if got := describeTask(t, c, "prod", arn); aws.ToString(got.DesiredStatus) != "RUNNING" {
		t.Fatalf("non-essential exit stopped the task: %+v", got)
	}
	// The essential web exits: the task is to stop, and the agent is told.
	web := container("web", "STOPPED")
	web.ExitCode = new(int32(1))
	web.HealthStatus = "UNHEALTHY"
	a.report(arn, "", web)
	got := describeTask(t, c, "prod", arn)
	if aws.ToString(got.DesiredStatus) != "STOPPED" || got.StopCode != types.TaskStopCodeEssentialContainerExited ||
		aws.ToString(got.StoppedReason) != "Essential container in task exited" || got.HealthStatus != types.HealthStatusUnhealthy {
		t.Fatalf("task after essential exit = %+v", got)
	}
	if p := a.poll(0, 0); len(p.Tasks) != 1 || p.Tasks[0].DesiredStatus != "STOPPED" || p.Tasks[0].StopCode != "EssentialContainerExited" {
		t.Fatalf("poll after essential exit = %+v", p)
	}
	a.report(arn, "STOPPED")
	if got := describeTask(t, c, "prod", arn); aws.ToString(got.LastStatus) != "STOPPED" || got.StopCode != types.TaskStopCodeEssentialContainerExited {
		t.Fatalf("stopped task = %+v", got)
	}

	// A task whose image cannot be pulled never runs.
	arn = runOne()
	pullErr := container("web", "STOPPED")
	pullErr.Reason = "CannotPullContainerError: pull access denied for nope"
	a.report(arn, "STOPPED", pullErr)
	got = describeTask(t, c, "prod", arn)
	if got.StopCode != types.TaskStopCodeTaskFailedToStart || aws.ToString(got.StoppedReason) != pullErr.Reason || got.StartedAt != nil {
		t.Fatalf("task that failed to start = %+v", got)
	}

	// The agent can name the stop code and reason itself.
	arn = runOne()
	a.reportChange(agentproto.TaskStateChange{
		SubmitTaskStateChangeRequest: ecswire.SubmitTaskStateChangeRequest{Cluster: "prod", Task: arn, Status: "STOPPED", Reason: "OutOfMemoryError: container killed"},
		StopCode:                     "EssentialContainerExited",
	})
	got = describeTask(t, c, "prod", arn)
	if got.StopCode != types.TaskStopCodeEssentialContainerExited || aws.ToString(got.StoppedReason) != "OutOfMemoryError: container killed" {
		t.Fatalf("task stopped with the agent's code = %+v", got)
	}

	// SubmitContainerStateChange through the SDK, as the ECS agent sends it.
	arn = runOne()
	gt.Must(c.SubmitContainerStateChange(ctx, &ecs.SubmitContainerStateChangeInput{
		Cluster: aws.String("prod"), Task: aws.String(arn), ContainerName: aws.String("sidecar"), Status: aws.String("RUNNING"), RuntimeId: aws.String("r1"),
	}))(t)
	if s := findContainer(describeTask(t, c, "prod", arn).Containers, "sidecar"); aws.ToString(s.LastStatus) != "RUNNING" || aws.ToString(s.RuntimeId) != "r1" {
		t.Fatalf("sidecar after SubmitContainerStateChange = %+v", s)
	}

	// Reports about what does not exist are refused.
	var ack ecswire.SubmitTaskStateChangeResponse
	for _, tc := range []struct {
		body agentproto.TaskStateChange
		want string
	}{
		{agentproto.TaskStateChange{SubmitTaskStateChangeRequest: ecswire.SubmitTaskStateChangeRequest{Cluster: "prod", Task: strings.Repeat("c", 32), Status: "RUNNING"}}, "InvalidParameterException"},
		{agentproto.TaskStateChange{SubmitTaskStateChangeRequest: ecswire.SubmitTaskStateChangeRequest{Cluster: "nope", Task: arn, Status: "RUNNING"}}, "ClusterNotFoundException"},
		{agentproto.TaskStateChange{SubmitTaskStateChangeRequest: ecswire.SubmitTaskStateChangeRequest{Cluster: "prod", Task: arn, Status: "DANCING"}}, "InvalidParameterException"},
		{agentproto.TaskStateChange{SubmitTaskStateChangeRequest: ecswire.SubmitTaskStateChangeRequest{Cluster: "prod", Task: arn}, Containers: []agentproto.ContainerStateChange{container("ghost", "RUNNING")}}, "InvalidParameterException"},
	} {
		if code := a.call(ecswire.TargetPrefix+".SubmitTaskStateChange", tc.body, &ack); code != tc.want {
			t.Errorf("report %+v = %q, want %s", tc.body, code, tc.want)
		}
	}
}

func TestRunTaskFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := gt.Shared(t)
	c := env.ECS()
	webTD(t, c, "web")
	gt.Must(c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("empty")}))(t)
	_, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("empty"), TaskDefinition: aws.String("web")})
	gt.WantCode(t, err, "InvalidParameterException")

	run := func(cluster string) *ecs.RunTaskOutput {
		return gt.Must(c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String(cluster), TaskDefinition: aws.String("web")}))(t)
	}
	for _, tc := range []struct {
		cluster  string
		cpu, mem int32
		ports    []string
		want     string
	}{
		{"small-cpu", 128, 4096, nil, "RESOURCE:CPU"},
		{"small-mem", 4096, 100, nil, "RESOURCE:MEMORY"},
		{"port-taken", 4096, 4096, []string{"22", "8080"}, "RESOURCE:PORTS"},
	} {
		a := startAgent(t, env, c, tc.cluster, tc.cpu, tc.mem, tc.ports...)
		out := run(tc.cluster)
		if len(out.Tasks) != 0 || len(out.Failures) != 1 || aws.ToString(out.Failures[0].Reason) != tc.want || aws.ToString(out.Failures[0].Arn) != a.arn {
			t.Errorf("%s: run = %+v, want failure %s", tc.cluster, out, tc.want)
		}
	}

	// Two tasks with the same static host port do not fit on one instance.
	startAgent(t, env, c, "one-port", 4096, 4096)
	out := gt.Must(c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("one-port"), TaskDefinition: aws.String("web"), Count: aws.Int32(3)}))(t)
	if len(out.Tasks) != 1 || len(out.Failures) != 1 || aws.ToString(out.Failures[0].Reason) != "RESOURCE:PORTS" {
		t.Fatalf("three tasks on one port = %+v", out)
	}

	// An instance whose agent stopped polling (its last heartbeat is old).
	a := startAgent(t, env, c, "silent", 4096, 4096)
	st := env.Store().Sub(gt.Account + "/" + c.Options().Region)
	gt.Must(st.Txn().Put(model.HeartbeatKey("silent", idOf(a.arn)), map[string]int64{"at": time.Now().Add(-time.Hour).UnixMilli()}).Commit(ctx))(t)
	if out := run("silent"); len(out.Failures) != 1 || aws.ToString(out.Failures[0].Reason) != "AGENT" {
		t.Fatalf("run on a silent instance = %+v", out)
	}
	if ci := describeOne(t, c, "silent", a.arn); ci.AgentConnected {
		t.Fatalf("silent instance reported connected")
	}

	// A draining instance gets no tasks.
	startAgent(t, env, c, "draining", 4096, 4096)
	d := startAgent(t, env, c, "draining", 4096, 4096)
	gt.Must(c.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{Cluster: aws.String("draining"), ContainerInstances: []string{d.arn}, Status: types.ContainerInstanceStatusDraining}))(t)
	for range 3 {
		if out := gt.Must(c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("draining"), TaskDefinition: aws.String("web:1"),
			Overrides: &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{Name: aws.String("web"), Cpu: aws.Int32(1)}}}}))(t); len(out.Tasks) == 1 && aws.ToString(out.Tasks[0].ContainerInstanceArn) == d.arn {
			t.Fatalf("task placed on a draining instance")
		}
	}
}

// Sixteen concurrent RunTask calls on an instance with room for ten: ten
// tasks, six RESOURCE:MEMORY failures, and the instance never over-committed.
func TestRunTaskNoOverCommit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := gt.Shared(t)
	c := env.ECS()
	a := startAgent(t, env, c, "prod", 10240, 1000)
	registerTD(t, c, "small", types.ContainerDefinition{Name: aws.String("app"), Image: aws.String("busybox"), Memory: aws.Int32(100)})
	var mu sync.Mutex
	placed, failed := 0, 0
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			out, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String("small")})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				t.Errorf("run: %v", err)
			case len(out.Tasks) == 1 && len(out.Failures) == 0:
				placed++
			case len(out.Tasks) == 0 && len(out.Failures) == 1 && aws.ToString(out.Failures[0].Reason) == "RESOURCE:MEMORY":
				failed++
			default:
				t.Errorf("run = %+v", out)
			}
		})
	}
	wg.Wait()
	if placed != 10 || failed != 6 {
		t.Fatalf("%d placed, %d failed; want 10 and 6", placed, failed)
	}
	ci := describeOne(t, c, "prod", a.arn)
	if mem := resource(ci.RemainingResources, "MEMORY").IntegerValue; mem != 0 || ci.PendingTasksCount != 10 {
		t.Fatalf("remaining MEMORY %d with %d pending tasks", mem, ci.PendingTasksCount)
	}
	l := gt.Must(c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("prod")}))(t)
	if len(l.TaskArns) != 10 {
		t.Fatalf("listed %d tasks", len(l.TaskArns))
	}
}

func TestRunTaskErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := gt.Shared(t)
	c := env.ECS()
	startAgent(t, env, c, "prod", 4096, 4096)
	webTD(t, c, "web")
	webTD(t, c, "web")
	deregisterTD(t, c, "web:2")
	base := func() *ecs.RunTaskInput {
		return &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String("web")}
	}
	for _, tc := range []struct {
		name string
		edit func(*ecs.RunTaskInput)
		want string
	}{
		{"unknown cluster", func(in *ecs.RunTaskInput) { in.Cluster = aws.String("nope") }, "ClusterNotFoundException"},
		{"count 0", func(in *ecs.RunTaskInput) { in.Count = aws.Int32(0) }, "InvalidParameterException"},
		{"count 11", func(in *ecs.RunTaskInput) { in.Count = aws.Int32(11) }, "InvalidParameterException"},
		{"unknown family", func(in *ecs.RunTaskInput) { in.TaskDefinition = aws.String("nope") }, "ClientException"},
		{"unknown revision", func(in *ecs.RunTaskInput) { in.TaskDefinition = aws.String("web:9") }, "ClientException"},
		{"inactive revision", func(in *ecs.RunTaskInput) { in.TaskDefinition = aws.String("web:2") }, "ClientException"},
		{"bad revision", func(in *ecs.RunTaskInput) { in.TaskDefinition = aws.String("web:x") }, "InvalidParameterException"},
		{"fargate", func(in *ecs.RunTaskInput) { in.LaunchType = types.LaunchTypeFargate }, "InvalidParameterException"},
		{"external", func(in *ecs.RunTaskInput) { in.LaunchType = types.LaunchTypeExternal }, "InvalidParameterException"},
		{"capacity providers", func(in *ecs.RunTaskInput) {
			in.CapacityProviderStrategy = []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE")}}
		}, "InvalidParameterException"},
		{"distinctInstance with an expression", func(in *ecs.RunTaskInput) {
			in.PlacementConstraints = []types.PlacementConstraint{{Type: types.PlacementConstraintTypeDistinctInstance, Expression: aws.String("attribute:a exists")}}
		}, "InvalidParameterException"},
		{"memberOf without an expression", func(in *ecs.RunTaskInput) {
			in.PlacementConstraints = []types.PlacementConstraint{{Type: types.PlacementConstraintTypeMemberOf}}
		}, "InvalidParameterException"},
		{"malformed expression", func(in *ecs.RunTaskInput) {
			in.PlacementConstraints = []types.PlacementConstraint{{Type: types.PlacementConstraintTypeMemberOf, Expression: aws.String("attribute:a == (b")}}
		}, "InvalidParameterException"},
		{"eleven constraints", func(in *ecs.RunTaskInput) {
			for range 11 {
				in.PlacementConstraints = append(in.PlacementConstraints, types.PlacementConstraint{Type: types.PlacementConstraintTypeDistinctInstance})
			}
		}, "InvalidParameterException"},
		{"binpack on disk", func(in *ecs.RunTaskInput) {
			in.PlacementStrategy = []types.PlacementStrategy{{Type: types.PlacementStrategyTypeBinpack, Field: aws.String("disk")}}
		}, "InvalidParameterException"},
		{"six strategies", func(in *ecs.RunTaskInput) {
			for range 6 {
				in.PlacementStrategy = append(in.PlacementStrategy, types.PlacementStrategy{Type: types.PlacementStrategyTypeRandom})
			}
		}, "InvalidParameterException"},
		{"platform version", func(in *ecs.RunTaskInput) { in.PlatformVersion = aws.String("LATEST") }, "InvalidParameterException"},
		{"unknown container override", func(in *ecs.RunTaskInput) {
			in.Overrides = &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{Name: aws.String("ghost")}}}
		}, "InvalidParameterException"},
		{"memory below reservation", func(in *ecs.RunTaskInput) {
			in.Overrides = &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{Name: aws.String("sidecar"), Memory: aws.Int32(32)}}}
		}, "InvalidParameterException"},
		{"task memory below containers", func(in *ecs.RunTaskInput) { in.Overrides = &types.TaskOverride{Memory: aws.String("100")} }, "InvalidParameterException"},
		{"startedBy too long", func(in *ecs.RunTaskInput) { in.StartedBy = aws.String(strings.Repeat("a", 129)) }, "InvalidParameterException"},
		{"startedBy characters", func(in *ecs.RunTaskInput) { in.StartedBy = aws.String("a b") }, "InvalidParameterException"},
		{"propagate SERVICE", func(in *ecs.RunTaskInput) { in.PropagateTags = types.PropagateTagsService }, "InvalidParameterException"},
		{"reserved tag", func(in *ecs.RunTaskInput) { in.Tags = []types.Tag{tag("aws:x", "y")} }, "InvalidParameterException"},
		{"network configuration on bridge", func(in *ecs.RunTaskInput) {
			in.NetworkConfiguration = &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{Subnets: []string{"s"}}}
		}, "InvalidParameterException"},
		{"client token too long", func(in *ecs.RunTaskInput) { in.ClientToken = aws.String(strings.Repeat("t", 65)) }, "InvalidParameterException"},
		{"client token space", func(in *ecs.RunTaskInput) { in.ClientToken = aws.String("a b") }, "InvalidParameterException"},
		{"execute command", func(in *ecs.RunTaskInput) { in.EnableExecuteCommand = true }, "InvalidParameterException"},
		{"task role override", func(in *ecs.RunTaskInput) {
			in.Overrides = &types.TaskOverride{TaskRoleArn: aws.String("arn:aws:iam::123456789012:role/r")}
		}, "InvalidParameterException"},
	} {
		in := base()
		tc.edit(in)
		_, err := c.RunTask(ctx, in)
		if gt.Code(err) != tc.want {
			t.Errorf("%s: got %v, want %s", tc.name, err, tc.want)
		}
	}
}

func TestRunTaskClientToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := gt.Shared(t)
	c := env.ECS()
	startAgent(t, env, c, "prod", 4096, 4096)
	registerTD(t, c, "app")
	in := &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String("app"), Count: aws.Int32(2), ClientToken: aws.String("tok-1")}
	first := gt.Must(c.RunTask(ctx, in))(t)
	again := gt.Must(c.RunTask(ctx, in))(t)
	arns := func(ts []types.Task) []string {
		var out []string
		for _, t := range ts {
			out = append(out, aws.ToString(t.TaskArn))
		}
		return out
	}
	if len(first.Tasks) != 2 || !slices.Equal(arns(first.Tasks), arns(again.Tasks)) {
		t.Fatalf("replay gave %v, first run %v", arns(again.Tasks), arns(first.Tasks))
	}
	if l := gt.Must(c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("prod")}))(t); len(l.TaskArns) != 2 {
		t.Fatalf("replay ran more tasks: %v", l.TaskArns)
	}
	changed := *in
	changed.Count = aws.Int32(1)
	_, err := c.RunTask(ctx, &changed)
	gt.WantCode(t, err, "ConflictException")

	// Concurrent requests with one token run the tasks once.
	in2 := &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String("app"), ClientToken: aws.String("tok-2")}
	var wg sync.WaitGroup
	results := make([]string, 8)
	for i := range results {
		wg.Go(func() {
			out, err := c.RunTask(ctx, in2)
			if err != nil {
				t.Errorf("concurrent run: %v", err)
				return
			}
			results[i] = fmt.Sprint(arns(out.Tasks))
		})
	}
	wg.Wait()
	for _, r := range results {
		if r != results[0] {
			t.Fatalf("concurrent runs with one token answered %v", results)
		}
	}
	if l := gt.Must(c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("prod")}))(t); len(l.TaskArns) != 3 {
		t.Fatalf("concurrent runs with one token made %d tasks in all, want 3", len(l.TaskArns))
	}
}

func TestStartTask(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := gt.Shared(t)
	c := env.ECS()
	a := startAgent(t, env, c, "prod", 4096, 4096)
	b := startAgent(t, env, c, "prod", 4096, 100)
	webTD(t, c, "web")
	out := gt.Must(c.StartTask(ctx, &ecs.StartTaskInput{
		Cluster: aws.String("prod"), TaskDefinition: aws.String("web"), ContainerInstances: []string{idOf(a.arn), b.arn}, Group: aws.String("batch"),
	}))(t)
	if len(out.Tasks) != 1 || aws.ToString(out.Tasks[0].ContainerInstanceArn) != a.arn || aws.ToString(out.Tasks[0].Group) != "batch" {
		t.Fatalf("start = %+v", out)
	}
	if len(out.Failures) != 1 || aws.ToString(out.Failures[0].Arn) != b.arn || aws.ToString(out.Failures[0].Reason) != "RESOURCE:MEMORY" {
		t.Fatalf("failures = %+v", out.Failures)
	}
	if p := a.poll(0, 0); len(p.Tasks) != 1 {
		t.Fatalf("poll of the named instance = %+v", p)
	}
	for _, tc := range []struct {
		name string
		in   ecs.StartTaskInput
		want string
	}{
		{"unknown instance", ecs.StartTaskInput{ContainerInstances: []string{strings.Repeat("d", 32)}}, "InvalidParameterException"},
		{"instance of another cluster", ecs.StartTaskInput{ContainerInstances: []string{strings.Replace(a.arn, "/prod/", "/other/", 1)}}, "InvalidParameterException"},
		{"no instances", ecs.StartTaskInput{ContainerInstances: []string{}}, "InvalidParameterException"},
		{"eleven instances", ecs.StartTaskInput{ContainerInstances: slices.Repeat([]string{a.arn}, 11)}, "InvalidParameterException"},
		{"unknown cluster", ecs.StartTaskInput{Cluster: aws.String("nope"), ContainerInstances: []string{a.arn}}, "ClusterNotFoundException"},
	} {
		in := tc.in
		if in.Cluster == nil {
			in.Cluster = aws.String("prod")
		}
		in.TaskDefinition = aws.String("web")
		_, err := c.StartTask(ctx, &in)
		if gt.Code(err) != tc.want {
			t.Errorf("%s: got %v, want %s", tc.name, err, tc.want)
		}
	}
}

func TestStopTaskErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := gt.Shared(t)
	c := env.ECS()
	a := startAgent(t, env, c, "prod", 4096, 4096)
	registerTD(t, c, "app")
	arn := aws.ToString(gt.Must(c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String("app")}))(t).Tasks[0].TaskArn)
	for _, tc := range []struct {
		name string
		in   ecs.StopTaskInput
		want string
	}{
		{"unknown task", ecs.StopTaskInput{Cluster: aws.String("prod"), Task: aws.String(strings.Repeat("e", 32))}, "InvalidParameterException"},
		{"not an id", ecs.StopTaskInput{Cluster: aws.String("prod"), Task: aws.String("nope")}, "InvalidParameterException"},
		{"task of another cluster", ecs.StopTaskInput{Cluster: aws.String("prod"), Task: aws.String(strings.Replace(arn, "/prod/", "/other/", 1))}, "InvalidParameterException"},
		{"wrong cluster", ecs.StopTaskInput{Task: aws.String(arn)}, "ClusterNotFoundException"},
		{"reason too long", ecs.StopTaskInput{Cluster: aws.String("prod"), Task: aws.String(arn), Reason: aws.String(strings.Repeat("r", 256))}, "InvalidParameterException"},
	} {
		_, err := c.StopTask(ctx, &tc.in)
		if gt.Code(err) != tc.want {
			t.Errorf("%s: got %v, want %s", tc.name, err, tc.want)
		}
	}
	// Without a reason, the reason is ECS's default.
	stop := gt.Must(c.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("prod"), Task: aws.String(arn)}))(t).Task
	if aws.ToString(stop.StoppedReason) != "Task stopped by user" || aws.ToString(stop.LastStatus) != "PENDING" {
		t.Fatalf("stopped without a reason = %+v", stop)
	}
	// A task on an instance deregistered by force stops at once.
	arn2 := aws.ToString(gt.Must(c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String("app")}))(t).Tasks[0].TaskArn)
	_, err := c.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{Cluster: aws.String("prod"), ContainerInstance: aws.String(a.arn)})
	gt.WantCode(t, err, "InvalidParameterException")
	gt.Must(c.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{Cluster: aws.String("prod"), ContainerInstance: aws.String(a.arn), Force: aws.Bool(true)}))(t)
	stop = gt.Must(c.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("prod"), Task: aws.String(arn2)}))(t).Task
	if aws.ToString(stop.LastStatus) != "STOPPED" || stop.StoppedAt == nil || stop.StopCode != types.TaskStopCodeUserInitiated {
		t.Fatalf("task of a deregistered instance after StopTask = %+v", stop)
	}
}

func TestDescribeTasks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := gt.Shared(t)
	c := env.ECS()
	startAgent(t, env, c, "prod", 4096, 4096)
	registerTD(t, c, "app")
	arn := aws.ToString(gt.Must(c.RunTask(ctx, &ecs.RunTaskInput{
		Cluster: aws.String("prod"), TaskDefinition: aws.String("app"), Tags: []types.Tag{tag("k", "v")},
	}))(t).Tasks[0].TaskArn)
	ghost := strings.Replace(arn, idOf(arn), strings.Repeat("f", 32), 1)
	other := strings.Replace(arn, "/prod/", "/other/", 1)
	d := gt.Must(c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("prod"), Tasks: []string{idOf(arn), arn, ghost, other, "junk"}}))(t)
	if len(d.Tasks) != 1 || len(d.Tasks[0].Tags) != 0 {
		t.Fatalf("described = %+v", d.Tasks)
	}
	var missing []string
	for _, f := range d.Failures {
		if aws.ToString(f.Reason) != "MISSING" {
			t.Fatalf("failure = %+v", f)
		}
		missing = append(missing, aws.ToString(f.Arn))
	}
	slices.Sort(missing)
	want := []string{ghost, other, "arn:aws:ecs:" + c.Options().Region + ":" + gt.Account + ":task/prod/junk"}
	slices.Sort(want)
	if !slices.Equal(missing, want) {
		t.Fatalf("missing = %v, want %v", missing, want)
	}
	if got := describeTask(t, c, "prod", arn); len(got.Tags) != 1 {
		t.Fatalf("tags with include TAGS = %+v", got.Tags)
	}
	for _, tc := range []struct {
		in   ecs.DescribeTasksInput
		want string
	}{
		{ecs.DescribeTasksInput{Cluster: aws.String("nope"), Tasks: []string{arn}}, "ClusterNotFoundException"},
		{ecs.DescribeTasksInput{Cluster: aws.String("prod"), Tasks: []string{}}, "InvalidParameterException"},
		{ecs.DescribeTasksInput{Cluster: aws.String("prod"), Tasks: slices.Repeat([]string{arn}, 101)}, "InvalidParameterException"},
		{ecs.DescribeTasksInput{Cluster: aws.String("prod"), Tasks: []string{"arn:aws:ecs:x:1:cluster/prod"}}, "InvalidParameterException"},
	} {
		_, err := c.DescribeTasks(ctx, &tc.in)
		if gt.Code(err) != tc.want {
			t.Errorf("describe %+v: got %v, want %s", tc.in, err, tc.want)
		}
	}
}

func TestListTasks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := gt.Shared(t)
	c := env.ECS()
	a := startAgent(t, env, c, "prod", 8192, 8192)
	b := startAgent(t, env, c, "prod", 8192, 8192)
	registerTD(t, c, "app")
	registerTD(t, c, "job")
	start := func(family, startedBy, instance string) string {
		out := gt.Must(c.StartTask(ctx, &ecs.StartTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String(family),
			StartedBy: aws.String(startedBy), ContainerInstances: []string{instance}}))(t)
		return aws.ToString(out.Tasks[0].TaskArn)
	}
	app1, app2 := start("app", "alice", a.arn), start("app", "bob", b.arn)
	job1 := start("job", "alice", a.arn)
	stopped := start("job", "bob", b.arn)
	gt.Must(c.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("prod"), Task: aws.String(stopped)}))(t)

	list := func(in ecs.ListTasksInput) []string {
		t.Helper()
		in.Cluster = aws.String("prod")
		var all []string
		for {
			out := gt.Must(c.ListTasks(ctx, &in))(t)
			all = append(all, out.TaskArns...)
			if out.NextToken == nil {
				break
			}
			in.NextToken = out.NextToken
		}
		slices.Sort(all)
		return all
	}
	sorted := func(s ...string) []string { slices.Sort(s); return s }
	for _, tc := range []struct {
		name string
		in   ecs.ListTasksInput
		want []string
	}{
		{"all running", ecs.ListTasksInput{}, sorted(app1, app2, job1)},
		{"pages of one", ecs.ListTasksInput{MaxResults: aws.Int32(1)}, sorted(app1, app2, job1)},
		{"family", ecs.ListTasksInput{Family: aws.String("app")}, sorted(app1, app2)},
		{"startedBy", ecs.ListTasksInput{StartedBy: aws.String("alice")}, sorted(app1, job1)},
		{"instance id", ecs.ListTasksInput{ContainerInstance: aws.String(idOf(a.arn))}, sorted(app1, job1)},
		{"instance arn and family", ecs.ListTasksInput{ContainerInstance: aws.String(b.arn), Family: aws.String("app")}, sorted(app2)},
		{"stopped", ecs.ListTasksInput{DesiredStatus: types.DesiredStatusStopped}, sorted(stopped)},
		{"pending", ecs.ListTasksInput{DesiredStatus: types.DesiredStatusPending}, nil},
		{"launch type EC2", ecs.ListTasksInput{LaunchType: types.LaunchTypeEc2}, sorted(app1, app2, job1)},
		{"launch type FARGATE", ecs.ListTasksInput{LaunchType: types.LaunchTypeFargate}, nil},
		{"service", ecs.ListTasksInput{ServiceName: aws.String("web")}, nil},
		{"unknown family", ecs.ListTasksInput{Family: aws.String("nope")}, nil},
	} {
		if got := list(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("%s: listed %v, want %v", tc.name, got, tc.want)
		}
	}
	first := gt.Must(c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("prod"), MaxResults: aws.Int32(1)}))(t)
	gt.Must(c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("other")}))(t)
	for _, tc := range []struct {
		in   ecs.ListTasksInput
		want string
	}{
		{ecs.ListTasksInput{Cluster: aws.String("nope")}, "ClusterNotFoundException"},
		{ecs.ListTasksInput{Cluster: aws.String("prod"), MaxResults: aws.Int32(101)}, "InvalidParameterException"},
		{ecs.ListTasksInput{Cluster: aws.String("prod"), NextToken: aws.String("garbage")}, "InvalidParameterException"},
		{ecs.ListTasksInput{Cluster: aws.String("other"), NextToken: first.NextToken}, "InvalidParameterException"},
	} {
		_, err := c.ListTasks(ctx, &tc.in)
		if gt.Code(err) != tc.want {
			t.Errorf("list %+v: got %v, want %s", tc.in, err, tc.want)
		}
	}
}
