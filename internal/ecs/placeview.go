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
// and its load, each with its revision.
type placeInstance struct {
	ci      *model.ContainerInstance
	id      string
	rev     int64
	load    model.InstanceLoad
	loadRev int64
}

// placementView is what placement reads of a cluster, at one revision.
type placementView struct {
	clusterRev int64
	instances  []placeInstance
	index      map[string]int   // instance id -> position
	beats      map[string]int64 // instance id -> last heartbeat, unix ms
}

// readPlacementView reads an ACTIVE cluster, its registered instances,
// their loads and their heartbeats in one round trip.
func readPlacementView(ctx context.Context, st *state.Store, cluster string) (*placementView, error) {
	pages, err := st.ReadAll(ctx,
		state.Read{Key: model.ClusterKey(cluster)},
		state.Read{Key: model.InstancesPrefix(cluster), Prefix: true},
		state.Read{Key: heartbeatsPrefix(cluster), Prefix: true},
		state.Read{Key: model.LoadsPrefix(cluster), Prefix: true},
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
	v := &placementView{clusterRev: pages[0].Items[0].Revision, index: map[string]int{}, beats: map[string]int64{}}
	for _, it := range pages[1].Items {
		ci := new(model.ContainerInstance)
		if err := it.Decode(ci); err != nil {
			return nil, err
		}
		id := lastSegment(it.Key)
		v.index[id] = len(v.instances)
		v.instances = append(v.instances, placeInstance{ci: ci, id: id, rev: it.Revision})
	}
	if err := decodeBeats(pages[2].Items, v.beats); err != nil {
		return nil, err
	}
	for _, it := range pages[3].Items {
		i, ok := v.index[lastSegment(it.Key)]
		if !ok {
			continue
		}
		if err := it.Decode(&v.instances[i].load); err != nil {
			return nil, err
		}
		v.instances[i].loadRev = it.Revision
	}
	return v, nil
}

// schedulerInstances turns the view's instances into the scheduler's.
func (s *Service) schedulerInstances(v *placementView, now time.Time) []placement.Instance {
	out := make([]placement.Instance, len(v.instances))
	for i, pi := range v.instances {
		ci := pi.ci
		out[i] = placement.Instance{
			Facts:    s.facts(ci, pi.load, v.beats[pi.id], now),
			ID:       pi.id,
			ARN:      ci.ContainerInstanceArn,
			Status:   ci.Status,
			CPU:      intResource(ci.RemainingResources, "CPU"),
			Memory:   intResource(ci.RemainingResources, "MEMORY"),
			Ports:    portSet(stringSetResource(ci.RemainingResources, "PORTS")),
			PortsUDP: portSet(stringSetResource(ci.RemainingResources, "PORTS_UDP")),
		}
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
