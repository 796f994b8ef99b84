package ecs

import (
	"context"
	"time"

	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/placement"
	"github.com/gantry-dev/gantry/internal/placement/cql"
	"github.com/gantry-dev/gantry/internal/state"
)

// placeInstance is a registered instance as placement reads it: its record
// and its load, each with its revision, and the scheduler's view of both.
type placeInstance struct {
	ci      *model.ContainerInstance
	id      string
	rev     int64
	load    model.InstanceLoad
	loadRev int64
	sched   placement.Instance // AgentConnected is set per batch, from beats
}

// placementView is what placement reads of a cluster, at one revision.
type placementView struct {
	readRev    int64 // the store revision the view was last read at
	clusterRev int64
	instances  []placeInstance
	index      map[string]int   // instance id -> position
	beats      map[string]int64 // instance id -> last heartbeat, unix ms
	// snap is the committer's scheduler snapshot of the view, kept from
	// batch to batch (nil: built at the next batch).
	snap *placement.Snapshot
}

// snapshot returns the view's scheduler snapshot as of now: the one kept
// from the last batch, with the agents' connection brought up to date, or
// a new one.
func (v *placementView) snapshot(s *Service, now time.Time) *placement.Snapshot {
	if v.snap == nil {
		v.snap = placement.NewSnapshot(s.schedulerInstances(v, now))
		return v.snap
	}
	for i := range v.instances {
		pi := &v.instances[i]
		c := pi.ci.Status != model.InstanceInactive && s.connected(v.beats[pi.id], now)
		if in := v.snap.Instances[i]; in.AgentConnected != c {
			in.AgentConnected = c
			v.snap.Update(i, in)
		}
	}
	return v.snap
}

// readPlacementView reads an ACTIVE cluster, its registered instances,
// their loads and their heartbeats. Given the view of the committer's last
// batch, it first reads only keys and revisions (and the small heartbeat
// records), then fetches just the records that changed since: a busy
// cluster's committer does not decode every instance for every batch.
func (s *Service) readPlacementView(ctx context.Context, st *state.Store, cluster string, old *placementView) (*placementView, error) {
	pages, err := st.ReadAll(ctx,
		state.Read{Key: model.ClusterKey(cluster)},
		state.Read{Key: model.InstancesPrefix(cluster), Prefix: true, KeysOnly: old != nil},
		state.Read{Key: heartbeatsPrefix(cluster), Prefix: true},
		state.Read{Key: model.LoadsPrefix(cluster), Prefix: true, KeysOnly: old != nil},
	)
	if err != nil {
		return nil, err
	}
	if len(pages[0].Items) == 0 {
		return nil, errClusterNotFound(cluster)
	}
	var c model.Cluster
	if err := pages[0].Items[0].Decode(&c); err != nil {
		return nil, err
	}
	if c.Status == model.ClusterInactive {
		return nil, errClusterNotFound(cluster)
	}
	v := &placementView{readRev: pages[0].Revision, clusterRev: pages[0].Items[0].Revision, index: map[string]int{}, beats: map[string]int64{}}
	if err := decodeBeats(pages[2].Items, v.beats); err != nil {
		return nil, err
	}
	loadRevs := map[string]int64{}
	for _, it := range pages[3].Items {
		loadRevs[lastSegment(it.Key)] = it.Revision
	}
	var stale []int // instances whose record or load must be (re)read
	for _, it := range pages[1].Items {
		id := lastSegment(it.Key)
		pi := placeInstance{id: id, rev: it.Revision, loadRev: loadRevs[id]}
		if old != nil {
			if k, ok := old.index[id]; ok && old.instances[k].rev == pi.rev && old.instances[k].loadRev == pi.loadRev {
				pi = old.instances[k]
			} else {
				stale = append(stale, len(v.instances))
			}
		} else if err := it.Decode(&pi.ci); err != nil {
			return nil, err
		}
		v.index[id] = len(v.instances)
		v.instances = append(v.instances, pi)
	}
	if old == nil {
		for _, it := range pages[3].Items {
			if i, ok := v.index[lastSegment(it.Key)]; ok {
				if err := it.Decode(&v.instances[i].load); err != nil {
					return nil, err
				}
			}
		}
		for i := range v.instances {
			s.setSched(&v.instances[i])
		}
		return v, nil
	}
	if err := s.fetchStale(ctx, st, cluster, v, stale); err != nil {
		return nil, err
	}
	return v, nil
}

// fetchStale reads the records and loads of the instances at positions
// stale, in reads of at most MaxTxnOps keys.
func (s *Service) fetchStale(ctx context.Context, st *state.Store, cluster string, v *placementView, stale []int) error {
	step := max(st.MaxTxnOps()/2, 1)
	for len(stale) > 0 {
		n := min(len(stale), step)
		reads := make([]state.Read, 0, 2*n)
		for _, i := range stale[:n] {
			id := v.instances[i].id
			reads = append(reads, state.Read{Key: model.InstanceKey(cluster, id)}, state.Read{Key: model.LoadKey(cluster, id)})
		}
		pages, err := st.ReadAll(ctx, reads...)
		if err != nil {
			return err
		}
		for k, i := range stale[:n] {
			pi := &v.instances[i]
			ci, load := pages[2*k].Items, pages[2*k+1].Items
			if len(ci) == 0 {
				return state.ErrConflict // deregistered meanwhile: read again
			}
			pi.ci, pi.load = new(model.ContainerInstance), model.InstanceLoad{}
			if err := ci[0].Decode(pi.ci); err != nil {
				return err
			}
			pi.rev = ci[0].Revision
			pi.loadRev = 0
			if len(load) > 0 {
				if err := load[0].Decode(&pi.load); err != nil {
					return err
				}
				pi.loadRev = load[0].Revision
			}
			s.setSched(pi)
		}
		stale = stale[n:]
	}
	return nil
}

// setSched builds the scheduler's view of an instance from its record and
// its load.
func (s *Service) setSched(pi *placeInstance) {
	ci := pi.ci
	pi.sched = placement.Instance{
		Facts:    s.facts(ci, pi.load, 0, time.Time{}),
		ID:       pi.id,
		ARN:      ci.ContainerInstanceArn,
		Status:   ci.Status,
		CPU:      intResource(ci.RemainingResources, "CPU"),
		Memory:   intResource(ci.RemainingResources, "MEMORY"),
		Ports:    portSet(stringSetResource(ci.RemainingResources, "PORTS")),
		PortsUDP: portSet(stringSetResource(ci.RemainingResources, "PORTS_UDP")),
	}
}

// schedulerInstances returns the scheduler's instances of the view, with
// their agents' connection as of now. They share their maps with the
// view: what the scheduler reserves shows in the view, which the committer
// keeps only when the batch commits.
func (s *Service) schedulerInstances(v *placementView, now time.Time) []placement.Instance {
	out := make([]placement.Instance, len(v.instances))
	for i := range v.instances {
		pi := &v.instances[i]
		out[i] = pi.sched
		out[i].AgentConnected = pi.ci.Status != model.InstanceInactive && s.connected(v.beats[pi.id], now)
	}
	return out
}

// facts are what the cluster query language reads of an instance.
func (s *Service) facts(ci *model.ContainerInstance, load model.InstanceLoad, beat int64, now time.Time) cql.Facts {
	f := cql.Facts{
		Attributes:        make(map[string]string, len(ci.Attributes)),
		AgentConnected:    ci.Status != model.InstanceInactive && s.connected(beat, now),
		EC2InstanceID:     ci.Ec2InstanceId,
		RunningTasksCount: int(load.Tasks),
		TaskGroups:        make(map[string]int, len(load.Groups)),
	}
	for _, a := range ci.Attributes {
		f.Attributes[a.Name] = a.Value
	}
	if ci.VersionInfo != nil {
		f.AgentVersion = ci.VersionInfo.AgentVersion
	}
	if ci.RegisteredAt != nil {
		f.RegisteredAt = ci.RegisteredAt.Time
	}
	for g, n := range load.Groups {
		f.TaskGroups[g] = int(n)
	}
	return f
}

func portSet(ports []string) map[string]bool {
	if len(ports) == 0 {
		return nil
	}
	set := make(map[string]bool, len(ports))
	for _, p := range ports {
		set[p] = true
	}
	return set
}

// readLoads reads the loads and heartbeats of a cluster's instances, by
// instance id, in one round trip.
func readLoads(ctx context.Context, st *state.Store, cluster string, loads map[string]model.InstanceLoad, beats map[string]int64) error {
	pages, err := st.ReadAll(ctx,
		state.Read{Key: model.LoadsPrefix(cluster), Prefix: true},
		state.Read{Key: heartbeatsPrefix(cluster), Prefix: true},
	)
	if err != nil {
		return err
	}
	for _, it := range pages[0].Items {
		var l model.InstanceLoad
		if err := it.Decode(&l); err != nil {
			return err
		}
		loads[lastSegment(it.Key)] = l
	}
	return decodeBeats(pages[1].Items, beats)
}

// decodeBeats reads heartbeat records into beats, by instance id.
func decodeBeats(items []state.Item, beats map[string]int64) error {
	for _, it := range items {
		var hb model.Heartbeat
		if err := it.Decode(&hb); err != nil {
			return err
		}
		beats[lastSegment(it.Key)] = hb.At
	}
	return nil
}

// candidates turns the view's instances into placement candidates.
