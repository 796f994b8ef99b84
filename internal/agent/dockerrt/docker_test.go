package dockerrt_test

import (
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/gantry-dev/gantry/internal/agent/agenttest"
	"github.com/gantry-dev/gantry/internal/agent/rt/rttest"
)

func TestMain(m *testing.M) { agenttest.Main(m) }

// The Docker runtime passes the runtime conformance suite.
func TestConformance(t *testing.T) {
	b := make([]byte, 8)
	rand.Read(b)
	id := hex.EncodeToString(b)
	const label = "com.gantry.test-run"
	agenttest.CleanupLabel(t, label, id)
	rttest.Run(t, rttest.Config{
		Runtime: agenttest.Docker(t),
		Image:   agenttest.Image,
		Labels:  map[string]string{label: id},
		Name:    "gantry-rttest-" + id,
	})
}
