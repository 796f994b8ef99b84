package simrt

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gantry-dev/gantry/internal/agent/rt"
	"github.com/gantry-dev/gantry/internal/agent/rt/rttest"
	"github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// program asks a simulated container for what the conformance suite
// needs, through the GANTRY_SIM_* variables.
func program(def *ecswire.ContainerDefinition, p rttest.Program) {
	env := func(k, v string) { def.Environment = append(def.Environment, ecswire.KeyValuePair{Name: k, Value: v}) }
	if p.FailStart {
		env(EnvStartFail, `exec: "/gantry-rttest-no-such-command": no such file or directory`)
	}
	if p.ExitAfter > 0 {
		env(EnvRunFor, p.ExitAfter.String())
		env(EnvExitCode, strconv.Itoa(p.ExitCode))
	}
	if p.IgnoreSIGTERM {
		env(EnvIgnoreTerm, "true")
	}
	if p.Health != "" {
		env(EnvHealth, p.Health)
	}
}

// The simulated runtime passes the runtime conformance suite.
func TestConformance(t *testing.T) {
	r := newRuntime(t, Default())
	rttest.Run(t, rttest.Config{
		Runtime: r,
		Image:   "busybox:latest",
		Labels:  map[string]string{"com.gantry.test-run": "sim"},
		Name:    "gantry-rttest-sim",
		Program: program,
	})
}

func newRuntime(t *testing.T, o Options) *Runtime {
	t.Helper()
	r, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func ptr[T any](v T) *T { return &v }

// simSpec is a bridge-mode container with env and port mappings.
func simSpec(name string, env map[string]string, ports ...ecswire.PortMapping) *rt.ContainerSpec {
	s := &rt.ContainerSpec{
		Name: name, Labels: map[string]string{"task": "t1"}, NetworkMode: "bridge", HostIP: "127.0.0.1",
		Def: ecswire.ContainerDefinition{Name: name, Image: "app:1", PortMappings: ports},
	}
	for k, v := range env {
		s.Def.Environment = append(s.Def.Environment, ecswire.KeyValuePair{Name: k, Value: v})
	}
	return s
}

func mustCreate(t *testing.T, r *Runtime, s *rt.ContainerSpec) string {
	t.Helper()
	id, err := r.Create(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func mustInspect(t *testing.T, r *Runtime, id string) rt.ContainerState {
	t.Helper()
	st, err := r.Inspect(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestStartTakesTheStartDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRuntime(t, Options{StartDelay: 300 * time.Millisecond, HealthDelay: time.Second, CPUUnits: 1024, MemoryMiB: 512})
		ctx := context.Background()
		id := mustCreate(t, r, simSpec("web", nil))
		slow := mustCreate(t, r, simSpec("slow", map[string]string{EnvStartDelay: "2s"}))
		begin := time.Now()
		if err := r.Start(ctx, id); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(begin); d != 300*time.Millisecond {
			t.Errorf("Start took %s, want the start delay", d)
		}
		if st := mustInspect(t, r, id); !st.Running || !st.StartedAt.Equal(begin.Add(300*time.Millisecond)) || st.Health != "" {
			t.Errorf("after Start: %+v", st)
		}
		if err := r.Start(ctx, id); err != nil {
			t.Errorf("starting a running container: %v", err)
		}
		begin = time.Now()
		if err := r.Start(ctx, slow); err != nil || time.Since(begin) != 2*time.Second {
			t.Errorf("GANTRY_SIM_START_DELAY: %v after %s", err, time.Since(begin))
		}
	})
}

func TestExitCodeAndRunFor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRuntime(t, Options{CPUUnits: 1024, MemoryMiB: 512})
		ctx := context.Background()
		events := r.Events(ctx, "task")
		forever := mustCreate(t, r, simSpec("forever", nil))
		at3 := mustCreate(t, r, simSpec("at3", map[string]string{EnvExitCode: "3", EnvRunFor: "200ms"}))
		now := mustCreate(t, r, simSpec("now", map[string]string{EnvExitCode: "7"}))
		clean := mustCreate(t, r, simSpec("clean", map[string]string{EnvRunFor: "1s"}))
		for _, id := range []string{forever, at3, now, clean} {
			if err := r.Start(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(150 * time.Millisecond)
		synctest.Wait()
		if st := mustInspect(t, r, now); !st.Exited || st.ExitCode != 7 {
			t.Errorf("EXIT_CODE without RUN_FOR: %+v, want exited 7 at once", st)
		}
		if st := mustInspect(t, r, at3); !st.Running {
			t.Errorf("RUN_FOR 200ms, 150ms in: %+v, want running", st)
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		if st := mustInspect(t, r, at3); !st.Exited || st.ExitCode != 3 || st.FinishedAt.Sub(st.StartedAt) != 200*time.Millisecond {
			t.Errorf("RUN_FOR 200ms, EXIT_CODE 3: %+v", st)
		}
		if st := mustInspect(t, r, clean); !st.Exited || st.ExitCode != 0 {
			t.Errorf("RUN_FOR alone: %+v, want exit 0", st)
		}
		if st := mustInspect(t, r, forever); !st.Running {
			t.Errorf("no variables: %+v, want running until stopped", st)
		}
		died := map[string]bool{}
		for len(events) > 0 {
			ev := <-events
			if ev.Action == "die" {
				died[ev.ContainerID] = true
			}
		}
		if !died[at3] || !died[now] || !died[clean] || died[forever] {
			t.Errorf("die events for %v", died)
		}
	})
}

func TestHealth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRuntime(t, Options{StartDelay: 0, HealthDelay: 500 * time.Millisecond, CPUUnits: 1024, MemoryMiB: 512})
		ctx := context.Background()
		check := &ecswire.HealthCheck{Command: []string{"CMD-SHELL", "true"}}
		good := simSpec("good", nil)
		good.Def.HealthCheck = check
		bad := simSpec("bad", map[string]string{EnvHealth: "unhealthy"})
		bad.Def.HealthCheck = check
		ids := []string{mustCreate(t, r, good), mustCreate(t, r, bad)}
		for _, id := range ids {
			if err := r.Start(ctx, id); err != nil {
				t.Fatal(err)
			}
			if st := mustInspect(t, r, id); st.Health != rt.HealthStarting {
				t.Errorf("health right after start %q, want starting", st.Health)
			}
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if h := mustInspect(t, r, ids[0]).Health; h != rt.HealthHealthy {
			t.Errorf("default health %q, want healthy", h)
		}
		if h := mustInspect(t, r, ids[1]).Health; h != rt.HealthUnhealthy {
			t.Errorf("GANTRY_SIM_HEALTH=unhealthy: %q", h)
		}
	})
}

func TestStopAndRemove(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRuntime(t, Default())
		ctx := context.Background()
		polite := mustCreate(t, r, simSpec("polite", nil))
		stubborn := mustCreate(t, r, simSpec("stubborn", map[string]string{EnvIgnoreTerm: "true"}))
		never := mustCreate(t, r, simSpec("never", nil))
		for _, id := range []string{polite, stubborn} {
			if err := r.Start(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
		begin := time.Now()
		if err := r.Stop(ctx, polite, 30*time.Second); err != nil || time.Since(begin) != 0 {
			t.Fatalf("Stop: %v after %s", err, time.Since(begin))
		}
		if st := mustInspect(t, r, polite); !st.Exited || st.ExitCode != 143 {
			t.Errorf("stopped: %+v, want exit 143", st)
		}
		if err := r.Stop(ctx, stubborn, 5*time.Second); err != nil || time.Since(begin) != 5*time.Second {
			t.Fatalf("Stop of one ignoring SIGTERM: %v after %s", err, time.Since(begin))
		}
		if st := mustInspect(t, r, stubborn); st.ExitCode != 137 {
			t.Errorf("killed: %+v, want exit 137", st)
		}
		if err := r.Stop(ctx, never, time.Second); err != nil {
			t.Errorf("Stop of a container never started: %v", err)
		}
		if st := mustInspect(t, r, never); st.Running || st.Exited {
			t.Errorf("a container never started and stopped: %+v, want created", st)
		}
		if err := r.Stop(ctx, "nope", time.Second); err != nil {
			t.Errorf("Stop of an unknown container: %v", err)
		}
		if err := r.Start(ctx, polite); err == nil {
			t.Error("Start of an exited container succeeded")
		}
		running := mustCreate(t, r, simSpec("running", nil))
		if err := r.Start(ctx, running); err != nil {
			t.Fatal(err)
		}
		if err := r.Remove(ctx, running); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Inspect(ctx, running); !errors.Is(err, rt.ErrNotFound) {
			t.Errorf("Inspect after Remove: %v", err)
		}
		// The name is free again.
		mustCreate(t, r, simSpec("running", nil))
	})
}

func TestStartCancelledAndRemovedWhileStarting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRuntime(t, Default())
		id := mustCreate(t, r, simSpec("web", nil, ecswire.PortMapping{ContainerPort: ptr(int32(80)), HostPort: ptr(int32(8080))}))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		if err := r.Start(ctx, id); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Start with a context that ends: %v", err)
		}
		if st := mustInspect(t, r, id); st.Running || len(st.Ports) != 0 {
			t.Fatalf("after a cancelled start: %+v", st)
		}
		if err := r.Start(context.Background(), id); err != nil {
			t.Fatalf("a second start (the port must be free again): %v", err)
		}
		gone := mustCreate(t, r, simSpec("gone", nil))
		errc := make(chan error, 1)
		go func() { errc <- r.Start(context.Background(), gone) }()
		synctest.Wait()
		if err := r.Remove(context.Background(), gone); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; !errors.Is(err, rt.ErrNotFound) {
			t.Errorf("Start of a container removed while starting: %v", err)
		}
	})
}

func TestPorts(t *testing.T) {
	r := newRuntime(t, Options{CPUUnits: 1024, MemoryMiB: 512})
	ctx := context.Background()
	a := mustCreate(t, r, simSpec("a", nil,
		ecswire.PortMapping{ContainerPort: ptr(int32(80)), HostPort: ptr(int32(8080))},
		ecswire.PortMapping{ContainerPort: ptr(int32(53)), Protocol: "udp"},
		ecswire.PortMapping{ContainerPort: ptr(int32(443)), HostPort: ptr(int32(0))}))
	if err := r.Start(ctx, a); err != nil {
		t.Fatal(err)
	}
	got := mustInspect(t, r, a).Ports
	want := []string{"127.0.0.1:8080->80/tcp", "127.0.0.1:32768->53/udp", "127.0.0.1:32769->443/tcp"}
	if s := bindings(got); strings.Join(s, " ") != strings.Join(want, " ") {
		t.Errorf("bindings %v, want %v", s, want)
	}
	clash := mustCreate(t, r, simSpec("clash", nil, ecswire.PortMapping{ContainerPort: ptr(int32(80)), HostPort: ptr(int32(8080))}))
	if err := r.Start(ctx, clash); err == nil || !strings.Contains(err.Error(), "port is already allocated") {
		t.Errorf("a second container on host port 8080: %v", err)
	}
	host := simSpec("host", nil, ecswire.PortMapping{ContainerPort: ptr(int32(9000))})
	host.NetworkMode = "host"
	h := mustCreate(t, r, host)
	if err := r.Start(ctx, h); err != nil || len(mustInspect(t, r, h).Ports) != 0 {
		t.Errorf("host mode publishes nothing: %v %v", err, mustInspect(t, r, h).Ports)
	}
	if err := r.Stop(ctx, a, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx, clash); err != nil {
		t.Errorf("host port 8080 after its holder exited: %v", err)
	}
	b := mustCreate(t, r, simSpec("b", nil, ecswire.PortMapping{ContainerPort: ptr(int32(80))}))
	if err := r.Start(ctx, b); err != nil {
		t.Fatal(err)
	}
	if s := bindings(mustInspect(t, r, b).Ports); len(s) != 1 || s[0] != "127.0.0.1:32770->80/tcp" {
		t.Errorf("the dynamic counter goes on: %v", s)
	}
}

func bindings(bs []ecswire.NetworkBinding) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b.BindIP+":"+strconv.Itoa(int(*b.HostPort))+"->"+strconv.Itoa(int(*b.ContainerPort))+"/"+b.Protocol)
	}
	return out
}

func TestImagesAndInfo(t *testing.T) {
	r := newRuntime(t, Options{CPUUnits: 1536, MemoryMiB: 3000})
	ctx := context.Background()
	res, err := r.EnsureImage(ctx, "127.0.0.1:4566/web:1", rt.PullAlways, nil)
	if err != nil || res.Pulled || !strings.HasPrefix(res.Digest, "sha256:") {
		t.Errorf("EnsureImage: %+v %v; want no pull and a digest", res, err)
	}
	if _, err := r.EnsureImage(ctx, "repo/sim-missing:1", rt.PullDefault, nil); !errors.Is(err, rt.ErrImageNotFound) {
		t.Errorf("an image named sim-missing: %v, want ErrImageNotFound", err)
	}
	info, err := r.Info(ctx)
	if err != nil || info.Name != "sim" || info.CPUs != 2 || info.MemoryMiB != 3000 || info.APIVersion == "" {
		t.Errorf("Info %+v %v", info, err)
	}
}

func TestBadVariablesFailCreate(t *testing.T) {
	r := newRuntime(t, Default())
	for _, env := range []map[string]string{
		{EnvExitCode: "three"}, {EnvExitCode: "256"}, {EnvRunFor: "soon"}, {EnvHealth: "ok"},
		{EnvIgnoreTerm: "maybe"}, {EnvStartDelay: "-1s"},
	} {
		if _, err := r.Create(context.Background(), simSpec("bad", env)); err == nil {
			t.Errorf("Create with %v succeeded", env)
		}
	}
	mustCreate(t, r, simSpec("dup", nil))
	if _, err := r.Create(context.Background(), simSpec("dup", nil)); err == nil || !strings.Contains(err.Error(), "already in use") {
		t.Errorf("a second container named dup: %v", err)
	}
	if _, err := New(Options{CPUUnits: 0, MemoryMiB: 1}); err == nil {
		t.Error("New with 0 CPU units succeeded")
	}
}

func TestStartFailure(t *testing.T) {
	r := newRuntime(t, Default())
	id := mustCreate(t, r, simSpec("broken", map[string]string{EnvStartFail: "exec format error"}))
	err := r.Start(context.Background(), id)
	if err == nil || !strings.Contains(err.Error(), "exec format error") {
		t.Fatalf("Start: %v", err)
	}
	if st := mustInspect(t, r, id); st.Running || st.Error != "exec format error" {
		t.Errorf("after a failed start: %+v", st)
	}
}

// A reader that falls behind loses its stream (closed), never blocks the
// runtime, and can subscribe again.
func TestSlowEventReaderIsCutOff(t *testing.T) {
	r := newRuntime(t, Options{CPUUnits: 1024, MemoryMiB: 512})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	slow := r.Events(ctx, "task")
	other := r.Events(ctx, "other-label")
	for i := range eventBuffer + 1 {
		mustCreate(t, r, simSpec("c"+strconv.Itoa(i), nil))
	}
	n := 0
	for range slow {
		n++
	}
	if n != eventBuffer {
		t.Errorf("read %d events before the stream closed, want %d", n, eventBuffer)
	}
	select {
	case ev := <-other:
		t.Errorf("a stream for another label got %+v", ev)
	default:
	}
	again := r.Events(ctx, "task")
	mustCreate(t, r, simSpec("after", nil))
	if ev := <-again; ev.Action != "create" {
		t.Errorf("after re-subscribing: %+v", ev)
	}
	cancel()
	for range again {
	}
}
