package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

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
// the old one) on every change, or, with an interval, at most once per
// interval. It implements engine.Store.
type fileStore struct {
	path string
	mu   sync.Mutex
	cp   checkpoint
	// engine returns the engine's state; write calls it, so that a
	// deferred write builds the engine's checkpoint once, when it writes.
	engine func() *engine.Checkpoint
	// interval, when positive, defers writes: a change schedules one write
	// of the latest state within interval, and later changes join it. A
	// change of identity (cluster, endpoint, instance) is written at once.
	interval time.Duration
	pending  bool  // a deferred write is scheduled
	err      error // the last deferred write's error, returned by the next update
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

// Save records that the engine's state changed; state is called when the
// checkpoint is written.
func (s *fileStore) Save(state func() *engine.Checkpoint) error {
	return s.update(func(*checkpoint) { s.engine = state })
}

// setInterval makes writes lag changes by up to d (0: write every change);
// call before the store is used.
func (s *fileStore) setInterval(d time.Duration) { s.interval = d }

// update changes the checkpoint and writes it (or schedules the write).
func (s *fileStore) update(f func(*checkpoint)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cluster, endpoint, arn := s.cp.Cluster, s.cp.Endpoint, s.cp.InstanceArn
	f(&s.cp)
	if s.interval <= 0 || s.cp.Cluster != cluster || s.cp.Endpoint != endpoint || s.cp.InstanceArn != arn {
		return s.write()
	}
	if !s.pending {
		s.pending = true
		time.AfterFunc(s.interval, func() { s.flush() })
	}
	err := s.err
	s.err = nil
	return err
}

// flush writes a deferred change now, if there is one.
func (s *fileStore) flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.pending {
		return nil
	}
	s.pending = false
	s.err = s.write()
	return s.err
}

// write writes the checkpoint; call with s.mu held.
func (s *fileStore) write() error {
	if s.engine != nil {
		s.cp.Engine = s.engine()
	}
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
