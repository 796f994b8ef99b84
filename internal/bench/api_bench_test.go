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

	gt "github.com/gantry-dev/gantry/internal/gantrytest"
)

func TestMain(m *testing.M) { gt.Main(m) }

// latencies collects per-call durations from parallel workers.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d []time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d...)
	l.mu.Unlock()
}

func (l *latencies) report(b *testing.B, elapsed time.Duration) {
	slices.Sort(l.d)
	if len(l.d) == 0 {
		return
	}
	q := func(p float64) float64 { return float64(l.d[int(p*float64(len(l.d)-1))]) / 1e6 }
	b.ReportMetric(float64(len(l.d))/elapsed.Seconds(), "req/s")
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op")
}

// runParallel calls fn b.N times (with i = 1..b.N) from `workers`
// goroutines, and reports throughput and latency quantiles.
func runParallel(b *testing.B, workers int, fn func(i int64) error) {
	var next atomic.Int64
	var lat latencies
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					break
				}
				t0 := time.Now()
				if err := fn(i); err != nil {
					b.Error(err)
					return
				}
				mine = append(mine, time.Since(t0))
			}
			lat.add(mine)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	lat.report(b, elapsed)
}

func workers() int {
	var n int
	if _, err := fmt.Sscan(os.Getenv("BENCH_WORKERS"), &n); err == nil && n > 0 {
		return n
	}
	return 16
}

// BenchmarkDescribeClusters: signed reads through the SDK, 16 concurrent
// callers.
func BenchmarkDescribeClusters(b *testing.B) {
	ctx := context.Background()
	c := gt.Shared(b).ECS()
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("bench")}); err != nil {
		b.Fatal(err)
	}
	in := &ecs.DescribeClustersInput{Clusters: []string{"bench"}}
	runParallel(b, workers(), func(int64) error {
		_, err := c.DescribeClusters(ctx, in)
		return err
	})
}

// BenchmarkRegisterTaskDefinition: signed writes, each a new revision of one
// of 16 families (one etcd transaction each).
func BenchmarkRegisterTaskDefinition(b *testing.B) {
	ctx := context.Background()
	c := gt.Shared(b).ECS()
	runParallel(b, workers(), func(i int64) error {
		_, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
			Family: aws.String(fmt.Sprintf("bench-%d", i%16)),
			ContainerDefinitions: []types.ContainerDefinition{{
				Name: aws.String("web"), Image: aws.String("127.0.0.1:4566/web:1"), Memory: aws.Int32(128),
				PortMappings: []types.PortMapping{{ContainerPort: aws.Int32(80)}},
			}},
		})
		return err
	})
}

// BenchmarkEtcdTxn is the ceiling beside the write benchmark: the same
// embedded etcd, one conditional put per transaction, 16 concurrent writers
// on distinct keys, with no HTTP, SigV4 or JSON in the way.
func BenchmarkEtcdTxn(b *testing.B) {
	ctx := context.Background()
	env := gt.Shared(b)
	st := env.Store().Sub(fmt.Sprintf("bench-etcd-%d", time.Now().UnixNano()))
	runParallel(b, workers(), func(i int64) error {
		key := fmt.Sprintf("k/%d", i)
		_, err := st.Txn().Expect(key, 0).Put(key, map[string]int64{"n": i}).Commit(ctx)
		return err
	})
}
