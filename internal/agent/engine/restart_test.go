package engine_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/agentproto"
)

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o644) }

// An engine that stops (as an agent killed with -9 would, leaving its
// containers) and restarts from its checkpoint re-adopts the running
// container instead of creating another, and reports the one that exited
// while it was down as STOPPED with its exit code.
func TestReadoptAfterRestart(t *testing.T) {
	h := newHarness(t, nil)
	main := ctr("main", "sleep", "60")
	main.StopTimeout = ptr(int32(1))
	side := ctr("side", "sh", "-c", "sleep 2; exit 7")
	side.Essential = ptr(false)
	a := h.run(task("restart", main, side))
	running := h.wait(a, agentproto.StatusRunning, 30*time.Second)
	mainID := container(t, running, "main").RuntimeID

	h.stop()
	time.Sleep(3 * time.Second) // side exits while the engine is down
	before := len(h.rec.Changes(a.TaskArn))
	h.start(h.store.Load())
	h.apply() // the control plane sends the same payload again

	sc := h.rec.Wait(t, a.TaskArn, 20*time.Second, containerIs("side", agentproto.StatusStopped))
	if c := container(t, sc, "side"); c.ExitCode == nil || *c.ExitCode != 7 {
		t.Errorf("side after restart: %+v", c)
	}
	if sc.Status != agentproto.StatusRunning {
		t.Errorf("task after restart: %s", sc.Status)
	}
	if c := container(t, sc, "main"); c.RuntimeID != mainID || c.Status != agentproto.StatusRunning {
		t.Errorf("main after restart: %+v (was %s)", c, mainID)
	}
	if len(h.rec.Changes(a.TaskArn)) <= before {
		t.Error("no report after restart")
	}
	list, err := h.docker.List(context.Background(), map[string]string{agentproto.LabelTaskArn: a.TaskArn})
	if err != nil || len(list) != 2 {
		t.Fatalf("containers of the task: %d (%v), want 2", len(list), err)
	}
	h.stopTask(a, "done")
	h.wait(a, agentproto.StatusStopped, 20*time.Second)
}

// An engine that lost its checkpoint altogether finds the task's containers
// by their labels when the control plane sends the task again: the task does
// not run twice.
func TestAdoptWithoutCheckpoint(t *testing.T) {
	h := newHarness(t, nil)
	main := ctr("main", "sleep", "60")
	main.StopTimeout = ptr(int32(1))
	a := h.run(task("lost", main))
	id := container(t, h.wait(a, agentproto.StatusRunning, 30*time.Second), "main").RuntimeID

	h.stop()
	h.start(nil)
	h.apply()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, ok := h.eng.Task(a.TaskArn)
		if ok && st.Known.Wire() == agentproto.StatusRunning {
			if st.Containers[0].RuntimeID != id {
				t.Fatalf("adopted %s, want %s", st.Containers[0].RuntimeID, id)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("task not re-adopted: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	list, err := h.docker.List(context.Background(), map[string]string{agentproto.LabelTaskArn: a.TaskArn})
	if err != nil || len(list) != 1 {
		t.Fatalf("containers of the task: %d (%v), want 1", len(list), err)
	}
	h.stopTask(a, "done")
	h.wait(a, agentproto.StatusStopped, 20*time.Second)
}

// Reports the control plane does not acknowledge are retried with back-off
// and delivered in order once it answers again.
func TestReportsRetriedInOrder(t *testing.T) {
	h := newHarness(t, nil)
	h.rec.SetFail(true)
	a := h.run(task("retry", ctr("once", "sh", "-c", "sleep 0.5; exit 0")))
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, ok := h.eng.Task(a.TaskArn)
		if ok && st.Known.Wire() == agentproto.StatusStopped {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("task did not stop")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := len(h.rec.Changes(a.TaskArn)); n != 0 {
		t.Fatalf("%d reports recorded while failing", n)
	}
	h.rec.SetFail(false)
	h.wait(a, agentproto.StatusStopped, 20*time.Second)
	var statuses []string
	for _, c := range h.rec.Changes(a.TaskArn) {
		statuses = append(statuses, c.Status)
	}
	if len(statuses) < 2 || statuses[len(statuses)-1] != agentproto.StatusStopped || statuses[len(statuses)-2] == agentproto.StatusStopped {
		t.Errorf("reports in order %v; want the earlier ones before one STOPPED", statuses)
	}
}
