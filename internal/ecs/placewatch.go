package ecs

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/state"
)

// The committer's view of a cluster is kept current by watches on the
// cluster's instance records, loads and heartbeats, started at the
// revision the view was read at: a batch then fetches only the instances
// that others changed since (a task stopping, a new registration, an
// attribute or status change), and takes the heartbeats from the watch,
// instead of listing the cluster. The events of the committer's own
// transactions carry the revisions it already holds, and cost nothing.
// What the watches have not delivered yet when a batch starts (a few
// milliseconds) is caught by the revision checks of the batch's
// transaction when the batch places on it, and a task that fits nowhere is
// placed again on a view read at once before it fails (tryBatch); a new
// instance may just miss being a candidate among others that fit.

// viewIdle is how long a cluster's view and its watches are kept after
// its last placement.
const viewIdle = time.Minute

// viewWatch collects what the watches of one view saw.
type viewWatch struct {
	cancel context.CancelFunc

	mu        sync.Mutex
	broken    bool                  // a watch ended: the view must be read again
	instances map[string]watchedRev // instance id -> last change of its record
	loads     map[string]watchedRev // instance id -> last change of its load
	beats     map[string]int64      // instance id -> heartbeat (unix ms); -1: deleted
}

// watchedRev is the last change the watch saw of a record.
type watchedRev struct {
	rev     int64
	deleted bool
}

// watchView starts the watches of view v of cluster, from the revision v
// was read at, until stopped or the service closes.
func (s *Service) watchView(st *state.Store, cluster string, v *placementView) *viewWatch {
	ctx, cancel := context.WithCancel(context.Background())
	vw := &viewWatch{cancel: cancel, instances: map[string]watchedRev{}, loads: map[string]watchedRev{}, beats: map[string]int64{}}
	go func() {
		select {
		case <-s.stopping:
			cancel()
		case <-ctx.Done():
		}
	}()
	for _, w := range []struct {
		prefix string
		apply  func(ev state.Event)
	}{
		{model.InstancesPrefix(cluster), func(ev state.Event) {
			vw.instances[lastSegment(ev.Key)] = watchedRev{ev.Revision, ev.Deleted}
		}},
		{model.LoadsPrefix(cluster), func(ev state.Event) {
			vw.loads[lastSegment(ev.Key)] = watchedRev{ev.Revision, ev.Deleted}
		}},
		{heartbeatsPrefix(cluster), func(ev state.Event) {
			var hb model.Heartbeat
			if ev.Deleted || ev.Decode(&hb) != nil {
				vw.beats[lastSegment(ev.Key)] = -1
				return
			}
			vw.beats[lastSegment(ev.Key)] = hb.At
		}},
	} {
		ch := st.Watch(ctx, w.prefix, v.readRev)
		go func() {
			for evs := range ch {
				vw.mu.Lock()
				for _, ev := range evs {
					w.apply(ev)
				}
				vw.mu.Unlock()
			}
			vw.mu.Lock()
			vw.broken = true
			vw.mu.Unlock()
		}()
	}
	return vw
}

// stop ends the watches.
func (vw *viewWatch) stop() {
	if vw != nil {
		vw.cancel()
	}
}

// take returns what the watches saw since the last take, and whether they
// still run.
func (vw *viewWatch) take() (instances, loads map[string]watchedRev, beats map[string]int64, ok bool) {
	vw.mu.Lock()
	defer vw.mu.Unlock()
	instances, loads, beats = vw.instances, vw.loads, vw.beats
	vw.instances, vw.loads, vw.beats = map[string]watchedRev{}, map[string]watchedRev{}, map[string]int64{}
	return instances, loads, beats, !vw.broken
}

// refreshView brings the view v up to date with what its watches saw:
// heartbeats are taken as they came; instances whose record or load others
// changed are read again, new ones are added and deregistered ones
// dropped. It reports false when the watches stopped: the view must then
// be read again.
func (s *Service) refreshView(ctx context.Context, st *state.Store, cluster string, v *placementView, vw *viewWatch) (bool, error) {
	instances, loads, beats, ok := vw.take()
	if !ok {
		return false, nil
	}
	for id, at := range beats {
		if at < 0 {
			delete(v.beats, id)
		} else {
			v.beats[id] = at
		}
	}
	var gone []string
	stale := map[string]bool{}
	for id, c := range instances {
		i, known := v.index[id]
		switch {
		case c.deleted:
			if known {
				gone = append(gone, id)
			}
		case !known:
			v.index[id] = len(v.instances)
			v.instances = append(v.instances, placeInstance{id: id})
			v.snap = nil // the snapshot is made again with the new instance
			stale[id] = true
		case c.rev > v.instances[i].rev:
			stale[id] = true
		}
	}
	for id, c := range loads {
		if i, known := v.index[id]; known && (c.deleted || c.rev > v.instances[i].loadRev) {
			stale[id] = true
		}
	}
	if len(gone) > 0 {
		v.snap = nil
		v.instances = slices.DeleteFunc(v.instances, func(pi placeInstance) bool { return slices.Contains(gone, pi.id) })
		clear(v.index)
		for i, pi := range v.instances {
			v.index[pi.id] = i
		}
	}
	if len(stale) == 0 {
		return true, nil
	}
	at := make([]int, 0, len(stale))
	for id := range stale {
		if i, ok := v.index[id]; ok {
			at = append(at, i)
		}
	}
	slices.Sort(at)
	if err := s.fetchStale(ctx, st, cluster, v, at); err != nil {
		return false, err
	}
	if v.snap != nil {
		for _, i := range at {
			in := v.instances[i].sched
			in.AgentConnected = v.snap.Instances[i].AgentConnected // brought up to date by snapshot
			v.snap.Update(i, in)
		}
	}
	return true, nil
}
