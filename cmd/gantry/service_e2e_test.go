package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	dockerclient "github.com/docker/docker/client"

	"github.com/gantry-dev/gantry/internal/agentproto"
	gt "github.com/gantry-dev/gantry/internal/gantrytest"
)

// svcE2E is a service on the e2e fixture (a real server and one real agent
// on the local Docker), seen through the SDK and the Docker API.
type svcE2E struct {
	*e2e
	name, family string
	docker       *dockerclient.Client
}

// TestServiceOnDocker drives a replica service of busybox httpd tasks on
// real containers: it reaches a steady state with every task answering on
// its host port, scales up and down (the stopped containers leave `docker
// ps`), rolls out a new revision without going below the minimum healthy
// count, rolls a crashing revision back by the circuit breaker, replaces a
// task whose container was killed behind its back, and is deleted with
// force, leaving no container running.
func TestServiceOnDocker(t *testing.T) {
	e := newE2E(t)
	ctx := context.Background()
	docker, err := dockerclient.NewClientWithOpts(dockerclient.FromEnv, dockerclient.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { docker.Close() })
	s := &svcE2E{e2e: e, name: "web", family: "svc-httpd", docker: docker}
	t.Cleanup(func() {
		if t.Failed() {
			s.logDeployments()
		}
	})

	// 1. Three tasks reach a steady state, each answering on its port.
	v1 := s.register("v1")
	gt.Must(e.ecs.CreateService(ctx, &ecs.CreateServiceInput{
		Cluster: aws.String(e.cluster), ServiceName: aws.String(s.name), TaskDefinition: aws.String(v1), DesiredCount: aws.Int32(3),
		DeploymentConfiguration: &types.DeploymentConfiguration{MinimumHealthyPercent: aws.Int32(100), MaximumPercent: aws.Int32(200),
			DeploymentCircuitBreaker: &types.DeploymentCircuitBreaker{Enable: true, Rollback: true}},
	}))(t)
	svc := s.waitStable()
	if svc.RunningCount != 3 || aws.ToString(svc.TaskDefinition) != v1 {
		t.Fatalf("after create: running %d, task definition %s", svc.RunningCount, aws.ToString(svc.TaskDefinition))
	}
	s.wantServing(3, v1, "v1")

	// 2. Scale up to 4, then down to 2: the stopped tasks' containers are
	// no longer running.
	s.update(&ecs.UpdateServiceInput{DesiredCount: aws.Int32(4)})
	if svc = s.waitStable(); svc.RunningCount != 4 {
		t.Fatalf("scaled to 4: running %d", svc.RunningCount)
	}
	s.wantServing(4, v1, "v1")
	before := s.taskArns(types.DesiredStatusRunning)
	s.update(&ecs.UpdateServiceInput{DesiredCount: aws.Int32(2)})
	s.waitStable()
	after := s.wantServing(2, v1, "v1")
	for _, arn := range before {
		if slices.Contains(after, arn) {
			continue
		}
		s.waitStatus(arn, agentproto.StatusStopped)
		if ids := s.runningContainers(agentproto.LabelTaskArn, arn); len(ids) != 0 {
			t.Fatalf("scaled-in task %s is STOPPED but its containers %v still run", arn, ids)
		}
	}

	// 3. A rolling update to v2: never fewer than 2 tasks RUNNING.
	v2 := s.register("v2")
	lowest := s.sampleRunning(func() {
		s.update(&ecs.UpdateServiceInput{TaskDefinition: aws.String(v2)})
		s.waitStable()
	})
	if lowest < 2 {
		t.Fatalf("the rolling update went down to %d RUNNING tasks (minimumHealthyPercent 100 of 2)", lowest)
	}
	s.wantServing(2, v2, "v2")
	if svc = s.describe(); aws.ToString(svc.TaskDefinition) != v2 {
		t.Fatalf("after the rollout the service runs %s, want %s", aws.ToString(svc.TaskDefinition), v2)
	}

	// 4. A revision whose container exits 1 at once: the circuit breaker
	// fails its deployment and rolls back to v2, and v2 keeps serving
	// throughout.
	bad := s.register("bad", "sh", "-c", "exit 1")
	lowest = s.sampleRunning(func() {
		s.update(&ecs.UpdateServiceInput{TaskDefinition: aws.String(bad)})
		s.waitUntil(60*time.Second, "the rollback to complete", func(d *types.Service) bool {
			return gt.HasEvent(d, "rolling back") && len(d.Deployments) == 1 &&
				d.Deployments[0].RolloutState == types.DeploymentRolloutStateCompleted
		})
	})
	svc = s.waitStable()
	if aws.ToString(svc.TaskDefinition) != v2 || !gt.HasEvent(&svc, "deployment failed") || !gt.HasEvent(&svc, "rolling back") {
		t.Fatalf("after the rollback: task definition %s (want %s), events %v", aws.ToString(svc.TaskDefinition), v2, gt.EventMessages(&svc, 12))
	}
	if lowest < 2 {
		t.Fatalf("while the bad revision rolled and rolled back, only %d tasks were RUNNING", lowest)
	}
	s.wantServing(2, v2, "v2")

	// 5. `docker kill` of a task's container: the task stops, the service
	// starts a replacement that serves.
	victim := s.tasks(types.DesiredStatusRunning)[0]
	victimArn := aws.ToString(victim.TaskArn)
	if err := docker.ContainerKill(ctx, aws.ToString(victim.Containers[0].RuntimeId), "KILL"); err != nil {
		t.Fatal(err)
	}
	stopped := e.waitStatus(victimArn, agentproto.StatusStopped)
	if stopped.StopCode != types.TaskStopCodeEssentialContainerExited || aws.ToInt32(stopped.Containers[0].ExitCode) != 137 {
		t.Errorf("killed task: stop code %s, exit code %v", stopped.StopCode, aws.ToInt32(stopped.Containers[0].ExitCode))
	}
	s.waitUntil(30*time.Second, "a replacement for the killed task", func(*types.Service) bool {
		n := 0
		for _, task := range s.tasks(types.DesiredStatusRunning) {
			if aws.ToString(task.TaskArn) != victimArn && lastStatus(task) == agentproto.StatusRunning {
				n++
			}
		}
		return n == 2
	})
	s.waitStable()
	if arns := s.wantServing(2, v2, "v2"); slices.Contains(arns, victimArn) {
		t.Fatalf("the killed task %s is still among the running ones %v", victimArn, arns)
	}

	// 6. Delete: refused while scaled above 0, then with force; no
	// container of the service is left running.
	_, err = e.ecs.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String(e.cluster), Service: aws.String(s.name)})
	gt.WantCode(t, err, "InvalidParameterException")
	gt.Must(e.ecs.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String(e.cluster), Service: aws.String(s.name), Force: aws.Bool(true)}))(t)
	inactive := ecs.NewServicesInactiveWaiter(e.ecs, func(o *ecs.ServicesInactiveWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, 500*time.Millisecond
	})
	if err := inactive.Wait(ctx, s.describeInput(), 30*time.Second); err != nil {
		t.Fatalf("services-inactive: %v", err)
	}
	if arns := s.taskArns(types.DesiredStatusRunning); len(arns) != 0 {
		t.Fatalf("tasks still RUNNING after the delete: %v", arns)
	}
	if ids := s.runningContainers(agentproto.LabelFamily, s.family); len(ids) != 0 {
		t.Fatalf("containers of the service still run after the delete: %v", ids)
	}
}

// register registers a revision of the family: busybox httpd on a dynamic
// host port serving "<body>\n" (from the environment), or the command
// given instead.
func (s *svcE2E) register(body string, command ...string) string {
	s.t.Helper()
	if command == nil {
		command = []string{"sh", "-c", `mkdir -p /tmp/www && echo "$BODY" >/tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www`}
	}
	def := busybox("web", command...)
	def.Environment = []types.KeyValuePair{{Name: aws.String("BODY"), Value: aws.String(body)}}
	def.PortMappings = []types.PortMapping{{ContainerPort: aws.Int32(8080), HostPort: aws.Int32(0)}}
	def.LinuxParameters = &types.LinuxParameters{InitProcessEnabled: aws.Bool(true)}
	def.StopTimeout = aws.Int32(2)
	out := gt.Must(s.ecs.RegisterTaskDefinition(context.Background(), &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(s.family), ContainerDefinitions: []types.ContainerDefinition{def}}))(s.t)
	return aws.ToString(out.TaskDefinition.TaskDefinitionArn)
}

func (s *svcE2E) update(in *ecs.UpdateServiceInput) {
	s.t.Helper()
	in.Cluster, in.Service = aws.String(s.cluster), aws.String(s.name)
	gt.Must(s.ecs.UpdateService(context.Background(), in))(s.t)
}

func (s *svcE2E) describeInput() *ecs.DescribeServicesInput {
	return &ecs.DescribeServicesInput{Cluster: aws.String(s.cluster), Services: []string{s.name}}
}

func (s *svcE2E) describe() types.Service {
	s.t.Helper()
	out := gt.Must(s.ecs.DescribeServices(context.Background(), s.describeInput()))(s.t)
	if len(out.Services) != 1 {
		s.t.Fatalf("DescribeServices %s: %+v", s.name, out.Failures)
	}
	return out.Services[0]
}

// waitStable runs the SDK's services-stable waiter (what `aws ecs wait
// services-stable` runs), polling fast, for at most 30 s.
func (s *svcE2E) waitStable() types.Service {
	s.t.Helper()
	w := ecs.NewServicesStableWaiter(s.ecs, func(o *ecs.ServicesStableWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, 500*time.Millisecond
	})
	if err := w.Wait(context.Background(), s.describeInput(), 30*time.Second); err != nil {
		svc := s.describe()
		s.t.Fatalf("service %s not stable: %v; running %d of %d, events %v", s.name, err, svc.RunningCount, svc.DesiredCount, gt.EventMessages(&svc, 8))
	}
	return s.describe()
}

// waitUntil polls the service until ok, for at most d.
func (s *svcE2E) waitUntil(d time.Duration, what string, ok func(*types.Service) bool) types.Service {
	s.t.Helper()
	deadline := time.Now().Add(d)
	for {
		svc := s.describe()
		if ok(&svc) {
			return svc
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out after %s waiting for %s; events %v", d, what, gt.EventMessages(&svc, 8))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// taskArns lists the service's tasks with the desired status given.
func (s *svcE2E) taskArns(desired types.DesiredStatus) []string {
	s.t.Helper()
	arns, err := s.listTasks(desired)
	if err != nil {
		s.t.Fatal(err)
	}
	return arns
}

func (s *svcE2E) listTasks(desired types.DesiredStatus) ([]string, error) {
	out, err := s.ecs.ListTasks(context.Background(), &ecs.ListTasksInput{Cluster: aws.String(s.cluster), ServiceName: aws.String(s.name), DesiredStatus: desired})
	if err != nil {
		return nil, err
	}
	return out.TaskArns, nil
}

// tasks describes the service's tasks with the desired status given.
func (s *svcE2E) tasks(desired types.DesiredStatus) []types.Task {
	s.t.Helper()
	ts, err := s.describeTasks(desired)
	if err != nil {
		s.t.Fatal(err)
	}
	return ts
}

func (s *svcE2E) describeTasks(desired types.DesiredStatus) ([]types.Task, error) {
	arns, err := s.listTasks(desired)
	if err != nil || len(arns) == 0 {
		return nil, err
	}
	out, err := s.ecs.DescribeTasks(context.Background(), &ecs.DescribeTasksInput{Cluster: aws.String(s.cluster), Tasks: arns})
	if err != nil {
		return nil, err
	}
	return out.Tasks, nil
}

// wantServing checks that the service runs exactly n tasks, all RUNNING
// the task definition td and answering "<body>\n" on their host port on
// 127.0.0.1, and returns their ARNs.
func (s *svcE2E) wantServing(n int, td, body string) []string {
	s.t.Helper()
	ts := s.tasks(types.DesiredStatusRunning)
	if len(ts) != n {
		s.t.Fatalf("%d tasks with desired status RUNNING, want %d", len(ts), n)
	}
	var arns []string
	for _, task := range ts {
		arn := aws.ToString(task.TaskArn)
		arns = append(arns, arn)
		if lastStatus(task) != agentproto.StatusRunning || aws.ToString(task.TaskDefinitionArn) != td {
			s.t.Fatalf("task %s is %s running %s, want RUNNING %s", arn, lastStatus(task), aws.ToString(task.TaskDefinitionArn), td)
		}
		if b := task.Containers[0].NetworkBindings; len(b) != 1 || aws.ToInt32(b[0].HostPort) == 0 {
			s.t.Fatalf("task %s network bindings %+v", arn, b)
		}
		port := aws.ToInt32(task.Containers[0].NetworkBindings[0].HostPort)
		if got, err := httpGet(port); err != nil || got != body+"\n" {
			s.t.Fatalf("task %s on port %d answers %q, %v; want %q", arn, port, got, err, body+"\n")
		}
	}
	return arns
}

var direct = &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 3 * time.Second}

// httpGet reads / on 127.0.0.1:port, retrying for a short while (httpd
// listens a moment after its task reports RUNNING).
func httpGet(port int32) (string, error) {
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var resp *http.Response
		if resp, err = direct.Get(fmt.Sprintf("http://127.0.0.1:%d/", port)); err != nil {
			continue
		}
		b, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		if rerr == nil && resp.StatusCode == http.StatusOK {
			return string(b), nil
		}
		err = fmt.Errorf("status %d, %v", resp.StatusCode, rerr)
	}
	return "", err
}

// sampleRunning runs f while counting, every 50 ms, the service's tasks
// with desired and last status RUNNING, and returns the lowest count seen.
func (s *svcE2E) sampleRunning(f func()) int {
	s.t.Helper()
	var mu sync.Mutex
	lowest, samples := 1<<30, 0
	var sampleErr error
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			ts, err := s.describeTasks(types.DesiredStatusRunning)
			mu.Lock()
			if err != nil {
				sampleErr = err
			} else {
				n := 0
				for _, task := range ts {
					if lastStatus(task) == agentproto.StatusRunning {
						n++
					}
				}
				lowest, samples = min(lowest, n), samples+1
			}
			mu.Unlock()
			time.Sleep(50 * time.Millisecond)
		}
	})
	done := func() {
		stop()
		wg.Wait()
	}
	defer done() // if f fails the test
	f()
	done()
	if sampleErr != nil {
		s.t.Fatalf("sampling the running tasks: %v", sampleErr)
	}
	if samples == 0 {
		s.t.Fatal("no sample of the running tasks was taken")
	}
	return lowest
}

// runningContainers lists the running containers of this test's agent that
// carry label key=value.
func (s *svcE2E) runningContainers(key, value string) []string {
	s.t.Helper()
	f := filters.NewArgs(filters.Arg("label", key+"="+value), filters.Arg("label", agentproto.LabelInstanceArn+"="+s.agent.InstanceArn()))
	list, err := s.docker.ContainerList(context.Background(), container.ListOptions{Filters: f})
	if err != nil {
		s.t.Fatal(err)
	}
	var ids []string
	for _, c := range list {
		ids = append(ids, c.ID[:12]+" "+c.State)
	}
	return ids
}

// logDeployments logs the service's deployments and latest events.
func (s *svcE2E) logDeployments() {
	out, err := s.ecs.DescribeServices(context.Background(), s.describeInput())
	if err != nil || len(out.Services) != 1 {
		s.t.Logf("describe-services: %v", err)
		return
	}
	svc := out.Services[0]
	for _, d := range svc.Deployments {
		s.t.Logf("deployment %s %s %s desired %d running %d pending %d failed %d %s", aws.ToString(d.Id), aws.ToString(d.Status),
			d.RolloutState, d.DesiredCount, d.RunningCount, d.PendingCount, d.FailedTasks, aws.ToString(d.TaskDefinition))
	}
	s.t.Logf("events %v", gt.EventMessages(&svc, 15))
}

func lastStatus(t types.Task) string { return aws.ToString(t.LastStatus) }
