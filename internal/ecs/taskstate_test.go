package ecs

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/agentproto"
	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/wire"
	w "github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// Pure rules of tasks: placement, reservations and the agent's reports.

func resources(cpu, mem int32, ports ...string) []w.Resource {
	return []w.Resource{
		{Name: "CPU", Type: "INTEGER", IntegerValue: cpu},
		{Name: "MEMORY", Type: "INTEGER", IntegerValue: mem},
		{Name: "PORTS", Type: "STRINGSET", StringSetValue: ports},
	}
}

func TestSchedulerInstances(t *testing.T) {
	s := New(nil, nil)
	now := time.Now()
	ci := &model.ContainerInstance{
		ContainerInstanceArn: "arn:aws:ecs:us-east-1:111111111111:container-instance/c/abc", Status: "ACTIVE", Ec2InstanceId: "i-1",
		RemainingResources: append(resources(1024, 2048, "22", "80"), w.Resource{Name: "PORTS_UDP", Type: "STRINGSET", StringSetValue: []string{"53"}}),
		Attributes:         []w.Attribute{{Name: "ecs.availability-zone", Value: "a"}, {Name: "flag"}},
		VersionInfo:        &w.VersionInfo{AgentVersion: "1.2.3"},
	}
	v := &placementView{instances: []placeInstance{{ci: ci, id: "abc", load: model.InstanceLoad{Tasks: 3, Groups: map[string]int32{"web": 2, "db": 1}}}},
		beats: map[string]int64{"abc": now.UnixMilli()}}
	s.setSched(&v.instances[0])
	got := s.schedulerInstances(v, now)[0]
	if got.CPU != 1024 || got.Memory != 2048 || !got.Ports["80"] || !got.Ports["22"] || !got.PortsUDP["53"] || got.Ports["53"] {
		t.Fatalf("resources: %+v", got)
	}
	if !got.AgentConnected || got.AgentVersion != "1.2.3" || got.EC2InstanceID != "i-1" || got.RunningTasksCount != 3 || got.TaskGroups["web"] != 2 {
		t.Fatalf("facts: %+v", got.Facts)
	}
	if v, ok := got.Attributes["flag"]; !ok || v != "" || got.Attributes["ecs.availability-zone"] != "a" {
		t.Fatalf("attributes: %v", got.Attributes)
	}
	v.beats["abc"] = now.Add(-time.Hour).UnixMilli()
	if s.schedulerInstances(v, now)[0].AgentConnected {
		t.Fatal("an agent silent for an hour counts as connected")
	}
}

func TestReserveRelease(t *testing.T) {
	ci := &model.ContainerInstance{RegisteredResources: resources(1024, 2048, "22"), RemainingResources: resources(1024, 2048, "22")}
	taken := reserve(ci, demand{cpu: 256, memory: 512, ports: []string{"80"}, portsUDP: []string{"53"}})
	if got := ci.RemainingResources; intResource(got, "CPU") != 768 || intResource(got, "MEMORY") != 1536 ||
		!slices.Equal(stringSetResource(got, "PORTS"), []string{"22", "80"}) || !slices.Equal(stringSetResource(got, "PORTS_UDP"), []string{"53"}) {
		t.Fatalf("after reserve: %+v", got)
	}
	release(ci, taken)
	if got := ci.RemainingResources; intResource(got, "CPU") != 1024 || intResource(got, "MEMORY") != 2048 ||
		!slices.Equal(stringSetResource(got, "PORTS"), []string{"22"}) || len(stringSetResource(got, "PORTS_UDP")) != 0 {
		t.Fatalf("after release: %+v", got)
	}
	// Releasing twice never goes above what was registered, nor frees the
	// agent's own ports.
	release(ci, append(taken, w.Resource{Name: "PORTS", Type: "STRINGSET", StringSetValue: []string{"22"}}))
	if got := ci.RemainingResources; intResource(got, "CPU") != 1024 || !slices.Equal(stringSetResource(got, "PORTS"), []string{"22"}) {
		t.Fatalf("after a second release: %+v", got)
	}
}

func TestTaskDemand(t *testing.T) {
	td := &w.TaskDefinition{ContainerDefinitions: []w.ContainerDefinition{
		{Cpu: 100, Memory: new(int32(300)), MemoryReservation: new(int32(200)),
			PortMappings: []w.PortMapping{{ContainerPort: new(int32(80)), HostPort: new(int32(8080)), Protocol: "tcp"}, {ContainerPort: new(int32(81)), HostPort: new(int32(0))}}},
		{Cpu: 50, Memory: new(int32(100)), PortMappings: []w.PortMapping{{ContainerPort: new(int32(53)), HostPort: new(int32(53)), Protocol: "udp"}}},
	}}
	d := taskDemand(td)
	if d.cpu != 150 || d.memory != 300 || !slices.Equal(d.ports, []string{"8080"}) || !slices.Equal(d.portsUDP, []string{"53"}) {
		t.Fatalf("demand = %v", d)
	}
	td.Cpu, td.Memory = "1024", "2048"
	if d := taskDemand(td); d.cpu != 1024 || d.memory != 2048 {
		t.Fatalf("demand with task sizes = %v", d)
	}
	td.NetworkMode = modeNone
	if d := taskDemand(td); len(d.ports)+len(d.portsUDP) != 0 {
		t.Fatalf("demand in network mode none = %v", d)
	}
}

// newTestTask is a PENDING task of an essential web container with a health
// check and a non-essential log container.
func newTestTask() (*model.Task, map[string]containerInfo) {
	return &model.Task{Task: w.Task{
			TaskArn: "arn:aws:ecs:r:1:task/c/1", LastStatus: "PENDING", DesiredStatus: "RUNNING", Version: 1,
			Containers: []w.Container{{Name: "web", LastStatus: "PENDING"}, {Name: "log", LastStatus: "PENDING"}},
		}}, map[string]containerInfo{
			"web": {essential: true, healthCheck: true},
			"log": {essential: false},
		}
}

func change(status string, cs ...agentproto.ContainerStateChange) stateChange {
	return stateChange{status: status, containers: cs}
}

func cchange(name, status, health string) agentproto.ContainerStateChange {
	return agentproto.ContainerStateChange{ContainerStateChange: w.ContainerStateChange{ContainerName: name, Status: status}, HealthStatus: health}
}

func TestApplyChange(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	tk, info := newTestTask()
	steps := []struct {
		ch          stateChange
		changed     bool
		last, want  string // task lastStatus, desiredStatus after
		health      string
		wantVersion int64
	}{
		{change("RUNNING", cchange("web", "RUNNING", ""), cchange("log", "RUNNING", "")), true, "RUNNING", "RUNNING", "UNKNOWN", 2},
		{change("RUNNING", cchange("web", "RUNNING", "")), false, "RUNNING", "RUNNING", "UNKNOWN", 2},
		{change("PENDING", cchange("web", "PENDING", "")), false, "RUNNING", "RUNNING", "UNKNOWN", 2},
		{change("", cchange("web", "", "HEALTHY")), true, "RUNNING", "RUNNING", "HEALTHY", 3},
		{change("", cchange("log", "STOPPED", "")), true, "RUNNING", "RUNNING", "HEALTHY", 4},
		{change("", cchange("web", "", "UNHEALTHY")), true, "RUNNING", "RUNNING", "UNHEALTHY", 5},
		{change("", cchange("web", "STOPPED", "")), true, "RUNNING", "STOPPED", "UNHEALTHY", 6},
		{change("STOPPED"), true, "STOPPED", "STOPPED", "UNHEALTHY", 7},
		{change("RUNNING", cchange("web", "RUNNING", "HEALTHY")), false, "STOPPED", "STOPPED", "UNHEALTHY", 7},
	}
	for i, st := range steps {
		changed, err := applyChange(tk, st.ch, info, now.Add(time.Duration(i)*time.Second))
		if err != nil || changed != st.changed || tk.LastStatus != st.last || tk.DesiredStatus != st.want || tk.HealthStatus != st.health || tk.Version != st.wantVersion {
			t.Fatalf("step %d: changed %v, err %v, task %s/%s health %s version %d; want %v, %s/%s %s %d",
				i, changed, err, tk.LastStatus, tk.DesiredStatus, tk.HealthStatus, tk.Version, st.changed, st.last, st.want, st.health, st.wantVersion)
		}
	}
	if tk.StopCode != agentproto.StopCodeEssentialContainerExited || tk.StoppedReason != reasonEssentialExited ||
		!tk.StartedAt.Equal(now) || !tk.StoppingAt.Equal(now.Add(6*time.Second)) || !tk.StoppedAt.Equal(now.Add(7*time.Second)) ||
		!tk.ExecutionStoppedAt.Equal(now.Add(7*time.Second)) || tk.ConnectivityAt == nil || !tk.ConnectivityAt.Equal(now) {
		t.Fatalf("stopped task = %+v", tk.Task)
	}
	if _, err := applyChange(&model.Task{Task: w.Task{LastStatus: "PENDING"}}, change("", cchange("ghost", "RUNNING", "")), nil, now); err == nil {
		t.Fatal("a report about an unknown container was accepted")
	}
}

func TestFailedToStart(t *testing.T) {
	tk, info := newTestTask()
	pull := cchange("web", "STOPPED", "")
	pull.Reason = "CannotPullContainerError: no such image"
	if _, err := applyChange(tk, change("STOPPED", pull), info, time.Now()); err != nil {
		t.Fatal(err)
	}
	if tk.StopCode != agentproto.StopCodeTaskFailedToStart || tk.StoppedReason != pull.Reason || tk.StartedAt != nil ||
		tk.Containers[1].LastStatus != "STOPPED" {
		t.Fatalf("task = %+v", tk.Task)
	}
}

// randomChange is a report of random statuses, exit codes, reasons,
// health, bindings and timestamps for the test task's containers.
func randomChange(rnd *rand.Rand, base time.Time) stateChange {
	pick := func(xs ...string) string { return xs[rnd.IntN(len(xs))] }
	ch := stateChange{status: pick("", "PENDING", "RUNNING", "DEACTIVATING", "STOPPED")}
	if rnd.IntN(4) == 0 {
		ch.pullStartedAt = wire.At(base.Add(time.Duration(rnd.IntN(3)) * time.Second))
	}
	if rnd.IntN(4) == 0 {
		ch.pullStoppedAt = wire.At(base.Add(time.Duration(rnd.IntN(3)) * time.Second))
	}
	for range rnd.IntN(3) {
		cc := cchange(pick("web", "log"), pick("", "PENDING", "RUNNING", "STOPPED"), pick("", "", "HEALTHY", "UNHEALTHY", "UNKNOWN"))
		if rnd.IntN(3) == 0 {
			cc.ExitCode = new(int32(rnd.IntN(2)))
		}
		cc.Reason = pick("", "", "oom", "exit")
		cc.RuntimeId = pick("", "", "id1", "id2")
		cc.ImageDigest = pick("", "", "sha256:a", "sha256:b")
		switch rnd.IntN(4) {
		case 1:
			cc.NetworkBindings = []w.NetworkBinding{}
		case 2:
			cc.NetworkBindings = []w.NetworkBinding{{HostPort: new(int32(8080))}}
		case 3:
			cc.NetworkBindings = []w.NetworkBinding{{HostPort: new(int32(8081))}}
		}
		ch.containers = append(ch.containers, cc)
	}
	return ch
}

// applyChange says a task changed exactly when its encoding changed (apart
// from the version it then counts), over many random reports from many
// random states.
func TestApplyChangeSeesEveryChange(t *testing.T) {
	rnd := rand.New(rand.NewPCG(4, 2))
	base := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	changes, idle := 0, 0
	for range 3000 {
		tk, info := newTestTask()
		for step := range 1 + rnd.IntN(8) {
			ch := randomChange(rnd, base)
			before, _ := json.Marshal(tk)
			v := tk.Version
			changed, err := applyChange(tk, ch, info, base.Add(time.Duration(step)*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			want := v
			if changed {
				want, changes = v+1, changes+1
			} else {
				idle++
			}
			if tk.Version != want {
				t.Fatalf("version %d after a report that changed=%v, want %d", tk.Version, changed, want)
			}
			tk.Version = v
			after, _ := json.Marshal(tk)
			// A report naming a container twice may undo its own change:
			// it may then say changed (a write that changes nothing), but
			// never miss one.
			twice := len(ch.containers) == 2 && ch.containers[0].ContainerName == ch.containers[1].ContainerName
			if differs := string(before) != string(after); changed != differs && !(twice && changed) {
				t.Fatalf("applyChange said changed=%v for %+v:\nbefore %s\nafter  %s", changed, ch, before, after)
			}
			if changed {
				tk.Version = v + 1
			}
		}
	}
	if changes == 0 || idle == 0 {
		t.Fatalf("%d reports changed the task and %d did not: the test needs both", changes, idle)
	}
}
