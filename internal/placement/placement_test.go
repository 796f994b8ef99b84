package placement

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gantry-dev/gantry/internal/placement/cql"
)

// inst is an ACTIVE, connected instance with the resources given and
// ecs.availability-zone = zone.
func inst(id, zone string, cpu, mem int32) Instance {
	return Instance{
		Facts: cql.Facts{
			Attributes:     map[string]string{"ecs.availability-zone": zone, "ecs.instance-type": "t3.large"},
			AgentConnected: true,
			EC2InstanceID:  "i-" + id,
		},
		ID: id, ARN: "arn:aws:ecs:us-east-1:111111111111:container-instance/c/" + id,
		Status: StatusActive, CPU: cpu, Memory: mem,
	}
}

func strategies(t *testing.T, pairs ...string) []Strategy {
	t.Helper()
	var out []Strategy
	for i := 0; i < len(pairs); i += 2 {
		s, err := ParseStrategy(pairs[i], pairs[i+1])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func constraint(t *testing.T, typ, expr string) Constraint {
	t.Helper()
	c, err := ParseConstraint(typ, expr)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// ids returns the ids of the instances chosen, in order.
func ids(s *Snapshot, r Result) []string {
	out := make([]string, len(r.Placed))
	for k, i := range r.Placed {
		out[k] = s.Instances[i].ID
	}
	return out
}

func rnd() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }

func TestBinpackPicksLeastRemainingThatFits(t *testing.T) {
	for _, tc := range []struct {
		field string
		want  []string
	}{
		// memory: b has 600 (fits 512, leaves 88), c 400 does not fit.
		{"memory", []string{"b", "a", "a"}},
		// cpu: c has the least cpu but not the memory; a fits two, then b.
		{"cpu", []string{"a", "a", "b"}},
	} {
		t.Run(tc.field, func(t *testing.T) {
			s := NewSnapshot([]Instance{inst("a", "z1", 512, 2048), inst("b", "z1", 2048, 600), inst("c", "z1", 256, 400)})
			r := s.Place(&Request{CPU: 256, Memory: 512, Count: 3, Strategies: strategies(t, Binpack, tc.field)}, rnd())
			if got := ids(s, r); !slices.Equal(got, tc.want) {
				t.Fatalf("placed on %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSpreadByInstanceCountsTheGroup(t *testing.T) {
	a, b, c := inst("a", "z1", 4096, 8192), inst("b", "z1", 4096, 8192), inst("c", "z1", 4096, 8192)
	a.TaskGroups = map[string]int{"web": 2, "other": 5}
	b.TaskGroups = map[string]int{"web": 1}
	s := NewSnapshot([]Instance{a, b, c})
	r := s.Place(&Request{CPU: 10, Memory: 10, Group: "web", Count: 3, Strategies: strategies(t, Spread, "instanceId")}, rnd())
	got := ids(s, r)
	// c (0) first, then b and c tie at 1 -> either, then the third evens out.
	if got[0] != "c" {
		t.Fatalf("first task went to %s, want c (no task of the group)", got[0])
	}
	counts := map[string]int{}
	for i := range s.Instances {
		counts[s.Instances[i].ID] = s.Instances[i].TaskGroups["web"]
	}
	if counts["a"] != 2 || counts["b"] != 2 || counts["c"] != 2 {
		t.Fatalf("web tasks per instance = %v, want 2 each", counts)
	}
}

func TestSpreadByZoneThenBinpackMemory(t *testing.T) {
	s := NewSnapshot([]Instance{
		inst("a1", "a", 4096, 4096), inst("a2", "a", 4096, 1024),
		inst("b1", "b", 4096, 2048), inst("b2", "b", 4096, 8192),
		inst("c1", "c", 4096, 3000),
	})
	r := s.Place(&Request{CPU: 1, Memory: 512, Group: "g", Count: 6,
		Strategies: strategies(t, Spread, "attribute:ecs.availability-zone", Binpack, "memory")}, rnd())
	perZone := map[string]int{}
	for _, i := range r.Placed {
		perZone[s.Instances[i].Attributes["ecs.availability-zone"]]++
	}
	if perZone["a"] != 2 || perZone["b"] != 2 || perZone["c"] != 2 {
		t.Fatalf("per zone %v, want 2 each", perZone)
	}
	// Within zone a the tighter instance a2 takes both; within b, b1.
	got := ids(s, r)
	for _, want := range []string{"a1", "b2"} {
		if slices.Contains(got, want) {
			t.Fatalf("placed on %v: %s has more memory left than its zone's other instance", got, want)
		}
	}
}

func TestRandomTieBreakUsesEveryInstance(t *testing.T) {
	var in []Instance
	for i := range 4 {
		in = append(in, inst(fmt.Sprint(i), "z", 100000, 100000))
	}
	s := NewSnapshot(in)
	r := s.Place(&Request{CPU: 1, Memory: 1, Count: 400, Strategies: strategies(t, Random, "")}, rnd())
	seen := map[int]int{}
	for _, i := range r.Placed {
		seen[i]++
	}
	for i := range 4 {
		if seen[i] < 50 {
			t.Fatalf("random placed %v per instance: instance %d got fewer than 50 of 400", seen, i)
		}
	}
}

func TestStrategiesAfterRandomDoNotMatter(t *testing.T) {
	s := NewSnapshot([]Instance{inst("a", "z", 100, 100), inst("b", "z", 100, 5000)})
	seen := map[string]bool{}
	for range 50 {
		s2 := NewSnapshot(slices.Clone(s.Instances))
		r := s2.Place(&Request{Memory: 10, Count: 1, Strategies: strategies(t, Random, "", Binpack, "memory")}, rand.New(rand.NewPCG(rand.Uint64(), 0)))
		seen[ids(s2, r)[0]] = true
	}
	if !seen["a"] || !seen["b"] {
		t.Fatalf("random then binpack chose only %v", seen)
	}
}

func TestFailureReasonsInECSOrder(t *testing.T) {
	draining := inst("d", "z", 4096, 4096)
	draining.Status = "DRAINING"
	gone := inst("g", "z", 4096, 4096)
	gone.AgentConnected = false
	small := inst("s", "z", 128, 4096)
	lowmem := inst("m", "z", 4096, 128)
	ported := inst("p", "z", 4096, 4096)
	ported.Ports = map[string]bool{"80": true}
	udp := inst("u", "z", 4096, 4096)
	udp.PortsUDP = map[string]bool{"53": true}
	noattr := inst("n", "z", 4096, 4096)
	s := NewSnapshot([]Instance{draining, gone, small, lowmem, ported, udp, noattr})
	req := &Request{CPU: 256, Memory: 256, Ports: []string{"80"}, PortsUDP: []string{"53"},
		Requires: []Requirement{{Name: "ecs.capability.foo"}}, Count: 1}
	want := map[string]string{"d": "DRAINING", "g": ReasonAgent, "s": ReasonAttribute, "m": ReasonAttribute, "p": ReasonAttribute, "u": ReasonAttribute, "n": ReasonAttribute}
	check := func() {
		t.Helper()
		r := s.Place(req, rnd())
		if len(r.Placed) != 0 {
			t.Fatalf("placed %v, want nothing", ids(s, r))
		}
		got := map[string]string{}
		for _, f := range r.Failures {
			got[s.Instances[f.Instance].ID] = f.Reason
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("failures %v, want %v", got, want)
		}
		if r.Failures[0].Reason != want[s.Instances[r.Failures[0].Instance].ID] || reasonRank(r.Failures[0].Reason) < reasonRank(r.Failures[len(r.Failures)-1].Reason) {
			t.Fatalf("failures not closest first: %v", r.Failures)
		}
	}
	check()
	for i := range s.Instances {
		s.Instances[i].Attributes["ecs.capability.foo"] = ""
	}
	s = NewSnapshot(s.Instances)
	want = map[string]string{"d": "DRAINING", "g": ReasonAgent, "s": ReasonCPU, "m": ReasonMemory, "p": ReasonPorts, "u": ReasonPortsUDP, "n": ReasonMemberOf}
	req.Constraints = []Constraint{constraint(t, MemberOf, "attribute:ecs.instance-type == m5.large")}
	check()
}

func TestRequiresAttributeValue(t *testing.T) {
	a, b := inst("a", "z", 100, 100), inst("b", "z", 100, 100)
	a.Attributes["com.example.role"] = "db"
	b.Attributes["com.example.role"] = "web"
	s := NewSnapshot([]Instance{a, b})
	r := s.Place(&Request{Count: 3, Requires: []Requirement{{Name: "com.example.role", Value: "web", HasValue: true}}}, rnd())
	if got := ids(s, r); !slices.Equal(got, []string{"b", "b", "b"}) {
		t.Fatalf("placed on %v, want b thrice", got)
	}
}

func TestDistinctInstance(t *testing.T) {
	a, b, c := inst("a", "z", 4096, 4096), inst("b", "z", 4096, 4096), inst("c", "z", 4096, 4096)
	a.TaskGroups = map[string]int{"g": 1}
	s := NewSnapshot([]Instance{a, b, c})
	r := s.Place(&Request{Group: "g", Count: 3, Constraints: []Constraint{constraint(t, DistinctInstance, "")}}, rnd())
	got := ids(s, r)
	slices.Sort(got)
	if !slices.Equal(got, []string{"b", "c"}) {
		t.Fatalf("placed on %v, want b and c once each", got)
	}
	if len(r.Failures) != 3 || r.Failures[0].Reason != ReasonDistinct {
		t.Fatalf("failures %v, want DistinctInstance for all three", r.Failures)
	}
}

func TestMemberOfStaticAndDynamic(t *testing.T) {
	a, b, c := inst("a", "us-east-1a", 4096, 4096), inst("b", "us-east-1b", 4096, 4096), inst("c", "us-east-1c", 4096, 4096)
	b.TaskGroups = map[string]int{"database": 1}
	b.RunningTasksCount = 1
	s := NewSnapshot([]Instance{a, b, c})
	for _, tc := range []struct {
		expr  string
		count int
		want  []string
	}{
		{"attribute:ecs.availability-zone in [us-east-1a, us-east-1c]", 4, []string{"a", "c"}},
		{"task:group == database", 2, []string{"b"}},
		{"not(task:group == database) and attribute:ecs.availability-zone != us-east-1c", 2, []string{"a"}},
	} {
		s2 := NewSnapshot(cloneInstances(s.Instances))
		r := s2.Place(&Request{Group: "x", Count: tc.count, Constraints: []Constraint{constraint(t, MemberOf, tc.expr)},
			Strategies: strategies(t, Spread, "instanceId")}, rnd())
		got := ids(s2, r)
		slices.Sort(got)
		got = slices.Compact(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: placed on %v, want only %v", tc.expr, got, tc.want)
		}
	}
	// runningTasksCount changes as tasks are placed: at most one new task per
	// empty instance.
	s2 := NewSnapshot(cloneInstances(s.Instances))
	r := s2.Place(&Request{Group: "x", Count: 5, Constraints: []Constraint{constraint(t, MemberOf, "runningTasksCount == 0")}}, rnd())
	if got := ids(s2, r); len(got) != 2 || slices.Contains(got, "b") || len(r.Failures) == 0 {
		t.Fatalf("runningTasksCount == 0 placed %v (failures %v), want a and c once each", got, r.Failures)
	}
}

func cloneInstances(in []Instance) []Instance {
	out := slices.Clone(in)
	for i := range out {
		out[i].TaskGroups = maps.Clone(out[i].TaskGroups)
		out[i].Attributes = maps.Clone(out[i].Attributes)
	}
	return out
}

func TestParseStrategyAndConstraint(t *testing.T) {
	for _, tc := range []struct{ typ, field, want string }{
		{"binpack", "MEMORY", "binpack(memory)"},
		{"binpack", "cpu", "binpack(cpu)"},
		{"spread", "host", "spread(instanceId)"},
		{"spread", "instanceId", "spread(instanceId)"},
		{"spread", "attribute:ecs.availability-zone", "spread(attribute:ecs.availability-zone)"},
		{"random", "", "random"},
		{"binpack", "disk", ""},
		{"spread", "zone", ""},
		{"spread", "attribute:", ""},
		{"pack", "cpu", ""},
	} {
		s, err := ParseStrategy(tc.typ, tc.field)
		if tc.want == "" {
			if err == nil {
				t.Errorf("ParseStrategy(%q, %q) = %v, want an error", tc.typ, tc.field, s)
			}
			continue
		}
		if err != nil || s.String() != tc.want {
			t.Errorf("ParseStrategy(%q, %q) = %v, %v; want %s", tc.typ, tc.field, s, err, tc.want)
		}
	}
	for _, tc := range []struct {
		typ, expr string
		ok        bool
	}{
		{"distinctInstance", "", true},
		{"distinctInstance", "attribute:x exists", false},
		{"memberOf", "attribute:x exists", true},
		{"memberOf", "", false},
		{"memberOf", "attribute:x ==", false},
		{"sameInstance", "", false},
	} {
		if _, err := ParseConstraint(tc.typ, tc.expr); (err == nil) != tc.ok {
			t.Errorf("ParseConstraint(%q, %q) error = %v, want ok=%v", tc.typ, tc.expr, err, tc.ok)
		}
	}
}
