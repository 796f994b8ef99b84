package ecs

import (
	"context"
	"strings"

	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/state"
)

// Census is a count of what every account and region holds, for the
// server's metrics.
type Census struct {
	// TasksByStatus counts tasks by lastStatus.
	TasksByStatus map[string]int
	// Instances is the number of registered container instances;
	// AgentsConnected how many of them have a connected agent.
	Instances, AgentsConnected int
}

// Census counts the tasks by status and the container instances (and those
// with a connected agent) of every cluster of every scope that holds tasks,
// services or instances. It reads every task record once, as
// DescribeClusters does for one cluster; the metrics call it at most every
// few seconds.
func (s *Service) Census(ctx context.Context) (Census, error) {
	out := Census{TasksByStatus: map[string]int{}}
	scopes, err := s.store.ListAll(ctx, scopesPrefix)
	if err != nil {
		return out, err
	}
	now := s.now()
	for _, sk := range scopes.Items {
		st := s.store.Sub(strings.TrimPrefix(sk.Key, scopesPrefix))
		clusters, err := st.ListAll(ctx, model.ClustersPrefix)
		if err != nil {
			return out, err
		}
		names := []string{model.DefaultCluster}
		for _, it := range clusters.Items {
			if name := strings.TrimPrefix(it.Key, model.ClustersPrefix); name != model.DefaultCluster {
				names = append(names, name)
			}
		}
		for _, cluster := range names {
			pages, err := st.ReadAll(ctx,
				state.Read{Key: model.TasksPrefix(cluster), Prefix: true},
				state.Read{Key: model.InstancesPrefix(cluster), Prefix: true, KeysOnly: true},
				state.Read{Key: heartbeatsPrefix(cluster), Prefix: true},
			)
			if err != nil {
				return out, err
			}
			for _, it := range pages[0].Items {
				var t taskLoad
				if err := it.Decode(&t); err != nil {
					return out, err
				}
				out.TasksByStatus[t.LastStatus]++
			}
			beats := map[string]int64{}
			if err := decodeBeats(pages[2].Items, beats); err != nil {
				return out, err
			}
			for _, it := range pages[1].Items {
				out.Instances++
				if s.connected(beats[lastSegment(it.Key)], now) {
					out.AgentsConnected++
				}
			}
		}
	}
	return out, nil
}
