// Package agenttest helps the agent's tests run against the machine's real
// Docker: it builds the local test images (scripts/test-images.sh, never a
// pull), connects the Docker runtime, removes everything a test created by
// label, and records the state changes an engine reports.
package agenttest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"

	"github.com/gantry-dev/gantry/internal/agent/dockerrt"
	"github.com/gantry-dev/gantry/internal/agent/engine"
)

// Image is the local busybox image scripts/test-images.sh builds.
const Image = "gantry-test/busybox:latest"

// RepoRoot is the repository's root directory.
func RepoRoot() string {
	_, file, _, _ := goruntime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", ".."))
}

// BuildImages runs scripts/test-images.sh (idempotent; call it from TestMain).
func BuildImages() error {
	cmd := exec.Command(filepath.Join(RepoRoot(), "scripts", "test-images.sh"))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("scripts/test-images.sh: %w", err)
	}
	return nil
}

// Main builds the test images, then runs the package's tests.
func Main(m *testing.M) {
	if err := BuildImages(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// Logger is a logger for tests: to stderr with -v and GANTRY_TEST_LOG=1,
// else discarded.
func Logger() *slog.Logger {
	if os.Getenv("GANTRY_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// Docker connects to the local daemon, failing the test if it is not there.
func Docker(t testing.TB) *dockerrt.Runtime {
	t.Helper()
	r, err := dockerrt.New(context.Background(), "", Logger())
	if err != nil {
		t.Fatalf("docker: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// CleanupLabel removes, when the test ends, every container and volume
// carrying label key=value.
func CleanupLabel(t testing.TB, key, value string) {
	t.Helper()
	t.Cleanup(func() {
		if err := RemoveLabelled(key, value); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
}

// RemoveLabelled removes every container and volume carrying key=value.
func RemoveLabelled(key, value string) error {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f := filters.NewArgs(filters.Arg("label", key+"="+value))
	list, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return err
	}
	for _, c := range list {
		if err := cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
			return err
		}
	}
	vols, err := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		return err
	}
	for _, v := range vols.Volumes {
		if err := cli.VolumeRemove(ctx, v.Name, true); err != nil {
			return err
		}
	}
	return nil
}

// Recorder is an engine.Reporter that records every state change, in
// order, and acknowledges it at once (or fails while Fail is set).
type Recorder struct {
	mu      sync.Mutex
	changes []engine.StateChange
	fail    bool
	notify  chan struct{}
}

var _ engine.Reporter = (*Recorder)(nil)

// NewRecorder returns an empty recorder.
func NewRecorder() *Recorder { return &Recorder{notify: make(chan struct{})} }

// Report records sc.
func (r *Recorder) Report(ctx context.Context, sc *engine.StateChange) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail {
		return fmt.Errorf("recorder: failing on purpose")
	}
	r.changes = append(r.changes, *sc)
	close(r.notify)
	r.notify = make(chan struct{})
	return nil
}

// SetFail makes Report fail (true) or succeed (false).
func (r *Recorder) SetFail(fail bool) {
	r.mu.Lock()
	r.fail = fail
	r.mu.Unlock()
}

// Changes returns the changes recorded for a task, in order.
func (r *Recorder) Changes(task string) []engine.StateChange {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []engine.StateChange
	for _, c := range r.changes {
		if c.Task == task {
			out = append(out, c)
		}
	}
	return out
}

// Wait returns the first change of task that satisfies ok, failing the test
// after timeout.
func (r *Recorder) Wait(t testing.TB, task string, timeout time.Duration, ok func(engine.StateChange) bool) engine.StateChange {
	t.Helper()
	deadline := time.After(timeout)
	for {
		r.mu.Lock()
		ch := r.notify
		for _, c := range r.changes {
			if c.Task == task && ok(c) {
				r.mu.Unlock()
				return c
			}
		}
		r.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("task %s: no matching state change within %s; got %+v", task, timeout, r.Changes(task))
		}
	}
}

// Status returns a predicate on a change's task status.
func Status(s string) func(engine.StateChange) bool {
	return func(c engine.StateChange) bool { return c.Status == s }
}

// MemStore is an engine.Store that keeps the last checkpoint in memory.
type MemStore struct {
	mu sync.Mutex
	cp *engine.Checkpoint
}

// Save keeps a deep copy of the state at once.
func (m *MemStore) Save(state func() *engine.Checkpoint) error {
	b, err := jsonClone(state())
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.cp = b
	m.mu.Unlock()
	return nil
}

// Load returns the last checkpoint saved (nil if none).
func (m *MemStore) Load() *engine.Checkpoint {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cp == nil {
		return nil
	}
	c, _ := jsonClone(m.cp)
	return c
}
