package agenttest

import (
	"encoding/json"

	"github.com/gantry-dev/gantry/internal/agent/engine"
)

// jsonClone deep-copies a checkpoint through JSON, as a file store would.
func jsonClone(cp *engine.Checkpoint) (*engine.Checkpoint, error) {
	b, err := json.Marshal(cp)
	if err != nil {
		return nil, err
	}
	out := new(engine.Checkpoint)
	return out, json.Unmarshal(b, out)
}
