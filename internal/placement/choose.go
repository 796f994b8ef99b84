package placement

import (
	"cmp"
	"math/rand/v2"
	"slices"

	"github.com/gantry-dev/gantry/internal/placement/cql"
)

// Kinds of strategy keys. Every key is "lower is better".
const (
	keyBinpackCPU = iota
	keyBinpackMemory
	keySpreadInstance
	keySpreadAttribute
)

// strategyKey is one strategy of the chain, resolved against the snapshot.
type strategyKey struct {
	kind   int
	groups []int32      // keySpreadInstance: tasks of the group per instance
	spread *spreadCount // keySpreadAttribute
}

// prepared is a request made ready to choose on a snapshot: its strategy
// chain (cut at the first random, which leaves nothing tied) and the
// constraints that must be checked at every choice.
type prepared struct {
	s        *Snapshot
	req      *Request
	keys     []strategyKey
	distinct []int32 // tasks of the group per instance, with distinctInstance
	dynamic  []*cql.Expr
	ports    bool
}

func (s *Snapshot) prepare(req *Request) *prepared {
	p := &prepared{s: s, req: req, ports: len(req.Ports)+len(req.PortsUDP) > 0}
chain:
	for _, st := range req.Strategies {
		switch {
		case st.Type == Random:
			break chain
		case st.Type == Binpack && st.Field == FieldCPU:
			p.keys = append(p.keys, strategyKey{kind: keyBinpackCPU})
		case st.Type == Binpack:
			p.keys = append(p.keys, strategyKey{kind: keyBinpackMemory})
		case st.Field == FieldInstanceID:
			p.keys = append(p.keys, strategyKey{kind: keySpreadInstance, groups: s.groupCounts(req.Group)})
		default:
			p.keys = append(p.keys, strategyKey{kind: keySpreadAttribute, spread: s.spreadCounts(st.Field[len(attributePrefix):], req.Group)})
		}
	}
	for _, c := range req.Constraints {
		switch {
		case c.Type == DistinctInstance:
			p.distinct = s.groupCounts(req.Group)
		case c.Expr.Dynamic():
			p.dynamic = append(p.dynamic, c.Expr)
		}
	}
	return p
}

// key is the value of strategy j for instance i.
func (p *prepared) key(j, i int) int64 {
	k := &p.keys[j]
	switch k.kind {
	case keyBinpackCPU:
		return int64(p.s.cpu[i] - p.req.CPU)
	case keyBinpackMemory:
		return int64(p.s.mem[i] - p.req.Memory)
	case keySpreadInstance:
		return int64(k.groups[i])
	default:
		return int64(k.spread.counts[k.spread.b.of[i]])
	}
}

// slowFits checks what only some requests have: ports, distinctInstance,
// memberOf expressions that read the tasks.
func (p *prepared) slowFits(i int) bool {
	in := &p.s.Instances[i]
	if p.ports && (anyIn(p.req.Ports, in.Ports) || anyIn(p.req.PortsUDP, in.PortsUDP)) {
		return false
	}
	if p.distinct != nil && p.distinct[i] > 0 {
		return false
	}
	for _, e := range p.dynamic {
		if !e.Match(&in.Facts) {
			return false
		}
	}
	return true
}

// choose returns the instance the strategy chain prefers among those that
// can take the task, ties broken uniformly at random (reservoir sampling),
// or -1 when none can.
//
// When the chain starts with a spread over an attribute, the winner lies
// in the values holding the fewest tasks of the group that have an
// instance able to take it: the values are visited by that count, fewest
// first, and the instances of the first level that has a candidate are
// the only ones compared. The outcome is the same as comparing every
// instance.
func (p *prepared) choose(elig []bool, rnd *rand.Rand) int {
	if len(p.keys) == 0 || p.keys[0].kind != keySpreadAttribute {
		return p.chooseAmong(elig, nil, rnd)
	}
	sc := p.keys[0].spread
	order := make([]int, len(sc.counts))
	for k := range order {
		order[k] = k
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(sc.counts[a], sc.counts[b]) })
	var level [][]int32
	for k := 0; k < len(order); {
		level = level[:0]
		c := sc.counts[order[k]]
		for ; k < len(order) && sc.counts[order[k]] == c; k++ {
			level = append(level, sc.b.members[order[k]])
		}
		if i := p.chooseAmong(elig, level, rnd); i >= 0 {
			return i
		}
	}
	return -1
}

// chooseAmong is choose over the instances of the given lists, or over
// all of them when lists is nil.
func (p *prepared) chooseAmong(elig []bool, lists [][]int32, rnd *rand.Rand) int {
	st := chooser{p: p, rnd: rnd, chosen: -1, slow: p.ports || p.distinct != nil || len(p.dynamic) > 0}
	if lists == nil {
		for i := range elig {
			if elig[i] {
				st.consider(i)
			}
		}
		return st.chosen
	}
	for _, l := range lists {
		for _, i := range l {
			if elig[i] {
				st.consider(int(i))
			}
		}
	}
	return st.chosen
}

// chooser is the state of one choice: the best instance so far, its keys,
// and how many instances tie with it.
type chooser struct {
	p      *prepared
	rnd    *rand.Rand
	best   [MaxStrategies]int64
	chosen int
	ties   int
	slow   bool
}

// consider compares eligible instance i with the best so far.
func (st *chooser) consider(i int) {
	p := st.p
	if p.s.cpu[i] < p.req.CPU || p.s.mem[i] < p.req.Memory || st.slow && !p.slowFits(i) {
		return
	}
	n := len(p.keys)
	if st.chosen < 0 {
		st.chosen, st.ties = i, 1
		for j := range n {
			st.best[j] = p.key(j, i)
		}
		return
	}
	for j := range n {
		v := p.key(j, i)
		if v == st.best[j] {
			continue
		}
		if v > st.best[j] {
			return
		}
		// Better on key j, equal before it: i is the new best.
		st.chosen, st.ties = i, 1
		st.best[j] = v
		for j++; j < n; j++ {
			st.best[j] = p.key(j, i)
		}
		return
	}
	st.ties++
	if st.rnd.IntN(st.ties) == 0 {
		st.chosen = i
	}
}
