package reconcile

import (
	"cmp"
	"slices"
)

// wantsDaemon: a DAEMON service keeps one task on every ACTIVE instance that
// is Eligible and whose agent is not lost. (An agent silent for less than
// AgentLostAfter keeps its task; it gets a new one only once connected.)
func (s *step) wantsDaemon(inst Instance) bool {
	return inst.Status == statusActive && inst.Eligible && !agentLost(inst)
}

// planDaemon keeps exactly one task of the PRIMARY deployment on every
// instance that wants one:
//
//   - an instance that stops wanting it (DRAINING, no longer Eligible, the
//     service deleted) loses its tasks, whatever minimumHealthyPercent says,
//     as they have nowhere else to go; on a DRAINING instance the DAEMON
//     task is the last to stop, once ReplicaTasks is 0;
//   - on an instance that wants one, the best PRIMARY task stays and any
//     other task goes (a task of an older deployment when rolling out):
//     not healthy ones at once, healthy ones within minimumHealthyPercent
//     counted on the wanted instances;
//   - a new task starts on each wanted, connected instance holding no task
//     that is not STOPPED yet (so the old task's resources are free), within
//     maximumPercent counted on the wanted instances.
func (s *step) planDaemon() {
	maxLive, minHealthy := s.bounds()
	p := s.primary()
	frozen := p != nil && p.RolloutState == rolloutFailed && s.svc.Status == statusActive
	reason := s.scalingReason()

	byInstance := map[string][]*task{}
	for _, t := range s.remaining() {
		byInstance[t.Instance] = append(byInstance[t.Instance], t)
	}
	var onWanted, extra []*task
	for _, id := range sortedKeys(byInstance) {
		ts := byInstance[id]
		inst, ok := s.instances[id]
		if !ok || !s.wantsDaemon(inst) || s.svc.Status != statusActive {
			s.leave(inst, ts, reason)
			continue
		}
		onWanted = append(onWanted, ts...)
		keeper := s.keeper(ts, p, frozen)
		for _, t := range ts {
			if t != keeper {
				extra = append(extra, t)
			}
		}
	}

	budget := countIf(onWanted, isHealthy) - minHealthy
	slices.SortFunc(extra, cheapestFirst)
	for _, t := range extra {
		switch {
		case !t.healthy:
			s.stop(t, reason, false)
		case budget > 0:
			budget--
			s.stop(t, reason, false)
		}
	}

	if p == nil || frozen || s.svc.Status != statusActive {
		return
	}
	room := maxLive - countIf(onWanted, func(t *task) bool { return !s.stopping[t.ID] })
	var targets []string
	for _, id := range sortedKeys(s.instances) {
		inst := s.instances[id]
		if len(targets) < room && s.wantsDaemon(inst) && inst.Connected && !s.occupied(id) {
			targets = append(targets, id)
		}
	}
	if len(targets) == 0 || !s.mayStart() {
		return
	}
	s.plan.Start = append(s.plan.Start, Start{Deployment: p.ID, Count: len(targets), Instances: targets})
}

// leave stops the tasks of an instance that no longer wants the service's
// task. On a DRAINING instance they wait for the instance's other tasks.
func (s *step) leave(inst Instance, ts []*task, reason string) {
	switch {
	case s.svc.Status != statusActive:
	case inst.Status == statusDraining && inst.ReplicaTasks > 0:
		s.wakeIn(DaemonDrainPoll)
		return
	case inst.Status == statusDraining:
		reason = ReasonDraining
	case inst.ID != "":
		reason = ReasonConstraint
	}
	for _, t := range ts {
		s.stop(t, reason, false)
	}
}

// keeper picks the task an instance keeps: its best PRIMARY task, or, while
// the PRIMARY is FAILED, its best task of any deployment. Nil if none.
func (s *step) keeper(ts []*task, p *Deployment, frozen bool) *task {
	var best *task
	for _, t := range ts {
		if (frozen || (p != nil && t.Deployment == p.ID)) && (best == nil || bestFirst(t, best) < 0) {
			best = t
		}
	}
	return best
}

// occupied: the instance holds a task of the service that is not STOPPED.
func (s *step) occupied(instance string) bool {
	for _, t := range s.tasks {
		if t.Instance == instance && t.LastStatus != taskStopped {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, cmp.Compare)
	return keys
}
