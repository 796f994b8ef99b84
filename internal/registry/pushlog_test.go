package registry_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/registry"

	"github.com/gantry-dev/gantry/internal/testlog"
)

// Each push is in the server's log at INFO: repository, tag and digest.
func TestPushIsLogged(t *testing.T) {
	var logs testlog.Buffer
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
