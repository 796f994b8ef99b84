package ecs

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/state"
)

// The assignment hub. A long poll for changes used to open its own etcd
// watch on its instance's assignments, from the revision its agent last
// applied: a watch that starts in the past makes etcd scan its history for
// it, and a busy cluster's agents re-subscribe after every payload. Instead
// each server keeps, per cluster that its agents poll, one watch on the
// assignments of all the cluster's instances, from the revision it started
// at, and per instance the events its agent has not acknowledged yet; a
// poll answers from them, or waits for the next one. A poll whose
// acknowledged revision is older than what the hub knows (the hub started
// after it) takes the old way once.

// hubIdle is how long a cluster's hub lives without polls.
const hubIdle = time.Minute

// maxHubEvents bounds the events a hub keeps for one instance (an agent
// that stopped polling); beyond it the oldest go, and a poll from before
// them takes the old way.
const maxHubEvents = 10000

// assignHubs holds the hubs of this server, by scope and cluster.
type assignHubs struct {
	mu sync.Mutex
	m  map[string]*assignHub
}

// assignHub follows the assignments of one cluster's instances.
type assignHub struct {
	cancel context.CancelFunc

	mu       sync.Mutex
	from     int64 // every event after this revision is known
	last     int64 // the last revision the watch delivered (or from)
	broken   bool  // the watch ended: the hub is no longer used
	insts    map[string]*instEvents
	lastUsed time.Time
}

// instEvents are the events of one instance's assignments that its agent
// has not acknowledged.
type instEvents struct {
	evs  []state.Event
	from int64         // events after this revision are all in evs
	wake chan struct{} // closed at the instance's next event, or when the hub breaks
}

// hub returns the hub of the cluster, starting it if needed; nil if it
// cannot start now.
func (s *Service) hub(ctx context.Context, sc scope, cluster string) *assignHub {
	key := sc.Account + "/" + sc.Region + "/" + cluster
	s.hubs.mu.Lock()
	defer s.hubs.mu.Unlock()
	if h := s.hubs.m[key]; h != nil {
		h.mu.Lock()
		ok := !h.broken
		h.lastUsed = time.Now()
		h.mu.Unlock()
		if ok {
			return h
		}
	}
	prefix := model.ClusterAssignmentsPrefix(cluster)
	pages, err := sc.st.ReadAll(ctx, state.Read{Key: prefix, Prefix: true, CountOnly: true})
	if err != nil {
		return nil
	}
	wctx, cancel := context.WithCancel(context.Background())
	rev := pages[0].Revision
	h := &assignHub{cancel: cancel, from: rev, last: rev, insts: map[string]*instEvents{}, lastUsed: time.Now()}
	if s.hubs.m == nil {
		s.hubs.m = map[string]*assignHub{}
	}
	s.hubs.m[key] = h
	ch := sc.st.Watch(wctx, prefix, rev)
	go h.follow(ch, len(prefix))
	go func() {
		t := time.NewTicker(hubIdle / 4)
		defer t.Stop()
		for {
			select {
			case <-s.stopping:
			case <-wctx.Done():
				return
			case <-t.C:
				h.mu.Lock()
				idle := time.Since(h.lastUsed) > hubIdle
				h.mu.Unlock()
				if !idle {
					continue
				}
			}
			s.hubs.mu.Lock()
			if s.hubs.m[key] == h {
				delete(s.hubs.m, key)
			}
			s.hubs.mu.Unlock()
			cancel()
			return
		}
	}()
	return h
}

// follow files the watch's events by instance until the watch ends, then
// marks the hub broken and wakes every waiting poll.
func (h *assignHub) follow(ch <-chan []state.Event, skip int) {
	for evs := range ch {
		h.mu.Lock()
		for _, ev := range evs {
			inst, _, ok := strings.Cut(ev.Key[min(skip, len(ev.Key)):], "/")
			if !ok {
				continue
			}
			ie := h.inst(inst)
			ie.evs = append(ie.evs, ev)
			if n := len(ie.evs); n > maxHubEvents {
				ie.from = ie.evs[n-maxHubEvents/2-1].Revision
				ie.evs = slices.Clone(ie.evs[n-maxHubEvents/2:])
			}
			close(ie.wake)
			ie.wake = make(chan struct{})
			h.last = max(h.last, ev.Revision)
		}
		h.mu.Unlock()
	}
	h.mu.Lock()
	h.broken = true
	for _, ie := range h.insts {
		close(ie.wake)
		ie.wake = make(chan struct{})
	}
	h.mu.Unlock()
	h.cancel()
}

// inst returns the events of instance id, creating its entry; call with
// h.mu held.
func (h *assignHub) inst(id string) *instEvents {
	ie := h.insts[id]
	if ie == nil {
		ie = &instEvents{from: h.from, wake: make(chan struct{})}
		h.insts[id] = ie
	}
	return ie
}

// wait returns the events of instance id after revision ack, waiting up to
// wait for one if there is none yet, and the revision up to which they are
// complete. ok is false when the hub cannot tell (ack is older than what it
// knows, or it broke): the caller then asks etcd.
func (h *assignHub) wait(ctx context.Context, id string, ack int64, wait time.Duration, stopping <-chan struct{}) (evs []state.Event, seq int64, ok bool) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		h.mu.Lock()
		ie := h.inst(id)
		if h.broken || ack < ie.from {
			h.mu.Unlock()
			return nil, 0, false
		}
		k := 0
		for k < len(ie.evs) && ie.evs[k].Revision <= ack {
			k++
		}
		ie.evs = ie.evs[k:] // acknowledged by this poll
		seq, wake := max(ack, h.last), ie.wake
		if len(ie.evs) > 0 {
			evs = slices.Clone(ie.evs)
			h.mu.Unlock()
			return evs, seq, true
		}
		h.mu.Unlock()
		select {
		case <-wake:
		case <-timer.C:
			return nil, seq, true
		case <-ctx.Done():
			return nil, seq, true
		case <-stopping:
			return nil, seq, true
		}
	}
}
