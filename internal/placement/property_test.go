package placement

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// randomCluster builds n instances with random resources, zones, types,
// ports in use, agent state, status and existing tasks of a few groups.
func randomCluster(r *rand.Rand, n int) []Instance {
	zones := []string{"a", "b", "c"}
	types := []string{"t3.small", "t3.large", "m5.large"}
	out := make([]Instance, n)
	for i := range out {
		in := inst(fmt.Sprint(i), zones[r.IntN(len(zones))], int32(r.IntN(4096)), int32(r.IntN(8192)))
		in.Attributes["ecs.instance-type"] = types[r.IntN(len(types))]
		if r.IntN(10) == 0 {
			in.AgentConnected = false
		}
		if r.IntN(10) == 0 {
			in.Status = "DRAINING"
		}
		if r.IntN(3) == 0 {
			in.Ports = map[string]bool{"80": true}
		}
		in.TaskGroups = map[string]int{}
		for _, g := range []string{"web", "db"} {
			if k := r.IntN(3); k > 0 {
				in.TaskGroups[g] = k
				in.RunningTasksCount += k
			}
		}
		out[i] = in
	}
	return out
}

var propertyExprs = []string{
	"",
	"attribute:ecs.instance-type =~ t3.*",
	"attribute:ecs.availability-zone in [a, b]",
	"not(task:group == db)",
	"runningTasksCount < 3 or attribute:ecs.instance-type == m5.large",
}

func randomRequest(t *testing.T, r *rand.Rand) *Request {
	req := &Request{CPU: int32(r.IntN(1024)), Memory: int32(r.IntN(2048)), Group: []string{"web", "db"}[r.IntN(2)], Count: 1 + r.IntN(10)}
	if r.IntN(2) == 0 {
		req.Ports = []string{"80"}
	}
	if e := propertyExprs[r.IntN(len(propertyExprs))]; e != "" {
		req.Constraints = append(req.Constraints, constraint(t, MemberOf, e))
	}
	if r.IntN(3) == 0 {
		req.Constraints = append(req.Constraints, constraint(t, DistinctInstance, ""))
	}
	chains := [][]string{
		{},
		{Binpack, "memory"},
		{Binpack, "cpu"},
		{Spread, "instanceId"},
		{Spread, "attribute:ecs.availability-zone", Binpack, "memory"},
		{Spread, "attribute:ecs.availability-zone", Spread, "instanceId"},
		{Random, ""},
	}
	req.Strategies = strategies(t, chains[r.IntN(len(chains))]...)
	return req
}

// TestPropertyNeverViolates: on random clusters, every task placed went to
// an instance that could take it at that moment (status, agent, attributes,
// resources, ports, every constraint), so nothing is over-committed; and a
// request short of its count reports why.
func TestPropertyNeverViolates(t *testing.T) {
	for seed := range uint64(300) {
		r := rand.New(rand.NewPCG(seed, 7))
		cluster := randomCluster(r, 1+r.IntN(40))
		s := NewSnapshot(cloneInstances(cluster))
		ref := NewSnapshot(cloneInstances(cluster))
		for range 3 {
			req := randomRequest(t, r)
			res := s.Place(req, r)
			for _, i := range res.Placed {
				if why := ref.Reason(i, req); why != "" {
					t.Fatalf("seed %d: placed %+v on instance %d, which fails with %s", seed, req, i, why)
				}
				ref.Reserve(i, req)
			}
			if len(res.Placed) < req.Count {
				if len(res.Failures) == 0 {
					t.Fatalf("seed %d: placed %d of %d with no failures", seed, len(res.Placed), req.Count)
				}
				for i := range ref.Instances {
					if ref.Reason(i, req) == "" {
						t.Fatalf("seed %d: stopped at %d of %d although instance %d could take another", seed, len(res.Placed), req.Count, i)
					}
				}
			}
		}
		for i, in := range s.Instances {
			if in.CPU < 0 || in.Memory < 0 {
				t.Fatalf("seed %d: instance %d over-committed: cpu %d memory %d", seed, i, in.CPU, in.Memory)
			}
		}
	}
}

// TestPropertySpreadSkewAtMostOne: with room everywhere, spreading a group
// over zones (or instances) that start empty leaves counts differing by at
// most one.
func TestPropertySpreadSkewAtMostOne(t *testing.T) {
	for seed := range uint64(200) {
		r := rand.New(rand.NewPCG(seed, 11))
		n := 1 + r.IntN(30)
		var cluster []Instance
		for i := range n {
			cluster = append(cluster, inst(fmt.Sprint(i), []string{"a", "b", "c", "d"}[r.IntN(4)], 1<<20, 1<<20))
		}
		for _, field := range []string{"attribute:ecs.availability-zone", "instanceId"} {
			s := NewSnapshot(cloneInstances(cluster))
			req := &Request{CPU: 1, Memory: 1, Group: "g", Count: 1 + r.IntN(100), Strategies: strategies(t, Spread, field)}
			res := s.Place(req, r)
			counts := map[string]int{}
			for _, in := range cluster {
				counts[bucketOf(&in, field)] = 0
			}
			for _, i := range res.Placed {
				counts[bucketOf(&s.Instances[i], field)]++
			}
			lo, hi := req.Count, 0
			for _, c := range counts {
				lo, hi = min(lo, c), max(hi, c)
			}
			if hi-lo > 1 {
				t.Fatalf("seed %d: spread(%s) of %d tasks left counts %v", seed, field, req.Count, counts)
			}
		}
	}
}

func bucketOf(in *Instance, field string) string {
	if field == "instanceId" {
		return in.ID
	}
	return in.Attributes[field[len(attributePrefix):]]
}

// TestPropertyBinpackLeastRemaining: each binpack choice is an instance
// that fits with the least remaining amount of the resource among those
// that fit.
func TestPropertyBinpackLeastRemaining(t *testing.T) {
	for seed := range uint64(200) {
		r := rand.New(rand.NewPCG(seed, 13))
		cluster := randomCluster(r, 1+r.IntN(40))
		field := []string{"cpu", "memory"}[r.IntN(2)]
		req := &Request{CPU: int32(r.IntN(512)), Memory: int32(r.IntN(1024)), Group: "g", Count: 1 + r.IntN(10), Strategies: strategies(t, Binpack, field)}
		s := NewSnapshot(cloneInstances(cluster))
		ref := NewSnapshot(cloneInstances(cluster))
		res := s.Place(req, r)
		left := func(in *Instance) int32 {
			if field == "cpu" {
				return in.CPU
			}
			return in.Memory
		}
		for _, i := range res.Placed {
			for j := range ref.Instances {
				if ref.Reason(j, req) == "" && left(&ref.Instances[j]) < left(&ref.Instances[i]) {
					t.Fatalf("seed %d: binpack(%s) chose %d with %d left; %d fits with %d", seed, field, i, left(&ref.Instances[i]), j, left(&ref.Instances[j]))
				}
			}
			ref.Reserve(i, req)
		}
	}
}

func deepClone(in Instance) Instance {
	in.TaskGroups = maps.Clone(in.TaskGroups)
	in.Attributes = maps.Clone(in.Attributes)
	in.Ports = maps.Clone(in.Ports)
	in.PortsUDP = maps.Clone(in.PortsUDP)
	return in
}

func deepCloneAll(ins []Instance) []Instance {
	out := make([]Instance, len(ins))
	for i := range ins {
		out[i] = deepClone(ins[i])
	}
	return out
}

// TestPropertyUpdateKeepsSnapshotFresh: a snapshot kept across placements,
// with some of its instances replaced by Update (resources freed, status,
// agent, zone, type or task groups changed), places exactly as a new
// snapshot of the same instances does, with the same random choices.
func TestPropertyUpdateKeepsSnapshotFresh(t *testing.T) {
	for seed := range uint64(300) {
		r := rand.New(rand.NewPCG(seed, 17))
		cluster := randomCluster(r, 1+r.IntN(40))
		kept := NewSnapshot(deepCloneAll(cluster))
		for round := range 8 {
			for range r.IntN(4) {
				i := r.IntN(len(kept.Instances))
				in := deepClone(kept.Instances[i])
				switch r.IntN(6) {
				case 0:
					in.CPU, in.Memory = int32(r.IntN(4096)), int32(r.IntN(8192))
				case 1:
					in.Status = []string{"ACTIVE", "DRAINING"}[r.IntN(2)]
				case 2:
					in.AgentConnected = !in.AgentConnected
				case 3:
					in.Attributes["ecs.availability-zone"] = []string{"a", "b", "c", "d"}[r.IntN(4)]
				case 4:
					in.Attributes["ecs.instance-type"] = []string{"t3.small", "m5.large"}[r.IntN(2)]
				case 5:
					g := []string{"web", "db"}[r.IntN(2)]
					in.TaskGroups[g] = r.IntN(4)
				}
				kept.Update(i, in)
			}
			fresh := NewSnapshot(deepCloneAll(kept.Instances))
			req := randomRequest(t, r)
			choice := r.Uint64()
			got := kept.Place(req, rand.New(rand.NewPCG(choice, 1)))
			want := fresh.Place(req, rand.New(rand.NewPCG(choice, 1)))
			if !slices.Equal(got.Placed, want.Placed) || !slices.Equal(got.Failures, want.Failures) {
				t.Fatalf("seed %d round %d: kept snapshot placed %v (failures %v), a new one %v (failures %v) for %+v",
					seed, round, got.Placed, got.Failures, want.Placed, want.Failures, req)
			}
		}
	}
}
