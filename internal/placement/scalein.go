package placement

import (
	"cmp"
	"slices"
)

// Victim is a live task that a scale-in may stop.
type Victim struct {
	ID string
	// Instance is the task's instance in the snapshot, -1 if unknown.
	Instance int
	// Running is false while the task has not reached RUNNING yet.
	Running bool
}

// ChooseToStop picks n of the victims, all tasks of group, as ECS scales a
// service in:
//
//   - tasks not yet RUNNING go first;
//   - then the strategies decide, each breaking the ties of the one before:
//     spread(field) stops from the instance (or the attribute value)
//     holding the most tasks of the group, so the balance is kept;
//     binpack(cpu|memory) stops from the instance left with the most of
//     that resource, freeing it first; random decides nothing;
//   - what is still tied goes by task id, for a stable order.
//
// Each pick counts one task less where it stood before the next pick. It
// only reads the snapshot's instances; it does not change them.
func (s *Snapshot) ChooseToStop(victims []Victim, group string, strategies []Strategy, n int) []string {
	perInstance := map[int]int{}
	perValue := map[string]map[string]int{} // attribute -> value -> tasks of the group
	for i := range s.Instances {
		perInstance[i] = s.Instances[i].TaskGroups[group]
	}
	value := func(attr string, i int) string {
		if i < 0 {
			return ""
		}
		return s.Instances[i].Attributes[attr]
	}
	for _, st := range strategies {
		if st.Type != Spread || st.Field == FieldInstanceID {
			continue
		}
		attr := st.Field[len(attributePrefix):]
		counts := map[string]int{}
		for i := range s.Instances {
			counts[value(attr, i)] += perInstance[i]
		}
		perValue[attr] = counts
	}
	// key is the victim's place in the order, smaller first, strategy by
	// strategy.
	key := func(v Victim) []int {
		k := []int{boolInt(v.Running)}
		for _, st := range strategies {
			switch {
			case st.Type == Random:
				return k
			case st.Type == Spread && st.Field == FieldInstanceID:
				k = append(k, -perInstance[v.Instance])
			case st.Type == Spread:
				attr := st.Field[len(attributePrefix):]
				k = append(k, -perValue[attr][value(attr, v.Instance)])
			case v.Instance < 0:
				k = append(k, 0)
			case st.Field == FieldCPU:
				k = append(k, -int(s.Instances[v.Instance].CPU))
			default:
				k = append(k, -int(s.Instances[v.Instance].Memory))
			}
		}
		return k
	}
	left := slices.Clone(victims)
	var out []string
	for range min(n, len(left)) {
		best := slices.MinFunc(left, func(a, b Victim) int {
			if c := slices.Compare(key(a), key(b)); c != 0 {
				return c
			}
			return cmp.Compare(a.ID, b.ID)
		})
		out = append(out, best.ID)
		perInstance[best.Instance]--
		for attr, counts := range perValue {
			counts[value(attr, best.Instance)]--
		}
		left = slices.DeleteFunc(left, func(v Victim) bool { return v.ID == best.ID })
	}
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
