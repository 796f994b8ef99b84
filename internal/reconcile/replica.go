package reconcile

import (
	"cmp"
	"slices"
	"time"
)

// planReplica keeps desiredCount tasks of the PRIMARY deployment, rolling
// the others out within the deployment configuration:
//
//   - maximumPercent: live tasks of all deployments never exceed
//     ⌊desired × max / 100⌋ (a task this plan stops is no longer live);
//   - minimumHealthyPercent: a healthy task is stopped only while the
//     proven healthy tasks left (see proven: a task without health checks
//     counts once RUNNING for SettleTime) stay at or above
//     ⌈desired × min / 100⌉.
//
// Tasks that are not healthy cost nothing to stop, so they go first and
// without waiting; healthy ones go as the budget allows: first those on
// DRAINING instances, then those of older deployments (oldest first), then
// the PRIMARY's surplus when desiredCount was lowered.
func (s *step) planReplica() {
	maxLive, minHealthy := s.bounds()
	p := s.primary()
	// A FAILED PRIMARY (the circuit breaker tripped, no rollback) starts
	// nothing, so the tasks of older deployments are not rolled either: they
	// keep serving until the next UpdateService.
	frozen := p != nil && p.RolloutState == rolloutFailed && s.svc.Status == statusActive
	isPrimary := func(t *task) bool { return p != nil && t.Deployment == p.ID }

	live := s.remaining()
	drained, rest := split(live, func(t *task) bool { return t.draining })
	keep, old := split(rest, isPrimary)
	if frozen {
		old = nil
	}
	budget := countIf(live, s.proven) - minHealthy
	reason := s.scalingReason()

	// Tasks that are not healthy and must go anyway: stop them now.
	for _, t := range drained {
		if !t.healthy {
			s.stop(t, ReasonDraining, false)
		}
	}
	for _, t := range old {
		if !t.healthy {
			s.stop(t, reason, false)
		}
	}
	// The PRIMARY's surplus over desiredCount: the least progressed first.
	// Protected tasks are the last to count as surplus.
	slices.SortFunc(keep, func(a, b *task) int {
		return cmp.Or(cmpBool(protectedAt(a, s.now), protectedAt(b, s.now)), cheapestFirst(a, b))
	})
	surplus := keep[:max(len(keep)-s.desired, 0)]
	for _, t := range surplus {
		if !t.healthy {
			s.stop(t, reason, false)
		}
	}
	kept := len(keep) - len(surplus) + countIf(surplus, isHealthy)

	// Healthy tasks, within the budget. Replacements for drained tasks are
	// started below as soon as maximumPercent allows, and the drained tasks
	// stop as the replacements become healthy.
	for _, t := range drained {
		if t.healthy && budget > 0 {
			s.stop(t, ReasonDraining, false)
			budget--
		}
	}
	// Healthy tasks under scale-in protection stay until it expires; the
	// step looks again when the first protection of a live task expires.
	stoppable := func(t *task) bool { return t.healthy && !protectedAt(t, s.now) }
	if countIf(old, func(t *task) bool { return t.healthy && protectedAt(t, s.now) })+
		countIf(surplus, func(t *task) bool { return t.healthy && protectedAt(t, s.now) }) > 0 {
		s.wakeAtFirstExpiry(live)
	}
	shrunk := 0
	for _, id := range s.oldestFirst(old) {
		n := s.shrink(id, min(budget, countIf(old, func(t *task) bool { return t.Deployment == id && stoppable(t) })), reason)
		budget -= n
		shrunk += n
	}
	if p != nil {
		n := s.shrink(p.ID, min(budget, countIf(surplus, stoppable)), reason)
		shrunk += n
		kept -= n
	}

	// Starts: what the PRIMARY lacks, as far as maximumPercent allows.
	room := maxLive - (len(s.remaining()) - shrunk)
	n := min(s.desired-kept, room)
	if n <= 0 || p == nil || frozen || s.svc.Status != statusActive || !s.mayStart() {
		return
	}
	s.plan.Start = append(s.plan.Start, Start{Deployment: p.ID, Count: n})
}

// wakeAtFirstExpiry asks to run again when the first scale-in protection
// among ts expires.
func (s *step) wakeAtFirstExpiry(ts []*task) {
	for _, t := range ts {
		if protectedAt(t, s.now) {
			s.wakeIn(t.ProtectedUntil.Sub(s.now))
		}
	}
}

// protectedAt reports whether t is under scale-in protection at now.
func protectedAt(t *task, now time.Time) bool {
	return !t.ProtectedUntil.IsZero() && now.Before(t.ProtectedUntil)
}

// cmpBool orders false before true.
func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// shrink plans to stop n healthy tasks of a deployment and returns n.
func (s *step) shrink(deployment string, n int, reason string) int {
	if n <= 0 {
		return 0
	}
	s.plan.Shrink = append(s.plan.Shrink, Shrink{Deployment: deployment, Count: n, Reason: reason})
	return n
}

// oldestFirst lists the deployments of the given tasks, oldest first: those
// no longer in the service's list (the oldest of all), by id, then the
// listed ones from the end of the list (which is newest first).
func (s *step) oldestFirst(ts []*task) []string {
	rank := map[string]int{}
	for i, d := range s.svc.Deployments {
		rank[d.ID] = len(s.svc.Deployments) - i
	}
	var ids []string
	for _, t := range ts {
		if !slices.Contains(ids, t.Deployment) {
			ids = append(ids, t.Deployment)
		}
	}
	slices.SortFunc(ids, func(a, b string) int {
		return cmp.Or(cmp.Compare(rank[a], rank[b]), cmp.Compare(a, b))
	})
	return ids
}
