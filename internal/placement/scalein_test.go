package placement

import (
	"slices"
	"testing"
)

func TestChooseToStop(t *testing.T) {
	a1, a2, b1, c1 := inst("a1", "a", 1000, 100), inst("a2", "a", 1000, 5000), inst("b1", "b", 1000, 300), inst("c1", "c", 1000, 200)
	a1.TaskGroups = map[string]int{"service:web": 2}
	a2.TaskGroups = map[string]int{"service:web": 1}
	b1.TaskGroups = map[string]int{"service:web": 1}
	c1.TaskGroups = map[string]int{"service:web": 1}
	s := NewSnapshot([]Instance{a1, a2, b1, c1})
	victims := []Victim{{"t1", 0, true}, {"t2", 0, true}, {"t3", 1, true}, {"t4", 2, true}, {"t5", 3, true}}
	zone := strategies(t, Spread, "attribute:ecs.availability-zone", Spread, "instanceId")

	// Spread: zone a holds three of five; two stops leave one per zone,
	// the first from a1, the busier instance of the zone.
	got := s.ChooseToStop(victims, "service:web", zone, 2)
	if len(got) != 2 || got[0] != "t1" || !slices.Contains([]string{"t2", "t3"}, got[1]) {
		t.Fatalf("spread scale-in stopped %v, want t1 then t2 or t3 (zone a)", got)
	}
	// A task not yet RUNNING goes first, whatever the balance.
	pending := slices.Clone(victims)
	pending[4].Running = false
	if got := s.ChooseToStop(pending, "service:web", zone, 1); !slices.Equal(got, []string{"t5"}) {
		t.Fatalf("stopped %v, want the pending t5 first", got)
	}
	// Binpack on memory: free the instance left with the most memory.
	if got := s.ChooseToStop(victims, "service:web", strategies(t, Binpack, "memory"), 1); !slices.Equal(got, []string{"t3"}) {
		t.Fatalf("binpack scale-in stopped %v, want t3 (a2 has the most memory left)", got)
	}
	// Random decides nothing: ties go by id.
	if got := s.ChooseToStop(victims, "service:web", strategies(t, Random, ""), 3); !slices.Equal(got, []string{"t1", "t2", "t3"}) {
		t.Fatalf("random scale-in stopped %v, want t1 t2 t3", got)
	}
}
