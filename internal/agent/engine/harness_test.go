package engine_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/agent/agenttest"
	"github.com/gantry-dev/gantry/internal/agent/dockerrt"
	"github.com/gantry-dev/gantry/internal/agent/engine"
	"github.com/gantry-dev/gantry/internal/agent/rt"
	"github.com/gantry-dev/gantry/internal/agentproto"
	"github.com/gantry-dev/gantry/internal/wire/ecswire"
)

func TestMain(m *testing.M) { agenttest.Main(m) }

// harness is one engine on the real Docker with a recording reporter and an
// in-memory checkpoint; everything it creates is removed when the test ends.
type harness struct {
	t      *testing.T
	docker *dockerrt.Runtime
	cfg    engine.Config
	rec    *agenttest.Recorder
	store  *agenttest.MemStore
	eng    *engine.Engine
	cancel context.CancelFunc
	tasks  map[string]agentproto.Assignment
}

func newHarness(t *testing.T, mutate func(*engine.Config)) *harness {
	t.Helper()
	t.Parallel()
	docker := agenttest.Docker(t)
	info, err := docker.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	inst := "arn:aws:ecs:us-east-1:000000000000:container-instance/test/" + hexID()
	agenttest.CleanupLabel(t, agentproto.LabelInstanceArn, inst)
	cfg := engine.Default()
	cfg.InstanceArn = inst
	cfg.LogDrivers = info.LogDrivers
	cfg.PullPolicy = rt.PullPreferCached
	cfg.StopTimeout = 2 * time.Second
	cfg.Resync = time.Second
	cfg.RetryMin = 50 * time.Millisecond
	cfg.Logger = agenttest.Logger().With("test", t.Name())
	if mutate != nil {
		mutate(&cfg)
	}
	h := &harness{t: t, docker: docker, cfg: cfg, rec: agenttest.NewRecorder(), store: &agenttest.MemStore{}, tasks: map[string]agentproto.Assignment{}}
	h.start(nil)
	t.Cleanup(h.stop)
	return h
}

// start runs a new engine from checkpoint cp.
func (h *harness) start(cp *engine.Checkpoint) {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.eng = engine.New(h.cfg, h.docker, h.rec, h.store)
	h.eng.Start(ctx, cp)
}

// stop ends the engine as an agent exiting would: containers keep running.
func (h *harness) stop() {
	h.cancel()
	h.eng.Wait()
}

// run assigns a task (adds it to the payload) and applies the payload.
func (h *harness) run(a agentproto.Assignment) agentproto.Assignment {
	h.tasks[a.TaskArn] = a
	h.apply()
	return a
}

// stopTask sets a task's desired status to STOPPED in the payload.
func (h *harness) stopTask(a agentproto.Assignment, reason string) {
	a.DesiredStatus = agentproto.StatusStopped
	a.StoppedReason = reason
	a.StopCode = agentproto.StopCodeUserInitiated
	h.tasks[a.TaskArn] = a
	h.apply()
}

func (h *harness) apply() {
	var as []agentproto.Assignment
	for _, a := range h.tasks {
		as = append(as, a)
	}
	h.eng.Apply(as)
}

// wait waits for a task status.
func (h *harness) wait(a agentproto.Assignment, status string, timeout time.Duration) engine.StateChange {
	h.t.Helper()
	return h.rec.Wait(h.t, a.TaskArn, timeout, agenttest.Status(status))
}

func hexID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// task builds an assignment of a task definition with the given containers.
func task(family string, containers ...ecswire.ContainerDefinition) agentproto.Assignment {
	id := hexID()
	return agentproto.Assignment{
		TaskArn:       "arn:aws:ecs:us-east-1:000000000000:task/test/" + id,
		ClusterArn:    "arn:aws:ecs:us-east-1:000000000000:cluster/test",
		DesiredStatus: agentproto.StatusRunning,
		Definition: ecswire.TaskDefinition{
			Family:               family,
			Revision:             1,
			ContainerDefinitions: containers,
		},
		Version: 1,
	}
}

// ctr is a container definition running the test image.
func ctr(name string, command ...string) ecswire.ContainerDefinition {
	return ecswire.ContainerDefinition{Name: name, Image: agenttest.Image, Command: command}
}

func ptr[T any](v T) *T { return &v }

// container finds a container's entry in a state change.
func container(t *testing.T, sc engine.StateChange, name string) engine.ContainerChange {
	t.Helper()
	for _, c := range sc.Containers {
		if c.ContainerName == name {
			return c
		}
	}
	t.Fatalf("no container %s in %+v", name, sc)
	return engine.ContainerChange{}
}

// containerIs returns a predicate: container name has status (and, if
// given, exit code).
func containerIs(name, status string) func(engine.StateChange) bool {
	return func(sc engine.StateChange) bool {
		for _, c := range sc.Containers {
			if c.ContainerName == name {
				return c.Status == status
			}
		}
		return false
	}
}
