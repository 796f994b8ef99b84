// Package rttest is the conformance suite every rt.Runtime passes: the
// Docker runtime today, the simulated one when it comes. Each runtime's
// tests call Run with a constructor and the label to put on (and clean up)
// everything the suite creates.
package rttest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/agent/rt"
	"github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// Config says how to run the suite against one runtime.
type Config struct {
	// Runtime is the runtime under test.
	Runtime rt.Runtime
	// Image is an image present locally that has sh and sleep.
	Image string
	// Labels go on every container and volume the suite creates (the
	// caller removes them by label when the test ends).
	Labels map[string]string
	// Name prefixes the names of what the suite creates (unique per run).
	Name string
}

// Run runs the suite.
func Run(t *testing.T, c Config) {
	t.Run("ImageCachedIsNotPulled", func(t *testing.T) { imageCached(t, c) })
	t.Run("ContainerLifecycle", func(t *testing.T) { lifecycle(t, c) })
	t.Run("StopKillsAfterTimeout", func(t *testing.T) { stopTimeout(t, c) })
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

func spec(c Config, name string, cmd ...string) *rt.ContainerSpec {
	return &rt.ContainerSpec{
		Name:        c.Name + "-" + name,
		Labels:      c.Labels,
		NetworkMode: "bridge",
		HostIP:      "127.0.0.1",
		Def: ecswire.ContainerDefinition{
			Name: name, Image: c.Image, Command: cmd,
			PortMappings: []ecswire.PortMapping{{ContainerPort: ptr(int32(80))}},
		},
	}
}

func lifecycle(t *testing.T, c Config) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	events := c.Runtime.Events(ctx, firstKey(c.Labels))
	id, err := c.Runtime.Create(ctx, spec(c, "life", "sh", "-c", "sleep 1; exit 4"))
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
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("event stream ended")
			}
			if ev.ContainerID != id || ev.Action != "die" {
				continue
			}
			st, err := c.Runtime.Inspect(ctx, id)
			if err != nil || !st.Exited || st.ExitCode != 4 {
				t.Fatalf("after exit: %+v, %v", st, err)
			}
			if err := c.Runtime.Remove(ctx, id); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Runtime.Inspect(ctx, id); !errors.Is(err, rt.ErrNotFound) {
				t.Fatalf("Inspect after Remove: %v, want ErrNotFound", err)
			}
			return
		case <-ctx.Done():
			t.Fatal("no die event")
		}
	}
}

func stopTimeout(t *testing.T, c Config) {
	ctx := context.Background()
	id, err := c.Runtime.Create(ctx, spec(c, "stubborn", "sleep", "60"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Runtime.Remove(ctx, id)
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
