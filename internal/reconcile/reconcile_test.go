package reconcile

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// Fixtures: a service "web" with its first deployment "ecs-svc/1" (td web:1)
// and tasks described in a line each.

func replica(desired, maxPct, minPct int, deps ...Deployment) Service {
	return Service{Name: "web", Status: statusActive, Scheduling: "REPLICA", DesiredCount: desired,
		MaxPercent: maxPct, MinHealthyPercent: minPct, Deployments: deps}
}

func daemonService(deps ...Deployment) Service {
	return Service{Name: "agent", Status: statusActive, Scheduling: scheduleDaemon, MaxPercent: 100, Deployments: deps}
}

func dep(id, td, status, rollout string) Deployment {
	return Deployment{ID: id, Status: status, TaskDefinition: td, RolloutState: rollout, CreatedAt: t0, UpdatedAt: t0}
}

func inProgress(id, td string) Deployment { return dep(id, td, deploymentPrimary, rolloutInProgress) }

// tk makes a task: "id deployment instance STATUS [HEALTH]", STATUS one of
// PENDING, RUNNING, STOPPING (desired STOPPED), FAILED (stopped before
// RUNNING), STOPPED (by the scheduler, after running).
func tk(spec string, at time.Time) Task {
	f := strings.Fields(spec)
	t := Task{ID: f[0], Deployment: f[1], Instance: f[2], LastStatus: f[3], DesiredStatus: taskRunning, CreatedAt: at.Add(-time.Minute)}
	switch f[3] {
	case taskRunning:
		t.StartedAt = at.Add(-30 * time.Second)
	case "STOPPING":
		t.LastStatus, t.DesiredStatus, t.StartedAt = taskRunning, taskStopped, at.Add(-30*time.Second)
	case "FAILED":
		t.LastStatus, t.DesiredStatus, t.StopCode, t.StoppedAt = taskStopped, taskStopped, "EssentialContainerExited", at
	case taskStopped:
		t.DesiredStatus, t.StopCode, t.StartedAt, t.StoppedAt = taskStopped, StopCodeScheduler, at.Add(-time.Hour), at
	}
	if len(f) > 4 {
		t.HealthChecked, t.Health = true, f[4]
	}
	return t
}

func tasks(at time.Time, specs ...string) []Task {
	var out []Task
	for _, s := range specs {
		out = append(out, tk(s, at))
	}
	return out
}

func instances(ids ...string) []Instance {
	var out []Instance
	for _, id := range ids {
		out = append(out, Instance{ID: id, Status: statusActive, Connected: true, Eligible: true})
	}
	return out
}

// actions is a plan's Start, Stop and Shrink, for comparing.
type actions struct {
	Start  []Start
	Stop   []Stop
	Shrink []Shrink
}

func actionsOf(p Plan) actions { return actions{p.Start, p.Stop, p.Shrink} }

func scaling(id string) string {
	return fmt.Sprintf("Scaling activity initiated by (deployment %s)", id)
}

func TestPlans(t *testing.T) {
	drainingI2 := instances("i1", "i2")
	drainingI2[1].Status = statusDraining
	lostI2 := instances("i1", "i2")
	lostI2[1].Connected, lostI2[1].DisconnectedFor = false, 3*time.Minute+time.Second
	silentI2 := instances("i1", "i2")
	silentI2[1].Connected, silentI2[1].DisconnectedFor = false, 2*time.Minute
	rolling := []Deployment{inProgress("new", "web:2"), dep("old", "web:1", deploymentActive, rolloutCompleted)}

	cases := []struct {
		name    string
		svc     Service
		tasks   []Task
		insts   []Instance
		want    actions
		requeue time.Duration
	}{{
		name:  "create starts desiredCount tasks",
		svc:   replica(3, 200, 100, inProgress("d1", "web:1")),
		insts: instances("i1"),
		want:  actions{Start: []Start{{Deployment: "d1", Count: 3}}},
	}, {
		name:  "scale up starts the difference",
		svc:   replica(5, 200, 100, dep("d1", "web:1", deploymentPrimary, rolloutCompleted)),
		tasks: tasks(t0, "a d1 i1 RUNNING", "b d1 i1 RUNNING", "c d1 i1 RUNNING"),
		insts: instances("i1"),
		want:  actions{Start: []Start{{Deployment: "d1", Count: 2}}},
	}, {
		name:  "scale down shrinks the primary, pending tasks first",
		svc:   replica(1, 200, 100, dep("d1", "web:1", deploymentPrimary, rolloutCompleted)),
		tasks: tasks(t0, "a d1 i1 RUNNING", "b d1 i1 PENDING", "c d1 i1 RUNNING"),
		insts: instances("i1"),
		want: actions{Stop: []Stop{{Task: "b", Reason: scaling("d1")}},
			Shrink: []Shrink{{Deployment: "d1", Count: 1, Reason: scaling("d1")}}},
	}, {
		name:  "rolling 200/100 starts the new tasks first",
		svc:   replica(4, 200, 100, rolling...),
		tasks: tasks(t0, "a old i1 RUNNING", "b old i1 RUNNING", "c old i1 RUNNING", "d old i1 RUNNING"),
		insts: instances("i1"),
		want:  actions{Start: []Start{{Deployment: "new", Count: 4}}},
	}, {
		name: "rolling 200/100 shrinks the old as the new become healthy",
		svc:  replica(4, 200, 100, rolling...),
		tasks: tasks(t0, "a old i1 RUNNING", "b old i1 RUNNING", "c old i1 RUNNING", "d old i1 RUNNING",
			"e new i1 RUNNING", "f new i1 RUNNING", "g new i1 PENDING", "h new i1 PENDING"),
		insts: instances("i1"),
		want:  actions{Shrink: []Shrink{{Deployment: "old", Count: 2, Reason: scaling("new")}}},
	}, {
		name:  "rolling 100/50 stops half the old and starts as many new",
		svc:   replica(4, 100, 50, rolling...),
		tasks: tasks(t0, "a old i1 RUNNING", "b old i1 RUNNING", "c old i1 RUNNING", "d old i1 RUNNING"),
		insts: instances("i1"),
		want: actions{Start: []Start{{Deployment: "new", Count: 2}},
			Shrink: []Shrink{{Deployment: "old", Count: 2, Reason: scaling("new")}}},
	}, {
		name: "old tasks that are not healthy go before healthy ones",
		svc:  replica(2, 100, 100, rolling...),
		tasks: tasks(t0, "a old i1 RUNNING HEALTHY", "b old i1 RUNNING UNKNOWN", "c new i1 RUNNING HEALTHY",
			"d new i1 RUNNING HEALTHY"),
		insts: instances("i1"),
		want: actions{Stop: []Stop{{Task: "b", Reason: scaling("new")}},
			Shrink: []Shrink{{Deployment: "old", Count: 1, Reason: scaling("new")}}},
	}, {
		name:  "tasks of a lost agent are stopped at once and replaced",
		svc:   replica(2, 200, 100, dep("d1", "web:1", deploymentPrimary, rolloutCompleted)),
		tasks: tasks(t0, "a d1 i1 RUNNING", "b d1 i2 RUNNING"),
		insts: lostI2,
		want: actions{Start: []Start{{Deployment: "d1", Count: 1}},
			Stop: []Stop{{Task: "b", Reason: ReasonAgentLost, Immediately: true}}},
	}, {
		name:    "tasks of a silent agent wait for the 3 minutes",
		svc:     replica(2, 200, 100, dep("d1", "web:1", deploymentPrimary, rolloutCompleted)),
		tasks:   tasks(t0, "a d1 i1 RUNNING", "b d1 i2 RUNNING"),
		insts:   silentI2,
		requeue: time.Minute + time.Second,
	}, {
		name:  "draining instance: the replacement starts first",
		svc:   replica(2, 200, 100, dep("d1", "web:1", deploymentPrimary, rolloutCompleted)),
		tasks: tasks(t0, "a d1 i1 RUNNING", "b d1 i2 RUNNING", "c d1 i2 PENDING"),
		insts: drainingI2,
		want: actions{Start: []Start{{Deployment: "d1", Count: 1}},
			Stop: []Stop{{Task: "c", Reason: ReasonDraining}}},
	}, {
		name:  "draining instance: the drained task stops once the replacement is healthy",
		svc:   replica(2, 200, 100, dep("d1", "web:1", deploymentPrimary, rolloutCompleted)),
		tasks: tasks(t0, "a d1 i1 RUNNING", "b d1 i2 RUNNING", "c d1 i1 RUNNING"),
		insts: drainingI2,
		want:  actions{Stop: []Stop{{Task: "b", Reason: ReasonDraining}}},
	}, {
		name:  "draining instance with 100/50: stop first, then replace",
		svc:   replica(2, 100, 50, dep("d1", "web:1", deploymentPrimary, rolloutCompleted)),
		tasks: tasks(t0, "a d1 i1 RUNNING", "b d1 i2 RUNNING"),
		insts: drainingI2,
		want: actions{Start: []Start{{Deployment: "d1", Count: 1}},
			Stop: []Stop{{Task: "b", Reason: ReasonDraining}}},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := Reconcile(Input{Now: t0, Service: c.svc, Tasks: c.tasks, Instances: c.insts})
			if got := actionsOf(p); !reflect.DeepEqual(got, c.want) {
				t.Errorf("plan\n got %+v\nwant %+v", got, c.want)
			}
			if p.Requeue != c.requeue {
				t.Errorf("requeue %s, want %s", p.Requeue, c.requeue)
			}
		})
	}
}

func TestCompletedAndSteadyOnce(t *testing.T) {
	svc := replica(2, 200, 100, inProgress("new", "web:2"), dep("old", "web:1", deploymentActive, rolloutCompleted))
	in := Input{Now: t0, Service: svc, Instances: instances("i1"),
		Tasks: tasks(t0, "a new i1 RUNNING", "b new i1 RUNNING", "c old i1 STOPPED")}
	p := Reconcile(in)
	want := []string{
		"(service web) (deployment new) deployment completed.",
		"(service web) has reached a steady state.",
	}
	if !reflect.DeepEqual(p.Events, want) {
		t.Fatalf("events %q, want %q", p.Events, want)
	}
	d := p.Service.Deployments
	if len(d) != 1 || d[0].RolloutState != rolloutCompleted || d[0].RunningCount != 2 || d[0].RolloutStateReason != "ECS deployment new completed." {
		t.Fatalf("deployments %+v", d)
	}
	if *p.Service.LastCompleted != (Completed{ID: "new", TaskDefinition: "web:2"}) || !p.Service.SteadySince.Equal(t0) {
		t.Fatalf("service %+v", p.Service)
	}
	in.Service, in.Now = p.Service, t0.Add(time.Minute)
	if p2 := Reconcile(in); len(p2.Events) != 0 || !p2.Service.SteadySince.Equal(t0) {
		t.Fatalf("second step: events %q, steady since %s", p2.Events, p2.Service.SteadySince)
	}
}

func TestHealthGrace(t *testing.T) {
	svc := replica(1, 200, 100, dep("d1", "web:1", deploymentPrimary, rolloutCompleted))
	svc.HealthCheckGrace = time.Minute
	task := tk("a d1 i1 RUNNING UNHEALTHY", t0)
	task.StartedAt = t0.Add(-20 * time.Second)
	in := Input{Now: t0, Service: svc, Tasks: []Task{task}, Instances: instances("i1")}

	// Within the grace: left alone, not healthy, looked at again when it ends.
	p := Reconcile(in)
	if len(p.Stop)+len(p.Start) > 0 || p.Requeue != 40*time.Second || !p.Service.SteadySince.IsZero() {
		t.Fatalf("within grace: %+v requeue %s", actionsOf(p), p.Requeue)
	}
	// After it: stopped and replaced.
	in.Now = t0.Add(40 * time.Second)
	p = Reconcile(in)
	want := actions{Start: []Start{{Deployment: "d1", Count: 1}}, Stop: []Stop{{Task: "a", Reason: ReasonHealthCheck}}}
	if !reflect.DeepEqual(actionsOf(p), want) || !slices.Contains(p.Events, "(service web) (task a) failed container health checks.") {
		t.Fatalf("after grace: %+v %q", actionsOf(p), p.Events)
	}
	// Once STOPPED it counts as a failed task and holds the next start back.
	task.DesiredStatus, task.LastStatus, task.StopCode, task.StoppedReason = taskStopped, taskStopped, StopCodeScheduler, ReasonHealthCheck
	task.StoppedAt = in.Now
	in.Tasks, in.Now = []Task{task}, in.Now.Add(100*time.Millisecond)
	p = Reconcile(in)
	if p.Service.Deployments[0].FailedTasks != 1 || p.Service.StartFailures != 1 || len(p.Start) != 0 || p.Requeue != 900*time.Millisecond {
		t.Fatalf("after the stop: %+v requeue %s", p.Service, p.Requeue)
	}
}

func TestBackoff(t *testing.T) {
	svc := replica(1, 200, 100, inProgress("d1", "web:1"))
	svc.Deployments[0].CreatedAt = t0.Add(-time.Hour)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	failedAt := func(id string, d time.Duration) Task { return tk(id+" d1 i1 FAILED", at(d)) }
	cases := []struct {
		name      string
		tasks     []Task
		now       time.Duration
		failures  int
		nextStart time.Duration
		start     bool
	}{
		{"no failure", nil, 0, 0, 0, true},
		{"one failure waits 1s", []Task{failedAt("a", 0)}, 500 * time.Millisecond, 1, time.Second, false},
		{"one failure, 1s later", []Task{failedAt("a", 0)}, time.Second, 1, time.Second, true},
		{"three failures wait 4s after the last", []Task{failedAt("a", 0), failedAt("b", 2*time.Second), failedAt("c", 5*time.Second)}, 8 * time.Second, 3, 9 * time.Second, false},
		{"many failures wait 5 minutes at most", slices.Repeat([]Task{failedAt("a", 0)}, 20), time.Minute, 20, 5 * time.Minute, false},
		{"a task reaching RUNNING resets", []Task{failedAt("a", 0), failedAt("b", 2*time.Second), tk("c d1 i1 STOPPED", at(10*time.Second))}, 3 * time.Second, 0, -1, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts := c.tasks
			for i := range ts {
				ts[i].ID = fmt.Sprint("t", i)
			}
			if c.name == "a task reaching RUNNING resets" {
				ts[2].StartedAt = at(2500 * time.Millisecond)
			}
			p := Reconcile(Input{Now: at(c.now), Service: svc, Tasks: ts, Instances: instances("i1")})
			next := time.Time{}
			if c.nextStart >= 0 && c.failures > 0 {
				next = at(c.nextStart)
			}
			if p.Service.StartFailures != c.failures || !p.Service.NextStartAt.Equal(next) || (len(p.Start) > 0) != c.start {
				t.Fatalf("failures %d next %s start %v; want %d %s %v", p.Service.StartFailures, p.Service.NextStartAt, p.Start, c.failures, next, c.start)
			}
			if !c.start && p.Requeue != at(c.nextStart).Sub(at(c.now)) {
				t.Fatalf("requeue %s", p.Requeue)
			}
		})
	}
}

// TestBreakerRollsBack: one task failing at a time trips the breaker at
// exactly 3 failures, within 15 s, and the rollback converges.
func TestBreakerRollsBack(t *testing.T) {
	svc := replica(1, 200, 100)
	svc.CircuitBreaker, svc.Rollback = true, true
	s := newSim(t, svc, "i1")
	good := s.deploy("web:1")
	s.run(20, time.Second)
	bad := s.deploy("web:2")
	s.failTD["web:2"] = true
	began := s.now
	for s.trips == 0 {
		if s.step(); s.trips == 0 {
			s.tick(time.Second)
		}
		if s.now.Sub(began) > 15*time.Second {
			t.Fatalf("no trip after 15s:\n%s", s.describe())
		}
	}
	d := s.svc.Deployments
	if len(d) != 3 || d[0].RollbackOf != bad || d[0].TaskDefinition != "web:1" || d[1].ID != bad ||
		d[1].Status != deploymentActive || d[1].RolloutState != rolloutFailed || d[1].FailedTasks != 3 ||
		d[1].RolloutStateReason != "ECS deployment circuit breaker: tasks failed to start." {
		t.Fatalf("deployments after the trip:\n%s", s.describe())
	}
	want := []string{
		"(service web) (deployment " + bad + ") deployment failed: tasks failed to start.",
		"(service web) rolling back to deployment " + good + ".",
	}
	if !reflect.DeepEqual(s.last.Events, want) {
		t.Fatalf("events %q, want %q", s.last.Events, want)
	}
	s.run(30, time.Second)
	s.assertConverged(t)
	if s.svc.Deployments[0].ID != d[0].ID || s.svc.LastCompleted.ID != d[0].ID {
		t.Fatalf("rollback did not complete:\n%s", s.describe())
	}
}

func TestBreakerWithoutLastCompleted(t *testing.T) {
	svc := replica(1, 200, 100)
	svc.CircuitBreaker, svc.Rollback = true, true
	s := newSim(t, svc, "i1")
	first := s.deploy("web:1")
	s.failTD["web:1"] = true
	for range 40 {
		s.step()
		s.tick(time.Second)
	}
	d := s.svc.Deployments
	if s.trips != 1 || len(d) != 1 || d[0].ID != first || d[0].RolloutState != rolloutFailed || d[0].FailedTasks != 3 {
		t.Fatalf("want one FAILED deployment and no rollback:\n%s", s.describe())
	}
	if p := s.step(); len(p.Start) > 0 || len(s.liveOf("")) > 0 {
		t.Fatalf("FAILED deployment still starts tasks: %+v", p.Start)
	}
}

func TestRollingStepByStep(t *testing.T) {
	for _, pc := range []percents{{200, 100}, {100, 50}} {
		t.Run(fmt.Sprintf("%d-%d", pc.max, pc.min), func(t *testing.T) {
			svc := replica(4, pc.max, pc.min)
			s := newSim(t, svc, "i1", "i2")
			s.healthChecks = true
			s.deploy("web:1")
			s.run(20, time.Second)
			next := s.deploy("web:2")
			steps := s.run(30, time.Second)
			s.assertConverged(t)
			if s.svc.Deployments[0].ID != next || steps < 4 {
				t.Fatalf("rolled in %d steps:\n%s", steps, s.describe())
			}
			if n := strings.Count(strings.Join(s.events, "\n"), "steady state"); n != 2 {
				t.Fatalf("%d steady events: %q", n, s.events)
			}
		})
	}
}

func TestDelete(t *testing.T) {
	svc := replica(3, 200, 100)
	s := newSim(t, svc, "i1")
	s.deploy("web:1")
	s.run(20, time.Second)
	s.svc.Status, s.svc.DesiredCount = statusDraining, 0
	p := s.step()
	if want := []Shrink{{Deployment: s.svc.Deployments[0].ID, Count: 3, Reason: scaling(s.svc.Deployments[0].ID)}}; !reflect.DeepEqual(p.Shrink, want) || p.Service.Status != statusDraining {
		t.Fatalf("delete: %+v", actionsOf(p))
	}
	s.tick(time.Second)
	if p := s.step(); p.Service.Status != statusInactive {
		t.Fatalf("all stopped, service %s", p.Service.Status)
	}
}

func TestDaemon(t *testing.T) {
	d1 := []Deployment{dep("d1", "agent:1", deploymentPrimary, rolloutCompleted)}
	rolling := []Deployment{inProgress("d2", "agent:2"), dep("d1", "agent:1", deploymentActive, rolloutCompleted)}
	with := func(change func([]Instance)) []Instance {
		insts := instances("i1", "i2", "i3")
		change(insts)
		return insts
	}
	cases := []struct {
		name    string
		deps    []Deployment
		tasks   []Task
		insts   []Instance
		want    actions
		desired int
		requeue time.Duration
	}{{
		name:    "one task on every eligible instance",
		deps:    d1,
		insts:   with(func(in []Instance) { in[2].Eligible = false }),
		want:    actions{Start: []Start{{Deployment: "d1", Count: 2, Instances: []string{"i1", "i2"}}}},
		desired: 2,
	}, {
		name:    "an instance joining gets one",
		deps:    d1,
		tasks:   tasks(t0, "a d1 i1 RUNNING", "b d1 i2 RUNNING"),
		insts:   instances("i1", "i2", "i3"),
		want:    actions{Start: []Start{{Deployment: "d1", Count: 1, Instances: []string{"i3"}}}},
		desired: 3,
	}, {
		name:    "an instance no longer eligible loses its task",
		deps:    d1,
		tasks:   tasks(t0, "a d1 i1 RUNNING", "b d1 i2 RUNNING", "c d1 i3 RUNNING"),
		insts:   with(func(in []Instance) { in[1].Eligible = false }),
		want:    actions{Stop: []Stop{{Task: "b", Reason: ReasonConstraint}}},
		desired: 2,
	}, {
		name:    "on a draining instance the daemon task waits for the others",
		deps:    d1,
		tasks:   tasks(t0, "a d1 i1 RUNNING", "b d1 i2 RUNNING", "c d1 i3 RUNNING"),
		insts:   with(func(in []Instance) { in[1].Status, in[1].ReplicaTasks = statusDraining, 2 }),
		desired: 2,
		requeue: DaemonDrainPoll,
	}, {
		name:    "on a draining instance a pending daemon task stops at once",
		deps:    d1,
		tasks:   tasks(t0, "a d1 i1 RUNNING", "b d1 i2 PENDING", "c d1 i3 RUNNING"),
		insts:   with(func(in []Instance) { in[1].Status, in[1].ReplicaTasks = statusDraining, 2 }),
		want:    actions{Stop: []Stop{{Task: "b", Reason: ReasonDraining}}},
		desired: 2,
	}, {
		name:    "on a drained instance the daemon task stops last",
		deps:    d1,
		tasks:   tasks(t0, "a d1 i1 RUNNING", "b d1 i2 RUNNING", "c d1 i3 RUNNING"),
		insts:   with(func(in []Instance) { in[1].Status = statusDraining }),
		want:    actions{Stop: []Stop{{Task: "b", Reason: ReasonDraining}}},
		desired: 2,
	}, {
		name:  "a silent agent keeps its task and gets none",
		deps:  d1,
		tasks: tasks(t0, "a d1 i1 RUNNING", "b d1 i2 RUNNING"),
		insts: with(func(in []Instance) {
			in[1].Connected, in[1].DisconnectedFor = false, time.Minute
			in[2].Connected = false
		}),
		desired: 3,
		requeue: 2*time.Minute + time.Second,
	}, {
		name:    "a lost agent's task is stopped at once",
		deps:    d1,
		tasks:   tasks(t0, "a d1 i1 RUNNING", "b d1 i2 RUNNING", "c d1 i3 RUNNING"),
		insts:   with(func(in []Instance) { in[1].Connected, in[1].DisconnectedFor = false, 4*time.Minute }),
		want:    actions{Stop: []Stop{{Task: "b", Reason: ReasonAgentLost, Immediately: true}}},
		desired: 2,
	}, {
		name:    "a task on an instance no longer registered is stopped at once",
		deps:    d1,
		tasks:   tasks(t0, "a d1 i1 RUNNING", "b d1 gone RUNNING"),
		insts:   instances("i1"),
		want:    actions{Stop: []Stop{{Task: "b", Reason: ReasonInstanceGone, Immediately: true}}},
		desired: 1,
	}, {
		name:    "rolling: the old tasks stop first",
		deps:    rolling,
		tasks:   tasks(t0, "a d1 i1 RUNNING", "b d1 i2 RUNNING"),
		insts:   instances("i1", "i2"),
		want:    actions{Stop: []Stop{{Task: "a", Reason: scaling("d2")}, {Task: "b", Reason: scaling("d2")}}},
		desired: 2,
	}, {
		name:    "rolling: the new task starts once the old one is STOPPED",
		deps:    rolling,
		tasks:   tasks(t0, "a d1 i1 STOPPING", "b d1 i2 STOPPED"),
		insts:   instances("i1", "i2"),
		want:    actions{Start: []Start{{Deployment: "d2", Count: 1, Instances: []string{"i2"}}}},
		desired: 2,
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := Reconcile(Input{Now: t0, Service: daemonService(c.deps...), Tasks: c.tasks, Instances: c.insts})
			if got := actionsOf(p); !reflect.DeepEqual(got, c.want) {
				t.Errorf("plan\n got %+v\nwant %+v", got, c.want)
			}
			if p.Requeue != c.requeue || p.Service.DesiredCount != c.desired || p.Service.Deployments[0].DesiredCount != c.desired {
				t.Errorf("requeue %s desired %d; want %s %d", p.Requeue, p.Service.DesiredCount, c.requeue, c.desired)
			}
		})
	}
}
