package registry_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/registry"
)

// lockedBuffer is a log sink the registry's goroutines may write to.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Each push is in the server's log at INFO: repository, tag and digest.
func TestPushIsLogged(t *testing.T) {
	var logs lockedBuffer
	e := newEnvAt(t, time.Time{}, func(c *registry.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	e.createRepo(t, "app", "MUTABLE")
	c := client{t, e}
	manifest := c.pushImage("app", "v1", []byte("config"), []byte("layer"))
	var line string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, `msg="image pushed"`) {
			line = l
		}
	}
	for _, want := range []string{"level=INFO", "repository=app", "tag=v1", "digest=" + digestOf(manifest)} {
		if !strings.Contains(line, want) {
			t.Fatalf("push log line %q lacks %s; log:\n%s", line, want, logs.String())
		}
	}
}
