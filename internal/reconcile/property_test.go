package reconcile

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// world is the test's own reading of a snapshot, written apart from the
// package's so that the invariants do not share its mistakes.
type world struct {
	in      Input
	lost    map[string]bool // instance id → its tasks are gone
	wanted  map[string]bool // DAEMON: instance id → it should run one task
	desired int
}

func newWorld(in Input) world {
	w := world{in: in, lost: map[string]bool{}, wanted: map[string]bool{}}
	for _, inst := range in.Instances {
		gone := !inst.Connected && inst.DisconnectedFor > 3*time.Minute
		w.lost[inst.ID] = gone
		if in.Service.Status == statusActive && inst.Status == statusActive && inst.Eligible && !gone {
			w.wanted[inst.ID] = true
		}
	}
	switch {
	case in.Service.Status != statusActive:
	case in.Service.Scheduling == scheduleDaemon:
		w.desired = len(w.wanted)
	default:
		w.desired = in.Service.DesiredCount
	}
	return w
}

// counts returns the live and healthy tasks that the bounds are about.
func (w world) counts(ts []Task) (live, healthy int) {
	for _, t := range ts {
		_, known := w.lost[t.Instance]
		if t.DesiredStatus != taskRunning || t.LastStatus == taskStopped || !known || w.lost[t.Instance] {
			continue
		}
		if w.in.Service.Scheduling == scheduleDaemon && !w.wanted[t.Instance] {
			continue
		}
		live++
		if t.LastStatus == taskRunning && (!t.HealthChecked || t.Health == healthHealthy) {
			healthy++
		}
	}
	return live, healthy
}

// checkStep checks one reconcile: in is what it saw, p what it planned and
// after the tasks once the plan was applied.
func checkStep(tb testing.TB, in Input, p Plan, after []Task) {
	tb.Helper()
	w := newWorld(in)
	svc := in.Service
	maxLive := w.desired * svc.MaxPercent / 100
	minHealthy := (w.desired*svc.MinHealthyPercent + 99) / 100
	liveBefore, healthyBefore := w.counts(in.Tasks)
	liveAfter, healthyAfter := w.counts(after)

	// Never above maximumPercent (nor further above it when it was already).
	if liveAfter > max(maxLive, liveBefore) || (len(p.Start) > 0 && liveAfter > maxLive) {
		tb.Fatalf("%s: %d live tasks after the plan, maximum %d (%d before)\nplan %+v", in.Now, liveAfter, maxLive, liveBefore, p)
	}
	// Never below minimumHealthyPercent while enough healthy tasks exist.
	if healthyAfter < min(minHealthy, healthyBefore) {
		tb.Fatalf("%s: %d healthy tasks after the plan, minimum %d (%d before)\nplan %+v", in.Now, healthyAfter, minHealthy, healthyBefore, p)
	}
	// DAEMON: a task starts only on an instance with none left.
	for _, st := range p.Start {
		for _, id := range st.Instances {
			for _, t := range in.Tasks {
				if t.Instance == id && t.LastStatus != taskStopped {
					tb.Fatalf("starts a task on %s, which still holds %s (%s)", id, t.ID, t.LastStatus)
				}
			}
		}
	}
	// One PRIMARY, first.
	if ds := p.Service.Deployments; len(ds) > 0 {
		n := 0
		for _, d := range ds {
			if d.Status == deploymentPrimary {
				n++
			}
		}
		if n != 1 || ds[0].Status != deploymentPrimary {
			tb.Fatalf("deployments %+v: want one PRIMARY, first", ds)
		}
	}
	// The steady event once per steady period.
	for _, e := range p.Events {
		if strings.HasSuffix(e, "has reached a steady state.") && !svc.SteadySince.IsZero() {
			tb.Fatalf("steady event again within the steady period begun %s", svc.SteadySince)
		}
	}
	checkBreaker(tb, w, p)
}

// checkBreaker: the PRIMARY fails exactly when its failed tasks reach the
// threshold (unless it completes first).
func checkBreaker(tb testing.TB, w world, p Plan) {
	tb.Helper()
	svc := w.in.Service
	if !svc.CircuitBreaker || svc.Status != statusActive || len(svc.Deployments) == 0 {
		return
	}
	pr := svc.Deployments[0]
	if pr.RolloutState != rolloutInProgress {
		return
	}
	failed := 0
	for _, t := range w.in.Tasks {
		if t.Deployment == pr.ID && t.LastStatus == taskStopped &&
			(t.StopCode == stopCodeFailedToStart || t.StoppedReason == ReasonHealthCheck) {
			failed++
		}
	}
	failed = max(failed, pr.FailedTasks)
	threshold := min(max((w.desired+1)/2, 3), 200)
	i := slices.IndexFunc(p.Service.Deployments, func(d Deployment) bool { return d.ID == pr.ID })
	if i < 0 {
		tb.Fatalf("deployment %s vanished", pr.ID)
	}
	out := p.Service.Deployments[i]
	if out.RolloutState == rolloutCompleted {
		return
	}
	if tripped := out.RolloutState == rolloutFailed; tripped != (failed >= threshold) {
		tb.Fatalf("%d failed tasks, threshold %d: rollout state %s", failed, threshold, out.RolloutState)
	}
}

type percents struct{ max, min int }

var replicaPercents = []percents{{200, 100}, {200, 50}, {150, 50}, {100, 0}, {200, 0}, {125, 75}, {100, 50}}

// canRoll: the bounds leave room to replace a task (else ECS is stuck too).
func canRoll(desired int, pc percents) bool {
	return desired == 0 || desired*pc.max/100 > (desired*pc.min+99)/100
}

// randomSim builds a random service on a random cluster, its first
// deployment made.
func randomSim(tb testing.TB, r *rand.Rand, scheduling string) (*sim, []int) {
	pc := replicaPercents[r.IntN(len(replicaPercents))]
	if scheduling == scheduleDaemon {
		pc = []percents{{100, 0}, {100, 50}}[r.IntN(2)]
	}
	var desired []int
	for d := range 9 {
		if canRoll(d, pc) {
			desired = append(desired, d)
		}
	}
	svc := Service{
		Name: "web", Status: statusActive, Scheduling: scheduling, DesiredCount: desired[r.IntN(len(desired))],
		MaxPercent: pc.max, MinHealthyPercent: pc.min,
		CircuitBreaker: r.IntN(2) == 0, Rollback: r.IntN(2) == 0,
		HealthCheckGrace: time.Duration(r.IntN(3)) * 5 * time.Second,
	}
	var ids []string
	for i := range 1 + r.IntN(6) {
		ids = append(ids, fmt.Sprintf("i%d", i))
	}
	s := newSim(tb, svc, ids...)
	s.rnd = r
	s.healthChecks = r.IntN(2) == 0
	s.failRate = []float64{0, 0.05, 0.3}[r.IntN(3)]
	s.sickRate = []float64{0, 0.05, 0.2}[r.IntN(3)]
	s.deploy("td:1")
	return s, desired
}

// chaos changes the world at random: new deployments (some bad), desired
// count, instances draining, leaving, joining, going silent, time jumps.
func (s *sim) chaos(r *rand.Rand, desired []int) {
	pick := func() *simInstance { return s.insts[r.IntN(len(s.insts))] }
	switch x := r.IntN(100); {
	case x < 2 && s.svc.Status == statusActive:
		td := fmt.Sprintf("td:%d", s.seq)
		switch r.IntN(4) {
		case 0:
			s.failTD[td] = true
		case 1:
			s.sickTD[td] = true
		}
		s.deploy(td)
	case x < 4 && s.svc.Status == statusActive:
		s.svc.DesiredCount = desired[r.IntN(len(desired))]
	case x < 5:
		pick().Status = statusDraining
	case x < 6:
		s.disconnect(pick().ID)
	case x < 8:
		pick().Connected = true
	case x < 9:
		s.addInstance(fmt.Sprintf("i%d", len(s.insts)))
	case x < 10:
		in := pick()
		in.Eligible = !in.Eligible
	case x < 11:
		s.now = s.now.Add(4 * time.Minute)
	case x < 12:
		pick().ReplicaTasks = 3
	}
}

// heal stops the failures and mends the cluster: every agent back, one
// ACTIVE eligible instance at least (two for a DAEMON that keeps 50%).
func (s *sim) heal() {
	s.failRate, s.sickRate = 0, 0
	clear(s.failTD)
	clear(s.sickTD)
	for _, in := range s.insts {
		in.Connected = true
	}
	for _, in := range s.insts[:1] {
		in.Status, in.Eligible = statusActive, true
	}
	if s.svc.Scheduling == scheduleDaemon && s.svc.MinHealthyPercent > 0 {
		// With one instance, 100/50 leaves no room to replace its task.
		if len(s.insts) == 1 {
			s.addInstance("i1")
		}
		s.insts[1].Status, s.insts[1].Eligible = statusActive, true
	}
}

// settle runs until the service settles; a deployment the circuit breaker
// failed meanwhile (on failures from before heal) is fixed by a new one, as
// a user would.
func (s *sim) settle() {
	s.tb.Helper()
	for i := range 3 {
		s.run(400, 5*time.Second)
		if d := s.svc.Deployments; s.svc.Status != statusActive || len(d) == 0 || d[0].RolloutState != rolloutFailed {
			return
		}
		s.deploy(fmt.Sprintf("td:fixed-%d", i))
	}
}

// assertConverged: one COMPLETED deployment running the desired tasks, all
// healthy, and the steady event written.
func (s *sim) assertConverged(tb testing.TB) {
	tb.Helper()
	if s.svc.Status == statusDraining || s.svc.Status == statusInactive {
		if s.svc.Status != statusInactive || len(s.liveOf("")) > 0 {
			tb.Fatalf("deleted service did not end INACTIVE:\n%s", s.describe())
		}
		for _, t := range s.tasks {
			if t.LastStatus != taskStopped {
				tb.Fatalf("INACTIVE with task %s still %s", t.ID, t.LastStatus)
			}
		}
		return
	}
	ds := s.svc.Deployments
	if len(ds) != 1 || ds[0].Status != deploymentPrimary || ds[0].RolloutState != rolloutCompleted {
		tb.Fatalf("want one COMPLETED PRIMARY deployment:\n%s", s.describe())
	}
	want := s.svc.DesiredCount
	perInstance := map[string]int{}
	for _, t := range s.liveOf("") {
		in := s.instance(t.Instance)
		if t.Deployment != ds[0].ID || t.LastStatus != taskRunning || (t.HealthChecked && t.Health != healthHealthy) {
			tb.Fatalf("task %s is not a healthy task of %s:\n%s", t.ID, ds[0].ID, s.describe())
		}
		if in.Status != statusActive {
			tb.Fatalf("task %s left on %s instance:\n%s", t.ID, in.Status, s.describe())
		}
		perInstance[t.Instance]++
	}
	if len(s.liveOf("")) != want || ds[0].RunningCount != want {
		tb.Fatalf("want %d tasks:\n%s", want, s.describe())
	}
	if s.svc.Scheduling == scheduleDaemon {
		for _, in := range s.insts {
			if n := perInstance[in.ID]; (in.Status == statusActive && in.Eligible) != (n == 1) || n > 1 {
				tb.Fatalf("instance %s holds %d daemon tasks:\n%s", in.ID, n, s.describe())
			}
		}
	}
	if s.svc.SteadySince.IsZero() || !slices.ContainsFunc(s.events, func(e string) bool { return strings.HasSuffix(e, "steady state.") }) {
		tb.Fatalf("no steady state:\n%s", s.describe())
	}
}

// TestPropertyServices: on random services and clusters, through random
// changes and failures, every step keeps within maximumPercent and
// minimumHealthyPercent, the breaker trips exactly at its threshold, and once
// tasks stop failing the service converges to one COMPLETED deployment with
// the desired healthy tasks (or, deleted, to INACTIVE).
func TestPropertyServices(t *testing.T) {
	for _, scheduling := range []string{"REPLICA", scheduleDaemon} {
		for seed := range uint64(250) {
			t.Run(fmt.Sprintf("%s/%d", scheduling, seed), func(t *testing.T) {
				r := rand.New(rand.NewPCG(seed, 11))
				s, desired := randomSim(t, r, scheduling)
				deleteAt := -1
				if r.IntN(5) == 0 {
					deleteAt = r.IntN(150)
				}
				for i := range 150 {
					s.step()
					s.chaos(r, desired)
					if i == deleteAt {
						s.svc.Status, s.svc.DesiredCount = statusDraining, 0
					}
					s.tick(time.Duration(200+r.IntN(2800)) * time.Millisecond)
				}
				s.heal()
				s.settle()
				s.assertConverged(t)
			})
		}
	}
}

// TestPropertyBreakerThreshold: with tasks failing one at a time, the
// breaker trips on the very failure that reaches the threshold, and rolls
// back when it can.
func TestPropertyBreakerThreshold(t *testing.T) {
	for seed := range uint64(60) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 5))
			pc := []percents{{200, 100}, {100, 0}, {200, 50}}[r.IntN(3)]
			d := 1 + r.IntN(12)
			if !canRoll(d, pc) {
				d++
			}
			svc := Service{Name: "api", Status: statusActive, DesiredCount: d, MaxPercent: pc.max, MinHealthyPercent: pc.min,
				CircuitBreaker: true, Rollback: r.IntN(2) == 0}
			s := newSim(t, svc, "a", "b", "c")
			s.rnd, s.oneAtATime = r, true
			s.deploy("td:good")
			s.run(2000, time.Second)
			good := len(s.liveOf(""))

			bad := s.deploy("td:bad")
			s.failTD["td:bad"] = true
			var failed Deployment
			for range 5000 {
				p := s.step()
				if i := slices.IndexFunc(p.Service.Deployments, func(x Deployment) bool { return x.ID == bad }); i >= 0 &&
					p.Service.Deployments[i].RolloutState == rolloutFailed {
					failed = p.Service.Deployments[i]
					break
				}
				s.tick(time.Second)
			}
			if want := min(max((d+1)/2, 3), 200); failed.FailedTasks != want {
				t.Fatalf("breaker tripped at %d failed tasks, want %d\n%s", failed.FailedTasks, want, s.describe())
			}
			if !svc.Rollback {
				for range 50 {
					s.tick(time.Second)
					if p := s.step(); len(p.Start) > 0 {
						t.Fatalf("a FAILED deployment without rollback starts tasks: %+v", p.Start)
					}
				}
				if n := len(s.liveOf(s.svc.Deployments[1].ID)); n < min(good, (d*pc.min+99)/100) {
					t.Fatalf("old deployment keeps %d tasks", n)
				}
				return
			}
			if s.svc.Deployments[0].RollbackOf != bad || s.svc.Deployments[0].TaskDefinition != "td:good" {
				t.Fatalf("no rollback: %+v", s.svc.Deployments)
			}
			s.run(3000, time.Second)
			s.assertConverged(t)
			if s.svc.Deployments[0].TaskDefinition != "td:good" || s.trips != 1 {
				t.Fatalf("after rollback: %+v, %d trips", s.svc.Deployments, s.trips)
			}
		})
	}
}
