package reconcile

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// t0 is when every test starts.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// sim is a small cluster that applies plans the way the controller and the
// agents would: started tasks go PROVISIONING → PENDING → RUNNING (or fail
// to start) → HEALTHY (or UNHEALTHY) one stage per tick, stopped tasks
// become STOPPED on the next tick, a silent agent reports nothing. With rnd
// nil it is deterministic (every task moves every tick, placement is
// round-robin); with rnd set, tasks move at random moments and fail at the
// given rates.
type sim struct {
	tb     testing.TB
	rnd    *rand.Rand
	now    time.Time
	svc    Service
	tasks  []Task
	insts  []*simInstance
	events []string
	last   Plan
	seq    int

	healthChecks       bool            // started tasks have container health checks
	failTD, sickTD     map[string]bool // task definitions whose tasks fail to start / fail health checks
	failRate, sickRate float64         // random failures of any task definition
	oneAtATime         bool            // a tick moves one task only (failures arrive one by one)
	check              bool            // check the invariants at every step
	trips              int             // circuit breaker trips seen
}

type simInstance struct {
	Instance
	silentSince time.Time
}

func newSim(tb testing.TB, svc Service, instances ...string) *sim {
	s := &sim{tb: tb, now: t0, svc: svc, failTD: map[string]bool{}, sickTD: map[string]bool{}, check: true}
	for _, id := range instances {
		s.addInstance(id)
	}
	return s
}

func (s *sim) addInstance(id string) *simInstance {
	in := &simInstance{Instance: Instance{ID: id, Status: statusActive, Connected: true, Eligible: true}}
	s.insts = append(s.insts, in)
	return in
}

func (s *sim) instance(id string) *simInstance {
	for _, in := range s.insts {
		if in.ID == id {
			return in
		}
	}
	s.tb.Fatalf("no instance %s", id)
	return nil
}

func (s *sim) disconnect(id string) {
	in := s.instance(id)
	if in.Connected {
		in.Connected, in.silentSince = false, s.now
	}
}

func (s *sim) input() Input {
	in := Input{Now: s.now, Service: s.svc, Tasks: slices.Clone(s.tasks)}
	for _, si := range s.insts {
		inst := si.Instance
		if !inst.Connected {
			inst.DisconnectedFor = s.now.Sub(si.silentSince)
		}
		in.Instances = append(in.Instances, inst)
	}
	s.seq++
	in.NewDeploymentID = fmt.Sprintf("ecs-svc/%019d", 9000000000000000000+s.seq)
	return in
}

// step reconciles once, applies the plan and checks the invariants.
func (s *sim) step() Plan {
	s.tb.Helper()
	in := s.input()
	p := Reconcile(in)
	s.apply(p)
	if s.check {
		checkStep(s.tb, in, p, s.tasks)
	}
	if p.Service.Status != in.Service.Status && p.Service.Status == statusInactive && len(p.Service.Deployments) == 0 {
		s.tb.Fatalf("INACTIVE service lost its deployments")
	}
	s.last = p
	return p
}

// deploy is what UpdateService does with a new task definition.
func (s *sim) deploy(td string) string {
	s.seq++
	id := fmt.Sprintf("ecs-svc/%019d", s.seq)
	for i := range s.svc.Deployments {
		s.svc.Deployments[i].Status = deploymentActive
	}
	d := Deployment{ID: id, Status: deploymentPrimary, TaskDefinition: td, RolloutState: rolloutInProgress,
		DesiredCount: s.svc.DesiredCount, CreatedAt: s.now, UpdatedAt: s.now}
	s.svc.Deployments = append([]Deployment{d}, s.svc.Deployments...)
	return id
}

func (s *sim) taskDef(deployment string) string {
	for _, d := range s.svc.Deployments {
		if d.ID == deployment {
			return d.TaskDefinition
		}
	}
	return ""
}

func (s *sim) apply(p Plan) {
	s.tb.Helper()
	stopped := map[string]bool{}
	for _, st := range p.Stop {
		t := s.task(st.Task)
		if t.LastStatus == taskStopped {
			s.tb.Fatalf("plan stops %s, already STOPPED", st.Task)
		}
		stopped[t.ID] = true
		t.DesiredStatus, t.StopCode, t.StoppedReason = taskStopped, StopCodeScheduler, st.Reason
		if st.Immediately {
			t.LastStatus, t.StoppedAt = taskStopped, s.now
		}
	}
	for _, sh := range p.Shrink {
		var cands []*Task
		for i := range s.tasks {
			t := &s.tasks[i]
			if t.Deployment == sh.Deployment && t.DesiredStatus == taskRunning && t.LastStatus != taskStopped && !stopped[t.ID] {
				cands = append(cands, t)
			}
		}
		if len(cands) < sh.Count {
			s.tb.Fatalf("shrink %d of %s: only %d live", sh.Count, sh.Deployment, len(cands))
		}
		for _, t := range cands {
			if t.LastStatus != taskRunning || (t.HealthChecked && t.Health != healthHealthy) {
				s.tb.Fatalf("shrink of %s may pick %s, which is not healthy (%s %s)", sh.Deployment, t.ID, t.LastStatus, t.Health)
			}
		}
		if s.rnd != nil {
			s.rnd.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
		}
		for _, t := range cands[:sh.Count] {
			stopped[t.ID] = true
			t.DesiredStatus, t.StopCode, t.StoppedReason = taskStopped, StopCodeScheduler, sh.Reason
		}
	}
	s.svc = p.Service
	for _, st := range p.Start {
		if st.Instances != nil {
			for _, id := range st.Instances {
				s.startTask(st.Deployment, id)
			}
			continue
		}
		for range st.Count {
			if id := s.place(); id != "" {
				s.startTask(st.Deployment, id)
			}
		}
	}
	s.events = append(s.events, p.Events...)
	for _, e := range p.Events {
		if strings.Contains(e, "deployment failed") {
			s.trips++
		}
	}
}

// place picks an ACTIVE, connected, Eligible instance, or "" if none.
func (s *sim) place() string {
	var ok []string
	for _, in := range s.insts {
		if in.Status == statusActive && in.Connected && in.Eligible {
			ok = append(ok, in.ID)
		}
	}
	if len(ok) == 0 {
		return ""
	}
	if s.rnd != nil {
		return ok[s.rnd.IntN(len(ok))]
	}
	return ok[len(s.tasks)%len(ok)]
}

func (s *sim) startTask(deployment, instance string) {
	s.seq++
	s.tasks = append(s.tasks, Task{
		ID: fmt.Sprintf("t%04d", s.seq), Deployment: deployment, Instance: instance,
		LastStatus: "PROVISIONING", DesiredStatus: taskRunning, HealthChecked: s.healthChecks,
		CreatedAt: s.now,
	})
}

func (s *sim) task(id string) *Task {
	for i := range s.tasks {
		if s.tasks[i].ID == id {
			return &s.tasks[i]
		}
	}
	s.tb.Fatalf("plan names unknown task %s", id)
	return nil
}

// tick lets dt pass: tasks on connected instances move one stage.
func (s *sim) tick(dt time.Duration) {
	s.now = s.now.Add(dt)
	moved := 0
	order := make([]int, len(s.tasks))
	for i := range order {
		order[i] = i
	}
	if s.rnd != nil {
		s.rnd.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	for _, i := range order {
		t := &s.tasks[i]
		in := s.findInstance(t.Instance)
		if t.LastStatus == taskStopped || in == nil || !in.Connected || (s.oneAtATime && moved > 0) {
			continue
		}
		if s.rnd != nil && s.rnd.IntN(3) == 0 {
			continue
		}
		if s.advance(t) {
			moved++
		}
	}
	for _, in := range s.insts {
		if in.ReplicaTasks > 0 {
			in.ReplicaTasks--
		}
	}
	s.tasks = slices.DeleteFunc(s.tasks, func(t Task) bool {
		return t.LastStatus == taskStopped && s.now.Sub(t.StoppedAt) > time.Hour
	})
}

func (s *sim) findInstance(id string) *simInstance {
	for _, in := range s.insts {
		if in.ID == id {
			return in
		}
	}
	return nil
}

// advance moves a task one stage and says whether it moved.
func (s *sim) advance(t *Task) bool {
	td := s.taskDef(t.Deployment)
	switch {
	case t.DesiredStatus == taskStopped:
		t.LastStatus, t.StoppedAt = taskStopped, s.now
	case t.LastStatus == "PROVISIONING":
		t.LastStatus = "PENDING"
	case t.LastStatus == "PENDING" && (s.failTD[td] || s.chance(s.failRate)):
		t.LastStatus, t.DesiredStatus, t.StoppedAt = taskStopped, taskStopped, s.now
		t.StopCode, t.StoppedReason = stopCodeFailedToStart, "CannotPullContainerError: pull image manifest has been retried 5 time(s)"
	case t.LastStatus == "PENDING":
		t.LastStatus, t.StartedAt = taskRunning, s.now
		if t.HealthChecked {
			t.Health = "UNKNOWN"
		}
	case t.HealthChecked && t.Health == "UNKNOWN" && (s.sickTD[td] || s.chance(s.sickRate)):
		t.Health = healthUnhealthy
	case t.HealthChecked && t.Health == "UNKNOWN":
		t.Health = healthHealthy
	default:
		return false
	}
	return true
}

func (s *sim) chance(p float64) bool { return s.rnd != nil && p > 0 && s.rnd.Float64() < p }

// run steps and ticks until the plan is empty and nothing is moving, at
// most n times; it returns how many steps it took.
func (s *sim) run(n int, dt time.Duration) int {
	s.tb.Helper()
	for i := range n {
		p := s.step()
		if s.settled(p) {
			return i
		}
		s.tick(dt)
	}
	s.tb.Fatalf("not settled after %d steps: %s", n, s.describe())
	return n
}

// settled: nothing to do, nothing to wait for, no task between states.
func (s *sim) settled(p Plan) bool {
	if len(p.Start)+len(p.Stop)+len(p.Shrink) > 0 || p.Requeue > 0 {
		return false
	}
	for _, t := range s.tasks {
		if t.LastStatus != taskStopped && (t.DesiredStatus == taskStopped || t.LastStatus != taskRunning ||
			(t.HealthChecked && t.Health == "UNKNOWN")) {
			return false
		}
	}
	return true
}

func (s *sim) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "service %s %s desired %d max %d min %d\n", s.svc.Name, s.svc.Status, s.svc.DesiredCount, s.svc.MaxPercent, s.svc.MinHealthyPercent)
	for _, d := range s.svc.Deployments {
		fmt.Fprintf(&b, "  %+v\n", d)
	}
	for _, in := range s.insts {
		fmt.Fprintf(&b, "  instance %+v\n", in.Instance)
	}
	for _, t := range s.tasks {
		if t.LastStatus != taskStopped {
			fmt.Fprintf(&b, "  task %s %s %s/%s %s on %s\n", t.ID, t.Deployment, t.LastStatus, t.DesiredStatus, t.Health, t.Instance)
		}
	}
	fmt.Fprintf(&b, "  last plan %+v\n", s.last)
	return b.String()
}

// liveOf lists the live tasks (per the package's definition) of a deployment
// ("" for any).
func (s *sim) liveOf(deployment string) []Task {
	var out []Task
	for _, t := range s.tasks {
		if t.DesiredStatus == taskRunning && t.LastStatus != taskStopped && (deployment == "" || t.Deployment == deployment) {
			out = append(out, t)
		}
	}
	return out
}
