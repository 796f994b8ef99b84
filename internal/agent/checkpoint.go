package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/gantry-dev/gantry/internal/agent/engine"
)

// checkpointFile is the name of the checkpoint in the data directory.
const checkpointFile = "checkpoint.json"

// checkpoint is the agent's persistent state: its identity, the last
// payload it applied and the engine's tasks.
type checkpoint struct {
	Version     int                `json:"version"`
	Cluster     string             `json:"cluster"`
	Endpoint    string             `json:"endpoint"`
	InstanceArn string             `json:"instanceArn,omitempty"`
	AckSeq      int64              `json:"ackSeq"`
	Engine      *engine.Checkpoint `json:"engine,omitempty"`
}

// fileStore writes the checkpoint atomically (a temporary file renamed over
// the old one) on every change. It implements engine.Store.
type fileStore struct {
	path string
	mu   sync.Mutex
	cp   checkpoint
}

var _ engine.Store = (*fileStore)(nil)

// openStore reads the checkpoint in dir, if there is one.
func openStore(dir string) (*fileStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	s := &fileStore{path: filepath.Join(dir, checkpointFile), cp: checkpoint{Version: 1}}
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	if err := json.Unmarshal(b, &s.cp); err != nil {
		return nil, fmt.Errorf("checkpoint %s is corrupt (move it away to start afresh; running containers are re-adopted by label): %w", s.path, err)
	}
	return s, nil
}

// snapshot returns the checkpoint as loaded or last written.
func (s *fileStore) snapshot() checkpoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cp
}

// Save records the engine's state.
func (s *fileStore) Save(cp *engine.Checkpoint) error {
	return s.update(func(c *checkpoint) { c.Engine = cp })
}

// update changes the checkpoint and writes it.
func (s *fileStore) update(f func(*checkpoint)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.cp)
	b, err := json.Marshal(&s.cp)
	if err != nil {
		return err
	}
	tmp := s.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	return nil
}
