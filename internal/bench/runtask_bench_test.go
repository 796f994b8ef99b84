package bench

import (
	"context"
	"fmt"
	"net/http/httptrace"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"

	"github.com/gantry-dev/gantry/internal/agent"
	"github.com/gantry-dev/gantry/internal/agent/agenttest"
	"github.com/gantry-dev/gantry/internal/agent/dockerrt"
	"github.com/gantry-dev/gantry/internal/agent/rt"
	"github.com/gantry-dev/gantry/internal/agentproto"
	gt "github.com/gantry-dev/gantry/internal/gantrytest"
	"github.com/gantry-dev/gantry/internal/model"
)

// BenchmarkRunTaskToRunning times RunTask → RUNNING on a real control plane
// and an in-process agent beside a plain `docker run` of the same image on
// the same Docker daemon, interleaved in one run (issue 3's "Measure";
// docs/benchmarks.md records the figures). It reports gantry-median-ms,
// gantry-p90-ms, docker-median-ms, docker-p90-ms, docker-api-median-ms and
// ratio (Gantry / docker run) for sequential starts, and the seconds until
// all are running (gantry-all-s, docker-all-s, docker-api-all-s, ratio) for
// the bursts.
//
// Three contenders start the same container (gantry-test/busybox:latest,
// `sleep 300`, 64 MiB hard memory limit, cpu shares 2 as the agent sets
// them; optionally one port published on a dynamic host port):
//   - gantry: from the RunTask call until the task's RUNNING state change is
//     committed (seen by an etcd watch on the task record, so no poll
//     interval is added), and, beside it, until DescribeTasks polled every
//     10 ms (20 ms for the bursts) shows lastStatus RUNNING;
//   - docker: the wall time of `docker run -d --pull=never ...` (the CLI
//     returns once the start call has returned; an untimed inspect then
//     checks State.Running);
//   - docker-api: ContainerCreate + ContainerStart through the Docker Engine
//     API from this process: what is left of `docker run` without the CLI.
//
// Sub-benchmarks: "sequential" (BENCH_RUNS runs of each, default 20, the
// contenders' order rotating from one run to the next) and "50-at-once"
// (BENCH_BURST tasks, default 50: RunTask with count 10 from concurrent
// callers, against as many concurrent `docker run -d`; BENCH_BURST_ROUNDS
// rounds of each, default 3), each also with "-hostport". Every container is
// removed after each measurement. The sequential runs also log where
// Gantry's time goes, from timestamps of the agent's runtime calls (an
// instrumented rt.Runtime), the task's pull timestamps and the watch.
//
// Run: go test -run '^$' -bench RunTaskToRunning -benchtime 1x ./internal/bench/
func BenchmarkRunTaskToRunning(b *testing.B) {
	r := newRig(b)
	runs := envInt("BENCH_RUNS", 20)
	burst := envInt("BENCH_BURST", 50)
	rounds := envInt("BENCH_BURST_ROUNDS", 3)
	for _, port := range []bool{false, true} {
		b.Run("sequential"+suffix(port), func(b *testing.B) { r.sequential(b, runs, port) })
	}
	for _, port := range []bool{false, true} {
		b.Run(fmt.Sprintf("%d-at-once%s", burst, suffix(port)), func(b *testing.B) { r.burst(b, burst, rounds, port) })
	}
}

func suffix(port bool) string {
	if port {
		return "-hostport"
	}
	return ""
}

func envInt(name string, def int) int {
	var n int
	if _, err := fmt.Sscan(os.Getenv(name), &n); err == nil && n > 0 {
		return n
	}
	return def
}

const (
	benchLabel   = "com.gantry.bench"
	sleepSeconds = "300"
	memoryMiB    = 64
)

var imagesOnce = sync.OnceValue(agenttest.BuildImages)

// rig is a control plane, one in-process agent on the local Docker, an etcd
// watch on the cluster's task records and a Docker client for the
// baselines.
type rig struct {
	env     *gt.Env
	ecs     *ecs.Client
	cluster string
	docker  *client.Client
	tl      *timeline
	runID   string
	seq     int
	mu      sync.Mutex
}

func newRig(b *testing.B) *rig {
	ctx := context.Background()
	docker, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		b.Skipf("docker client: %v", err)
	}
	if _, err := docker.Ping(ctx); err != nil {
		docker.Close()
		b.Skipf("no Docker daemon: %v", err)
	}
	if _, err := exec.LookPath("docker"); err != nil {
		docker.Close()
		b.Skip("no docker CLI on PATH")
	}
	if err := imagesOnce(); err != nil {
		b.Fatal(err)
	}
	env, err := gt.Start()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(env.Close)
	region := gt.NewRegion()
	r := &rig{env: env, ecs: env.ECSIn(region), cluster: "bench", docker: docker, tl: newTimeline(),
		runID: fmt.Sprintf("%d", time.Now().UnixNano())}
	b.Cleanup(func() { docker.Close() })
	if _, err := r.ecs.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(r.cluster)}); err != nil {
		b.Fatal(err)
	}

	// Every committed change of a task record, with the time it was seen.
	wctx, cancel := context.WithCancel(ctx)
	b.Cleanup(cancel)
	ch := env.Store().Sub(gt.Account+"/"+region).Watch(wctx, model.TasksPrefix(r.cluster), 0)
	go func() {
		for evs := range ch {
			now := time.Now()
			for _, ev := range evs {
				var t model.Task
				if ev.Deleted || ev.Decode(&t) != nil {
					continue
				}
				cs := "-"
				if len(t.Containers) > 0 {
					cs = t.Containers[0].LastStatus
				}
				r.tl.mark(t.TaskArn, "commit "+t.LastStatus+"/"+cs, now)
			}
		}
	}()

	d, err := dockerrt.New(ctx, "", agenttest.Logger())
	if err != nil {
		b.Fatal(err)
	}
	cfg := agent.Default()
	cfg.Endpoint = env.URL
	cfg.Cluster = r.cluster
	cfg.Region = region
	cfg.DataDir = b.TempDir()
	cfg.AccessKeyID, cfg.SecretAccessKey = gt.KeyID, gt.KeySecret
	cfg.PullPolicy = rt.PullPreferCached // the image is local; `default` would ask docker.io first
	cfg.StopTimeout = time.Second        // sleep as PID 1 ignores SIGTERM
	cfg.Runtime = &timedRuntime{Runtime: d, tl: r.tl}
	cfg.Logger = agenttest.Logger()
	actx, stop := context.WithCancel(ctx)
	a, err := agent.New(actx, cfg)
	if err != nil {
		stop()
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(actx) }()
	select {
	case <-a.Ready():
	case err := <-done:
		stop()
		b.Fatalf("agent: %v", err)
	case <-time.After(30 * time.Second):
		stop()
		b.Fatal("agent did not register")
	}
	arn := a.InstanceArn()
	// Cleanups run last-in first-out: stop the agent, then remove what is
	// left of its containers and of the baselines'.
	b.Cleanup(func() {
		for _, l := range [][2]string{{agentproto.LabelInstanceArn, arn}, {benchLabel, r.runID}} {
			if err := r.removeLabelled(l[0], l[1]); err != nil {
				b.Errorf("cleanup: %v", err)
			}
		}
	})
	b.Cleanup(func() {
		stop()
		<-done
		d.Close()
	})

	for _, port := range []bool{false, true} {
		def := types.ContainerDefinition{
			Name: aws.String("main"), Image: aws.String(agenttest.Image), Memory: aws.Int32(memoryMiB),
			Command: []string{"sleep", sleepSeconds},
		}
		if port {
			def.PortMappings = []types.PortMapping{{ContainerPort: aws.Int32(80)}}
		}
		_, err := r.ecs.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
			Family: aws.String(family(port)), ContainerDefinitions: []types.ContainerDefinition{def},
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return r
}

func family(port bool) string { return "sleep" + suffix(port) }

// contender names.
const (
	cGantry    = "gantry"
	cDocker    = "docker"
	cDockerAPI = "docker-api"
)

// sequential runs `runs` starts of each contender, one at a time.
func (r *rig) sequential(b *testing.B, runs int, port bool) {
	var gantry, describe, docker, dockerAPI, apiCreate, apiStart []time.Duration
	var timelines [][]stamp
	order := []string{cGantry, cDocker, cDockerAPI}
	for range b.N {
		for i := range runs {
			for k := range order {
				switch order[(i+k)%len(order)] {
				case cGantry:
					commit, desc, tl := r.gantryOnce(b, port)
					gantry, describe = append(gantry, commit), append(describe, desc)
					timelines = append(timelines, tl)
				case cDocker:
					docker = append(docker, r.dockerCLIOnce(b, port))
				case cDockerAPI:
					total, create, start := r.dockerAPIOnce(b, port)
					dockerAPI, apiCreate, apiStart = append(dockerAPI, total), append(apiCreate, create), append(apiStart, start)
				}
			}
		}
	}
	g, d := median(gantry), median(docker)
	b.ReportMetric(ms(g), "gantry-median-ms")
	b.ReportMetric(ms(quantile(gantry, 0.9)), "gantry-p90-ms")
	b.ReportMetric(ms(median(describe)), "gantry-describe-median-ms")
	b.ReportMetric(ms(d), "docker-median-ms")
	b.ReportMetric(ms(quantile(docker, 0.9)), "docker-p90-ms")
	b.ReportMetric(ms(median(dockerAPI)), "docker-api-median-ms")
	b.ReportMetric(float64(g)/float64(d), "ratio")
	b.ReportMetric(0, "ns/op")
	b.Logf("%d runs each: gantry (RUNNING committed) p50 %s p90 %s min %s max %s; DescribeTasks shows RUNNING p50 %s p90 %s",
		len(gantry), rnd(g), rnd(quantile(gantry, 0.9)), rnd(quantile(gantry, 0)), rnd(quantile(gantry, 1)),
		rnd(median(describe)), rnd(quantile(describe, 0.9)))
	b.Logf("docker run -d: p50 %s p90 %s min %s max %s; Docker API create+start: p50 %s p90 %s (create %s, start %s)",
		rnd(d), rnd(quantile(docker, 0.9)), rnd(quantile(docker, 0)), rnd(quantile(docker, 1)),
		rnd(median(dockerAPI)), rnd(quantile(dockerAPI, 0.9)), rnd(median(apiCreate)), rnd(median(apiStart)))
	// Multi-line tables go to stdout: the testing package keeps only the
	// first lines of a benchmark's log.
	fmt.Printf("%s: where Gantry's time goes (median and p90 of each phase over the runs):\n%s", b.Name(), phaseTable(timelines))
	fmt.Printf("%s: first occurrence of each event after the RunTask call (median, p90):\n%s", b.Name(), eventTable(timelines))
}

// gantryOnce runs one task and returns the times from the RunTask call
// until RUNNING was committed and until DescribeTasks showed it, and the
// task's timeline; then stops the task and removes its container.
func (r *rig) gantryOnce(b *testing.B, port bool) (commit, describe time.Duration, tl []stamp) {
	ctx := context.Background()
	t0 := time.Now()
	out, err := r.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String(r.cluster), TaskDefinition: aws.String(family(port))})
	t1 := time.Now()
	if err != nil {
		b.Fatal(err)
	}
	if len(out.Tasks) != 1 {
		b.Fatalf("RunTask: %+v", out.Failures)
	}
	arn := aws.ToString(out.Tasks[0].TaskArn)
	r.tl.mark(arn, "runtask>", t0)
	r.tl.mark(arn, "runtask<", t1)
	var task types.Task
	deadline := time.Now().Add(time.Minute)
	for {
		d, err := r.describe([]string{arn})
		if err != nil {
			b.Fatal(err)
		}
		if len(d.Tasks) == 1 {
			task = d.Tasks[0]
			if st := aws.ToString(task.LastStatus); st == agentproto.StatusRunning {
				break
			} else if st == agentproto.StatusStopped {
				b.Fatalf("task %s stopped: %s", arn, aws.ToString(task.StoppedReason))
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("task %s not RUNNING after a minute", arn)
		}
		time.Sleep(10 * time.Millisecond)
	}
	td := time.Now()
	r.tl.mark(arn, "describe RUNNING", td)
	if task.PullStartedAt != nil && task.PullStoppedAt != nil {
		r.tl.mark(arn, "pull>", *task.PullStartedAt)
		r.tl.mark(arn, "pull<", *task.PullStoppedAt)
	}
	tc := r.tl.wait(b, arn, "commit RUNNING/")
	r.stopTasks(b, []string{arn})
	return tc.Sub(t0), td.Sub(t0), r.tl.get(arn)
}

// dockerArgs is the `docker run` command line of one baseline container.
func (r *rig) dockerArgs(name string, port bool) []string {
	args := []string{"run", "-d", "--pull=never", "--name", name, "--label", benchLabel + "=" + r.runID,
		"--memory", fmt.Sprintf("%dm", memoryMiB), "--cpu-shares", "2"}
	if port {
		args = append(args, "-p", "127.0.0.1::80")
	}
	return append(args, agenttest.Image, "sleep", sleepSeconds)
}

func (r *rig) name() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	return fmt.Sprintf("gantry-bench-%s-%d", r.runID, r.seq)
}

// dockerCLIOnce times one `docker run -d`, checks that the container runs,
// and removes it.
func (r *rig) dockerCLIOnce(b *testing.B, port bool) time.Duration {
	name := r.name()
	t0 := time.Now()
	out, err := exec.Command("docker", r.dockerArgs(name, port)...).CombinedOutput()
	d := time.Since(t0)
	if err != nil {
		b.Fatalf("docker run: %v: %s", err, out)
	}
	r.checkRunning(b, name)
	r.remove(b, name)
	return d
}

// dockerAPIOnce times ContainerCreate + ContainerStart of the same
// container, and removes it.
func (r *rig) dockerAPIOnce(b *testing.B, port bool) (total, create, start time.Duration) {
	name := r.name()
	t0 := time.Now()
	t1, err := r.apiRun(name, port)
	t2 := time.Now()
	if err != nil {
		b.Fatal(err)
	}
	r.checkRunning(b, name)
	r.remove(b, name)
	return t2.Sub(t0), t1.Sub(t0), t2.Sub(t1)
}

// apiRun creates and starts one container through the Engine API and says
// when the create returned.
func (r *rig) apiRun(name string, port bool) (time.Time, error) {
	ctx := context.Background()
	cfg := &container.Config{
		Image:  agenttest.Image,
		Cmd:    []string{"sleep", sleepSeconds},
		Labels: map[string]string{benchLabel: r.runID},
	}
	hc := &container.HostConfig{Resources: container.Resources{Memory: memoryMiB << 20, CPUShares: 2}}
	if port {
		p := nat.Port("80/tcp")
		cfg.ExposedPorts = nat.PortSet{p: {}}
		hc.PortBindings = nat.PortMap{p: {{HostIP: "127.0.0.1"}}}
	}
	c, err := r.docker.ContainerCreate(ctx, cfg, hc, nil, nil, name)
	created := time.Now()
	if err != nil {
		return created, fmt.Errorf("create %s: %w", name, err)
	}
	if err := r.docker.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		return created, fmt.Errorf("start %s: %w", name, err)
	}
	return created, nil
}

func (r *rig) checkRunning(b *testing.B, name string) {
	c, err := r.docker.ContainerInspect(context.Background(), name)
	if err != nil {
		b.Fatal(err)
	}
	if c.State == nil || !c.State.Running {
		b.Fatalf("container %s is not running: %+v", name, c.State)
	}
}

func (r *rig) remove(b *testing.B, id string) {
	err := r.docker.ContainerRemove(context.Background(), id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		b.Fatal(err)
	}
}

// removeLabelled force-removes every container carrying key=value, eight at
// a time.
func (r *rig) removeLabelled(key, value string) error {
	ctx := context.Background()
	list, err := r.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", key+"="+value))})
	if err != nil {
		return err
	}
	errs := make(chan error, len(list))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, c := range list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			err := r.docker.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
			if err != nil && !cerrdefs.IsNotFound(err) && !cerrdefs.IsConflict(err) {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// stopTasks stops tasks, waits until DescribeTasks shows them STOPPED, and
// removes their containers.
func (r *rig) stopTasks(b *testing.B, arns []string) {
	ctx := context.Background()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, arn := range arns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if _, err := r.ecs.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String(r.cluster), Task: aws.String(arn), Reason: aws.String("benchmark done")}); err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
	r.removeStopped(b, arns)
}

// removeStopped waits until DescribeTasks shows the tasks STOPPED and
// removes their containers.
func (r *rig) removeStopped(b *testing.B, arns []string) {
	if _, _, err := r.waitAll(arns, agentproto.StatusStopped, 50*time.Millisecond); err != nil {
		b.Fatal(err)
	}
	for _, arn := range arns {
		if err := r.removeLabelled(agentproto.LabelTaskArn, arn); err != nil {
			b.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond) // let the daemon settle before the next measurement
}

// describe calls DescribeTasks, retrying up to twice on a transport error
// (it is a read). Under load a pooled connection sometimes comes back
// closed ("use of closed network connection" after a 200): each such retry
// is logged with what httptrace saw of the connection.
func (r *rig) describe(arns []string) (*ecs.DescribeTasksOutput, error) {
	for attempt := 0; ; attempt++ {
		var info httptrace.GotConnInfo
		t0 := time.Now()
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { info = i }})
		out, err := r.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(r.cluster), Tasks: arns})
		if err == nil || attempt == 2 || gt.Code(err) != "" {
			return out, err
		}
		fmt.Printf("DescribeTasks failed after %s (connection reused %v, was idle %v for %s), retrying: %v\n",
			time.Since(t0).Round(time.Microsecond), info.Reused, info.WasIdle, info.IdleTime, err)
	}
}

// waitAll polls DescribeTasks every `every` until all tasks show status;
// it returns when that was seen and each task's last description.
func (r *rig) waitAll(arns []string, status string, every time.Duration) (time.Time, []types.Task, error) {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var tasks []types.Task
		for chunk := range slices.Chunk(arns, 100) {
			out, err := r.describe(chunk)
			if err != nil {
				return time.Time{}, nil, err
			}
			tasks = append(tasks, out.Tasks...)
		}
		n := 0
		for _, t := range tasks {
			st := aws.ToString(t.LastStatus)
			if st == status {
				n++
			} else if st == agentproto.StatusStopped {
				return time.Time{}, nil, fmt.Errorf("task %s stopped: %s", aws.ToString(t.TaskArn), aws.ToString(t.StoppedReason))
			}
		}
		if n == len(arns) {
			return time.Now(), tasks, nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, nil, fmt.Errorf("%d of %d tasks %s after 2 minutes", n, len(arns), status)
		}
		time.Sleep(every)
	}
}

// burst starts n tasks (and n containers) at once, `rounds` times each.
func (r *rig) burst(b *testing.B, n, rounds int, port bool) {
	var gantry, describe, docker, dockerAPI []time.Duration
	order := []string{cGantry, cDocker, cDockerAPI}
	for it := range b.N {
		for i := range rounds {
			for k := range order {
				switch order[(it*rounds+i+k)%len(order)] {
				case cGantry:
					commit, desc := r.gantryBurst(b, n, port)
					gantry, describe = append(gantry, commit), append(describe, desc)
				case cDocker:
					docker = append(docker, r.dockerBurst(b, n, port, true))
				case cDockerAPI:
					dockerAPI = append(dockerAPI, r.dockerBurst(b, n, port, false))
				}
			}
		}
	}
	g, d := median(gantry), median(docker)
	b.ReportMetric(g.Seconds(), "gantry-all-s")
	b.ReportMetric(median(describe).Seconds(), "gantry-describe-all-s")
	b.ReportMetric(d.Seconds(), "docker-all-s")
	b.ReportMetric(median(dockerAPI).Seconds(), "docker-api-all-s")
	b.ReportMetric(float64(g)/float64(d), "ratio")
	b.ReportMetric(0, "ns/op")
	b.Logf("%d at once, %d rounds: gantry (all RUNNING committed) %s; DescribeTasks (20 ms poll) %s; docker run -d %s; Docker API %s",
		n, len(gantry), spread(gantry), spread(describe), spread(docker), spread(dockerAPI))
}

// gantryBurst runs n tasks with RunTask count ≤ 10 from concurrent callers
// and returns the times until all were committed RUNNING and until
// DescribeTasks showed them all RUNNING; then stops them.
func (r *rig) gantryBurst(b *testing.B, n int, port bool) (commit, describe time.Duration) {
	ctx := context.Background()
	var mu sync.Mutex
	var arns []string
	var wg sync.WaitGroup
	t0 := time.Now()
	for left := n; left > 0; left -= 10 {
		count := min(left, 10)
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := r.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String(r.cluster), TaskDefinition: aws.String(family(port)), Count: aws.Int32(int32(count))})
			if err != nil {
				b.Error(err)
				return
			}
			if len(out.Tasks) != count {
				b.Errorf("RunTask count %d: %d tasks, failures %+v", count, len(out.Tasks), out.Failures)
			}
			mu.Lock()
			for _, t := range out.Tasks {
				arns = append(arns, aws.ToString(t.TaskArn))
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	returned := time.Now()
	if b.Failed() {
		b.FailNow()
	}
	td, tasks, err := r.waitAll(arns, agentproto.StatusRunning, 20*time.Millisecond)
	if err != nil {
		b.Fatal(err)
	}
	for _, t := range tasks {
		if t.PullStartedAt != nil && t.PullStoppedAt != nil {
			r.tl.mark(aws.ToString(t.TaskArn), "pull>", *t.PullStartedAt)
			r.tl.mark(aws.ToString(t.TaskArn), "pull<", *t.PullStoppedAt)
		}
	}
	var last time.Time
	var creates, starts []time.Duration
	var timelines [][]stamp
	var firstStart time.Time
	for _, arn := range arns {
		last = later(last, r.tl.wait(b, arn, "commit RUNNING/"))
		r.tl.mark(arn, "runtask>", t0)
		tl := r.tl.get(arn)
		timelines = append(timelines, tl)
		if c, ok := span(tl, "create>", "create<"); ok {
			creates = append(creates, c)
		}
		if s, ok := span(tl, "start>", "start<"); ok {
			starts = append(starts, s)
		}
		if at, ok := first(tl, "start<", time.Time{}); ok && (firstStart.IsZero() || at.Before(firstStart)) {
			firstStart = at
		}
	}
	b.Logf("gantry burst: RunTasks returned after %s, first container started %s, all committed RUNNING %s, DescribeTasks saw all %s; docker create p50 %s max %s, start p50 %s max %s",
		rnd(returned.Sub(t0)), rnd(firstStart.Sub(t0)), rnd(last.Sub(t0)), rnd(td.Sub(t0)),
		rnd(median(creates)), rnd(quantile(creates, 1)), rnd(median(starts)), rnd(quantile(starts, 1)))
	fmt.Printf("%s: gantry burst, first occurrence of each event per task after the first RunTask call (median, p90 over the tasks):\n%s", b.Name(), eventTable(timelines))
	r.stopTasks(b, arns)
	return last.Sub(t0), td.Sub(t0)
}

// dockerBurst starts n containers at once, through the CLI or the API, and
// returns the time until the last start returned; then removes them.
func (r *rig) dockerBurst(b *testing.B, n int, port, cli bool) time.Duration {
	return r.startAtOnce(b, n, func(name string) error {
		if cli {
			if out, err := exec.Command("docker", r.dockerArgs(name, port)...).CombinedOutput(); err != nil {
				return fmt.Errorf("docker run: %v: %s", err, out)
			}
			return nil
		}
		_, err := r.apiRun(name, port)
		return err
	})
}

// startAtOnce runs start for n new container names at once and returns the time
// until the last returned; it then checks that every container runs and
// removes them.
func (r *rig) startAtOnce(b *testing.B, n int, start func(name string) error) time.Duration {
	names := make([]string, n)
	for i := range names {
		names[i] = r.name()
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	t0 := time.Now()
	for _, name := range names {
		wg.Go(func() {
			if err := start(name); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	d := time.Since(t0)
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	for _, name := range names {
		r.checkRunning(b, name)
	}
	if err := r.removeLabelled(benchLabel, r.runID); err != nil {
		b.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	return d
}

// timedRuntime is the agent's Docker runtime with the task's calls
// time-stamped on a timeline.
type timedRuntime struct {
	rt.Runtime
	tl *timeline
}

func (t *timedRuntime) List(ctx context.Context, labels map[string]string) ([]rt.ContainerState, error) {
	t0 := time.Now()
	out, err := t.Runtime.List(ctx, labels)
	if task := labels[agentproto.LabelTaskArn]; task != "" {
		t.tl.mark(task, "list>", t0)
		t.tl.mark(task, "list<", time.Now())
	}
	return out, err
}

func (t *timedRuntime) Create(ctx context.Context, spec *rt.ContainerSpec) (string, error) {
	t0 := time.Now()
	id, err := t.Runtime.Create(ctx, spec)
	task := spec.Labels[agentproto.LabelTaskArn]
	t.tl.mark(task, "create>", t0)
	t.tl.mark(task, "create<", time.Now())
	if err == nil {
		t.tl.own(id, task)
	}
	return id, err
}

func (t *timedRuntime) Start(ctx context.Context, id string) error {
	t0 := time.Now()
	err := t.Runtime.Start(ctx, id)
	task := t.tl.owner(id)
	t.tl.mark(task, "start>", t0)
	t.tl.mark(task, "start<", time.Now())
	return err
}

func (t *timedRuntime) Inspect(ctx context.Context, id string) (rt.ContainerState, error) {
	t0 := time.Now()
	st, err := t.Runtime.Inspect(ctx, id)
	task := t.tl.owner(id)
	t.tl.mark(task, "inspect>", t0)
	t.tl.mark(task, "inspect<", time.Now())
	return st, err
}

// stamp is one event of a task's timeline.
type stamp struct {
	name string
	at   time.Time
}

// timeline records time-stamped events per task.
type timeline struct {
	mu     sync.Mutex
	tasks  map[string][]stamp
	owners map[string]string // container id -> task ARN
}

func newTimeline() *timeline {
	return &timeline{tasks: map[string][]stamp{}, owners: map[string]string{}}
}

func (tl *timeline) mark(task, name string, at time.Time) {
	if task == "" {
		return
	}
	tl.mu.Lock()
	tl.tasks[task] = append(tl.tasks[task], stamp{name, at})
	tl.mu.Unlock()
}

func (tl *timeline) own(id, task string) {
	tl.mu.Lock()
	tl.owners[id] = task
	tl.mu.Unlock()
}

func (tl *timeline) owner(id string) string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return tl.owners[id]
}

// get returns a task's events in time order.
func (tl *timeline) get(task string) []stamp {
	tl.mu.Lock()
	out := slices.Clone(tl.tasks[task])
	tl.mu.Unlock()
	slices.SortStableFunc(out, func(a, b stamp) int { return a.at.Compare(b.at) })
	return out
}

// wait returns the time of a task's first event whose name starts with
// prefix, waiting up to 10 s for it.
func (tl *timeline) wait(b *testing.B, task, prefix string) time.Time {
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, s := range tl.get(task) {
			if strings.HasPrefix(s.name, prefix) {
				return s.at
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("task %s: no %q event; got %+v", task, prefix, tl.get(task))
		}
		time.Sleep(time.Millisecond)
	}
}

// first is the time of the first event called name at or after `after`; a
// name ending in "/" ("commit RUNNING/") matches every event it prefixes.
func first(tl []stamp, name string, after time.Time) (time.Time, bool) {
	for _, s := range tl {
		if (s.name == name || strings.HasSuffix(name, "/") && strings.HasPrefix(s.name, name)) && !s.at.Before(after) {
			return s.at, true
		}
	}
	return time.Time{}, false
}

// span is the time from the first `from` event to the first `to` event
// after it. The pull timestamps come from the task (1 ms resolution, cut
// down), so a pull event may appear up to 1 ms before the event it follows.
func span(tl []stamp, from, to string) (time.Duration, bool) {
	a, ok := first(tl, from, time.Time{})
	if !ok {
		return 0, false
	}
	after := a
	if strings.HasPrefix(to, "pull") {
		after = a.Add(-time.Millisecond)
	}
	z, ok := first(tl, to, after)
	return z.Sub(a), ok
}

// phases of a sequential Gantry start, each from the first `from` event to
// the first `to` event after it.
var phases = []struct{ label, from, to string }{
	{"RunTask request, placement commit, long-poll wake-up, payload, engine picks the task up", "runtask>", "list>"},
	{"adopt: list the task's containers (docker ps by label)", "list>", "list<"},
	{"engine: checkpoint, checks, image check (prefer-cached: one image inspect)", "list<", "pull<"},
	{"engine: container name, checkpoint, spec", "pull<", "create>"},
	{"docker create", "create>", "create<"},
	{"engine: checkpoint", "create<", "start>"},
	{"docker start", "start>", "start<"},
	{"docker inspect after start", "start<", "inspect<"},
	{"publish, checkpoint, SubmitTaskStateChange(s) until RUNNING is committed", "inspect<", "commit RUNNING/"},
	{"committed → DescribeTasks (10 ms poll) shows RUNNING", "commit RUNNING/", "describe RUNNING"},
	{"(overlaps the above) the RunTask call itself", "runtask>", "runtask<"},
	{"(overlaps the above) image check alone, 1 ms resolution", "pull>", "pull<"},
}

func phaseTable(timelines [][]stamp) string {
	var sb strings.Builder
	var sum time.Duration
	for _, p := range phases {
		var ds []time.Duration
		for _, tl := range timelines {
			if d, ok := span(tl, p.from, p.to); ok {
				ds = append(ds, d)
			}
		}
		m := median(ds)
		if p.to != "describe RUNNING" && !strings.HasPrefix(p.label, "(") {
			sum += m
		}
		fmt.Fprintf(&sb, "  %-75s %8s  (p90 %s, n=%d)\n", p.label, rnd(m), rnd(quantile(ds, 0.9)), len(ds))
	}
	fmt.Fprintf(&sb, "  %-75s %8s\n", "sum of the medians up to RUNNING committed", rnd(sum))
	return sb.String()
}

// eventTable lists each kind of event by the median time of its first
// occurrence after the RunTask call.
func eventTable(timelines [][]stamp) string {
	offs := map[string][]time.Duration{}
	for _, tl := range timelines {
		t0, ok := first(tl, "runtask>", time.Time{})
		if !ok {
			continue
		}
		seen := map[string]bool{}
		for _, s := range tl {
			if !seen[s.name] {
				seen[s.name] = true
				offs[s.name] = append(offs[s.name], s.at.Sub(t0))
			}
		}
	}
	names := make([]string, 0, len(offs))
	for n := range offs {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return median(offs[names[i]]) < median(offs[names[j]]) })
	var sb strings.Builder
	for _, n := range names {
		fmt.Fprintf(&sb, "  %-32s %8s  %8s  (n=%d)\n", n, rnd(median(offs[n])), rnd(quantile(offs[n], 0.9)), len(offs[n]))
	}
	return sb.String()
}

// quantile is the p-quantile of ds (the same rule as latencies.report).
func quantile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[int(p*float64(len(s)-1))]
}

func median(ds []time.Duration) time.Duration { return quantile(ds, 0.5) }

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func rnd(d time.Duration) string {
	if d >= time.Second {
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(100 * time.Microsecond).String()
}

func spread(ds []time.Duration) string {
	return fmt.Sprintf("median %s (min %s, max %s)", rnd(median(ds)), rnd(quantile(ds, 0)), rnd(quantile(ds, 1)))
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
