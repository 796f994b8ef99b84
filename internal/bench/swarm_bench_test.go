package bench

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"

	"github.com/gantry-dev/gantry/internal/agent/agenttest"
	"github.com/gantry-dev/gantry/internal/agentproto"
)

// BenchmarkServiceVsSwarm starts the same replicated service with Gantry
// and with Docker Swarm on the machine's Docker daemon, and N parallel
// `docker run -d` as the floor, and times each until all its containers
// run (the services issue's side-by-side figure). Each round starts
// BENCH_SWARM_TASKS copies (default 20) of busybox httpd
// (gantry-test/busybox:latest, `httpd -f -p 80 -h /var/www`, 64 MiB hard
// memory limit, no published port), BENCH_SWARM_ROUNDS rounds of each
// (default 5) in a rotating order so that the machine's load hits them
// alike, and reports the medians:
//
//   - gantry: a real server (embedded etcd) and one in-process agent on the
//     local Docker (the RunTask benchmark's rig); from the CreateService
//     call until DescribeTasks, polled every 20 ms, shows every task of the
//     service RUNNING;
//   - swarm: `docker service create --detach --no-resolve-image --replicas
//     N` of the local tag (Swarm never pulls it), until the Engine API's
//     task list, polled every 20 ms, shows N tasks running;
//   - docker-run: N concurrent `docker run -d --pull=never` of the same
//     container, until the last returns (the CLI returns once the
//     container started);
//   - swarm-cli (beside, not compared): the same `docker service create`
//     without --detach, until the CLI returns: it waits for every task to
//     run and then watches them 5 s more before it prints "converged", so
//     it is about the swarm figure plus 5 s.
//
// Everything is removed after each round. The daemon joins a one-node
// swarm for the run (`docker swarm init --advertise-addr 127.0.0.1
// --listen-addr 127.0.0.1:2377`) and leaves it at the end. A daemon that is
// already in a swarm is left alone and the benchmark skipped, unless that
// swarm is one this benchmark made and did not get to leave (its node
// carries the label com.gantry.bench.swarm). Skipped without Docker.
//
// Run: go test -run '^$' -bench ServiceVsSwarm -benchtime 1x -timeout 20m ./internal/bench/
func BenchmarkServiceVsSwarm(b *testing.B) {
	r := newRig(b)
	n := envInt("BENCH_SWARM_TASKS", 20)
	rounds := envInt("BENCH_SWARM_ROUNDS", 5)
	joinSwarm(b, r)
	ctx := context.Background()
	if _, err := r.ecs.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("httpd"),
		ContainerDefinitions: []types.ContainerDefinition{{
			Name: aws.String("web"), Image: aws.String(agenttest.Image), Memory: aws.Int32(memoryMiB),
			Command: httpdCommand,
		}},
	}); err != nil {
		b.Fatal(err)
	}
	var gantry, swarmT, swarmCLI, docker, committed []time.Duration
	order := []string{cGantry, "swarm", cDocker, "swarm-cli"}
	for it := range b.N {
		for i := range rounds {
			for k := range order {
				round := it*rounds + i
				switch order[(round+k)%len(order)] {
				case cGantry:
					g, c := r.gantryService(b, n, round)
					gantry, committed = append(gantry, g), append(committed, c)
				case "swarm":
					swarmT = append(swarmT, r.swarmService(b, n, round, false))
				case "swarm-cli":
					swarmCLI = append(swarmCLI, r.swarmService(b, n, round, true))
				case cDocker:
					docker = append(docker, r.dockerRunHttpd(b, n))
				}
			}
		}
	}
	g, s, d := median(gantry), median(swarmT), median(docker)
	b.ReportMetric(g.Seconds(), "gantry-s")
	b.ReportMetric(s.Seconds(), "swarm-s")
	b.ReportMetric(d.Seconds(), "docker-run-s")
	b.ReportMetric(median(swarmCLI).Seconds(), "swarm-cli-converged-s")
	b.ReportMetric(float64(g)/float64(s), "gantry/swarm")
	b.ReportMetric(float64(g)/float64(d), "gantry/docker-run")
	b.ReportMetric(0, "ns/op")
	b.Logf("%d containers, %d rounds: gantry (DescribeTasks shows all RUNNING) %s; RUNNING committed %s; swarm (task list shows all running) %s; %d parallel docker run -d %s; docker service create without --detach (returns once converged and verified) %s",
		n, len(gantry), spread(gantry), spread(committed), spread(swarmT), n, spread(docker), spread(swarmCLI))
}

// httpdCommand is busybox httpd in the foreground, as all three run it.
var httpdCommand = []string{"httpd", "-f", "-p", "80", "-h", "/var/www"}

// swarmMark labels the node of a swarm this benchmark initialised.
const swarmMark = "com.gantry.bench.swarm"

// joinSwarm makes the daemon a one-node swarm manager on 127.0.0.1 for the
// benchmark, and leaves the swarm when it ends; it skips the benchmark if
// the daemon is in a swarm it did not make.
func joinSwarm(b *testing.B, r *rig) {
	ctx := context.Background()
	info, err := r.docker.Info(ctx)
	if err != nil {
		b.Fatal(err)
	}
	gwBefore := hasNetwork(b, r, "docker_gwbridge")
	switch st := info.Swarm.LocalNodeState; st {
	case swarm.LocalNodeStateInactive:
		if out, err := exec.Command("docker", "swarm", "init", "--advertise-addr", "127.0.0.1",
			"--listen-addr", "127.0.0.1:2377").CombinedOutput(); err != nil {
			b.Fatalf("docker swarm init: %v: %s", err, out)
		}
		after, err := r.docker.Info(ctx)
		if err != nil {
			leaveSwarm(b, r, gwBefore)
			b.Fatal(err)
		}
		if out, err := exec.Command("docker", "node", "update", "--label-add", swarmMark+"=1", after.Swarm.NodeID).CombinedOutput(); err != nil {
			leaveSwarm(b, r, gwBefore)
			b.Fatalf("docker node update: %v: %s", err, out)
		}
	case swarm.LocalNodeStateActive:
		out, err := exec.Command("docker", "node", "inspect", info.Swarm.NodeID, "--format", `{{ index .Spec.Labels "`+swarmMark+`" }}`).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "1" {
			b.Skipf("the Docker daemon is already in a swarm that this benchmark did not create (node %s); leaving it alone", info.Swarm.NodeID)
		}
		b.Logf("reusing the one-node swarm an earlier run of this benchmark left behind")
	default:
		b.Skipf("the Docker daemon's swarm state is %q; leaving it alone", st)
	}
	b.Cleanup(func() { leaveSwarm(b, r, gwBefore) })
}

// leaveSwarm leaves the swarm joinSwarm made, and removes the
// docker_gwbridge network if the swarm's containers made it.
func leaveSwarm(b *testing.B, r *rig, gwBefore bool) {
	if out, err := exec.Command("docker", "swarm", "leave", "--force").CombinedOutput(); err != nil {
		b.Errorf("docker swarm leave: %v: %s", err, out)
	}
	if !gwBefore && hasNetwork(b, r, "docker_gwbridge") {
		if err := r.docker.NetworkRemove(context.Background(), "docker_gwbridge"); err != nil {
			b.Logf("remove docker_gwbridge: %v", err)
		}
	}
}

func hasNetwork(b *testing.B, r *rig, name string) bool {
	nets, err := r.docker.NetworkList(context.Background(), network.ListOptions{Filters: filters.NewArgs(filters.Arg("name", name))})
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range nets {
		if n.Name == name {
			return true
		}
	}
	return false
}

// gantryService creates a service of n httpd tasks and returns the times
// from the CreateService call until DescribeTasks showed all of them
// RUNNING and until the last RUNNING was committed; then deletes the
// service and removes its containers.
func (r *rig) gantryService(b *testing.B, n, round int) (describe, committed time.Duration) {
	ctx := context.Background()
	name := fmt.Sprintf("httpd-%d", round)
	t0 := time.Now()
	if _, err := r.ecs.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String(r.cluster), ServiceName: aws.String(name),
		TaskDefinition: aws.String("httpd"), DesiredCount: aws.Int32(int32(n))}); err != nil {
		b.Fatal(err)
	}
	deadline := t0.Add(2 * time.Minute)
	var arns []string
	for {
		arns = r.serviceTasks(b, name)
		if len(arns) == n {
			out, err := r.describe(arns)
			if err != nil {
				b.Fatal(err)
			}
			running := 0
			for _, t := range out.Tasks {
				if aws.ToString(t.LastStatus) == agentproto.StatusRunning {
					running++
				}
			}
			if running == n {
				break
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("service %s: not all %d tasks RUNNING after 2 minutes", name, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	describe = time.Since(t0)
	var last time.Time
	var timelines [][]stamp
	for _, arn := range arns {
		last = later(last, r.tl.wait(b, arn, "commit RUNNING/"))
		r.tl.mark(arn, "runtask>", t0) // the CreateService call, for eventTable
		timelines = append(timelines, r.tl.get(arn))
	}
	fmt.Printf("%s: gantry service round %d, all RUNNING after %s; first occurrence of each event per task after the CreateService call (median, p90 over the tasks):\n%s",
		b.Name(), round, rnd(describe), eventTable(timelines))
	if _, err := r.ecs.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String(r.cluster), Service: aws.String(name), Force: aws.Bool(true)}); err != nil {
		b.Fatal(err)
	}
	r.removeStopped(b, arns)
	return describe, last.Sub(t0)
}

// serviceTasks lists the ARNs of the service's tasks meant to run.
func (r *rig) serviceTasks(b *testing.B, service string) []string {
	var arns []string
	p := ecs.NewListTasksPaginator(r.ecs, &ecs.ListTasksInput{Cluster: aws.String(r.cluster), ServiceName: aws.String(service)})
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		arns = append(arns, out.TaskArns...)
	}
	return arns
}

// swarmService creates a Swarm service of n httpd replicas with the CLI
// and returns the time until the Engine API shows all n tasks running;
// then removes the service and waits until its containers are gone. With
// wait, the CLI runs without --detach and the time is until it returns:
// the CLI follows the rollout and, once every task runs, watches them for
// its monitor period (5 s) before it says "converged".
func (r *rig) swarmService(b *testing.B, n, round int, wait bool) time.Duration {
	ctx := context.Background()
	name := fmt.Sprintf("gantry-bench-swarm-%s-%d", r.runID, round)
	if wait {
		name += "-cli"
	}
	args := append([]string{"service", "create", fmt.Sprintf("--detach=%v", !wait), "--quiet", "--no-resolve-image", "--name", name,
		"--replicas", fmt.Sprint(n), "--limit-memory", fmt.Sprintf("%dm", memoryMiB), "--stop-grace-period", "1s",
		"--container-label", benchLabel + "=" + r.runID, agenttest.Image}, httpdCommand...)
	t0 := time.Now()
	if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
		b.Fatalf("docker service create: %v: %s", err, out)
	}
	cli := time.Since(t0)
	deadline := t0.Add(2 * time.Minute)
	f := filters.NewArgs(filters.Arg("service", name), filters.Arg("desired-state", "running"))
	for {
		tasks, err := r.docker.TaskList(ctx, swarm.TaskListOptions{Filters: f})
		if err != nil {
			b.Fatal(err)
		}
		running := 0
		for _, t := range tasks {
			switch t.Status.State {
			case swarm.TaskStateRunning:
				running++
			case swarm.TaskStateFailed, swarm.TaskStateRejected:
				b.Fatalf("swarm task %s %s: %s", t.ID, t.Status.State, t.Status.Err)
			}
		}
		if running == n {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("swarm service %s: %d of %d tasks running after 2 minutes", name, running, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	d := time.Since(t0)
	if wait {
		d = cli
	}
	if err := r.docker.ServiceRemove(ctx, name); err != nil {
		b.Fatal(err)
	}
	r.waitGone(b, benchLabel, r.runID)
	time.Sleep(100 * time.Millisecond)
	return d
}

// waitGone waits until no container carries key=value, removing any that
// is left after the swarm stopped it.
func (r *rig) waitGone(b *testing.B, key, value string) {
	deadline := time.Now().Add(time.Minute)
	for {
		list, err := r.docker.ContainerList(context.Background(), container.ListOptions{All: true,
			Filters: filters.NewArgs(filters.Arg("label", key+"="+value))})
		if err != nil {
			b.Fatal(err)
		}
		if len(list) == 0 {
			return
		}
		if time.Now().After(deadline) {
			if err := r.removeLabelled(key, value); err != nil {
				b.Fatal(err)
			}
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// dockerRunHttpd starts n httpd containers with concurrent `docker run -d`
// and returns the time until the last returned; then removes them.
func (r *rig) dockerRunHttpd(b *testing.B, n int) time.Duration {
	return r.startAtOnce(b, n, func(name string) error {
		args := append([]string{"run", "-d", "--pull=never", "--name", name, "--label", benchLabel + "=" + r.runID,
			"--memory", fmt.Sprintf("%dm", memoryMiB), agenttest.Image}, httpdCommand...)
		if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("docker run: %v: %s", err, out)
		}
		return nil
	})
}
