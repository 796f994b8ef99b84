package engine

import "github.com/gantry-dev/gantry/internal/agentproto"

// StopAll stops every task the engine runs, as a StopTask with reason and
// stop code UserInitiated would: for an agent asked to take its tasks down
// with it (gantry dev --stop-tasks-on-exit). Settled says when it is done.
func (e *Engine) StopAll(reason string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, en := range e.tasks {
		if en.tm != nil {
			en.tm.stopLocally(reason)
		}
	}
}

// Settled says whether every task the engine knows is STOPPED and every
// report of it acknowledged.
func (e *Engine) Settled() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, en := range e.tasks {
		if len(en.outbox) > 0 || (en.tm != nil && (en.snap == nil || en.snap.Known != StatusStopped)) {
			return false
		}
	}
	return true
}

// Active counts the tasks whose containers are not all stopped.
func (e *Engine) Active() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, en := range e.tasks {
		if en.snap != nil && en.snap.Known != StatusStopped || en.snap == nil && en.tm != nil {
			n++
		}
	}
	return n
}

// stopLocally has the task's goroutine stop the task with reason, as if
// the control plane had asked.
func (tm *taskManager) stopLocally(reason string) {
	tm.mu.Lock()
	tm.localStop = reason
	tm.mu.Unlock()
	tm.poke()
}

// takeLocalStop applies a stop asked by StopAll, if any.
func (tm *taskManager) takeLocalStop() {
	tm.mu.Lock()
	reason := tm.localStop
	tm.localStop = ""
	tm.mu.Unlock()
	if reason != "" {
		tm.stopTask(reason, agentproto.StopCodeUserInitiated)
	}
}
