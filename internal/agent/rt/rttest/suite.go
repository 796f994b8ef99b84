// Package rttest is the conformance suite every rt.Runtime passes: the
// Docker runtime and the simulated one. Each runtime's tests call Run with
// a constructor, the label to put on (and clean up) everything the suite
// creates, and how to make a container behave as a test needs (a real
// process for Docker, environment variables for the simulation).
package rttest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/agent/rt"
	"github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// Config says how to run the suite against one runtime.
type Config struct {
	// Runtime is the runtime under test.
	Runtime rt.Runtime
	// Image is an image present locally (for Shell programs: one that has
	// sh and sleep).
	Image string
	// Labels go on every container and volume the suite creates (the
	// caller removes them by label when the test ends).
	Labels map[string]string
	// Name prefixes the names of what the suite creates (unique per run).
	Name string
	// Program makes a container definition behave as p says. Nil means
	// Shell: the image's sh and sleep run it as a real process.
	Program func(def *ecswire.ContainerDefinition, p Program)
}

// Program is how a container of the suite behaves once started.
type Program struct {
	// ExitAfter, when positive, makes the container exit by itself that
	// long after it started, with ExitCode. Zero: it runs until stopped.
	ExitAfter time.Duration
	ExitCode  int
	// IgnoreSIGTERM makes a stop wait for the timeout and SIGKILL;
	// otherwise SIGTERM ends the container at once (exit code 143).
	IgnoreSIGTERM bool
	// FailStart makes Start fail (the command cannot be executed).
	FailStart bool
	// Health is the status the definition's health check reaches
	// (rt.HealthHealthy or rt.HealthUnhealthy), when the suite gave it one.
	// Shell ignores it: the suite's check command decides.
	Health string
}

// Shell runs a Program as a real process with the image's sh and sleep.
func Shell(def *ecswire.ContainerDefinition, p Program) {
	switch {
	case p.FailStart:
		def.Command = []string{"/gantry-rttest-no-such-command"}
	case p.ExitAfter > 0:
		secs := int(math.Ceil(p.ExitAfter.Seconds()))
		def.Command = []string{"sh", "-c", fmt.Sprintf("sleep %d; exit %d", secs, p.ExitCode)}
	case p.IgnoreSIGTERM:
		// PID 1 has no default signal actions: sleep ignores SIGTERM.
		def.Command = []string{"sleep", "3600"}
	default:
		def.Command = []string{"sh", "-c", "trap 'exit 143' TERM; while :; do sleep 1 & wait $!; done"}
	}
}

// Run runs the suite.
func Run(t *testing.T, c Config) {
	if c.Program == nil {
		c.Program = Shell
	}
	t.Run("ImageCachedIsNotPulled", func(t *testing.T) { imageCached(t, c) })
	t.Run("ContainerLifecycle", func(t *testing.T) { lifecycle(t, c) })
	t.Run("StopEndsOnSIGTERM", func(t *testing.T) { stopTerm(t, c) })
	t.Run("StopKillsAfterTimeout", func(t *testing.T) { stopTimeout(t, c) })
	t.Run("StartFailure", func(t *testing.T) { startFailure(t, c) })
	t.Run("HealthCheck", func(t *testing.T) { health(t, c) })
	t.Run("Volumes", func(t *testing.T) { volumes(t, c) })
}

func ptr[T any](v T) *T { return &v }

func imageCached(t *testing.T, c Config) {
	ctx := context.Background()
	for _, p := range []rt.PullPolicy{rt.PullPreferCached, rt.PullOnce} {
		res, err := c.Runtime.EnsureImage(ctx, c.Image, p, nil)
		if err != nil || res.Pulled {
			t.Errorf("EnsureImage(%s, %s) = %+v, %v; want a local image without a pull", c.Image, p, res, err)
		}
	}
}

func spec(c Config, name string, p Program) *rt.ContainerSpec {
	s := &rt.ContainerSpec{
		Name:        c.Name + "-" + name,
		Labels:      c.Labels,
		NetworkMode: "bridge",
		HostIP:      "127.0.0.1",
		Def: ecswire.ContainerDefinition{
			Name: name, Image: c.Image,
			PortMappings: []ecswire.PortMapping{{ContainerPort: ptr(int32(80))}},
		},
	}
	c.Program(&s.Def, p)
	return s
}

// create creates a container and removes it when the test ends.
func create(t *testing.T, c Config, s *rt.ContainerSpec) string {
	t.Helper()
	id, err := c.Runtime.Create(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Runtime.Remove(context.Background(), id) })
	return id
}

func lifecycle(t *testing.T, c Config) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	events := c.Runtime.Events(ctx, firstKey(c.Labels))
	id, err := c.Runtime.Create(ctx, spec(c, "life", Program{ExitAfter: time.Second, ExitCode: 4}))
	if err != nil {
		t.Fatal(err)
	}
	list, err := c.Runtime.List(ctx, c.Labels)
	if err != nil || !containsID(list, id) {
		t.Fatalf("List by labels: %v, %v; want %s", list, err, id)
	}
	if err := c.Runtime.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	st, err := c.Runtime.Inspect(ctx, id)
	if err != nil || !st.Running || len(st.Ports) != 1 || *st.Ports[0].HostPort == 0 || st.Ports[0].BindIP != "127.0.0.1" {
		t.Fatalf("after start: %+v, %v", st, err)
	}
	if st.StartedAt.IsZero() || st.Labels[firstKey(c.Labels)] == "" {
		t.Fatalf("after start: no start time or labels: %+v", st)
	}
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("event stream ended")
			}
			if ev.ContainerID != id || ev.Action != "die" {
				continue
			}
			if ev.Labels[firstKey(c.Labels)] == "" {
				t.Errorf("die event without the container's labels: %+v", ev)
			}
			st, err := c.Runtime.Inspect(ctx, id)
			if err != nil || !st.Exited || st.Running || st.ExitCode != 4 || st.FinishedAt.IsZero() {
				t.Fatalf("after exit: %+v, %v", st, err)
			}
			if err := c.Runtime.Remove(ctx, id); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Runtime.Inspect(ctx, id); !errors.Is(err, rt.ErrNotFound) {
				t.Fatalf("Inspect after Remove: %v, want ErrNotFound", err)
			}
			if err := c.Runtime.Remove(ctx, id); err != nil {
				t.Fatalf("removing a missing container: %v", err)
			}
			return
		case <-ctx.Done():
			t.Fatal("no die event")
		}
	}
}

// stopTerm: a container that honours SIGTERM exits at once with 143.
func stopTerm(t *testing.T, c Config) {
	ctx := context.Background()
	id := create(t, c, spec(c, "polite", Program{}))
	if err := c.Runtime.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	// A real program needs a moment to install its SIGTERM handler (as
	// PID 1 it ignores the signal until then).
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	if err := c.Runtime.Stop(ctx, id, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	d := time.Since(start)
	st, err := c.Runtime.Inspect(ctx, id)
	if err != nil || !st.Exited || st.ExitCode != 143 || d > 10*time.Second {
		t.Fatalf("Stop of a container honouring SIGTERM: %+v, %v after %s; want 143 well before the 20s timeout", st, err, d)
	}
}

func stopTimeout(t *testing.T, c Config) {
	ctx := context.Background()
	id := create(t, c, spec(c, "stubborn", Program{IgnoreSIGTERM: true}))
	if err := c.Runtime.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := c.Runtime.Stop(ctx, id, time.Second); err != nil {
		t.Fatal(err)
	}
	d := time.Since(start)
	st, err := c.Runtime.Inspect(ctx, id)
	if err != nil || !st.Exited || st.ExitCode != 137 || d < time.Second || d > 10*time.Second {
		t.Fatalf("Stop of a container ignoring SIGTERM: %+v, %v after %s; want SIGKILL (137) after 1s", st, err, d)
	}
}

// startFailure: Start says why a container cannot start, and it does not
// run.
func startFailure(t *testing.T, c Config) {
	ctx := context.Background()
	id := create(t, c, spec(c, "broken", Program{FailStart: true}))
	if err := c.Runtime.Start(ctx, id); err == nil {
		t.Fatal("Start of a container that cannot start succeeded")
	}
	st, err := c.Runtime.Inspect(ctx, id)
	if err != nil || st.Running {
		t.Fatalf("after a failed start: %+v, %v; want a container not running", st, err)
	}
}

// health: a health check reports starting, then healthy or unhealthy, with
// an event when it changes.
func health(t *testing.T, c Config) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	events := c.Runtime.Events(ctx, firstKey(c.Labels))
	want := map[string]string{}
	for _, h := range []string{rt.HealthHealthy, rt.HealthUnhealthy} {
		s := spec(c, "health-"+h, Program{Health: h})
		check := "exit 0"
		if h == rt.HealthUnhealthy {
			check = "exit 1"
		}
		s.Def.HealthCheck = &ecswire.HealthCheck{Command: []string{"CMD-SHELL", check}, Interval: ptr(int32(1)), Timeout: ptr(int32(2)), Retries: ptr(int32(1))}
		id := create(t, c, s)
		if err := c.Runtime.Start(ctx, id); err != nil {
			t.Fatal(err)
		}
		if st, err := c.Runtime.Inspect(ctx, id); err != nil || !st.Running || st.Health != rt.HealthStarting {
			t.Fatalf("right after start: %+v, %v; want health %s", st, err, rt.HealthStarting)
		}
		want[id] = h
	}
	for len(want) > 0 {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("event stream ended")
			}
			h, mine := want[ev.ContainerID]
			if !mine {
				continue
			}
			st, err := c.Runtime.Inspect(ctx, ev.ContainerID)
			if err != nil {
				t.Fatal(err)
			}
			if st.Health == h {
				delete(want, ev.ContainerID)
			} else if st.Health != rt.HealthStarting {
				t.Fatalf("health %s, want %s", st.Health, h)
			}
		case <-ctx.Done():
			t.Fatalf("no health event for %v", want)
		}
	}
}

func volumes(t *testing.T, c Config) {
	ctx := context.Background()
	name := c.Name + "-vol"
	if err := c.Runtime.CreateVolume(ctx, rt.VolumeSpec{Name: name, Driver: "local", Labels: c.Labels}); err != nil {
		t.Fatal(err)
	}
	if err := c.Runtime.CreateVolume(ctx, rt.VolumeSpec{Name: name, Driver: "local", Labels: c.Labels}); err != nil {
		t.Fatalf("creating an existing volume: %v", err)
	}
	if ok, err := c.Runtime.VolumeExists(ctx, name); !ok || err != nil {
		t.Fatalf("VolumeExists: %v %v", ok, err)
	}
	if err := c.Runtime.RemoveVolume(ctx, name); err != nil {
		t.Fatal(err)
	}
	if err := c.Runtime.RemoveVolume(ctx, name); err != nil {
		t.Fatalf("removing a missing volume: %v", err)
	}
	if ok, err := c.Runtime.VolumeExists(ctx, name); ok || err != nil {
		t.Fatalf("VolumeExists after remove: %v %v", ok, err)
	}
}

func containsID(list []rt.ContainerState, id string) bool {
	for _, s := range list {
		if s.ID == id {
			return true
		}
	}
	return false
}

func firstKey(m map[string]string) string {
	for k := range m {
		return k
	}
	return ""
}
