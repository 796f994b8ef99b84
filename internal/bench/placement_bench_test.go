package bench

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/agent/simrt"
	gt "github.com/gantry-dev/gantry/internal/gantrytest"
)

// BenchmarkPlacementAtScale is the placement issue's second figure: a real
// control plane with embedded etcd, BENCH_INSTANCES simulated instances
// (default 1,000) in three zones, and BENCH_CLIENTS SDK clients (default
// 8) calling RunTask with count 10, spread over zones then binpack on
// memory, until BENCH_TASKS tasks (default 20,000) are placed. It reports
// tasks placed and committed per second (each RunTask answers only after
// its transaction committed), RunTask latencies, how many of the placed
// tasks their agents reported RUNNING by the end of the placing (they keep
// starting meanwhile, on the same two cores, unless BENCH_SIM_START_MS
// holds them back), and the CPU each part took per task.
//
// By default the server (`gantry server`) and the fleet (`gantry agent
// --runtime sim`) run as their own processes, built from this checkout, as
// a user runs them; BENCH_INPROCESS=1 runs both inside the test process
// instead (gantrytest's server and agent.RunFleet), sharing one heap.
//
// Run: go test -run '^$' -bench PlacementAtScale -benchtime 1x -timeout 30m ./internal/bench/
func BenchmarkPlacementAtScale(b *testing.B) {
	instances := envInt("BENCH_INSTANCES", 1000)
	clients := envInt("BENCH_CLIENTS", 8)
	total := envInt("BENCH_TASKS", 20000)
	// BENCH_SIM_START_MS: how long a simulated container takes to start.
	// The default starts them at once, so the agents' RUNNING reports share
	// the two cores with the placing; a start later than the run (600000)
	// measures placement and the delivery of assignments alone.
	startDelay := time.Duration(envInt("BENCH_SIM_START_MS", 100)) * time.Millisecond
	ctx := context.Background()
	const cluster = "scale"
	const cpuUnits, memMiB = 16384, 65536
	var c *ecs.Client
	var procs []*proc
	if os.Getenv("BENCH_INPROCESS") != "" {
		env := startControlPlane(b)
		region := gt.NewRegion()
		c = env.ECSIn(region)
		opts := simrt.Default()
		opts.CPUUnits, opts.MemoryMiB, opts.StartDelay = cpuUnits, memMiB, startDelay
		startFleet(b, env, c, region, cluster, instances, opts)
	} else {
		bin := gantryBinary(b)
		server, url := startServerProc(b, bin)
		c = procClient(url)
		if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(cluster)}); err != nil {
			b.Fatal(err)
		}
		fleet := startFleetProc(b, bin, url, c, cluster, instances, cpuUnits, memMiB, startDelay)
		procs = []*proc{server, fleet}
	}
	if _, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("scale"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("app"), Image: aws.String("sim/app:latest"),
			Cpu: 10, Memory: aws.Int32(64)}},
	}); err != nil {
		b.Fatal(err)
	}

	var placed, failed atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	cpu0 := make([]time.Duration, len(procs))
	for i, p := range procs {
		cpu0[i] = p.cpu()
	}
	self0 := cpuTime()
	// BENCH_PROFILE_DIR: CPU profiles of the server and the fleet over the
	// first BENCH_PROFILE_SECONDS (default 10) of the placing.
	var profiled []func()
	for _, p := range procs {
		profiled = append(profiled, p.profile(b, time.Duration(envInt("BENCH_PROFILE_SECONDS", 10))*time.Second))
	}
	start := time.Now()
	var wg sync.WaitGroup
	for k := range clients {
		wg.Go(func() {
			for placed.Load() < int64(total) {
				t := time.Now()
				out, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String(cluster), TaskDefinition: aws.String("scale"),
					Count: aws.Int32(10), Group: aws.String(fmt.Sprint("bench-", k%4)),
					PlacementStrategy: []types.PlacementStrategy{
						{Type: types.PlacementStrategyTypeSpread, Field: aws.String("attribute:ecs.availability-zone")},
						{Type: types.PlacementStrategyTypeBinpack, Field: aws.String("memory")},
					}})
				d := time.Since(t)
				if err != nil {
					b.Error(err)
					return
				}
				placed.Add(int64(len(out.Tasks)))
				failed.Add(int64(10 - len(out.Tasks)))
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	for _, wait := range profiled {
		wait()
	}
	perTask := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(max(placed.Load(), 1)) }
	cpuNote := fmt.Sprintf("bench process (clients%s) %.0f µs", map[bool]string{true: ", server and fleet", false: ""}[len(procs) == 0], perTask(cpuTime()-self0))
	for i, p := range procs {
		used := p.cpu() - cpu0[i]
		b.ReportMetric(perTask(used), p.name+"-cpu-µs/task")
		cpuNote += fmt.Sprintf(", %s %.0f µs", p.name, perTask(used))
	}
	running := countRunning(b, c, cluster)
	slices.Sort(lat)
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(float64(placed.Load())/elapsed.Seconds(), "tasks/s")
	b.ReportMetric(ms(sum/time.Duration(len(lat))), "runtask-mean-ms")
	b.ReportMetric(ms(lat[len(lat)/2]), "runtask-p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "runtask-p99-ms")
	b.ReportMetric(float64(placed.Load()), "placed")
	b.ReportMetric(float64(failed.Load()), "failed")
	b.ReportMetric(float64(running), "running-at-end")
	b.Logf("%d tasks placed (%d failed) by %d clients in %s on %d instances; %d RUNNING at the end; CPU per task placed: %s",
		placed.Load(), failed.Load(), clients, elapsed.Round(time.Millisecond), instances, running, cpuNote)
}

// countRunning counts the cluster's RUNNING tasks.
func countRunning(b *testing.B, c *ecs.Client, cluster string) int {
	n := 0
	p := ecs.NewListTasksPaginator(c, &ecs.ListTasksInput{Cluster: aws.String(cluster), DesiredStatus: types.DesiredStatusRunning, MaxResults: aws.Int32(100)})
	var arns []string
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		arns = append(arns, out.TaskArns...)
	}
	for len(arns) > 0 {
		k := min(len(arns), 100)
		out, err := c.DescribeTasks(context.Background(), &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: arns[:k]})
		if err != nil {
			b.Fatal(err)
		}
		for _, t := range out.Tasks {
			if aws.ToString(t.LastStatus) == "RUNNING" {
				n++
			}
		}
		arns = arns[k:]
	}
	return n
}
