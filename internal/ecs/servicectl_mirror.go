package ecs

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/reconcile"
	"github.com/gantry-dev/gantry/internal/state"
	"github.com/gantry-dev/gantry/internal/wire"
)

// The controller's mirror: what the service controller knows of every
// scope, kept in memory from one listing and then the stream of etcd
// changes (an informer, in Kubernetes' words). It holds the services, the
// tasks of services (summaries: what reconcile reads), and each cluster's
// instances and heartbeats. Reconciling a service reads nothing from etcd.

// clusterRef names a cluster in a scope.
type clusterRef struct{ account, region, cluster string }

// serviceRef names a service.
type serviceRef struct {
	clusterRef
	name string
}

// scopePath is the store prefix of the cluster's scope.
func (c clusterRef) scopePath() string { return c.account + "/" + c.region }

type mirroredService struct {
	rec *model.Service
	rev int64
}

// mirroredTask is what the controller keeps of a service's task.
type mirroredTask struct {
	service        string // the service's name (group service:<name>)
	taskDefinition string
	rt             reconcile.Task
}

type mirroredInstance struct {
	status string
}

type mirror struct {
	services  map[serviceRef]*mirroredService
	tasks     map[clusterRef]map[string]*mirroredTask
	instances map[clusterRef]map[string]*mirroredInstance
	beats     map[clusterRef]map[string]int64
}

func newMirror() *mirror {
	return &mirror{services: map[serviceRef]*mirroredService{}, tasks: map[clusterRef]map[string]*mirroredTask{},
		instances: map[clusterRef]map[string]*mirroredInstance{}, beats: map[clusterRef]map[string]int64{}}
}

// load lists every scope's services, service tasks, instances and
// heartbeats, and returns the revision to watch from.
func (m *mirror) load(ctx context.Context, root *state.Store) (int64, error) {
	scopes, err := root.ListAll(ctx, scopesPrefix)
	if err != nil {
		return 0, err
	}
	rev := scopes.Revision
	for _, sk := range scopes.Items {
		scope := strings.TrimPrefix(sk.Key, scopesPrefix)
		pages, err := root.ReadAll(ctx,
			state.Read{Key: scope + "/services/", Prefix: true},
			state.Read{Key: scope + "/tasks/", Prefix: true},
			state.Read{Key: scope + "/instances/", Prefix: true},
			state.Read{Key: scope + "/heartbeats/", Prefix: true},
		)
		if err != nil {
			return 0, err
		}
		for _, p := range pages {
			for _, it := range p.Items {
				m.apply(state.Event{Item: it})
			}
			rev = max(rev, p.Revision)
		}
	}
	return rev, nil
}

// apply folds one change into the mirror and returns the services it may
// concern (nil for none): the service itself, a task's service, or every
// service of the cluster for an instance or a heartbeat that changes the
// agent's connection.
func (m *mirror) apply(ev state.Event) []serviceRef {
	parts := strings.SplitN(ev.Key, "/", 5)
	if len(parts) != 5 {
		return nil
	}
	cr := clusterRef{parts[0], parts[1], parts[3]}
	id := parts[4]
	switch parts[2] {
	case "services":
		ref := serviceRef{cr, id}
		if ev.Deleted {
			delete(m.services, ref)
			return []serviceRef{ref}
		}
		rec := new(model.Service)
		if json.Unmarshal(ev.Value, rec) != nil {
			return nil
		}
		m.services[ref] = &mirroredService{rec: rec, rev: ev.Revision}
		return []serviceRef{ref}
	case "tasks":
		if ev.Deleted {
			if t, ok := m.tasks[cr][id]; ok {
				delete(m.tasks[cr], id)
				return []serviceRef{{cr, t.service}}
			}
			return nil
		}
		if !bytes.Contains(ev.Value, []byte(`"group":"service:`)) {
			return nil
		}
		t, ok := decodeServiceTask(id, ev.Value)
		if !ok {
			return nil
		}
		if m.tasks[cr] == nil {
			m.tasks[cr] = map[string]*mirroredTask{}
		}
		m.tasks[cr][id] = t
		return []serviceRef{{cr, t.service}}
	case "instances":
		if m.instances[cr] == nil {
			m.instances[cr] = map[string]*mirroredInstance{}
		}
		before := m.instances[cr][id]
		if ev.Deleted {
			delete(m.instances[cr], id)
		} else {
			var ci struct {
				Status string `json:"status"`
			}
			if json.Unmarshal(ev.Value, &ci) != nil {
				return nil
			}
			if before != nil && before.status == ci.Status {
				// A placement or an attribute: only a daemon service's
				// eligibility (its constraints) can have changed.
				return m.daemonsOf(cr)
			}
			m.instances[cr][id] = &mirroredInstance{status: ci.Status}
		}
		return m.servicesOf(cr)
	case "heartbeats":
		if m.beats[cr] == nil {
			m.beats[cr] = map[string]int64{}
		}
		if ev.Deleted {
			delete(m.beats[cr], id)
			return m.servicesOf(cr)
		}
		var hb model.Heartbeat
		if json.Unmarshal(ev.Value, &hb) != nil {
			return nil
		}
		_, known := m.beats[cr][id]
		m.beats[cr][id] = hb.At
		if !known {
			return m.servicesOf(cr) // a new agent: daemon services start on it
		}
	}
	return nil
}

// servicesOf lists the services of a cluster.
func (m *mirror) servicesOf(cr clusterRef) []serviceRef {
	var out []serviceRef
	for ref := range m.services {
		if ref.clusterRef == cr {
			out = append(out, ref)
		}
	}
	return out
}

// daemonsOf lists the DAEMON services of a cluster.
func (m *mirror) daemonsOf(cr clusterRef) []serviceRef {
	var out []serviceRef
	for ref, ms := range m.services {
		if ref.clusterRef == cr && ms.rec.SchedulingStrategy == model.SchedulingDaemon {
			out = append(out, ref)
		}
	}
	return out
}

// serviceTask is the part of a task record the controller reads.
type serviceTask struct {
	Group          string     `json:"group"`
	TaskDefinition string     `json:"taskDefinitionArn"`
	StartedBy      string     `json:"startedBy"`
	LastStatus     string     `json:"lastStatus"`
	DesiredStatus  string     `json:"desiredStatus"`
	HealthStatus   string     `json:"healthStatus"`
	CreatedAt      *wire.Time `json:"createdAt"`
	StartedAt      *wire.Time `json:"startedAt"`
	StoppedAt      *wire.Time `json:"stoppedAt"`
	StopCode       string     `json:"stopCode"`
	StoppedReason  string     `json:"stoppedReason"`
	InstanceID     string     `json:"gantryInstanceId"`
	ProtectedUntil int64      `json:"gantryProtectedUntil"`
}

func decodeServiceTask(id string, raw []byte) (*mirroredTask, bool) {
	var st serviceTask
	if json.Unmarshal(raw, &st) != nil || !strings.HasPrefix(st.Group, "service:") {
		return nil, false
	}
	t := reconcile.Task{
		ID: id, Deployment: st.StartedBy, Instance: st.InstanceID,
		LastStatus: st.LastStatus, DesiredStatus: st.DesiredStatus, Health: st.HealthStatus,
		CreatedAt: timeOf(st.CreatedAt), StartedAt: timeOf(st.StartedAt), StoppedAt: timeOf(st.StoppedAt),
		StopCode: st.StopCode, StoppedReason: st.StoppedReason,
	}
	if st.ProtectedUntil > 0 {
		t.ProtectedUntil = time.UnixMilli(st.ProtectedUntil)
	}
	return &mirroredTask{service: strings.TrimPrefix(st.Group, "service:"), taskDefinition: st.TaskDefinition, rt: t}, true
}

func timeOf(t *wire.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.Time
}
