package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/agent"
	"github.com/gantry-dev/gantry/internal/agent/agenttest"
	"github.com/gantry-dev/gantry/internal/agent/rt"
	"github.com/gantry-dev/gantry/internal/agentproto"
	"github.com/gantry-dev/gantry/internal/gantrytest"
)

var imagesOnce = sync.OnceValue(agenttest.BuildImages)

// e2e is a real control plane and one in-process agent on the real Docker.
type e2e struct {
	t       *testing.T
	env     *gantrytest.Env
	ecs     *ecs.Client
	region  string
	cluster string
	dataDir string
	stop    func()
	agent   *agent.Agent
	// configure, when set, adjusts the agent's configuration.
	configure func(*agent.Config)
}

func newE2E(t *testing.T) *e2e { t.Helper(); return newE2EWith(t, nil) }

// newE2EWith is newE2E with an agent whose configuration configure adjusts.
func newE2EWith(t *testing.T, configure func(*agent.Config)) *e2e {
	t.Helper()
	if err := imagesOnce(); err != nil {
		t.Fatal(err)
	}
	env, err := gantrytest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	region := gantrytest.NewRegion()
	e := &e2e{t: t, env: env, ecs: env.ECSIn(region), region: region, cluster: "e2e", dataDir: t.TempDir(), configure: configure}
	if _, err := e.ecs.CreateCluster(context.Background(), &ecs.CreateClusterInput{ClusterName: aws.String(e.cluster)}); err != nil {
		t.Fatal(err)
	}
	e.startAgent()
	t.Cleanup(func() { e.stop() })
	agenttest.CleanupLabel(t, agentproto.LabelInstanceArn, e.agent.InstanceArn())
	return e
}

// startAgent runs an agent with the test's data directory until stop.
func (e *e2e) startAgent() {
	e.t.Helper()
	cfg := agent.Default()
	cfg.Endpoint = e.env.URL
	cfg.Cluster = e.cluster
	cfg.Region = e.region
	cfg.DataDir = e.dataDir
	cfg.AccessKeyID, cfg.SecretAccessKey = gantrytest.KeyID, gantrytest.KeySecret
	cfg.PullPolicy = rt.PullPreferCached
	cfg.StopTimeout = 2 * time.Second
	cfg.Logger = agenttest.Logger()
	if e.configure != nil {
		e.configure(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := agent.New(ctx, cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	select {
	case <-a.Ready():
	case err := <-done:
		e.t.Fatalf("agent: %v", err)
	case <-time.After(30 * time.Second):
		e.t.Fatal("agent did not register")
	}
	e.agent = a
	e.stop = func() {
		cancel()
		<-done
	}
}

func (e *e2e) register(family string, defs ...types.ContainerDefinition) {
	e.t.Helper()
	_, err := e.ecs.RegisterTaskDefinition(context.Background(), &ecs.RegisterTaskDefinitionInput{Family: aws.String(family), ContainerDefinitions: defs})
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *e2e) run(family string) string {
	e.t.Helper()
	out, err := e.ecs.RunTask(context.Background(), &ecs.RunTaskInput{Cluster: aws.String(e.cluster), TaskDefinition: aws.String(family)})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(out.Tasks) != 1 {
		e.t.Fatalf("RunTask: %+v", out.Failures)
	}
	return aws.ToString(out.Tasks[0].TaskArn)
}

// waitStatus polls DescribeTasks until the task's lastStatus is status.
func (e *e2e) waitStatus(arn, status string) types.Task {
	e.t.Helper()
	deadline := time.Now().Add(40 * time.Second)
	var last types.Task
	for time.Now().Before(deadline) {
		out, err := e.ecs.DescribeTasks(context.Background(), &ecs.DescribeTasksInput{Cluster: aws.String(e.cluster), Tasks: []string{arn}})
		if err != nil {
			e.t.Fatal(err)
		}
		if len(out.Tasks) == 1 {
			last = out.Tasks[0]
			if aws.ToString(last.LastStatus) == status {
				return last
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.t.Fatalf("task %s never %s; last %s (stoppedReason %q)", arn, status, aws.ToString(last.LastStatus), aws.ToString(last.StoppedReason))
	return last
}

func busybox(name string, command ...string) types.ContainerDefinition {
	return types.ContainerDefinition{Name: aws.String(name), Image: aws.String(agenttest.Image), Memory: aws.Int32(64), Command: command}
}

// RunTask runs a real container that answers on the host port DescribeTasks
// reports; StopTask stops it with the user's reason; an essential
// container's exit stops its task with ECS's reason and exit code.
func TestAgentEndToEnd(t *testing.T) {
	e := newE2E(t)
	web := busybox("web", "httpd", "-f", "-p", "80", "-h", "/var/www")
	web.PortMappings = []types.PortMapping{{ContainerPort: aws.Int32(80)}}
	web.LinuxParameters = &types.LinuxParameters{InitProcessEnabled: aws.Bool(true)}
	e.register("web", web)
	arn := e.run("web")

	task := e.waitStatus(arn, agentproto.StatusRunning)
	if task.StartedAt == nil || task.PullStartedAt == nil || task.PullStoppedAt == nil {
		t.Errorf("RUNNING task lacks timestamps: startedAt %v pullStartedAt %v pullStoppedAt %v", task.StartedAt, task.PullStartedAt, task.PullStoppedAt)
	}
	c := task.Containers[0]
	if aws.ToString(c.LastStatus) != agentproto.StatusRunning || aws.ToString(c.RuntimeId) == "" || len(c.NetworkBindings) != 1 {
		t.Fatalf("container: %+v", c)
	}
	port := aws.ToInt32(c.NetworkBindings[0].HostPort)
	// RUNNING is the container started, not httpd listening yet (as on
	// ECS): until it listens, Docker's proxy accepts and closes.
	var resp *http.Response
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if resp, err = http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port)); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello from gantry\n" {
		t.Fatalf("GET: %q", body)
	}

	if _, err := e.ecs.StopTask(context.Background(), &ecs.StopTaskInput{Cluster: aws.String(e.cluster), Task: aws.String(arn), Reason: aws.String("done with it")}); err != nil {
		t.Fatal(err)
	}
	task = e.waitStatus(arn, agentproto.StatusStopped)
	if aws.ToString(task.StoppedReason) != "done with it" || task.StopCode != types.TaskStopCodeUserInitiated || task.ExecutionStoppedAt == nil {
		t.Errorf("stopped task: reason %q code %q executionStoppedAt %v", aws.ToString(task.StoppedReason), task.StopCode, task.ExecutionStoppedAt)
	}
	if c := task.Containers[0]; aws.ToString(c.LastStatus) != agentproto.StatusStopped || c.ExitCode == nil {
		t.Errorf("stopped container: %+v", c)
	}

	// The task metadata endpoint answers each container with its own and
	// its task's metadata.
	e.register("meta", busybox("probe", "sh", "-c",
		`wget -q -O /tmp/t "$ECS_CONTAINER_METADATA_URI_V4/task" && grep -q '"TaskARN"' /tmp/t && grep -q '"Family": "meta"' /tmp/t && `+
			`wget -q -O /tmp/c "$ECS_CONTAINER_METADATA_URI_V4" && grep -q '"Name": "probe"' /tmp/c && grep -q '"DockerId"' /tmp/c`))
	arn = e.run("meta")
	task = e.waitStatus(arn, agentproto.StatusStopped)
	if c := task.Containers[0]; c.ExitCode == nil || *c.ExitCode != 0 {
		t.Errorf("metadata probe exited %v (reason %q)", aws.ToInt32(c.ExitCode), aws.ToString(c.Reason))
	}

	e.register("exits", busybox("main", "sh", "-c", "sleep 1; exit 3"))
	arn = e.run("exits")
	task = e.waitStatus(arn, agentproto.StatusStopped)
	if aws.ToString(task.StoppedReason) != "Essential container in task exited" || task.StopCode != types.TaskStopCodeEssentialContainerExited {
		t.Errorf("essential exit: reason %q code %q", aws.ToString(task.StoppedReason), task.StopCode)
	}
	if c := task.Containers[0]; c.ExitCode == nil || *c.ExitCode != 3 {
		t.Errorf("exit code: %+v", c.ExitCode)
	}
}

// An agent that stops (its containers keep running) and starts again keeps
// its instance identity and its task: the task stays RUNNING on the same
// container, and StopTask still works.
func TestAgentRestartKeepsTasks(t *testing.T) {
	e := newE2E(t)
	long := busybox("long", "sleep", "120")
	long.StopTimeout = aws.Int32(1)
	e.register("long", long)
	arn := e.run("long")
	id := aws.ToString(e.waitStatus(arn, agentproto.StatusRunning).Containers[0].RuntimeId)
	inst := e.agent.InstanceArn()

	e.stop()
	e.startAgent()
	if got := e.agent.InstanceArn(); got != inst {
		t.Fatalf("instance after restart %s, want %s", got, inst)
	}
	time.Sleep(time.Second)
	task := e.waitStatus(arn, agentproto.StatusRunning)
	if got := aws.ToString(task.Containers[0].RuntimeId); got != id {
		t.Fatalf("container after restart %s, want %s", got, id)
	}
	if _, err := e.ecs.StopTask(context.Background(), &ecs.StopTaskInput{Cluster: aws.String(e.cluster), Task: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	e.waitStatus(arn, agentproto.StatusStopped)
}
