package placement

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// benchCluster is n instances across three zones, a third of them of
// another instance type, with 16 vCPU / 64 GiB each.
func benchCluster(n int) []Instance {
	out := make([]Instance, n)
	for i := range out {
		in := inst(fmt.Sprint(i), []string{"us-east-1a", "us-east-1b", "us-east-1c"}[i%3], 16384, 65536)
		if i%3 == 1 {
			in.Attributes["ecs.instance-type"] = "m5.4xlarge"
		}
		out[i] = in
	}
	return out
}

// BenchmarkPlace10k: one decision (one task) per op on 10,000 instances
// with spread(zone) + binpack(memory) and a memberOf constraint, the
// figure of the placement issue. It reports decisions per second and the
// 99th percentile of one decision.
func BenchmarkPlace10k(b *testing.B) {
	req := &Request{CPU: 256, Memory: 512, Group: "service:web", Count: 1,
		Strategies: []Strategy{{Spread, "attribute:ecs.availability-zone"}, {Binpack, FieldMemory}},
	}
	c, err := ParseConstraint(MemberOf, "attribute:ecs.instance-type =~ t3.* or attribute:ecs.availability-zone != us-east-1b")
	if err != nil {
		b.Fatal(err)
	}
	req.Constraints = []Constraint{c}
	cluster := benchCluster(10000)
	s := NewSnapshot(cloneInstances(cluster))
	r := rand.New(rand.NewPCG(1, 1))
	lat := make([]time.Duration, 0, b.N)
	placed := 0
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		res := s.Place(req, r)
		lat = append(lat, time.Since(t0))
		if len(res.Placed) == 0 {
			b.StopTimer()
			s = NewSnapshot(cloneInstances(cluster))
			b.StartTimer()
			continue
		}
		placed++
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(placed)/b.Elapsed().Seconds(), "placements/s")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
