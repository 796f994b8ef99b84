package ecs

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/agentproto"
	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/state"
	w "github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// What a task holds on its instance: reserve takes it when the task is
// placed (in the committer's transaction), release gives it back when the
// task stops. The choice of instance is internal/placement's.

func findResource(rs []w.Resource, name string) int {
	return slices.IndexFunc(rs, func(r w.Resource) bool { return r.Name == name })
}

func intResource(rs []w.Resource, name string) int32 {
	if i := findResource(rs, name); i >= 0 {
		return rs[i].IntegerValue
	}
	return 0
}

func stringSetResource(rs []w.Resource, name string) []string {
	if i := findResource(rs, name); i >= 0 {
		return rs[i].StringSetValue
	}
	return nil
}

// reserve takes need from the instance's remaining resources (CPU and
// MEMORY go down; the static host ports join the PORTS and PORTS_UDP sets,
// which list the ports in use, as in ECS) and returns what was taken, for
// the task record to give back when it stops.
func reserve(ci *model.ContainerInstance, need demand) []w.Resource {
	var taken []w.Resource
	for _, r := range []struct {
		name string
		n    int32
	}{{"CPU", need.cpu}, {"MEMORY", need.memory}} {
		if r.n == 0 {
			continue
		}
		if i := findResource(ci.RemainingResources, r.name); i >= 0 {
			ci.RemainingResources[i].IntegerValue -= r.n
		}
		taken = append(taken, w.Resource{Name: r.name, Type: "INTEGER", IntegerValue: r.n})
	}
	for _, r := range []struct {
		name  string
		ports []string
	}{{"PORTS", need.ports}, {"PORTS_UDP", need.portsUDP}} {
		if len(r.ports) == 0 {
			continue
		}
		i := findResource(ci.RemainingResources, r.name)
		if i < 0 {
			ci.RemainingResources = append(ci.RemainingResources, w.Resource{Name: r.name, Type: "STRINGSET"})
			i = len(ci.RemainingResources) - 1
		}
		ci.RemainingResources[i].StringSetValue = append(slices.Clone(ci.RemainingResources[i].StringSetValue), r.ports...)
		taken = append(taken, w.Resource{Name: r.name, Type: "STRINGSET", StringSetValue: slices.Clone(r.ports)})
	}
	return taken
}

// release gives back what reserve took: amounts up to the registered ones,
// and the ports, except those the agent itself reserved at registration.
func release(ci *model.ContainerInstance, taken []w.Resource) {
	for _, t := range taken {
		i := findResource(ci.RemainingResources, t.Name)
		if i < 0 {
			continue
		}
		r := &ci.RemainingResources[i]
		switch t.Type {
		case "INTEGER":
			r.IntegerValue += t.IntegerValue
			if j := findResource(ci.RegisteredResources, t.Name); j >= 0 {
				r.IntegerValue = min(r.IntegerValue, ci.RegisteredResources[j].IntegerValue)
			}
		case "STRINGSET":
			registered := stringSetResource(ci.RegisteredResources, t.Name)
			set := slices.Clone(r.StringSetValue)
			for _, p := range t.StringSetValue {
				if slices.Contains(registered, p) {
					continue
				}
				if k := slices.Index(set, p); k >= 0 {
					set = slices.Delete(set, k, k+1)
				}
			}
			r.StringSetValue = set
		}
	}
}

// heartbeatsPrefix is the prefix of a cluster's heartbeat records.
func heartbeatsPrefix(cluster string) string { return model.HeartbeatKey(cluster, "") }

// connected reports whether an agent whose last heartbeat was at beat
// (unix milliseconds, 0 for none) is connected at now.
func (s *Service) connected(beat int64, now time.Time) bool {
	return beat > 0 && now.Sub(time.UnixMilli(beat)) <= s.opts.AgentTimeout
}

// instanceView is a registered instance a task is placed on.
type instanceView struct {
	ci  *model.ContainerInstance
	id  string
	rev int64
}

func lastSegment(key string) string { return key[strings.LastIndexByte(key, '/')+1:] }

// taskLoad is the part of a task record that instance and cluster counts
// read.
type taskLoad struct {
	LastStatus string `json:"lastStatus"`
	InstanceID string `json:"gantryInstanceId"`
}

// fillLive sets the members of instances of cluster that are computed when
// they are read: agentConnected from the heartbeats, runningTasksCount and
// pendingTasksCount from the tasks placed on them.
func (s *Service) fillLive(ctx context.Context, sc scope, cluster string, cis ...*model.ContainerInstance) error {
	if len(cis) == 0 {
		return nil
	}
	pages, err := sc.st.ReadAll(ctx,
		state.Read{Key: model.TasksPrefix(cluster), Prefix: true},
		state.Read{Key: heartbeatsPrefix(cluster), Prefix: true},
	)
	if err != nil {
		return err
	}
	running, pending := map[string]int32{}, map[string]int32{}
	for _, it := range pages[0].Items {
		var t taskLoad
		if err := it.Decode(&t); err != nil {
			return err
		}
		switch t.LastStatus {
		case agentproto.StatusRunning:
			running[t.InstanceID]++
		case agentproto.StatusStopped:
		default:
			pending[t.InstanceID]++
		}
	}
	beats := map[string]int64{}
	if err := decodeBeats(pages[1].Items, beats); err != nil {
		return err
	}
	now := s.now()
	for _, ci := range cis {
		id := idOf(ci)
		ci.RunningTasksCount, ci.PendingTasksCount = running[id], pending[id]
		ci.AgentConnected = ci.Status != model.InstanceInactive && s.connected(beats[id], now)
	}
	return nil
}
