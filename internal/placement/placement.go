// Package placement is Gantry's task scheduler: a pure function from a
// snapshot of one cluster's container instances and a request (what a task
// reserves, its group, required attributes, constraints, strategies, how
// many) to the instances chosen, or the ECS failure reasons for the tasks it
// cannot place. There is no I/O here: internal/ecs reads the snapshot from
// etcd, asks for placements and commits them.
//
// ECS's process, followed here: keep the instances that can take the task
// (ACTIVE, agent connected, requiresAttributes, CPU, memory, ports), then
// those that satisfy every constraint, then let the strategies choose. The
// strategies form a chain: each later one only breaks the ties of those
// before it, and what is still tied at the end is chosen at random.
//
//   - binpack(cpu|memory): the instance left with the least of that
//     resource after the task.
//   - spread(instanceId|attribute:<name>): the instance (or the attribute
//     value) holding the fewest tasks of the request's group. An instance
//     without the attribute counts as the value "".
//   - random: a uniform choice among the tied instances; strategies after it
//     never matter.
//
// A Snapshot remembers what it has placed (resources, ports, group counts),
// so several requests placed one after another on it see each other, as
// the per-cluster committer in internal/ecs needs.
package placement

import (
	"cmp"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/gantry-dev/gantry/internal/placement/cql"
)

// Failure reasons, as ECS names them.
const (
	ReasonAgent     = "AGENT"
	ReasonAttribute = "ATTRIBUTE"
	ReasonCPU       = "RESOURCE:CPU"
	ReasonMemory    = "RESOURCE:MEMORY"
	ReasonPorts     = "RESOURCE:PORTS"
	ReasonPortsUDP  = "RESOURCE:PORTS_UDP"
	ReasonMemberOf  = "MemberOf placement constraint unsatisfied."
	ReasonDistinct  = "DistinctInstance placement constraint unsatisfied."
)

// StatusActive is the one instance status that receives tasks. Any other
// (DRAINING, INACTIVE, ...) is itself the failure reason.
const StatusActive = "ACTIVE"

// MaxFailures bounds the failures one request reports: one per instance,
// the closest to fitting first.
const MaxFailures = 100

// Instance is one container instance as the scheduler sees it. The facts
// the cluster query language reads (attributes, agent, tasks and their
// groups) are embedded.
type Instance struct {
	cql.Facts
	ID     string
	ARN    string
	Status string
	// CPU and Memory are what remains unreserved.
	CPU, Memory int32
	// Ports and PortsUDP are the host ports in use.
	Ports, PortsUDP map[string]bool
}

// Failure says why one instance could not take a task.
type Failure struct {
	Instance int // index in the snapshot
	Reason   string
}

// Result is what Place decided: an instance index for each task placed, in
// order, and, when fewer than Count were placed, why the others were not.
type Result struct {
	Placed   []int
	Failures []Failure
}

// Snapshot is a cluster's instances at one moment, changed by every
// placement made on it. It is not safe for concurrent use.
type Snapshot struct {
	Instances []Instance

	// cpu and mem mirror the instances' CPU and Memory in two dense
	// arrays, which is most of what a choice reads.
	cpu, mem []int32

	eligible map[string][]bool       // by static signature: status, agent, requirements, static memberOf
	groups   map[string][]int32      // group -> tasks of the group on each instance
	buckets  map[string]*attrBuckets // attribute name -> its values' buckets
	spreads  []*spreadCount          // tasks of a group per bucket of an attribute
}

type attrBuckets struct {
	of      []int32   // instance -> bucket
	values  []string  // bucket -> attribute value
	members [][]int32 // bucket -> its instances, in order
}

type spreadCount struct {
	attr, group string
	b           *attrBuckets
	counts      []int32 // bucket -> tasks of the group
}

// NewSnapshot returns a snapshot of instances; it owns them from then on.
func NewSnapshot(instances []Instance) *Snapshot {
	for i := range instances {
		in := &instances[i]
		if in.TaskGroups == nil {
			in.TaskGroups = map[string]int{}
		}
		if in.Attributes == nil {
			in.Attributes = map[string]string{}
		}
	}
	s := &Snapshot{Instances: instances, eligible: map[string][]bool{}, groups: map[string][]int32{}, buckets: map[string]*attrBuckets{},
		cpu: make([]int32, len(instances)), mem: make([]int32, len(instances))}
	for i := range instances {
		s.cpu[i], s.mem[i] = instances[i].CPU, instances[i].Memory
	}
	return s
}

// Update replaces instance i with in: its record, load or connection
// changed since the snapshot was made. What the snapshot derived from the
// instances is kept up to date (group and spread counts) or, when what it
// depends on changed (status, agent, attributes, the facts of the query
// language), dropped to be derived again. The snapshot owns in from then
// on. A snapshot kept this way places as a new one of the same instances
// would.
func (s *Snapshot) Update(i int, in Instance) {
	if in.TaskGroups == nil {
		in.TaskGroups = map[string]int{}
	}
	if in.Attributes == nil {
		in.Attributes = map[string]string{}
	}
	old := &s.Instances[i]
	attrs := !maps.Equal(old.Attributes, in.Attributes)
	if attrs || old.Status != in.Status || old.AgentConnected != in.AgentConnected || old.AgentVersion != in.AgentVersion ||
		old.EC2InstanceID != in.EC2InstanceID || !old.RegisteredAt.Equal(in.RegisteredAt) {
		clear(s.eligible)
	}
	if attrs {
		clear(s.buckets)
		s.spreads = nil
	}
	for g, counts := range s.groups {
		n := int32(in.TaskGroups[g])
		for _, sc := range s.spreads {
			if sc.group == g {
				sc.counts[sc.b.of[i]] += n - counts[i]
			}
		}
		counts[i] = n
	}
	s.Instances[i] = in
	s.cpu[i], s.mem[i] = in.CPU, in.Memory
}

// Place places up to req.Count tasks, one after another, each reserving
// what it needs on the snapshot. rnd breaks the ties the strategies leave.
func (s *Snapshot) Place(req *Request, rnd *rand.Rand) Result {
	var res Result
	elig := s.staticEligible(req)
	p := s.prepare(req)
	for range req.Count {
		best := p.choose(elig, rnd)
		if best < 0 {
			res.Failures = s.failures(req)
			break
		}
		s.Reserve(best, req)
		res.Placed = append(res.Placed, best)
	}
	return res
}

// Reserve records one task of req on instance i: its resources, its ports
// and its group. Place calls it; so does a caller that places a task on an
// instance it names (StartTask).
func (s *Snapshot) Reserve(i int, req *Request) {
	in := &s.Instances[i]
	in.CPU -= req.CPU
	in.Memory -= req.Memory
	s.cpu[i], s.mem[i] = in.CPU, in.Memory
	in.Ports = addPorts(in.Ports, req.Ports)
	in.PortsUDP = addPorts(in.PortsUDP, req.PortsUDP)
	in.RunningTasksCount++
	in.TaskGroups[req.Group]++
	if g, ok := s.groups[req.Group]; ok {
		g[i]++
	}
	for _, sc := range s.spreads {
		if sc.group == req.Group {
			sc.counts[sc.b.of[i]]++
		}
	}
}

func addPorts(set map[string]bool, ports []string) map[string]bool {
	if len(ports) == 0 {
		return set
	}
	if set == nil {
		set = map[string]bool{}
	}
	for _, p := range ports {
		set[p] = true
	}
	return set
}

// Reason says why instance i cannot take one task of req now, "" if it can.
// The checks run in ECS's order: status, agent, attributes, resources, then
// constraints.
func (s *Snapshot) Reason(i int, req *Request) string {
	in := &s.Instances[i]
	if r := staticReason(in, req); r != "" {
		return r
	}
	if r := resourceReason(in, req); r != "" {
		return r
	}
	for _, c := range req.Constraints {
		switch {
		case c.Type == DistinctInstance && in.TaskGroups[req.Group] > 0:
			return ReasonDistinct
		case c.Type == MemberOf && !c.Expr.Match(&in.Facts):
			return ReasonMemberOf
		}
	}
	return ""
}

// Admits says why instance i may never hold a task of req ("" if it may):
// its status, its agent, the required attributes and the memberOf
// constraints, leaving resources and distinctInstance aside. A daemon
// service keeps one task on every instance it admits.
func (s *Snapshot) Admits(i int, req *Request) string {
	in := &s.Instances[i]
	if r := staticReason(in, req); r != "" {
		return r
	}
	for _, c := range req.Constraints {
		if c.Type == MemberOf && !c.Expr.Match(&in.Facts) {
			return ReasonMemberOf
		}
	}
	return ""
}

func staticReason(in *Instance, req *Request) string {
	switch {
	case in.Status != StatusActive:
		return in.Status
	case !in.AgentConnected:
		return ReasonAgent
	}
	for _, r := range req.Requires {
		v, ok := in.Attributes[r.Name]
		if !ok || (r.HasValue && v != r.Value) {
			return ReasonAttribute
		}
	}
	return ""
}

func resourceReason(in *Instance, req *Request) string {
	switch {
	case in.CPU < req.CPU:
		return ReasonCPU
	case in.Memory < req.Memory:
		return ReasonMemory
	case anyIn(req.Ports, in.Ports):
		return ReasonPorts
	case anyIn(req.PortsUDP, in.PortsUDP):
		return ReasonPortsUDP
	}
	return ""
}

func anyIn(ports []string, set map[string]bool) bool {
	for _, p := range ports {
		if set[p] {
			return true
		}
	}
	return false
}

// reasonRank orders reasons from the farthest from fitting to the closest.
func reasonRank(r string) int {
	switch r {
	case ReasonAgent:
		return 1
	case ReasonAttribute:
		return 2
	case ReasonCPU, ReasonMemory:
		return 3
	case ReasonPorts, ReasonPortsUDP:
		return 4
	case ReasonMemberOf:
		return 5
	case ReasonDistinct:
		return 6
	}
	return 0 // a status: DRAINING, INACTIVE
}

// failures lists why each instance cannot take a task of req, the closest
// to fitting first, at most MaxFailures.
func (s *Snapshot) failures(req *Request) []Failure {
	out := make([]Failure, 0, min(len(s.Instances), MaxFailures))
	for i := range s.Instances {
		if r := s.Reason(i, req); r != "" {
			out = append(out, Failure{Instance: i, Reason: r})
		}
	}
	slices.SortStableFunc(out, func(a, b Failure) int { return cmp.Compare(reasonRank(b.Reason), reasonRank(a.Reason)) })
	return out[:min(len(out), MaxFailures)]
}

// staticEligible says, for each instance, whether what cannot change while
// tasks are placed (status, agent, required attributes, memberOf
// expressions that read neither tasks nor groups) admits req. It is cached
// by the request's signature.
func (s *Snapshot) staticEligible(req *Request) []bool {
	var sig strings.Builder
	for _, r := range req.Requires {
		sig.WriteString(r.Name)
		if r.HasValue {
			sig.WriteString("=" + r.Value)
		}
		sig.WriteByte(0)
	}
	sig.WriteByte(1)
	var static []*cql.Expr
	for _, c := range req.Constraints {
		if c.Type == MemberOf && !c.Expr.Dynamic() {
			static = append(static, c.Expr)
			sig.WriteString(c.Expr.String())
			sig.WriteByte(0)
		}
	}
	key := sig.String()
	if e, ok := s.eligible[key]; ok {
		return e
	}
	e := make([]bool, len(s.Instances))
	for i := range s.Instances {
		in := &s.Instances[i]
		e[i] = staticReason(in, req) == "" && !slices.ContainsFunc(static, func(x *cql.Expr) bool { return !x.Match(&in.Facts) })
	}
	s.eligible[key] = e
	return e
}

// groupCounts returns the tasks of group on each instance, kept up to date
// by Reserve.
func (s *Snapshot) groupCounts(group string) []int32 {
	if g, ok := s.groups[group]; ok {
		return g
	}
	g := make([]int32, len(s.Instances))
	for i := range s.Instances {
		g[i] = int32(s.Instances[i].TaskGroups[group])
	}
	s.groups[group] = g
	return g
}

// spreadCounts returns the tasks of group in each value of attribute attr,
// and which value each instance has, kept up to date by Reserve.
func (s *Snapshot) spreadCounts(attr, group string) *spreadCount {
	for _, sc := range s.spreads {
		if sc.attr == attr && sc.group == group {
			return sc
		}
	}
	b, ok := s.buckets[attr]
	if !ok {
		b = &attrBuckets{of: make([]int32, len(s.Instances))}
		index := map[string]int32{}
		for i := range s.Instances {
			v := s.Instances[i].Attributes[attr]
			k, ok := index[v]
			if !ok {
				k = int32(len(b.values))
				index[v] = k
				b.values = append(b.values, v)
			}
			b.of[i] = k
		}
		b.members = make([][]int32, len(b.values))
		for i, k := range b.of {
			b.members[k] = append(b.members[k], int32(i))
		}
		s.buckets[attr] = b
	}
	sc := &spreadCount{attr: attr, group: group, b: b, counts: make([]int32, len(b.values))}
	g := s.groupCounts(group)
	for i, n := range g {
		sc.counts[b.of[i]] += n
	}
	s.spreads = append(s.spreads, sc)
	return sc
}
