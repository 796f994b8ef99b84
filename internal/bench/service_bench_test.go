package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime/pprof"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/agent"
	"github.com/gantry-dev/gantry/internal/agent/agenttest"
	"github.com/gantry-dev/gantry/internal/agent/simrt"
	"github.com/gantry-dev/gantry/internal/agentproto"
	gt "github.com/gantry-dev/gantry/internal/gantrytest"
	"github.com/gantry-dev/gantry/internal/model"
)

// BenchmarkServiceAtScale is the services issue's scale figure: a real
// control plane (gantrytest.Start, so the leader's service controller runs
// as in `gantry server`) on an embedded etcd (see startControlPlane),
// BENCH_INSTANCES simulated
// instances (default 100) in zones a, b and c from an in-process fleet
// (agent.RunFleet, the agents of `gantry agent --runtime sim`, checkpoints
// deferred by agent.DefaultSimCheckpointInterval, a simulated container
// start of BENCH_SIM_START_MS, default 20 ms), and a REPLICA service of
// BENCH_SERVICE_TASKS tasks (default 1,000), with the default placement
// (spread over zones, then instances). Two phases, each timed from the API
// call:
//
//   - create: CreateService with desiredCount N, from 0 tasks;
//   - update: UpdateService to a new revision of the task definition with
//     minimumHealthyPercent 100 and maximumPercent 200, so that the N new
//     tasks start beside the N old ones, which stop as their replacements
//     run.
//
// Each phase ends at the services-stable condition with the rollout done:
// one deployment, runningCount == desiredCount, and that deployment
// COMPLETED (which the controller writes only once every task has run for
// reconcile.SettleTime, 3 s). Milestones come from an etcd watch on the
// cluster's task records and on the service record (no poll interval is
// added); DescribeServices and the SDK's services-stable waiter then check
// the end state through the API. It reports, per phase, the seconds until
// every new task was placed, was RUNNING (committed), and until steady
// (create-*, update-*), tasks started per second (N / time until all
// RUNNING), and the fewest tasks RUNNING during the update (never below N
// with minimumHealthyPercent 100). Only the control plane's time is
// measured: no container runs, and the fleet shares the process and the
// machine's cores with the control plane.
//
// A phase that does not end within BENCH_PHASE_TIMEOUT_S seconds (default
// 180) fails the benchmark after printing the service's deployments and
// events and, if BENCH_STACKS names a file, every goroutine's stack there.
//
// Run: go test -run '^$' -bench ServiceAtScale -benchtime 1x -timeout 10m ./internal/bench/
func BenchmarkServiceAtScale(b *testing.B) {
	instances := envInt("BENCH_INSTANCES", 100)
	n := envInt("BENCH_SERVICE_TASKS", 1000)
	startDelay := time.Duration(envInt("BENCH_SIM_START_MS", 20)) * time.Millisecond
	env := startControlPlane(b)
	region := gt.NewRegion()
	c := env.ECSIn(region)
	ctx := context.Background()
	const cluster = "svcscale"
	opts := simrt.Default()
	opts.StartDelay = startDelay
	// Room for twice the tasks on the fewest instances: the update runs
	// both revisions side by side.
	opts.CPUUnits, opts.MemoryMiB = 16384, 65536
	startFleet(b, env, c, region, cluster, instances, opts)

	w := watchService(b, env, region, cluster)
	w.dump = func(name string) { dumpService(c, cluster, name) }
	for it := range b.N {
		name := fmt.Sprint("web-", it)
		v1 := registerSim(b, c, "web", "1")
		v2 := registerSim(b, c, "web", "2")

		// Phase 1: from 0 to N tasks.
		cpu0, t0 := cpuTime(), time.Now()
		out, err := c.CreateService(ctx, &ecs.CreateServiceInput{
			Cluster: aws.String(cluster), ServiceName: aws.String(name), TaskDefinition: aws.String(v1),
			DesiredCount: aws.Int32(int32(n)),
		})
		if err != nil {
			b.Fatal(err)
		}
		dep1 := aws.ToString(out.Service.Deployments[0].Id)
		create := w.waitPhase(b, "create", name, dep1, n, t0)
		create.cpu = cpuTime() - cpu0
		checkStable(b, c, cluster, name, v1, n)

		// Phase 2: roll the N tasks to v2.
		w.trackLowest(true)
		cpu0, t0 = cpuTime(), time.Now()
		upd, err := c.UpdateService(ctx, &ecs.UpdateServiceInput{
			Cluster: aws.String(cluster), Service: aws.String(name), TaskDefinition: aws.String(v2),
			DeploymentConfiguration: &types.DeploymentConfiguration{MinimumHealthyPercent: aws.Int32(100), MaximumPercent: aws.Int32(200)},
		})
		if err != nil {
			b.Fatal(err)
		}
		var dep2 string
		for _, d := range upd.Service.Deployments {
			if aws.ToString(d.Status) == model.DeploymentPrimary {
				dep2 = aws.ToString(d.Id)
			}
		}
		update := w.waitPhase(b, "update", name, dep2, n, t0)
		update.cpu = cpuTime() - cpu0
		w.waitStopped(b, dep1, n)
		update.oldStopped = w.stoppedAt(dep1, n).Sub(t0)
		lowest := w.trackLowest(false)
		checkStable(b, c, cluster, name, v2, n)
		if lowest < n {
			b.Errorf("the update went down to %d RUNNING tasks (minimumHealthyPercent 100 of %d)", lowest, n)
		}

		b.ReportMetric(create.running.Seconds(), "create-running-s")
		b.ReportMetric(create.steady.Seconds(), "create-steady-s")
		b.ReportMetric(float64(n)/create.running.Seconds(), "create-tasks/s")
		b.ReportMetric(update.running.Seconds(), "update-running-s")
		b.ReportMetric(update.steady.Seconds(), "update-steady-s")
		b.ReportMetric(float64(n)/update.running.Seconds(), "update-tasks/s")
		b.ReportMetric(float64(lowest), "update-min-running")
		b.ReportMetric(0, "ns/op")
		b.Logf("%d tasks on %d instances, sim start %s: create %s; update %s, old tasks all STOPPED %s, fewest RUNNING %d",
			n, instances, startDelay, create, update, rnd(update.oldStopped), lowest)

		if it < b.N-1 { // make room for the next iteration's service
			if _, err := c.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String(cluster), Service: aws.String(name), Force: aws.Bool(true)}); err != nil {
				b.Fatal(err)
			}
			w.waitStopped(b, dep2, n)
		}
	}
}

// startControlPlane starts a server (gantrytest.Start) with its embedded
// etcd, as `gantry server` runs.
func startControlPlane(b *testing.B) *gt.Env {
	b.Setenv("ETCD_CLIENT_DEBUG", "error") // no warnings from requests cut short at the end
	env, err := gt.Start()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(env.Close)
	return env
}

// startFleet creates the cluster, runs `instances` simulated agents in
// zones a, b and c until the benchmark ends, and waits until all are
// connected.
func startFleet(b *testing.B, env *gt.Env, c *ecs.Client, region, cluster string, instances int, opts simrt.Options) {
	ctx := context.Background()
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(cluster)}); err != nil {
		b.Fatal(err)
	}
	cfg := agent.Default()
	cfg.Endpoint, cfg.Cluster, cfg.Region = env.URL, cluster, region
	cfg.DataDir = b.TempDir()
	cfg.AccessKeyID, cfg.SecretAccessKey = gt.KeyID, gt.KeySecret
	cfg.Logger = agenttest.Logger()
	cfg.StopTimeout = time.Second
	cfg.RuntimeName, cfg.CheckpointInterval = "sim", agent.DefaultSimCheckpointInterval
	fctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- agent.RunFleet(fctx, cfg, instances, []string{"a", "b", "c"}, opts) }()
	b.Cleanup(func() {
		stop()
		<-done
	})
	waitConnected(b, c, cluster, instances, done)
}

// registerSim registers a revision of a one-container task definition for
// the simulated runtime and returns its ARN.
func registerSim(b *testing.B, c *ecs.Client, family, tag string) string {
	out, err := c.RegisterTaskDefinition(context.Background(), &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(family),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("app"), Image: aws.String("sim/app:" + tag),
			Cpu: 10, Memory: aws.Int32(64)}},
	})
	if err != nil {
		b.Fatal(err)
	}
	return aws.ToString(out.TaskDefinition.TaskDefinitionArn)
}

// checkStable checks the end of a phase through the API: the SDK's
// services-stable waiter passes, and DescribeServices shows one COMPLETED
// deployment of td with n tasks running.
func checkStable(b *testing.B, c *ecs.Client, cluster, name, td string, n int) {
	ctx := context.Background()
	in := &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{name}}
	wt := ecs.NewServicesStableWaiter(c, func(o *ecs.ServicesStableWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, 500*time.Millisecond
	})
	if err := wt.Wait(ctx, in, 30*time.Second); err != nil {
		b.Fatalf("services-stable: %v", err)
	}
	out, err := c.DescribeServices(ctx, in)
	if err != nil {
		b.Fatal(err)
	}
	s := out.Services[0]
	if len(s.Deployments) != 1 || s.Deployments[0].RolloutState != types.DeploymentRolloutStateCompleted ||
		aws.ToString(s.Deployments[0].TaskDefinition) != td || s.RunningCount != int32(n) || s.DesiredCount != int32(n) {
		b.Fatalf("not steady after the phase: running %d desired %d, deployments %+v", s.RunningCount, s.DesiredCount, s.Deployments)
	}
}

// phase is what one phase measured, each time from the API call.
type phase struct {
	firstPlaced, placed, firstRunning, running, serviceRunning, steady time.Duration
	oldStopped                                                         time.Duration
	cpu                                                                time.Duration
}

func (p phase) String() string {
	return fmt.Sprintf("first placed %s, all placed %s, first RUNNING %s, all RUNNING %s (service record says so %s), steady (COMPLETED) %s, process CPU %s",
		rnd(p.firstPlaced), rnd(p.placed), rnd(p.firstRunning), rnd(p.running), rnd(p.serviceRunning), rnd(p.steady), rnd(p.cpu))
}

// cpuTime is the process's user + system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// svcWatch follows the cluster's task records and service records through
// etcd watches and notes, per deployment, when its tasks were first and
// all placed, RUNNING and STOPPED, and when the service record showed the
// deployment alone, COMPLETED, with every task running.
type svcWatch struct {
	mu    sync.Mutex
	tasks map[string]taskSummary
	// counts holds, per deployment, how many of its tasks were placed,
	// went RUNNING, were told to stop ("stopping") and went STOPPED; at,
	// when each count was first reached (key "<deployment> <what> <n>"),
	// and the service record's milestones ("<deployment> service-running",
	// "<deployment> steady").
	counts map[string]map[string]int
	at     map[string]time.Time
	// running counts the tasks RUNNING and meant to keep running; lowest
	// is its minimum while tracking.
	running  int
	tracking bool
	lowest   int
	changed  chan struct{}
	dump     func(service string)
}

// taskSummary is the part of a task record the benchmark reads.
type taskSummary struct {
	StartedBy     string `json:"startedBy"`
	LastStatus    string `json:"lastStatus"`
	DesiredStatus string `json:"desiredStatus"`
}

// live: RUNNING and meant to keep running (what minimumHealthyPercent
// counts).
func (t taskSummary) live() bool {
	return t.LastStatus == agentproto.StatusRunning && t.DesiredStatus == agentproto.StatusRunning
}

func watchService(b *testing.B, env *gt.Env, region, cluster string) *svcWatch {
	w := &svcWatch{tasks: map[string]taskSummary{}, counts: map[string]map[string]int{}, at: map[string]time.Time{},
		changed: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	st := env.Store().Sub(gt.Account + "/" + region)
	tasks := st.Watch(ctx, model.TasksPrefix(cluster), 0)
	services := st.Watch(ctx, model.ServicesPrefix(cluster), 0)
	go func() {
		for evs := range tasks {
			now := time.Now()
			w.mu.Lock()
			for _, ev := range evs {
				var t taskSummary
				if ev.Deleted || json.Unmarshal(ev.Value, &t) != nil {
					continue
				}
				w.task(ev.Key, t, now)
			}
			w.mu.Unlock()
			w.poke()
		}
	}()
	go func() {
		for evs := range services {
			now := time.Now()
			w.mu.Lock()
			for _, ev := range evs {
				var s model.Service
				if ev.Deleted || json.Unmarshal(ev.Value, &s) != nil {
					continue
				}
				w.service(&s, now)
			}
			w.mu.Unlock()
			w.poke()
		}
	}()
	return w
}

func (w *svcWatch) poke() {
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

// task folds a task record's change (called with mu held).
func (w *svcWatch) task(key string, t taskSummary, now time.Time) {
	before, seen := w.tasks[key]
	w.tasks[key] = t
	if before.live() {
		w.running--
	}
	if t.live() {
		w.running++
	}
	if w.tracking {
		w.lowest = min(w.lowest, w.running)
	}
	dep := t.StartedBy
	if w.counts[dep] == nil {
		w.counts[dep] = map[string]int{}
	}
	bump := func(what string) {
		w.counts[dep][what]++
		k := fmt.Sprintf("%s %s %d", dep, what, w.counts[dep][what])
		if _, ok := w.at[k]; !ok {
			w.at[k] = now
		}
	}
	if !seen {
		bump("placed")
	}
	if t.DesiredStatus == agentproto.StatusStopped && before.DesiredStatus != agentproto.StatusStopped {
		bump("stopping")
	}
	if t.LastStatus != before.LastStatus {
		switch t.LastStatus {
		case agentproto.StatusRunning:
			bump(agentproto.StatusRunning)
		case agentproto.StatusStopped:
			bump(agentproto.StatusStopped)
		}
	}
}

// service folds a service record's change (called with mu held).
func (w *svcWatch) service(s *model.Service, now time.Time) {
	for _, d := range s.Deployments {
		if d.Status == model.DeploymentPrimary && int(d.RunningCount) == int(d.DesiredCount) && d.DesiredCount > 0 {
			w.mark(d.Id+" service-running", now)
		}
	}
	if len(s.Deployments) == 1 && s.RunningCount == s.DesiredCount &&
		string(s.Deployments[0].RolloutState) == string(types.DeploymentRolloutStateCompleted) {
		w.mark(s.Deployments[0].Id+" steady", now)
	}
}

func (w *svcWatch) mark(k string, now time.Time) {
	if _, ok := w.at[k]; !ok {
		w.at[k] = now
	}
}

// trackLowest starts (on) or ends tracking the fewest RUNNING tasks, and
// returns that minimum.
func (w *svcWatch) trackLowest(on bool) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.tracking = on
	if on {
		w.lowest = w.running
	}
	return w.lowest
}

func (w *svcWatch) get(k string) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t, ok := w.at[k]
	return t, ok
}

// waitPhase waits until deployment dep is steady with n tasks, printing
// its progress every half second, and returns its milestones.
func (w *svcWatch) waitPhase(b *testing.B, name, service, dep string, n int, t0 time.Time) phase {
	deadline := t0.Add(time.Duration(envInt("BENCH_PHASE_TIMEOUT_S", 180)) * time.Second)
	next := t0.Add(500 * time.Millisecond)
	for {
		if _, ok := w.get(dep + " steady"); ok {
			break
		}
		now := time.Now()
		if now.After(next) {
			w.mu.Lock()
			old := ""
			for d, c := range w.counts {
				if d != dep && c["stopping"] < c["placed"] {
					old += fmt.Sprintf("; older deployment %s: stopping %d, STOPPED %d", d, c["stopping"], c[agentproto.StatusStopped])
				}
			}
			fmt.Printf("%s %s +%s: placed %d, RUNNING %d, tasks RUNNING and desired RUNNING %d%s\n", b.Name(), name, rnd(now.Sub(t0)),
				w.counts[dep]["placed"], w.counts[dep][agentproto.StatusRunning], w.running, old)
			w.mu.Unlock()
			next = next.Add(500 * time.Millisecond)
		}
		if now.After(deadline) {
			if w.dump != nil {
				w.dump(service)
			}
			if path := os.Getenv("BENCH_STACKS"); path != "" {
				if f, err := os.Create(path); err == nil {
					pprof.Lookup("goroutine").WriteTo(f, 2)
					f.Close()
				}
			}
			w.mu.Lock()
			b.Fatalf("%s: not steady after 3 minutes: placed %d, RUNNING %d", name, w.counts[dep]["placed"], w.counts[dep][agentproto.StatusRunning])
		}
		select {
		case <-w.changed:
		case <-time.After(50 * time.Millisecond):
		}
	}
	since := func(k string) time.Duration {
		t, ok := w.get(k)
		if !ok {
			return -1
		}
		return t.Sub(t0)
	}
	return phase{
		firstPlaced: since(dep + " placed 1"), placed: since(fmt.Sprintf("%s placed %d", dep, n)),
		firstRunning: since(dep + " RUNNING 1"), running: since(fmt.Sprintf("%s RUNNING %d", dep, n)),
		serviceRunning: since(dep + " service-running"), steady: since(dep + " steady"),
	}
}

// stoppedAt is when the n-th task of deployment dep was seen STOPPED.
func (w *svcWatch) stoppedAt(dep string, n int) time.Time {
	t, _ := w.get(fmt.Sprintf("%s STOPPED %d", dep, n))
	return t
}

// waitStopped waits until n tasks of deployment dep are STOPPED.
func (w *svcWatch) waitStopped(b *testing.B, dep string, n int) {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, ok := w.get(fmt.Sprintf("%s STOPPED %d", dep, n)); ok {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("the tasks of deployment %s did not all stop", dep)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dumpService prints the service's deployments, its latest events and one
// of its tasks, when a phase does not end.
func dumpService(c *ecs.Client, cluster, name string) {
	ctx := context.Background()
	out, err := c.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{name}})
	if err != nil || len(out.Services) == 0 {
		fmt.Printf("DescribeServices: %v\n", err)
		return
	}
	s := out.Services[0]
	fmt.Printf("service %s: running %d pending %d desired %d\n", name, s.RunningCount, s.PendingCount, s.DesiredCount)
	for _, d := range s.Deployments {
		fmt.Printf("  deployment %s %s %s desired %d running %d pending %d failed %d\n", aws.ToString(d.Id), aws.ToString(d.Status),
			d.RolloutState, d.DesiredCount, d.RunningCount, d.PendingCount, d.FailedTasks)
	}
	for i, e := range s.Events {
		if i == 10 {
			break
		}
		fmt.Printf("  event %s\n", aws.ToString(e.Message))
	}
	tasks, err := c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(cluster), ServiceName: aws.String(name), MaxResults: aws.Int32(3)})
	if err != nil || len(tasks.TaskArns) == 0 {
		fmt.Printf("ListTasks: %v\n", err)
		return
	}
	d, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: tasks.TaskArns})
	if err != nil {
		fmt.Printf("DescribeTasks: %v\n", err)
		return
	}
	for _, t := range d.Tasks {
		fmt.Printf("  task %s last %s desired %s instance %s stopped %q\n", aws.ToString(t.TaskArn), aws.ToString(t.LastStatus),
			aws.ToString(t.DesiredStatus), aws.ToString(t.ContainerInstanceArn), aws.ToString(t.StoppedReason))
	}
}
