package engine

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/agent/rt"
	"github.com/gantry-dev/gantry/internal/agentproto"
	"github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// taskManager is the goroutine of one task: it owns the task's state and
// moves each container from its known status towards the desired one.
type taskManager struct {
	e   *Engine
	t   *Task
	log *slog.Logger

	mu      sync.Mutex
	pending *agentproto.Assignment // latest update from a payload
	// localStop is the reason of a stop asked by Engine.StopAll.
	localStop string

	wake     chan struct{}
	stopDone chan string
	inflight map[string]bool // containers with a Stop in progress
	checked  bool
	// retryCleanup delays the next cleanup attempt after one failed.
	retryCleanup time.Time
}

func (e *Engine) newTaskManager(t *Task) *taskManager {
	return &taskManager{
		e: e, t: t,
		log:      e.log.With("task", t.Assignment.TaskArn),
		wake:     make(chan struct{}, 1),
		stopDone: make(chan string, len(t.Containers)),
		inflight: map[string]bool{},
	}
}

// update hands the task manager the task's latest assignment.
func (tm *taskManager) update(a agentproto.Assignment) {
	tm.mu.Lock()
	tm.pending = &a
	tm.mu.Unlock()
	tm.poke()
}

// poke wakes the task manager to re-inspect its containers and progress.
func (tm *taskManager) poke() {
	select {
	case tm.wake <- struct{}{}:
	default:
	}
}

func (tm *taskManager) now() time.Time { return tm.e.cfg.Now() }

func (tm *taskManager) publish() { tm.e.publish(tm.t) }

// run drives the task until its containers are stopped and cleaned up, or
// ctx ends (an agent stopping leaves its containers running, to re-adopt).
func (tm *taskManager) run(ctx context.Context) {
	tm.adopt(ctx)
	tm.publish()
	for ctx.Err() == nil {
		tm.takeUpdate()
		tm.takeLocalStop()
		tm.refresh(ctx)
		tm.step(ctx)
		tm.publish()
		if tm.t.Known == StatusStopped {
			if due := tm.cleanupAt(); !due.After(tm.now()) {
				tm.cleanup(ctx)
				tm.publish()
				if tm.t.CleanedUp {
					return
				}
				tm.retryCleanup = tm.now().Add(10 * time.Second)
			}
		}
		timer := time.NewTimer(tm.nextWake())
		select {
		case <-tm.wake:
		case name := <-tm.stopDone:
			delete(tm.inflight, name)
		case <-timer.C:
		case <-ctx.Done():
		}
		timer.Stop()
	}
}

// takeUpdate applies the latest assignment: a desired status of STOPPED
// stops the task with the control plane's reason.
func (tm *taskManager) takeUpdate() {
	tm.mu.Lock()
	a := tm.pending
	tm.pending = nil
	tm.mu.Unlock()
	if a == nil || a.DesiredStatus != agentproto.StatusStopped {
		return
	}
	if len(a.Definition.ContainerDefinitions) == 0 {
		tm.t.Unreported = true
	}
	tm.stopTask(a.StoppedReason, a.StopCode)
}

// stopTask sets the task's desired status to STOPPED; the first reason
// given is kept.
func (tm *taskManager) stopTask(reason, code string) {
	t := tm.t
	if t.Desired != agentproto.StatusStopped {
		tm.log.Info("stopping task", "reason", reason, "stop_code", code)
		t.Desired = agentproto.StatusStopped
	}
	if t.StoppedReason == "" && t.StopCode == "" {
		t.StoppedReason, t.StopCode = reason, code
	}
}

// nextWake is how long to sleep when nothing happens: until cleanup for a
// stopped task, else until the next resync or dependency timeout.
func (tm *taskManager) nextWake() time.Duration {
	now := tm.now()
	if tm.t.Known == StatusStopped {
		return max(tm.cleanupAt().Sub(now), 10*time.Millisecond)
	}
	wait := tm.e.cfg.Resync
	for _, c := range tm.t.Containers {
		if c.Known >= StatusRunning {
			continue
		}
		if _, _, dl := tm.depsMet(c); !dl.IsZero() {
			wait = min(wait, max(dl.Sub(now), 10*time.Millisecond))
		}
	}
	return wait
}

// step makes all the progress it can towards the desired status.
func (tm *taskManager) step(ctx context.Context) {
	t := tm.t
	if t.Known == StatusStopped {
		return
	}
	if t.Desired == agentproto.StatusRunning && !tm.checked {
		tm.checked = true
		if bad := Check(&t.Assignment.Definition, tm.e.cfg.LogDrivers); len(bad) > 0 {
			tm.failAll("UnsupportedParameterError: this agent cannot honour " + strings.Join(bad, "; "))
		} else if refused := tm.e.cfg.Policy.Refused(&t.Assignment.Definition); len(refused) > 0 {
			if !slices.ContainsFunc(t.Containers, func(c *Container) bool { return c.RuntimeID != "" }) {
				tm.failAll("Refused by the instance: " + strings.Join(refused, "; "))
			} else {
				// Re-adopted after a restart with a stricter policy: the
				// policy is for tasks still to start; this one keeps running.
				tm.log.Warn("a task this instance now refuses was already started; it keeps running", "refused", strings.Join(refused, "; "))
			}
		}
	}
	if t.Desired == agentproto.StatusRunning && !t.VolumesReady {
		if err := tm.volumes(ctx); err != nil {
			tm.failAll("CannotCreateVolumeError: " + err.Error())
		} else {
			t.VolumesReady = true
		}
	}
	for progressed := true; progressed && t.Desired == agentproto.StatusRunning && ctx.Err() == nil; {
		progressed = false
		for _, c := range t.Containers {
			if c.Known >= StatusRunning || t.Desired != agentproto.StatusRunning {
				continue
			}
			ok, never, _ := tm.depsMet(c)
			if never != "" {
				tm.failAll("DependencyNeverMet: " + never)
				break
			}
			if !ok {
				continue
			}
			tm.startContainer(ctx, c)
			tm.rollupRunning()
			tm.publish() // one report: the container and, with the last one, the task RUNNING
			progressed = true
		}
	}
	if t.Desired == agentproto.StatusStopped {
		tm.stopContainers(ctx)
	}
	tm.rollupRunning()
	if stopped := tm.count(StatusStopped); stopped == len(t.Containers) {
		if t.Desired != agentproto.StatusStopped {
			tm.stopTask(ReasonEssentialExited, agentproto.StopCodeEssentialContainerExited)
		}
		t.Known = StatusStopped
		now := tm.now()
		t.ExecutionStoppedAt = &now
		tm.log.Info("task stopped", "reason", t.StoppedReason)
	}
}

// rollupRunning makes the task RUNNING once every container has run (at
// least one still running, the others stopped), while it is meant to run.
func (tm *taskManager) rollupRunning() {
	t := tm.t
	running, stopped := tm.count(StatusRunning), tm.count(StatusStopped)
	if t.Known < StatusRunning && running > 0 && running+stopped == len(t.Containers) && t.Desired == agentproto.StatusRunning {
		t.Known = StatusRunning
		tm.log.Info("task running")
	}
}

// count is how many of the task's containers are known in status st.
func (tm *taskManager) count(st Status) int {
	n := 0
	for _, c := range tm.t.Containers {
		if c.Known == st {
			n++
		}
	}
	return n
}

// failAll stops a task that cannot start: containers never created are
// marked STOPPED with the reason.
func (tm *taskManager) failAll(reason string) {
	tm.log.Warn("task failed to start", "reason", reason)
	for _, c := range tm.t.Containers {
		if c.Known < StatusCreated && c.Reason == "" {
			c.Reason = reason
		}
	}
	tm.stopTask(reason, agentproto.StopCodeTaskFailedToStart)
}

// containerFailed marks a container that could not be pulled, created or
// started; an essential one fails the task.
func (tm *taskManager) containerFailed(c *Container, reason string) {
	tm.log.Warn("container failed", "container", c.Name, "reason", reason)
	c.Known = StatusStopped
	c.Reason = reason
	if d := tm.t.def(c.Name); d != nil && essential(d) {
		tm.stopTask(reason, agentproto.StopCodeTaskFailedToStart)
	}
}

// startContainer pulls, creates and starts one container, as far as it has
// not yet been done.
func (tm *taskManager) startContainer(ctx context.Context, c *Container) {
	t := tm.t
	d := t.def(c.Name)
	if c.Known < StatusPulled {
		start := tm.now()
		if t.PullStartedAt == nil {
			t.PullStartedAt = &start
		}
		res, err := tm.e.rt.EnsureImage(ctx, d.Image, tm.e.cfg.PullPolicy, tm.e.cfg.Credentials)
		end := tm.now()
		t.PullStoppedAt = &end
		if err != nil {
			tm.containerFailed(c, "CannotPullContainerError: "+err.Error())
			return
		}
		c.ImageDigest = res.Digest
		c.Known = StatusPulled
	}
	if c.Known < StatusCreated {
		if c.RuntimeName == "" {
			c.RuntimeName = runtimeName(t.Assignment.Definition.Family, t.Assignment.Definition.Revision, c.Name)
			tm.publish() // checkpoint the name before the container exists
		}
		spec, err := tm.spec(c, d)
		if err != nil {
			tm.containerFailed(c, "CannotCreateContainerError: "+err.Error())
			return
		}
		id, err := tm.e.rt.Create(ctx, spec)
		if err != nil {
			tm.containerFailed(c, "CannotCreateContainerError: "+err.Error())
			return
		}
		c.RuntimeID = id
		c.Known = StatusCreated
		tm.publish()
	}
	if err := tm.e.rt.Start(ctx, c.RuntimeID); err != nil {
		tm.containerFailed(c, "CannotStartContainerError: "+err.Error())
		return
	}
	st, err := tm.e.rt.Inspect(ctx, c.RuntimeID)
	if err != nil {
		tm.log.Warn("inspect after start", "container", c.Name, "err", err)
		now := tm.now()
		c.Known, c.StartedAt = StatusRunning, &now
		return
	}
	tm.observe(c, st)
	tm.log.Info("container started", "container", c.Name, "id", shortID(c.RuntimeID))
}

// refresh re-inspects every container that exists and has not stopped.
func (tm *taskManager) refresh(ctx context.Context) {
	for _, c := range tm.t.Containers {
		if c.RuntimeID == "" || c.Known < StatusCreated || c.Known == StatusStopped {
			continue
		}
		st, err := tm.e.rt.Inspect(ctx, c.RuntimeID)
		if errors.Is(err, rt.ErrNotFound) {
			tm.vanished(c)
			continue
		}
		if err != nil {
			tm.log.Warn("inspect failed", "container", c.Name, "err", err)
			continue
		}
		tm.observe(c, st)
	}
}

// vanished records a container removed behind the engine's back.
func (tm *taskManager) vanished(c *Container) {
	c.Known = StatusStopped
	if c.Reason == "" {
		c.Reason = "CannotInspectContainerError: the container was removed outside the agent"
	}
	if d := tm.t.def(c.Name); d != nil && essential(d) {
		tm.stopTask(ReasonEssentialExited, agentproto.StopCodeEssentialContainerExited)
	}
}

// observe folds what the runtime sees of a container into its known state.
func (tm *taskManager) observe(c *Container, st rt.ContainerState) {
	d := tm.t.def(c.Name)
	if st.Running {
		if c.Known < StatusRunning {
			c.Known = StatusRunning
			started := st.StartedAt
			if started.IsZero() {
				started = tm.now()
			}
			c.StartedAt = &started
			c.Bindings = tm.bindings(d, st)
		}
		c.Health = healthOf(st.Health, d)
		return
	}
	if !st.Exited || c.Known == StatusStopped {
		return
	}
	if c.StartedAt == nil {
		started := st.StartedAt
		if started.IsZero() {
			started = tm.now()
		}
		c.StartedAt = &started
	}
	c.Known = StatusStopped
	code := int32(st.ExitCode)
	if st.OOMKilled {
		code = 137
		c.Reason = ReasonOutOfMemory
	} else if st.Error != "" && c.Reason == "" {
		c.Reason = st.Error
	}
	c.ExitCode = &code
	if d != nil && d.HealthCheck != nil {
		c.Health = healthOf(st.Health, d)
	}
	tm.log.Info("container exited", "container", c.Name, "exit_code", code, "oom", st.OOMKilled)
	if d != nil && essential(d) {
		tm.stopTask(ReasonEssentialExited, agentproto.StopCodeEssentialContainerExited)
	}
}

// healthOf maps Docker's health state to ECS's.
func healthOf(h string, d *ecswire.ContainerDefinition) string {
	switch h {
	case rt.HealthHealthy:
		return HealthHealthy
	case rt.HealthUnhealthy:
		return HealthUnhealthy
	}
	if d == nil || d.HealthCheck == nil {
		return ""
	}
	return HealthUnknown
}

// bindings are the network bindings of a started container: read back from
// the runtime in bridge mode; in host mode each container port is the host
// port.
func (tm *taskManager) bindings(d *ecswire.ContainerDefinition, st rt.ContainerState) []ecswire.NetworkBinding {
	if netMode(&tm.t.Assignment.Definition) != "host" {
		return st.Ports
	}
	var out []ecswire.NetworkBinding
	for _, pm := range d.PortMappings {
		if pm.ContainerPort == nil {
			continue
		}
		p := *pm.ContainerPort
		proto := pm.Protocol
		if proto == "" {
			proto = "tcp"
		}
		out = append(out, ecswire.NetworkBinding{BindIP: "0.0.0.0", ContainerPort: &p, HostPort: &p, Protocol: proto})
	}
	return out
}

// stopContainers stops every container whose dependents have stopped
// (reverse dependency order), each in its own goroutine with its
// stopTimeout; containers never started are simply marked STOPPED.
func (tm *taskManager) stopContainers(ctx context.Context) {
	for changed := true; changed; {
		changed = false
		for _, c := range tm.t.Containers {
			if c.Known == StatusStopped || tm.inflight[c.Name] {
				continue
			}
			if c.RuntimeID == "" || c.Known < StatusCreated || (c.Known == StatusCreated && c.StartedAt == nil) {
				c.Known = StatusStopped
				changed = true
				continue
			}
			if tm.hasLiveDependents(c) {
				continue
			}
			tm.inflight[c.Name] = true
			timeout := tm.e.cfg.StopTimeout
			if d := tm.t.def(c.Name); d != nil && d.StopTimeout != nil {
				timeout = time.Duration(*d.StopTimeout) * time.Second
			}
			tm.log.Info("stopping container", "container", c.Name, "timeout", timeout)
			id, name := c.RuntimeID, c.Name
			go func() {
				if err := tm.e.rt.Stop(ctx, id, timeout); err != nil {
					tm.log.Warn("stop failed", "container", name, "err", err)
					select {
					case <-time.After(time.Second):
					case <-ctx.Done():
					}
				}
				tm.stopDone <- name
			}()
		}
	}
}

// hasLiveDependents says whether a container not yet stopped depends on c
// (dependsOn, links, volumesFrom): c must then wait for it to stop.
func (tm *taskManager) hasLiveDependents(c *Container) bool {
	for _, x := range tm.t.Containers {
		if x == c || x.Known == StatusStopped {
			continue
		}
		for _, dep := range tm.deps(x) {
			if dep.name == c.Name {
				return true
			}
		}
	}
	return false
}

// shortID abbreviates a runtime id for logs.
func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
